"""Bad inventories fail with a clear message before anything on the node changes.

The roles run for real against this machine (connection local) with their
install and config directories pointed into a temporary folder, which must
still be empty afterwards.
"""

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "epic01_k3s.yml")


def inventory(tmp_path, groups, host_vars=None):
    host = dict(ansible_connection="local", ansible_python_interpreter="{{ ansible_playbook_python }}", **(host_vars or {}))
    doc = {"k3s_cluster": {"children": {g: {"hosts": {"node-1": host}} for g in groups}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(playbook_runner, tmp_path, groups, tags, **host_vars):
    target = tmp_path / "node"
    target.mkdir()
    host_vars.setdefault("k3s_install_dir", str(target / "bin"))
    host_vars.setdefault("k3s_config_dir", str(target / "etc"))
    host_vars.setdefault("k3s_artifact_dir", str(tmp_path / "no-artifacts"))
    host_vars.setdefault("k3s_server_kubeconfig_path", str(tmp_path / "kubeconfig"))
    proc = playbook_runner(PLAYBOOK, inventory(tmp_path, groups, host_vars), "--tags", tags)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert list(target.iterdir()) == [], "the failed run changed the node"
    assert not (tmp_path / "kubeconfig").exists()
    return out


def test_agent_without_server(playbook_runner, tmp_path):
    out = run(playbook_runner, tmp_path, ["k3s_agent"], "k3s_agent")
    assert "the inventory has no host in group 'k3s_server': agents need a server to join" in out


@pytest.mark.parametrize("key", ["token", "server", "cluster-init", "node-ip"])
def test_managed_key_in_user_dict(playbook_runner, tmp_path, key):
    out = run(
        playbook_runner, tmp_path, ["k3s_server"], "k3s_server",
        k3s_server_config={key: "s3cret-value", "disable": ["traefik"]},
    )
    assert "these keys are managed by the roles and may not be set in the config dict: %s (set " % key in out
    assert "s3cret-value" not in out


@pytest.mark.parametrize("version", ["1.34.3", "v1.34.3", "latest"])
def test_unknown_version_format(playbook_runner, tmp_path, version):
    out = run(playbook_runner, tmp_path, ["k3s_server"], "k3s_server", k3s_version=version)
    assert "k3s_version '%s' is not a K3s release version" % version in out
    assert "v1.34.3+k3s1" in out  # the message shows the expected form


def test_missing_tailscale_interface(playbook_runner, tmp_path):
    out = run(playbook_runner, tmp_path, ["k3s_server"], "k3s_server", k3s_use_tailscale=True)
    assert "interface 'tailscale0' does not exist on node-1" in out


def test_offline_binary_with_wrong_checksum(playbook_runner, tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "k3s").write_text("#!/bin/sh\necho tampered\n")
    (artifacts / "sha256sum-amd64.txt").write_text("%s  k3s\n" % ("0" * 64))
    out = run(playbook_runner, tmp_path, ["k3s_server"], "k3s_server", k3s_artifact_dir=str(artifacts))
    assert "expected %s: refusing to install it" % ("0" * 64) in out
