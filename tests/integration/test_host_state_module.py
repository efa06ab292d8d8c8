"""homelab.platform.host_state run by ansible-playbook on this machine: what it reads, in and out of check mode, and
what it says where systemd cannot answer."""

import os
import shutil

import pytest
import yaml


def run_state(playbook_runner, tmp_path, args, *extra):
    pb = tmp_path / "state.yml"
    pb.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                   "tasks": [{"homelab.platform.host_state": args}]}]))
    proc = playbook_runner(pb, "localhost,", *extra, json_out=True)
    assert proc.json is not None, proc.stdout + proc.stderr
    return proc, proc.json["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_packages_users_groups_paths_and_commands_are_read_and_nothing_changes(playbook_runner, tmp_path, check):
    (tmp_path / "tool").write_text("x")
    (tmp_path / "kubectl").symlink_to("tool")
    args = {"packages": ["dpkg", "homelab-no-such-package"], "users": ["root", "homelab-no-such-user"],
            "groups": ["root", "homelab-no-such-group"],
            "paths": [str(tmp_path / "tool"), str(tmp_path / "kubectl"), str(tmp_path / "missing")],
            "commands": {"arch": ["dpkg", "--print-architecture"], "absent": [str(tmp_path / "no-such-binary")],
                         "false": ["false"]}}
    proc, out = run_state(playbook_runner, tmp_path, args, *(["--check"] if check else []))
    assert proc.returncode == 0 and out["changed"] is False, proc.stdout[-2000:]
    assert out["dpkg"].startswith("dpkg ") and out["dpkg"].split()[3] == "installed"
    assert "homelab-no-such-package" not in out["dpkg"]
    assert out["users"]["root"]["uid"] == 0 and out["users"]["homelab-no-such-user"] is None
    assert out["groups"]["root"]["gid"] == 0 and out["groups"]["homelab-no-such-group"] is None
    assert out["paths"][str(tmp_path / "tool")]["type"] == "file"
    assert out["paths"][str(tmp_path / "kubectl")] == {"exists": True, "type": "link", "mode": "0777", "target": "tool"}
    assert out["paths"][str(tmp_path / "missing")]["exists"] is False
    assert out["commands"]["arch"]["rc"] == 0 and out["commands"]["arch"]["stdout"].strip()
    assert out["commands"]["absent"]["rc"] == 127 and out["commands"]["false"]["rc"] == 1
    assert sorted(os.listdir(tmp_path)) == ["kubectl", "state.yml", "tool"]


def test_units_without_a_running_systemd_are_unknown_with_a_warning(playbook_runner, tmp_path):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: the lab's Molecule scenarios read units through it")
    if not shutil.which("systemctl"):
        pytest.skip("no systemctl on this machine")
    proc, out = run_state(playbook_runner, tmp_path, {"units": ["ssh"], "packages": ["dpkg"]})
    assert proc.returncode == 0 and out["changed"] is False, proc.stdout[-2000:]
    assert out["units"] == {"ssh": {"load": "unknown", "enabled": "unknown", "active": "unknown"}}
    assert "is systemd running?" in " ".join(out["warnings"]) and out["dpkg"].startswith("dpkg ")


def test_a_command_that_is_not_an_argv_is_refused(playbook_runner, tmp_path):
    proc, out = run_state(playbook_runner, tmp_path, {"commands": {"version": "k3s --version"}})
    assert proc.returncode != 0 and "commands.version must be a non-empty list of strings" in out["msg"]
