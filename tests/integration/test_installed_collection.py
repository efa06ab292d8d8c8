"""What Galaxy users get: the built tarball, installed into an empty collections path,
runs playbooks by their FQCN from the installed copy (nothing of the checkout on the path)."""

import os
import subprocess
import sys
import tarfile

import yaml
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run(args, cwd, env, timeout=HANG_GUARD_SECONDS):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(args), proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_built_tarball_installs_and_runs_from_the_installed_copy(tmp_path):
    version = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))["version"]
    collections = tmp_path / "collections"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    # The same command as `make build`.
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path), ROOT],
        cwd=str(tmp_path), env=env)
    tarball = tmp_path / ("homelab-platform-%s.tar.gz" % version)
    assert tarball.exists()
    # only what a user's install needs: no lab, test or development files (galaxy.yml build_ignore)
    with tarfile.open(tarball) as packed:
        names = packed.getnames()
    dev = ("tests/", "molecule/", "benchmarks/", "tools/", ".ci/", "inventories/lab/", "changelogs/fragments/",
           ".ansible-lint", ".venv/", ".cache/", ".git/")
    assert [name for name in names if name.startswith(dev)] == []
    assert {"roles/k3s/tasks/main.yml", "playbooks/site.yml", "plugins/modules/gpu_mode.py", "meta/runtime.yml",
            "inventories/homelab/hosts.yml", "docs/app-settings.md", "MANIFEST.json"} <= set(names)
    # Dependencies (kubernetes.core, ...) come with the `ansible` package, so none is fetched.
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p", str(collections),
         str(tarball)], cwd=str(tmp_path), env=env)
    installed = collections / "ansible_collections" / "homelab" / "platform"
    assert (installed / "MANIFEST.json").exists()
    for unwanted in (".venv", ".cache", ".git", "tests/output"):
        assert not (installed / unwanted).exists(), "%s was packed into the tarball" % unwanted

    listed = run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", "homelab.platform"], cwd=str(tmp_path), env=env)
    assert str(collections) in listed.stdout and ROOT not in listed.stdout

    out = tmp_path / "manifests"
    inventory = os.path.join(ROOT, "inventories", "homelab")
    vault = os.path.join(ROOT, "tests", "integration", "vars", "platform-secrets.yml")
    for playbook, extra in (("homelab.platform.preflight", []),
                            ("homelab.platform.render", ["-e", "homelab_render_dir=%s" % out, "-e", "@%s" % vault])):
        proc = run([os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook,
                    "-e", "ansible_python_interpreter=" + sys.executable, *extra], cwd=str(tmp_path), env=env)
        assert "failed=0" in proc.stdout
    # Every manifest template the installed roles carry was rendered from the installed copy.
    templates = {"%s/%s" % (t.parent.parent.name, t.name[:-3]) for t in (installed / "roles").glob("*/templates/*.yaml.j2")
                 if not t.name.startswith("values-")}
    rendered = {"%s/%s" % (f.parent.name, f.name) for f in out.glob("*/*.yaml")}
    assert len(rendered) >= 30 and rendered == templates
    assert not [p for p in out.rglob("*") if p.is_file() and ROOT in p.read_text(errors="replace")]
