import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core
from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode_run as run


@pytest.mark.parametrize("previous,mode,choice,expected", [
    ({"mode": "ml", "choice": "ml"}, "gaming", "ml", "ml"),          # back to what it was
    ({"mode": "r1", "choice": None}, "gaming", None, "r1"),          # no choice remembered yet
    ({"mode": "ml", "choice": "ml"}, "r1", "r1", None),              # switched to r1 during the game
    ({"mode": "ml", "choice": "ml"}, "gaming", "gaming", None),      # chose gaming during the game
    ({"mode": "gaming", "choice": "gaming"}, "gaming", "gaming", None),  # was gaming already
    ({"mode": "absent", "choice": None}, "gaming", None, None),
    (None, "gaming", "ml", None),                                    # nothing saved
])
def test_restore_target(previous, mode, choice, expected):
    assert run.restore_target(previous, mode, choice) == expected


def test_sessions_prune_the_dead_and_keep_the_living(tmp_path):
    sessions = run.Sessions(str(tmp_path / "run"))
    with sessions.locked():
        mine = sessions.add(os.getpid())
        gone = sessions.add(999999)
        assert sessions.live(alive=lambda pid: pid == os.getpid()) == [mine]
        assert not os.path.exists(os.path.join(sessions.directory, gone + run.SESSION_SUFFIX))
        sessions.save_previous("ml", "ml")
        assert sessions.pop_previous() == {"mode": "ml", "choice": "ml"} and sessions.pop_previous() is None
        sessions.save_previous("r1", None)
        sessions.clear()
        assert sessions.live() == [] and sessions.pop_previous() is None


def test_exit_codes_as_a_shell_reports_them():
    assert run.run_command([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert run.run_command(["sh", "-c", "kill -9 $$"]) == 128 + signal.SIGKILL
    # the environment given (the user's, through the sudo rule) is the game's
    assert run.run_command(["sh", "-c", 'test "$SteamAppId" = 570'], env={"SteamAppId": "570", "PATH": "/usr/bin:/bin"}) == 0
    with pytest.raises(core.GpuModeError) as err:
        run.run_command(["/nonexistent/game"])
    assert err.value.exit_code == 127


def test_calling_user_is_the_one_behind_sudo():
    if os.geteuid() != 0:
        assert run.calling_user({"SUDO_UID": "1000"}) is None
        return
    assert run.calling_user({}) is None and run.calling_user({"SUDO_UID": "0"}) is None
    uid, gid, groups = run.calling_user({"SUDO_UID": "65534", "SUDO_GID": "65534"})
    assert (uid, gid) == (65534, 65534) and 65534 in groups
    out = subprocess.run(["id", "-u"], user=uid, group=gid, extra_groups=groups, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "65534"


class FakeApi:
    """Plays the API for the run bookkeeping: a mode that switch() reads and changes."""

    def __init__(self, mode):
        self.mode = mode
        self.switches = []


def test_run_restores_even_when_the_game_cannot_start(tmp_path, monkeypatch):
    api = FakeApi("ml")

    def switch(_api, mode, _modes, **_kw):
        if mode != core.STATUS:
            api.switches.append(mode)
            api.mode = mode
        return {"mode": api.mode, "previous_mode": "ml", "changed": mode != core.STATUS}

    monkeypatch.setattr(core, "switch", switch)
    lines = []
    with pytest.raises(core.GpuModeError):
        run.run(api, {}, ["/nonexistent/game"], str(tmp_path), lambda: "ml", {}, lines.append)
    assert api.switches == ["gaming", "ml"] and lines[-1] == "restored ml mode"
    with pytest.raises(core.GpuModeError, match="run needs a command"):
        run.run(api, {}, [], str(tmp_path), lambda: "ml", {}, lines.append)
