"""homelab.platform.files run by ansible-playbook on this machine: a secret file's content is never printed."""

import os
import stat

import yaml

SECRET = "K10-lab-token-never-printed"


def write_playbook(tmp_path, content):
    task = {"homelab.platform.files": {
        "directories": [{"path": str(tmp_path / "etc" / "config.yaml.d"), "mode": "0700"}],
        "files": [{"dest": str(tmp_path / "etc" / "config.yaml"), "content": "node-name: lab\n", "mode": "0600"}],
        "secret_files": [{"dest": str(tmp_path / "etc" / "token"), "content": content, "mode": "0600"}],
        "absent": [str(tmp_path / "etc" / "registries.yaml")]}}
    pb = tmp_path / "files.yml"
    pb.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                   "tasks": [task]}]))
    return pb


def test_secret_content_is_written_but_never_in_the_output(playbook_runner, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "registries.yaml").write_text("mirrors: {}\n")
    first = playbook_runner(write_playbook(tmp_path, SECRET + "\n"), "localhost,", "--diff", "-vvv")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "node-name: lab" in first.stdout  # the diff shows what is not secret
    assert SECRET not in first.stdout + first.stderr
    token = tmp_path / "etc" / "token"
    assert token.read_text() == SECRET + "\n" and stat.S_IMODE(os.stat(token).st_mode) == 0o600
    assert not (tmp_path / "etc" / "registries.yaml").exists()

    changed = playbook_runner(write_playbook(tmp_path, SECRET + "-rotated\n"), "localhost,", "--diff", json_out=True)
    out = changed.json["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert out["changed"] is True and out["changed_paths"] == [str(token)]
    assert SECRET not in changed.stdout and token.read_text() == SECRET + "-rotated\n"
