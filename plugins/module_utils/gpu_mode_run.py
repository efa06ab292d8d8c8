# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`gpu-mode run -- COMMAND...`: run a game in gaming mode, then give the GPU back.

For a Steam launch option (`gpu-mode run -- %command%`):
- before the game: switch to gaming and wait until vLLM has released the GPU;
- the game runs as the calling user (the one behind sudo, when there is one), its exit
  code is passed through (a signal is reported as 128 + its number, as shells do);
- after the game (also when it crashed or was killed, or when the wrapper is told to stop):
  the mode that was active before is restored, unless the mode was changed meanwhile
  (someone ran `gpu-mode ml` during the game: that choice stands);
- several games at once keep gaming until the last one exits.

Every running wrapper holds a session file in the run directory; the first one also writes
the mode to restore. A lock file serialises the bookkeeping. Sessions of processes that are
gone (a wrapper killed with SIGKILL) are pruned by the next wrapper and by `gpu-mode boot`.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import uuid
from contextlib import contextmanager

from . import gpu_mode as core

PREVIOUS = "previous.json"
LOCK = "lock"
SESSION_SUFFIX = ".session"


class Sessions:
    """The run directory: one file per running `gpu-mode run`, and the mode to restore."""

    def __init__(self, directory):
        self.directory = directory

    @contextmanager
    def locked(self):
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        with open(os.path.join(self.directory, LOCK), "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def add(self, pid):
        """Register a session of process `pid`; returns its id."""
        session = "%d-%s" % (pid, uuid.uuid4().hex[:12])
        with open(os.path.join(self.directory, session + SESSION_SUFFIX), "w", encoding="utf-8") as handle:
            handle.write("%d\n" % pid)
        return session

    def remove(self, session):
        try:
            os.unlink(os.path.join(self.directory, session + SESSION_SUFFIX))
        except FileNotFoundError:
            pass

    def live(self, alive=None):
        """Sessions whose process still runs; the others are removed."""
        alive = alive or pid_alive
        found = []
        for name in sorted(os.listdir(self.directory)) if os.path.isdir(self.directory) else []:
            if not name.endswith(SESSION_SUFFIX):
                continue
            session = name[:-len(SESSION_SUFFIX)]
            try:
                pid = int(session.split("-", 1)[0])
            except ValueError:
                pid = -1
            if pid > 0 and alive(pid):
                found.append(session)
            else:
                self.remove(session)
        return found

    def save_previous(self, mode, choice):
        path = os.path.join(self.directory, PREVIOUS)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"mode": mode, "choice": choice}, handle)
        os.replace(path + ".tmp", path)

    def pop_previous(self):
        path = os.path.join(self.directory, PREVIOUS)
        try:
            with open(path, encoding="utf-8") as handle:
                previous = json.load(handle)
        except (OSError, ValueError):
            return None
        os.unlink(path)
        return previous

    def clear(self):
        """At boot: no game survives a reboot."""
        for name in os.listdir(self.directory) if os.path.isdir(self.directory) else []:
            if name.endswith(SESSION_SUFFIX) or name == PREVIOUS:
                os.unlink(os.path.join(self.directory, name))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def restore_target(previous, current_mode, current_choice):
    """The mode to switch back to after the last game, or None to leave things as they are.

    previous: what the first game's wrapper saw ({'mode', 'choice'}); current_mode: the mode the
    API reports now; current_choice: the remembered choice now. A mode changed during the game
    (not gaming any more, or a new remembered choice) is the user's and stands.
    """
    if not previous or previous.get("mode") in (None, core.GAMING, core.ABSENT):
        return None
    if current_mode != core.GAMING or current_choice != previous.get("choice"):
        return None
    return previous["mode"]


def calling_user(environ=None):
    """(uid, gid, groups) to run the game as: the user behind sudo when root was reached through it."""
    environ = os.environ if environ is None else environ
    if os.geteuid() != 0 or not environ.get("SUDO_UID") or environ.get("SUDO_UID") == "0":
        return None
    import pwd

    uid = int(environ["SUDO_UID"])
    entry = pwd.getpwuid(uid)
    gid = int(environ.get("SUDO_GID") or entry.pw_gid)
    return uid, gid, os.getgrouplist(entry.pw_name, gid)


def exit_code_of(returncode):
    """A child's exit status as a shell reports it (128 + signal number for a signal)."""
    return 128 - returncode if returncode < 0 else returncode


def run_command(command, user=None, env=None):
    """Run `command` (as `user`, with `env` when given), forwarding SIGINT/SIGTERM/SIGHUP to it; returns its
    exit code."""
    kwargs = {"env": env}
    if user:
        kwargs.update(user=user[0], group=user[1], extra_groups=user[2])
    try:
        child = subprocess.Popen(command, **kwargs)  # pylint: disable=consider-using-with
    except OSError as exc:
        raise core.GpuModeError("cannot start %s: %s" % (command[0], exc.strerror or exc), exit_code=127) from exc

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {}
    for signum in handled:
        try:
            before[signum] = signal.signal(signum, forward)
        except ValueError:  # not the main thread: signals stay where they are
            pass
    try:
        return exit_code_of(child.wait())
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def run(api, modes, command, run_dir, read_choice, switch_kwargs, report, user=None, runner=run_command, pid=None,
        env=None):
    """Gaming around `command`; returns its exit code.

    read_choice(): the remembered choice; switch_kwargs: namespace, deployment, timeout, progress;
    report(text): one line for the user; user, env: whom the command runs as, with which environment.
    """
    if not command:
        raise core.GpuModeError("run needs a command: gpu-mode run -- COMMAND [ARGS...]", exit_code=core.EXIT_USAGE)
    sessions = Sessions(run_dir)
    pid = os.getpid() if pid is None else pid
    with sessions.locked():
        if not sessions.live():
            before = core.switch(api, core.STATUS, {}, **dict(switch_kwargs, timeout=0))
            sessions.save_previous(before["mode"], read_choice())
        session = sessions.add(pid)
    try:
        result = core.switch(api, core.GAMING, modes, **switch_kwargs)
        if result["changed"]:
            report("gaming mode for %s (was %s)" % (os.path.basename(command[0]), result["previous_mode"]))
        return runner(command, user, env)
    finally:
        with sessions.locked():
            sessions.remove(session)
            if not sessions.live():
                previous = sessions.pop_previous()
                now = core.switch(api, core.STATUS, {}, **dict(switch_kwargs, timeout=0))
                target = restore_target(previous, now["mode"], read_choice())
                if target:
                    core.switch(api, target, modes, **switch_kwargs)
                    report("restored %s mode" % target)
                elif previous and previous.get("mode") not in (core.GAMING, now["mode"]):
                    report("mode changed during the game (now %s): left as it is" % now["mode"])
