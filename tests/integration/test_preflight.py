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
