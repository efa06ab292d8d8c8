# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What dpkg already has, read from one `dpkg-query --show` (QUERY_FORMAT), so a role runs apt or dpkg_selections
only when a package is missing, at another version, or not held: a re-run then costs one cheap command instead of
an apt run (about 1 s a host, the package cache opened) per list of packages."""

from __future__ import annotations

# ${binary:Package} is the name, with :arch for a package of a foreign architecture.
QUERY_FORMAT = "${binary:Package} ${Version} ${db:Status-Want} ${db:Status-Status}\\n"


class DpkgError(ValueError):
    """A package specification that cannot be read."""


def parse(stdout):
    """{package: (version, want, status)} of the lines dpkg-query printed (lines of another shape are ignored)."""
    found = {}
    for line in (stdout or "").splitlines():
        fields = line.split()
        if len(fields) == 4:
            found[fields[0]] = tuple(fields[1:])
    return found


def split_spec(spec):
    """'name[:arch][=version]' -> (name[:arch], version or None)."""
    if not isinstance(spec, str) or not spec.strip() or spec.startswith("="):
        raise DpkgError("a package is 'name', 'name=version' or 'name:arch=version', not %r" % (spec,))
    name, _sep, version = spec.strip().partition("=")
    return name, version or None


def lookup(found, name):
    """The entry of name; a name without an architecture also matches its native-architecture form (name:amd64)."""
    if name in found:
        return found[name]
    if ":" not in name:
        for package, entry in found.items():
            if package.split(":", 1)[0] == name:
                return entry
    return None


def query_names(specs):
    """The package names (no versions) of specs."""
    return [split_spec(spec)[0] for spec in specs]


def query_argv(specs):
    """The dpkg-query command (argv) whose output missing() and unheld() read; it exits 1 when a package is
    unknown, printing the others."""
    return ["dpkg-query", "--show", "--showformat=" + QUERY_FORMAT] + query_names(specs)


def missing(stdout, specs):
    """The specs that are not installed, or installed at a version other than the one they pin."""
    found = parse(stdout)
    pending = []
    for spec in specs:
        name, version = split_spec(spec)
        entry = lookup(found, name)
        if entry is None or entry[2] != "installed" or (version is not None and entry[0] != version):
            pending.append(spec)
    return pending


def _selection(found, name):
    """The selection of name in parse()'s result; '' when it is not there."""
    return (lookup(found, name) or ("", "", ""))[1]


def selection(stdout, spec):
    """dpkg's selection of the package of spec (install, hold, deinstall or purge); '' when dpkg does not know it."""
    return _selection(parse(stdout), split_spec(spec)[0])


def unheld(stdout, specs):
    """The package names (no versions) whose selection is not hold."""
    found = parse(stdout)
    return [name for name in query_names(specs) if _selection(found, name) != "hold"]
