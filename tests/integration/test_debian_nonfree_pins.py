"""The nvidia_gpu role's pinned Debian packages exist in Debian's contrib and non-free components:
the driver, Steam's installer, and the driver's 32-bit libraries (i386) at the driver's version.

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
        defaults = yaml.safe_load(handle)
    pins = dict(defaults["nvidia_gpu_debian_packages"], **defaults["nvidia_gpu_steam_debian_packages"])
    pins["nvidia-driver-libs:i386"] = defaults["nvidia_gpu_debian_packages"]["nvidia-driver"]  # vars/main.yml
    (tmp_path / "lists" / "partial").mkdir(parents=True)
    (tmp_path / "cache" / "archives" / "partial").mkdir(parents=True)
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware\n")
    opts = ["-o", "Dir::Etc::sourcelist=%s" % sources, "-o", "Dir::Etc::sourceparts=-",
            "-o", "Dir::State::Lists=%s" % (tmp_path / "lists"), "-o", "Dir::Cache=%s" % (tmp_path / "cache"),
            "-o", "Debug::NoLocking=1", "-o", "APT::Architectures::=amd64", "-o", "APT::Architectures::=i386"]
    update = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True, timeout=300, check=False)
    assert update.returncode == 0, update.stderr
    for package, version in pins.items():
        arch = package.partition(":")[2] or "amd64"
        madison = subprocess.run(["apt-cache", *opts, "madison", package], capture_output=True, text=True, check=False)
        versions = [line.split("|")[1].strip() for line in madison.stdout.splitlines()
                    if "|" in line and " %s Packages" % arch in line]
        assert version in versions, "%s=%s not in Debian bookworm (found %s)" % (package, version, versions)
