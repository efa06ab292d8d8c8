"""Issue 36, the corpus: a wrong value refuses `site.yml` before the first task on a node or the API.

Each case is one value a new user gets wrong, per kind (ports, CIDRs and addresses, names, sizes, durations,
schedules, versions, timeouts, host names) and per relation (pod range, service range, cluster DNS, LANs,
tailnet, MetalLB pools). `site.yml` runs on the example inventory, whose hosts do not exist: a run that got past
the preflight would start the next play and try to reach them. Asserted: the run fails, the refusal names the
variable (or the setting) and the value, and the preflight is the only play that started.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
INVENTORY = os.path.join(ROOT, "inventories", "homelab")

CASES = {
    "port": ({"homelab_litellm_port": 99999}, "homelab_litellm_port: 99999 is not a port number, 1-65535"),
    "namespace": ({"homelab_vllm_namespace": "ML"}, "homelab_vllm_namespace: 'ML' is not a Namespace name"),
    "service": ({"homelab_litellm_service": "9litellm"}, "homelab_litellm_service: '9litellm' is not a Service name"),
    "object name": ({"homelab_vllm_deployment": "vllm_server"}, "homelab_vllm_deployment: 'vllm_server' is not an "
                                                                "object name"),
    "size": ({"postgres_storage_size": "20GB"}, "postgres_storage_size: '20GB' is not a size as Kubernetes takes it"),
    "duration": ({"monitoring_retention": "15 days"}, "monitoring_retention: '15 days' is not a duration"),
    "schedule": ({"postgres_backup_schedule": "30 25 * * *"}, "postgres_backup_schedule: '30 25 * * *' is not a "
                                                              "cron schedule"),
    "version": ({"tailscale_version": "latest"}, "tailscale_version: 'latest' is not a release version"),
    "k3s version": ({"k3s_version": "1.34.3"}, "k3s_version: '1.34.3' is not a K3s release tag"),
    "timeout": ({"k3s_ready_timeout": "5m"}, "k3s_ready_timeout: '5m' is not a whole number of seconds"),
    "host name": ({"tailscale_hostname": "gpu_box"}, "tailscale_hostname: 'gpu_box' is not a host name"),
    "Node name": ({"k3s_node_name": "GPU_Box"}, "k3s_node_name: 'GPU_Box' is not an object name"),
    "CIDR": ({"k3s_server_config": {"cluster-cidr": "10.42.0.0/99"}},
             "K3s cluster-cidr: '10.42.0.0/99' is not a valid CIDR"),
    "pod range = service range": ({"k3s_server_config": {"cluster-cidr": "10.43.0.0/16"}},
                                  "K3s cluster-cidr and K3s service-cidr are the same range (10.43.0.0/16)"),
    "cluster DNS outside the service range": ({"k3s_server_config": {"cluster-dns": "10.42.0.10"}},
                                              "K3s cluster-dns 10.42.0.10 is outside K3s service-cidr 10.43.0.0/16"),
    "service range over a LAN": ({"k3s_server_config": {"service-cidr": "192.168.0.0/16"}},
                                 "overlaps K3s service-cidr (192.168.0.0/16)"),
    "LAN inside the tailnet": ({"homelab_lan_cidr": "100.100.0.0/16"},
                               "(100.100.0.0/16) overlaps Tailscale addresses (100.64.0.0/10)"),
    "MetalLB pool outside its LAN": ({"metallb_address_pools": {"default": {"addresses": "10.0.0.1-10.0.0.9",
                                                                            "lan": "192.168.2.0/24"}}},
                                     "MetalLB pool default (10.0.0.1-10.0.0.9) is outside its node's LAN"),
    # the example inventory's k3s-master is at 192.168.2.20 (ansible_host, inside its LAN)
    "MetalLB pool holding a node's address": (
        {"metallb_address_pools": {"default": {"addresses": "192.168.2.10-192.168.2.29", "lan": "192.168.2.0/24"}}},
        "holds 192.168.2.20, the LAN address of k3s-master"),
}


def site(inventory, extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"), ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "site.yml"),
           "-e", "ansible_python_interpreter=" + sys.executable, "-e", yaml.safe_dump(extra, default_flow_style=True)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    return proc.returncode, proc.stdout + proc.stderr


def assert_refused_in_the_preflight(rc, out, message):
    assert rc != 0, out
    assert message in out, out
    plays = [line for line in out.splitlines() if line.startswith("PLAY [")]
    assert plays == ["PLAY [Network preflight] " + "*" * (len(plays[0]) - len("PLAY [Network preflight] "))], plays
    assert "UNREACHABLE" not in out and "Network plan is sound" not in out


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_value_is_refused_before_any_node_or_api_is_touched(case):
    extra, message = CASES[case]
    assert_refused_in_the_preflight(*site(INVENTORY, extra), message)


def test_a_nodes_own_wrong_value_is_named_with_the_node(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    gpu = "k3s-gpu-worker"
    with open(inventory / "host_vars" / ("%s.yml" % gpu), "a", encoding="utf-8") as handle:
        handle.write("\ntailscale_hostname: GPU box\n")
    rc, out = site(str(inventory), {})
    assert_refused_in_the_preflight(rc, out, "%s: tailscale_hostname: 'GPU box' is not a host name" % gpu)


def test_the_example_inventory_passes_the_preflight():
    """The control case: the same run with no wrong value gets past the preflight (and then fails to reach the
    example hosts, which do not exist)."""
    rc, out = site(INVENTORY, {})
    assert "Network plan is sound" in out
    assert len([line for line in out.splitlines() if line.startswith("PLAY [")]) > 1
    assert rc != 0
