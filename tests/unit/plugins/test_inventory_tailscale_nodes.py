import json
import os

from ansible_collections.homelab.platform.plugins.inventory import tailscale as plugin

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tailscale", "status_master.json")


def status():
    with open(FIXTURE, encoding="utf-8") as handle:
        return json.load(handle)


def test_nodes_reads_self_and_peers():
    found = {node["HostName"]: hv for node, hv in plugin.nodes(status())}
    assert sorted(found) == ["k3s-gpu-worker", "k3s-master", "k3s-worker-01", "toms-laptop"]
    assert found["k3s-master"]["tailscale_self"] is True
    assert found["k3s-gpu-worker"]["tailscale_ipv4"] == "100.80.98.64"
    assert found["k3s-gpu-worker"]["tailscale_ipv6"] == "fd7a:115c:a1e0::4f01:6240"
    assert found["k3s-gpu-worker"]["tailscale_tags"] == ["tag:k3s-agent", "tag:gpu"]
    assert found["k3s-worker-01"]["tailscale_online"] is False


def test_nodes_filters():
    names = [n["HostName"] for n, hv in plugin.nodes(status(), include_self=False, online_only=True)]
    assert sorted(names) == ["k3s-gpu-worker", "toms-laptop"]


def test_nodes_without_addresses_are_skipped():
    doc = status()
    doc["Peer"] = {"nodekey:x": {"HostName": "pending", "TailscaleIPs": None, "Online": False}}
    assert [n["HostName"] for n, hv in plugin.nodes(doc)] == ["k3s-master"]


def test_tag_group_names():
    assert plugin.tag_group("tag:k3s-server") == "k3s_server"
    assert plugin.tag_group("tag:gpu.nvidia") == "gpu_nvidia"
