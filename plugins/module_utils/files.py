# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's directories and text files on a node in one pass: the logic of the files module, without Ansible.

Each directory is created when missing; each symbolic link made or re-pointed unless a file that is not a link
holds its path (kept); each path listed absent removed; each file is written (atomically: a temporary file in the same directory,
then a rename) only when its content differs; mode, owner and group are set where they differ. The result lists
the paths that changed and, per path, a before/after diff of what differs. In check mode nothing is touched.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat
import tempfile

# A diff shows the text of files up to this size; larger ones are summarised.
DIFF_LIMIT = 64 * 1024
# What a diff shows of a secret file's content, before and after.
SECRET = "(secret content, not shown)\n"


class FilesError(Exception):
    """A request that cannot be carried out; the message names the path and what to change."""


def parse_mode(mode, path):
    if mode is None:
        return None
    text = str(mode)
    try:
        value = int(text, 8)
    except ValueError:
        raise FilesError("%s: mode must be octal like '0644', not %r" % (path, mode)) from None
    if not 0 <= value <= 0o7777:
        raise FilesError("%s: mode %r is out of range" % (path, mode))
    return value


def ids(owner, group, path):
    """(uid, gid), -1 for what is not given."""
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner is not None else -1
    except KeyError:
        raise FilesError("%s: owner %r does not exist on this host" % (path, owner)) from None
    try:
        gid = grp.getgrnam(group).gr_gid if group is not None else -1
    except KeyError:
        raise FilesError("%s: group %r does not exist on this host" % (path, group)) from None
    return uid, gid


def attribute_changes(st, mode, uid, gid):
    """{attribute: (before, after)} of what differs between a stat result and the wanted attributes."""
    changes = {}
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        changes["mode"] = ("%04o" % stat.S_IMODE(st.st_mode), "%04o" % mode)
    if uid != -1 and st.st_uid != uid:
        changes["owner"] = (st.st_uid, uid)
    if gid != -1 and st.st_gid != gid:
        changes["group"] = (st.st_gid, gid)
    return changes


def set_attributes(path, mode, uid, gid):
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)
    if mode is not None:
        os.chmod(path, mode)


def existing(path, is_type, type_name):
    """The lstat of path, None when it does not exist; a FilesError when it exists as another type."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not is_type(st.st_mode):
        raise FilesError("%s exists and is not %s: move it away first" % (path, type_name))
    return st


def ensure_directory(spec, check_mode):
    """None when the directory is as wanted, else its diff entry."""
    path = spec["path"]
    mode = parse_mode(spec.get("mode"), path)
    uid, gid = ids(spec.get("owner"), spec.get("group"), path)
    st = existing(path, stat.S_ISDIR, "a directory")
    if st is None:
        if not check_mode:
            os.makedirs(path, exist_ok=True)
            set_attributes(path, mode, uid, gid)
        return {"before_header": path, "after_header": path, "before": "absent\n", "after": "directory\n"}
    return correct_attributes(path, st, mode, uid, gid, check_mode)


def correct_attributes(path, st, mode, uid, gid, check_mode):
    """None when mode, owner and group are as wanted; else set them (not in check mode) and return the diff."""
    changes = attribute_changes(st, mode, uid, gid)
    if not changes:
        return None
    if not check_mode:
        set_attributes(path, mode, uid, gid)
    return {"before_header": path, "after_header": path,
            "before": "".join("%s: %s\n" % (k, v[0]) for k, v in sorted(changes.items())),
            "after": "".join("%s: %s\n" % (k, v[1]) for k, v in sorted(changes.items()))}


def shown(text):
    return text if len(text) <= DIFF_LIMIT else "(%d bytes, not shown)\n" % len(text)


def validate_argv(validate, path):
    """The argv of a validate command ('visudo -cf %s'), %s replaced by path."""
    if "%s" not in (validate or ""):
        raise FilesError("%s: validate must contain %%s (the file to check), got %r" % (path, validate))
    return [word.replace("%s", path) for word in shlex.split(validate)]


def ensure_file(spec, check_mode, secret=False, run=None):
    """None when the file holds the content with the wanted attributes, else its diff entry. A secret file's
    content is never in the diff; a file with force false is written only when it does not exist; a new content
    with a validate command is checked by it (run(argv) -> (rc, stdout, stderr)) before it replaces the file."""
    dest, content = spec["dest"], spec["content"]
    mode = parse_mode(spec.get("mode"), dest)
    uid, gid = ids(spec.get("owner"), spec.get("group"), dest)
    if spec.get("validate"):
        validate_argv(spec["validate"], dest)
    data = content.encode("utf-8")
    st = existing(dest, stat.S_ISREG, "a regular file")
    if st is not None:
        with open(dest, "rb") as handle:
            current = handle.read()
        if current == data or spec.get("force") is False:
            return correct_attributes(dest, st, mode, uid, gid, check_mode)
        before = SECRET if secret else shown(current.decode("utf-8", "replace"))
    else:
        before = ""
    if not os.path.isdir(os.path.dirname(dest) or "."):
        if not check_mode:
            raise FilesError("%s: its directory does not exist (list it under directories)" % dest)
    elif not check_mode:
        write_atomically(dest, data, st, mode, uid, gid, spec.get("validate"), run)
    return {"before_header": dest, "after_header": dest, "before": before, "after": SECRET if secret else shown(content)}


def write_atomically(dest, data, st, mode, uid, gid, validate=None, run=None):
    """data into dest through a temporary file beside it, with the wanted attributes (else the current file's,
    else 0644 root's default owner) before the rename, so no reader sees a partial file or a moment of wrong mode;
    with validate, the temporary file must pass that command first, else dest is left as it was."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix="." + os.path.basename(dest) + ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        keep_mode = stat.S_IMODE(st.st_mode) if st is not None else 0o644
        set_attributes(tmp, mode if mode is not None else keep_mode,
                       uid if uid != -1 else (st.st_uid if st is not None else -1),
                       gid if gid != -1 else (st.st_gid if st is not None else -1))
        if validate:
            rc, out, err = run(validate_argv(validate, tmp))
            if rc != 0:
                raise FilesError("%s: %r refused the new content (rc %s): %s; the file was left as it was"
                                 % (dest, validate, rc, (err or out).strip()[:500]))
        os.rename(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_link(spec, check_mode):
    """None when path is already a symbolic link to src, or exists and is not a link (a tool the user installed is
    kept: True then); else the link is made or re-pointed (atomically: a new link renamed over the old one) and its
    diff entry returned."""
    path, src = spec["path"], spec["src"]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISLNK(st.st_mode):
        return True
    before = "link to %s\n" % os.readlink(path) if st is not None else "absent\n"
    if before == "link to %s\n" % src:
        return None
    if not check_mode:
        tmp = os.path.join(os.path.dirname(path) or ".", ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
        os.symlink(src, tmp)
        try:
            os.rename(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return {"before_header": path, "after_header": path, "before": before, "after": "link to %s\n" % src}


def ensure_absent(path, check_mode):
    """None when nothing is at path; else the file or link there is removed and its diff entry returned. A
    directory is refused (FilesError): this removes what a role wrote, never a tree."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise FilesError("%s is a directory: absent removes files and links only" % path)
    if not check_mode:
        os.unlink(path)
    return {"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"}


def ensure(directories=(), files=(), links=(), check_mode=False, secret_files=(), absent=(), run=None):
    """Directories first (in order), then files, then secret files, then links, then the absent paths;
    {changed, changed_paths, kept, diff}."""
    diffs, changed_paths, kept = [], [], []
    for spec in directories:
        entry = ensure_directory(spec, check_mode)
        if entry:
            diffs.append(entry)
            changed_paths.append(spec["path"])
    for specs, secret in ((files, False), (secret_files, True)):
        for spec in specs:
            entry = ensure_file(spec, check_mode, secret, run)
            if entry:
                diffs.append(entry)
                changed_paths.append(spec["dest"])
    for spec in links:
        entry = ensure_link(spec, check_mode)
        if entry is True:
            kept.append(spec["path"])
        elif entry:
            diffs.append(entry)
            changed_paths.append(spec["path"])
    for path in absent:
        entry = ensure_absent(path, check_mode)
        if entry:
            diffs.append(entry)
            changed_paths.append(path)
    return {"changed": bool(changed_paths), "changed_paths": changed_paths, "kept": kept, "diff": diffs}
