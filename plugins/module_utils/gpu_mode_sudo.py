# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`gpu-mode` for the desktop user who plays, without root.

The members of the gpu-mode group may run, through a sudo rule the gpu_mode role writes, exactly
`gpu-mode status|ml|r1|gaming` and `gpu-mode run --user-env FILE -- COMMAND...`. A user types
`gpu-mode gaming` (or puts `gpu-mode run -- %command%` in Steam); the command sees it is not root
and runs itself again through `sudo -n`. The switch and the remembered choice stay with root
(one writer); the kubeconfig stays root's.

`run` keeps the user's environment for the game (DISPLAY, HOME, Steam's variables) without giving
it to root: the user's side writes it to a private file (0600, the user's own), the root side
reads that file only when it is a regular file of the user behind sudo, deletes it and hands the
environment to the game alone, which runs as that user. Root's own process never uses it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile

from . import gpu_mode as core

GROUP = "gpu-mode"
MODES = ("status", "ml", "r1", "gaming")
ENV_LIMIT = 1 << 20  # bytes: an environment is far smaller


def sudo_user(environ):
    """The uid behind sudo (sudo sets SUDO_UID; the user cannot), or None when root was not reached that way."""
    uid = environ.get("SUDO_UID")
    return int(uid) if uid and uid != "0" else None


def sudo_argv(program, mode, command=(), env_file=None):
    """What a user's `gpu-mode` runs: the exact forms of the sudo rule."""
    argv = ["sudo", "-n", program, mode]
    if mode == "run":
        argv += ["--user-env", env_file or "FILE", "--"] + list(command)
    return argv


def refusal(mode, options):
    """Why a user (not root) cannot run this through the sudo rule, or None."""
    if mode not in MODES + ("run",) or options:
        return ("without root, members of the %s group may run: gpu-mode status|ml|r1|gaming, gpu-mode run -- "
                "COMMAND (no options; %s%s needs root)" % (GROUP, mode, "".join(" " + o for o in options)))
    return None


def write_user_env(environ, directory=None):
    """The user's environment into a new private file; returns its path."""
    fd, path = tempfile.mkstemp(prefix="gpu-mode-env-", dir=directory)  # 0600, the user's own
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(environ), handle)
    return path


def read_user_env(path, uid):
    """Root's side: the environment a user left for the game, from a regular file of that user (not a link,
    not readable by others), deleted once read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise core.GpuModeError("cannot read the environment file %s: %s" % (path, exc.strerror or exc),
                                exit_code=core.EXIT_USAGE) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
            raise core.GpuModeError("%s is not a private file of the calling user: not used" % path,
                                    exit_code=core.EXIT_USAGE)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(ENV_LIMIT + 1)
    finally:
        os.close(fd)
    os.unlink(path)
    try:
        env = json.loads(data) if len(data) <= ENV_LIMIT else None
    except ValueError:
        env = None
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) and "\0" not in k + v
                                            for k, v in env.items()):
        raise core.GpuModeError("%s does not hold an environment (a JSON object of strings)" % path,
                                exit_code=core.EXIT_USAGE)
    return env
