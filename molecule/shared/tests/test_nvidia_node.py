"""The nvidia_gpu role on the lab's GPU worker (driver off, toolkit stand-in package)."""

import pytest
from conftest import AGENTS, SCENARIO, events, host, names

GPU = names("gpu_workers")
OTHERS = [n for n in AGENTS if n not in GPU]
CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"


@pytest.mark.parametrize("name", GPU)
def test_nothing_driver_related_installed(name):
    h = host(name)
    assert not h.package("nvidia-driver").is_installed
    assert not h.file("/etc/modprobe.d/blacklist-nouveau.conf").exists
    assert not h.file("/etc/apt/sources.list.d/homelab-nonfree.sources").exists


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
