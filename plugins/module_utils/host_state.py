# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a role reads on a host before it decides to act, in one module run (homelab.platform.host_state): dpkg's
packages, systemd's units, users, groups and paths. Each task a role skips because the host is already as wanted
saves a module run (a fresh Python on the host, 0.5-1 s); the reads themselves cost one.

Every function takes its commands through `run(argv) -> (rc, stdout, stderr)` and its lookups as plain callables, so
it is tested without a host."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ansible_collections.homelab.platform.plugins.module_utils import dpkg

# What `systemctl show` prints for each unit, in this order (one block per unit, blank line between blocks).
UNIT_PROPERTIES = ("Id", "LoadState", "UnitFileState", "ActiveState")
# A unit's state where systemd cannot answer.
UNKNOWN = "unknown"


class HostStateError(ValueError):
    """A read that cannot be made: the user is told what to change."""


def packages(run, specs):
    """dpkg-query's output for specs, in the format homelab.platform.dpkg_missing and dpkg_unheld read."""
    if not specs:
        return ""
    rc, out, err = run(dpkg.query_argv(specs))
    if rc not in (0, 1):  # 1: one of them is unknown to dpkg, the others are printed
        raise HostStateError("dpkg-query failed (rc %s): %s" % (rc, (err or out).strip()[:500]))
    return out


def parse_units(names, stdout):
    """{name: {load, enabled, active}} of `systemctl show --property=...` output, one block per name, in order."""
    blocks = (stdout or "").strip("\n").split("\n\n")
    if len(blocks) != len(names):
        raise HostStateError("systemctl show printed %d blocks for %d units: %r" % (len(blocks), len(names), stdout[:500]))
    found = {}
    for name, block in zip(names, blocks):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        found[name] = {"load": fields.get("LoadState", ""), "enabled": fields.get("UnitFileState", ""),
                       "active": fields.get("ActiveState", "")}
    return found


def units(run, names, warnings):
    """The load state, enablement (UnitFileState: enabled, disabled, static, or empty when not found) and activity
    (ActiveState: active, inactive, failed...) of each unit, by the name asked. Where systemd cannot answer (not
    running, as in a container without it), each is "unknown" and the reason is added to warnings: a role then runs
    the task the read would have let it skip, and that task reports what is wrong."""
    if not names:
        return {}
    rc, out, err = run(["systemctl", "show", "--property=" + ",".join(UNIT_PROPERTIES), "--"] + list(names))
    if rc != 0:
        warnings.append("systemctl show failed (rc %s): %s (is systemd running?); the units are reported unknown"
                        % (rc, (err or out).strip()[:500]))
        return {name: {"load": UNKNOWN, "enabled": UNKNOWN, "active": UNKNOWN} for name in names}
    return parse_units(names, out)


def entries(names, lookup, describe):
    """{name: describe(lookup(name))}, or {name: None} where lookup raises KeyError (the host does not have it)."""
    found = {}
    for name in names:
        try:
            entry = lookup(name)
        except KeyError:
            found[name] = None
        else:
            found[name] = describe(entry)
    return found


def users(names, getpwnam=pwd.getpwnam):
    """{name: {uid, home, shell}} or {name: None} for a user the host does not have."""
    return entries(names, getpwnam, lambda entry: {"uid": entry.pw_uid, "home": entry.pw_dir, "shell": entry.pw_shell})


def groups(names, getgrnam=grp.getgrnam):
    """{name: {gid, members}} or {name: None} for a group the host does not have (members: the supplementary ones
    /etc/group lists)."""
    return entries(names, getgrnam, lambda entry: {"gid": entry.gr_gid, "members": sorted(entry.gr_mem)})


def paths(names, lstat=os.lstat, readlink=os.readlink):
    """{path: {exists, type, mode, target}}: type is file, directory, link or other; a link is not followed."""
    found = {}
    for name in names:
        try:
            info = lstat(name)
        except FileNotFoundError:
            found[name] = {"exists": False, "type": None, "mode": None, "target": None}
            continue
        except OSError as exc:
            raise HostStateError("cannot read %s: %s" % (name, exc.strerror or exc)) from exc
        kind = ("link" if stat.S_ISLNK(info.st_mode) else "directory" if stat.S_ISDIR(info.st_mode)
                else "file" if stat.S_ISREG(info.st_mode) else "other")
        found[name] = {"exists": True, "type": kind, "mode": "%04o" % stat.S_IMODE(info.st_mode),
                       "target": readlink(name) if kind == "link" else None}
    return found


def commands(run, wanted):
    """{name: {rc, stdout, stderr}} of each read-only command (argv); a command that is not there gives rc 127."""
    found = {}
    for name, argv in (wanted or {}).items():
        if not isinstance(argv, list) or not argv or not all(isinstance(arg, str) for arg in argv):
            raise HostStateError("commands.%s must be a non-empty list of strings (an argv), got %r" % (name, argv))
        rc, out, err = run(argv)
        found[name] = {"rc": rc, "stdout": out, "stderr": err}
    return found


def read(run, package_specs=(), unit_names=(), user_names=(), group_names=(), path_names=(), command_argvs=None,
         getpwnam=pwd.getpwnam, getgrnam=grp.getgrnam, lstat=os.lstat, readlink=os.readlink):
    """Everything asked, as the module returns it, with the warnings of what could not be read."""
    warnings = []
    try:
        return {
            "dpkg": packages(run, list(package_specs)),
            "units": units(run, list(unit_names), warnings),
            "users": users(user_names, getpwnam),
            "groups": groups(group_names, getgrnam),
            "paths": paths(path_names, lstat, readlink),
            "commands": commands(run, command_argvs),
            "warnings": warnings,
        }
    except dpkg.DpkgError as exc:
        raise HostStateError(str(exc)) from exc
