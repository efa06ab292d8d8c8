"""homelab.platform.kubeconfig_merge run by ansible-playbook on this machine."""

import os
import stat

import yaml

K3S_YAML_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "fixtures", "k3s", "k3s.yaml")
with open(K3S_YAML_PATH, encoding="utf-8") as handle:
    K3S_YAML = handle.read()

EXISTING = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "work", "cluster": {"server": "https://work.example:6443"}}],
    "users": [{"name": "work", "user": {"token": "work-token"}}],
    "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
    "current-context": "work",
}


LOCAL = "localhost,"


def write_playbook(tmp_path, path, server="https://100.84.89.67:6443", **extra):
    (tmp_path / "k3s.yaml").write_text(K3S_YAML)
    args = dict(path=str(path), kubeconfig="{{ lookup('file', '%s') }}" % (tmp_path / "k3s.yaml"), server=server,
                context="homelab", **extra)
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"homelab.platform.kubeconfig_merge": args, "register": "out"}]}]
    pb = tmp_path / "merge.yml"
    pb.write_text(yaml.safe_dump(play))
    return pb


def result(proc):
    assert proc.json, proc.stdout + proc.stderr
    out = proc.json["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert not out.get("unreachable"), out
    return out


def test_merge_keeps_contexts_is_private_and_idempotent(playbook_runner, tmp_path):
    target = tmp_path / "kube" / "config"
    target.parent.mkdir()
    target.write_text(yaml.safe_dump(EXISTING))
    os.chmod(target, 0o644)
    pb = write_playbook(tmp_path, target)

    first = result(playbook_runner(pb, LOCAL, "--diff", json_out=True))
    assert first["changed"] is True
    assert first["contexts"] == ["homelab", "work"]
    assert first["current_context"] == "homelab"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    doc = yaml.safe_load(target.read_text())
    assert {c["name"]: c["cluster"]["server"] for c in doc["clusters"]} == {
        "work": "https://work.example:6443", "homelab": "https://100.84.89.67:6443"}
    assert {u["name"]: u["user"] for u in doc["users"]}["work"] == {"token": "work-token"}
    assert "S0VZCg==" not in str(first)  # no credentials in the result or diff

    second = result(playbook_runner(pb, LOCAL, json_out=True))
    assert second["changed"] is False


def test_check_mode_writes_nothing(playbook_runner, tmp_path):
    target = tmp_path / "new" / "config"
    pb = write_playbook(tmp_path, target)
    out = result(playbook_runner(pb, LOCAL, "--check", "--diff", json_out=True))
    assert out["changed"] is True
    assert out["diff"]["after"]["contexts"] == ["homelab"]
    assert not target.exists()


def test_server_change_is_a_change(playbook_runner, tmp_path):
    target = tmp_path / "config"
    result(playbook_runner(write_playbook(tmp_path, target), LOCAL, json_out=True))
    moved = result(playbook_runner(write_playbook(tmp_path, target, server="https://100.64.0.9:6443"),
                                   LOCAL, json_out=True))
    assert moved["changed"] is True
    assert "https://100.64.0.9:6443" in target.read_text()


def test_bad_server_url_fails_and_leaves_file(playbook_runner, tmp_path):
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump(EXISTING))
    before = target.read_text()
    proc = playbook_runner(write_playbook(tmp_path, target, server="http://insecure:6443"), LOCAL, json_out=True)
    out = result(proc)
    assert out["failed"] is True
    assert "the server URL must start with https://" in out["msg"]
    assert target.read_text() == before


def test_unreadable_existing_file_is_not_overwritten(playbook_runner, tmp_path):
    target = tmp_path / "config"
    target.write_text("- just\n- a list\n")
    out = result(playbook_runner(write_playbook(tmp_path, target), LOCAL, json_out=True))
    assert out["failed"] is True
    assert "refusing to overwrite" in out["msg"]
    assert target.read_text() == "- just\n- a list\n"
