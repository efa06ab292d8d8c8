"""playbooks/preflight.yml on the example inventory, and on broken address plans."""

import os
import subprocess
import sys
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def preflight(*extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"), ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
           os.path.join(ROOT, "playbooks", "preflight.yml"), "-e", "ansible_python_interpreter=" + sys.executable, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    return proc.returncode, proc.stdout + proc.stderr


def test_seed_plan_passes():
    rc, out = preflight()
    assert rc == 0, out
    assert "Network plan is sound: LANs 192.168.2.0/24, 192.168.0.0/24" in out
    assert "routes 192.168.2.0/24, 192.168.0.0/24" in out


def test_overlaps_fail_with_every_problem_named():
    rc, out = preflight("-e", '{"network_preflight_service_cidr": "192.168.0.0/16", '
                              '"metallb_address_pools": {"default": {"addresses": "10.0.0.1-10.0.0.9", "lan": "192.168.2.0/24"}}}')
    assert rc != 0
    assert "Network preflight failed:" in out
    assert "overlaps K3s service-cidr (192.168.0.0/16)" in out
    assert "MetalLB pool default (10.0.0.1-10.0.0.9) is outside its node's LAN 192.168.2.0/24" in out


def test_bad_cidr_is_named():
    rc, out = preflight("-e", '{"network_preflight_cluster_cidr": "10.42.0.0/99"}')
    assert rc != 0
    assert "K3s cluster-cidr: '10.42.0.0/99' is not a valid CIDR" in out


def test_the_pod_range_equal_to_the_service_range_is_refused():
    """Issue 36: the preflight printed "Network plan is sound" for this, then K3s was reconfigured."""
    rc, out = preflight("-e", '{"k3s_server_config": {"cluster-cidr": "10.43.0.0/16"}}')
    assert rc != 0 and "Network plan is sound" not in out
    assert "K3s cluster-cidr and K3s service-cidr are the same range (10.43.0.0/16)" in out


def test_a_cluster_dns_outside_the_service_range_is_refused():
    rc, out = preflight("-e", '{"k3s_server_config": {"service-cidr": "10.96.0.0/16", "cluster-dns": "10.43.0.10"}}')
    assert rc != 0
    assert "K3s cluster-dns 10.43.0.10 is outside K3s service-cidr 10.96.0.0/16" in out
    rc, out = preflight("-e", '{"k3s_server_config": {"service-cidr": "10.96.0.0/16", "cluster-dns": "10.96.0.10"}}')
    assert rc == 0, out
    assert "(cluster DNS 10.96.0.10)" in out
    # without one, K3s takes the service range's 10th address (k3s-io/k3s pkg/cli/server)
    rc, out = preflight("-e", '{"k3s_server_config": {"service-cidr": "10.96.0.0/16"}}')
    assert rc == 0, out


def test_a_port_out_of_range_or_a_bad_name_is_refused_before_anything_changes():
    """Issue 36: homelab_litellm_port=99999 was applied (a real API server refuses the Service mid-run)."""
    rc, out = preflight("-e", '{"homelab_litellm_port": 99999, "homelab_vllm_namespace": "ML"}')
    assert rc != 0
    assert "homelab_litellm_port: 99999 is not a port number, 1-65535" in out
    assert "homelab_vllm_namespace: 'ML' is not a Namespace name" in out
    assert "Network plan is sound" not in out  # refused first
