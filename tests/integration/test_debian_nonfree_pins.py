"""The nvidia_gpu role's pinned Debian packages exist in Debian's non-free component.

Uses apt with a private state folder (nothing on the machine changes) against
Debian's mirror, which our machines and CI reach.
"""

import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt (Debian/Ubuntu)")


def test_pinned_driver_packages_exist(tmp_path):
    with open(os.path.join(ROOT, "roles", "nvidia_gpu", "defaults", "main.yml"), encoding="utf-8") as handle:
        pins = yaml.safe_load(handle)["nvidia_gpu_debian_packages"]
    (tmp_path / "lists" / "partial").mkdir(parents=True)
    (tmp_path / "cache" / "archives" / "partial").mkdir(parents=True)
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware\n")
    opts = ["-o", "Dir::Etc::sourcelist=%s" % sources, "-o", "Dir::Etc::sourceparts=-",
            "-o", "Dir::State::Lists=%s" % (tmp_path / "lists"), "-o", "Dir::Cache=%s" % (tmp_path / "cache"),
            "-o", "Debug::NoLocking=1"]
    update = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True, timeout=300, check=False)
    assert update.returncode == 0, update.stderr
    for package, version in pins.items():
        madison = subprocess.run(["apt-cache", *opts, "madison", package], capture_output=True, text=True, check=False)
        versions = [line.split("|")[1].strip() for line in madison.stdout.splitlines() if "|" in line]
        assert version in versions, "%s=%s not in Debian bookworm non-free (found %s)" % (package, version, versions)
