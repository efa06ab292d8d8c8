"""dpkg: what dpkg-query says is installed, at which version, held or not."""

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import dpkg as core

# dpkg-query --show --showformat=<QUERY_FORMAT> as Debian 12 prints it (unknown packages go to stderr).
OUT = """steam-installer 1:1.0.0.75+ds-2 hold installed
nvidia-driver-libs:i386 535.247.01-1~deb12u1 hold installed
libfoo:amd64 2.0-1 install installed
old-tool 1.0 deinstall config-files
curl 7.88.1-10+deb12u14 install installed
"""


def test_missing_reads_version_and_status():
    specs = ["steam-installer=1:1.0.0.75+ds-2", "nvidia-driver-libs:i386=535.247.01-1~deb12u1", "curl",
             "libfoo", "old-tool", "absent-pkg", "curl=8.0"]
    assert core.missing(OUT, specs) == ["old-tool", "absent-pkg", "curl=8.0"]
    assert core.missing(OUT, ["nvidia-driver-libs:i386=535.999"]) == ["nvidia-driver-libs:i386=535.999"]
    assert core.missing("", ["curl"]) == ["curl"]


def test_unheld_names_without_versions():
    assert core.unheld(OUT, ["steam-installer=1:1.0.0.75+ds-2", "nvidia-driver-libs:i386=535", "curl", "absent"]) == \
        ["curl", "absent"]


def test_the_selection_of_one_package():
    assert core.selection(OUT, "steam-installer") == "hold"
    assert core.selection(OUT, "curl=8.0") == "install"  # the version is not the question
    assert core.selection(OUT, "libfoo") == "install"  # its native-architecture form
    assert core.selection(OUT, "old-tool") == "deinstall"
    assert core.selection(OUT, "absent") == "" and core.selection("", "curl") == ""
    with pytest.raises(core.DpkgError, match="a package is 'name'"):
        core.selection(OUT, "=1.0")


def test_the_query_and_bad_specs():
    argv = core.query_argv(["curl", "nvidia-driver-libs:i386=535.247.01-1~deb12u1"])
    assert argv == ["dpkg-query", "--show", "--showformat=" + core.QUERY_FORMAT, "curl", "nvidia-driver-libs:i386"]
    assert core.QUERY_FORMAT.endswith("\\n")  # dpkg-query's own escape, not a newline character
    for bad in ("", "=1.0", None, 3):
        with pytest.raises(core.DpkgError, match="a package is 'name'"):
            core.query_argv([bad])
