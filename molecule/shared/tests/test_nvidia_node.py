"""The nvidia_gpu role on the lab's GPU worker (driver off, toolkit stand-in package, Steam from Debian)."""

import os

import pytest
import yaml
from conftest import AGENTS, LAB_ROOT, SCENARIO, events, host, names

GPU = names("gpu_workers")
OTHERS = [n for n in AGENTS if n not in GPU]
CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"


@pytest.mark.parametrize("name", GPU)
def test_nothing_driver_related_installed(name):
    h = host(name)
    assert not h.package("nvidia-driver").is_installed
    assert not h.file("/etc/modprobe.d/blacklist-nouveau.conf").exists


@pytest.mark.parametrize("name", GPU)
def test_steam_with_the_32_bit_libraries_of_the_pinned_driver(name):
    """Debian's real steam-installer (contrib) and nvidia-driver-libs:i386 (non-free) at the driver's pinned
    version, both held; the i386 architecture added once (the converge's idempotence run changed nothing)."""
    h = host(name)
    with open(os.path.join(LAB_ROOT, "roles", "nvidia_gpu", "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    assert h.check_output("dpkg --print-foreign-architectures").split() == ["i386"]
    assert "contrib non-free" in h.file("/etc/apt/sources.list.d/homelab-nonfree.sources").content_string
    versions = dict(line.split("\t") for line in h.check_output(
        "dpkg-query -W -f '${Package}:${Architecture}\t${Version}\n' steam-installer nvidia-driver-libs:i386"
    ).splitlines())
    assert versions == {"steam-installer:amd64": defaults["nvidia_gpu_steam_debian_packages"]["steam-installer"],
                        "nvidia-driver-libs:i386": defaults["nvidia_gpu_debian_packages"]["nvidia-driver"]}
    assert set(h.check_output("apt-mark showhold").split()) >= {"steam-installer", "nvidia-driver-libs:i386"}
    assert h.file("/usr/games/steam").mode == 0o755


@pytest.mark.parametrize("name", GPU)
def test_toolkit_held_and_runtime_detected_by_k3s(name):
    h = host(name)
    assert h.package("nvidia-container-toolkit").version == "1.17.8-1"
    assert h.check_output("dpkg --get-selections nvidia-container-toolkit").split()[1] == "hold"
    config = h.file(CONFIG).content_string
    assert "runtimes.'nvidia']" in config and 'BinaryName = "/usr/bin/nvidia-container-runtime"' in config


@pytest.mark.skipif(SCENARIO != "default", reason="the ha scenario has no GPU worker")
@pytest.mark.parametrize("name", GPU)
def test_agent_restarted_once_for_the_runtime(name):
    """Install start, then exactly one restart when the runtime appeared (idempotence added none)."""
    starts = [e for e in events(host(name)) if e["event"] == "start"]
    assert len(starts) == 2


@pytest.mark.parametrize("name", GPU)
def test_gpu_facts_from_the_node(name):
    out = host(name).check_output("nvidia-smi -q -x")
    assert "NVIDIA GeForce RTX 3060" in out


@pytest.mark.parametrize("name", OTHERS)
def test_cpu_workers_have_no_nvidia_runtime(name):
    assert "nvidia" not in host(name).file(CONFIG).content_string
