"""homelab.platform.tailscale inventory plugin through the real ansible-inventory / ansible-playbook."""

import json
import os
import subprocess
import sys

import yaml
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "unit", "fixtures", "tailscale", "status_master.json")
BIN = os.path.dirname(sys.executable)


def env():
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
        ANSIBLE_INVENTORY_ENABLED="homelab.platform.tailscale",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
    )


def source(tmp_path, status=FIXTURE, **options):
    path = tmp_path / "homelab.tailscale.yml"
    path.write_text(yaml.safe_dump(dict(plugin="homelab.platform.tailscale", status_file=str(status), **options)))
    return path


def listing(path):
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env=env(), check=False, timeout=HANG_GUARD_SECONDS)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def plain(value):
    """ansible-inventory --list shows unsafe strings as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def members(inv, group):
    return sorted(inv.get(group, {}).get("hosts", []))


def test_hosts_groups_and_addresses(tmp_path):
    inv = listing(source(tmp_path))
    raw = inv["_meta"]["hostvars"]
    assert raw["k3s-master"]["tailscale_dns_name"] == {"__ansible_unsafe": "k3s-master.tail1234.ts.net"}
    assert raw["k3s-master"]["tailscale_tags"] == [{"__ansible_unsafe": "tag:k3s-server"}]
    hostvars = plain(raw)
    assert sorted(hostvars) == ["k3s-gpu-worker", "k3s-master", "k3s-worker-01", "toms-laptop"]
    assert hostvars["k3s-master"]["ansible_host"] == "100.84.89.67"
    assert hostvars["k3s-master"]["tailscale_dns_name"] == "k3s-master.tail1234.ts.net"
    assert hostvars["k3s-master"]["tailscale_primary_routes"] == ["192.168.2.0/24"]
    assert members(inv, "k3s_server") == ["k3s-master"]
    assert members(inv, "k3s_agent") == ["k3s-gpu-worker", "k3s-worker-01"]
    assert members(inv, "gpu") == ["k3s-gpu-worker"]


def test_constructed_options(tmp_path):
    inv = listing(source(
        tmp_path, online_only=True, tag_groups=False,
        compose={"k3s_node_ip": "tailscale_ipv4"},
        groups={"gpu_workers": "'tag:gpu' in tailscale_tags"},
        keyed_groups=[{"key": "tailscale_os", "prefix": "os"}],
    ))
    assert "k3s_server" not in inv
    assert members(inv, "gpu_workers") == ["k3s-gpu-worker"]
    assert members(inv, "os_macOS") == ["toms-laptop"]
    assert "k3s-worker-01" not in inv["_meta"]["hostvars"]  # offline
    assert plain(inv["_meta"]["hostvars"]["k3s-gpu-worker"]["k3s_node_ip"]) == "100.80.98.64"


def test_remote_strings_are_never_templated(tmp_path):
    with open(FIXTURE, encoding="utf-8") as handle:
        doc = json.load(handle)
    doc["Self"]["OS"] = "{{ lookup('ansible.builtin.pipe', 'echo INJECTED') }}"
    status = tmp_path / "status.json"
    status.write_text(json.dumps(doc))
    playbook = tmp_path / "show.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "k3s-master", "gather_facts": False, "connection": "local",
        "tasks": [{"ansible.builtin.debug": {"msg": "os={{ tailscale_os }}"}}],
    }]))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(source(tmp_path, status)), str(playbook)],
                          capture_output=True, text=True, env=env(), check=False, timeout=HANG_GUARD_SECONDS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "os={{ lookup('ansible.builtin.pipe', 'echo INJECTED') }}" in proc.stdout
    assert "os=INJECTED" not in proc.stdout


def test_broken_status_fails_clearly(tmp_path):
    status = tmp_path / "status.json"
    status.write_text("[]")
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(source(tmp_path, status)), "--list"],
                          capture_output=True, text=True, env=env(), check=False, timeout=HANG_GUARD_SECONDS)
    assert proc.returncode != 0
    assert "the status document is not a JSON object" in proc.stderr


def cli_on_path(tmp_path, exit_code=0):
    """A `tailscale` executable in a folder of PATH, as users have the CLI: it answers `status --json` with a status
    document recorded from a real tailnet (the fixture)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    cli = folder / "tailscale"
    cli.write_text('#!/bin/sh\n[ "$1 $2" = "status --json" ] || { echo "unexpected: $*" >&2; exit 2; }\n'
                   + ('cat %s\n' % FIXTURE if exit_code == 0 else 'echo "failed to connect to local tailscaled" >&2\n')
                   + "exit %d\n" % exit_code)
    cli.chmod(0o755)
    return str(folder)


def list_with_path(path, folder, unparsed_failed=True):
    run_env = dict(env(), PATH=folder + os.pathsep + os.environ.get("PATH", ""))
    run_env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "1" if unparsed_failed else "0"
    return subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env=run_env, check=False, timeout=HANG_GUARD_SECONDS)


def test_the_documented_example_finds_tailscale_on_path(tmp_path):
    """The plugin's EXAMPLES file without status_file: the CLI is found on PATH, not in the inventory's folder."""
    path = tmp_path / "homelab.tailscale.yml"
    path.write_text("plugin: homelab.platform.tailscale\nonline_only: true\n")
    proc = list_with_path(path, cli_on_path(tmp_path))
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    assert "k3s-master" in inv["_meta"]["hostvars"]


def test_a_cli_that_is_missing_or_fails_is_named(tmp_path):
    path = tmp_path / "homelab.tailscale.yml"
    path.write_text("plugin: homelab.platform.tailscale\ntailscale_bin: tailscale-not-installed\n")
    proc = list_with_path(path, str(tmp_path))
    assert proc.returncode != 0
    assert "'tailscale-not-installed' is not on PATH" in proc.stderr and "status_file" in proc.stderr
    path.write_text("plugin: homelab.platform.tailscale\n")
    failing = tmp_path / "failing"
    failing.mkdir()
    folder = cli_on_path(failing, exit_code=1)
    proc = list_with_path(path, folder)
    assert proc.returncode != 0
    assert "status --json failed (exit 1): failed to connect to local tailscaled" in proc.stderr
    # without inventory_unparsed_failed, ansible-inventory only warns (and lists no host): the documented default
    proc = list_with_path(path, folder, unparsed_failed=False)
    assert proc.returncode == 0 and "failed to connect to local tailscaled" in proc.stderr
