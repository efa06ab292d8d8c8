"""gpu-mode without root: the user's side goes through the sudo rule's exact forms; root's side takes the
user's environment for the game only from a private file of that user."""

import io
import json
import os

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core
from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode_cli as cli
from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode_sudo as sudo

PROGRAM = "/usr/local/bin/gpu-mode"


def as_user(argv, allowed=True, environ=None):
    """main() as the installed command run by uid 1000: (exit code, stderr, (name, argv) exec'd or ())."""
    calls, err = [], io.StringIO()

    def execvp(name, args):
        calls.append((name, args))

    code = cli.main(argv, err=err, environ=environ if environ is not None else {"HOME": "/home/player"},
                    user=(1000, PROGRAM, execvp, lambda args: allowed))
    return code, err.getvalue(), (calls[0] if calls else ())


@pytest.mark.parametrize("mode", ["status", "ml", "r1", "gaming"])
def test_a_member_switches_through_the_exact_sudo_form(mode):
    code, err, call = as_user([mode])
    assert (code, err) == (0, "")
    assert call == ("sudo", ["sudo", "-n", PROGRAM, mode])


@pytest.mark.parametrize("argv", [["boot"], ["--json", "status"], ["--timeout", "9", "ml"], ["--config", "/tmp/x", "ml"],
                                  ["--user-env", "/etc/shadow", "run", "--", "true"], ["vllm-big"]])
def test_anything_else_needs_root_and_nothing_runs(argv):
    code, err, call = as_user(argv)
    assert code == core.EXIT_USAGE and call == ()
    assert "members of the gpu-mode group may run: gpu-mode status|ml|r1|gaming, gpu-mode run -- COMMAND" in err


def test_a_user_outside_the_group_is_told_what_to_do():
    code, err, call = as_user(["gaming"], allowed=False)
    assert code == core.EXIT_FAILED and call == ()
    assert "not in the gpu-mode group" in err and "gpu_mode_users" in err


def test_run_hands_the_environment_over_in_a_private_file(tmp_path):
    environ = {"HOME": "/home/player", "DISPLAY": ":0", "SteamAppId": "570", "XDG_RUNTIME_DIR": str(tmp_path)}
    code, err, call = as_user(["run", "--", "game", "--fullscreen"], environ=environ)
    assert (code, err) == (0, "")
    name, args = call
    assert name == "sudo" and args[:5] == ["sudo", "-n", PROGRAM, "run", "--user-env"]
    assert args[6:] == ["--", "game", "--fullscreen"]
    path = args[5]
    assert os.path.dirname(path) == str(tmp_path) and os.stat(path).st_mode & 0o777 == 0o600
    assert sudo.read_user_env(path, os.getuid()) == environ
    assert not os.path.exists(path)  # read once, then gone


def test_root_reads_only_a_private_regular_file_of_the_user(tmp_path):
    path = sudo.write_user_env({"A": "1"}, str(tmp_path))
    with pytest.raises(core.GpuModeError, match="not a private file of the calling user"):
        sudo.read_user_env(path, os.getuid() + 1)  # another user's file
    os.chmod(path, 0o644)
    with pytest.raises(core.GpuModeError, match="not a private file of the calling user"):
        sudo.read_user_env(path, os.getuid())  # readable by others
    os.chmod(path, 0o600)
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(core.GpuModeError, match="cannot read the environment file"):
        sudo.read_user_env(str(link), os.getuid())  # not through a link
    with pytest.raises(core.GpuModeError, match="not a private file"):
        sudo.read_user_env(str(tmp_path), os.getuid())  # not a directory
    (tmp_path / "bad").write_text(json.dumps(["not", "an", "environment"]))
    os.chmod(tmp_path / "bad", 0o600)
    with pytest.raises(core.GpuModeError, match="does not hold an environment"):
        sudo.read_user_env(str(tmp_path / "bad"), os.getuid())
    assert sudo.read_user_env(path, os.getuid()) == {"A": "1"}


def test_user_env_is_only_for_the_sudo_rule(tmp_path):
    path = sudo.write_user_env({"A": "1"}, str(tmp_path))
    err = io.StringIO()
    code = cli.main(["--config", str(tmp_path / "none"), "--user-env", path, "run", "--", "true"], err=err,
                    environ={}, api=object(), state_file=str(tmp_path / "choice"))
    assert code == core.EXIT_USAGE and "--user-env is for the sudo rule" in err.getvalue()
    assert os.path.exists(path)


def test_sudo_user_is_set_by_sudo_only_for_another_user():
    assert sudo.sudo_user({}) is None and sudo.sudo_user({"SUDO_UID": "0"}) is None
    assert sudo.sudo_user({"SUDO_UID": "1000"}) == 1000
