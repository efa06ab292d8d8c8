"""playbooks/reboot.yml (conftest LAB_PHASE: after the checks and, in ha, the upgrade).

The lab's containers cannot reboot: inventories/lab makes a "reboot" a restart of the node's K3s
unit (k3s_reboot_command); drain, gates and uncordon are the real ones. ha: only nodes that ask for it
(/var/run/reboot-required) are rebooted, one at a time, while the cluster keeps taking writes;
`--limit` with reboot_force=true reboots exactly that node. default: the GPU worker comes back and the
run waits for the model server of its mode (a vllm-server Deployment in the lab's API).
"""

import kubernetes
import pytest
from conftest import AGENTS, SCENARIO, SERVERS, client_for, host, names, node_state, run_playbook
from lab_probe import WriteProbe

ha_only = pytest.mark.skipif(SCENARIO != "ha", reason="the rolling reboot of several servers runs in the ha scenario")
GPU = names("gpu_workers")
LAB_PHASE = 2.5  # conftest: after the upgrade, before restore
FLAG = "/var/run/reboot-required"


def restarted(before, after):
    return sorted(n for n in before if before[n] != after[n])


def unschedulable():
    core = kubernetes.client.CoreV1Api(client_for())
    return [n.metadata.name for n in core.list_node().items if n.spec.unschedulable]


@ha_only
def test_nothing_to_reboot_changes_nothing():
    before = node_state()
    rc, out = run_playbook("reboot.yml")
    assert rc == 0 and "no node needs a reboot" in out, out[-3000:]
    assert restarted(before, node_state()) == []


@ha_only
def test_only_the_nodes_that_ask_are_rebooted_and_the_cluster_keeps_writing():
    asking = [SERVERS[1], AGENTS[0]]
    for name in asking:
        host(name).check_output("touch %s", FLAG)
    before = node_state()
    probe = WriteProbe(SERVERS)
    probe.start()
    try:
        rc, out = run_playbook("reboot.yml")
    finally:
        probe.stop()
        for name in asking:
            host(name).check_output("rm -f %s", FLAG)
    assert rc == 0, out[-3000:]
    assert "rebooting %s" % ", ".join(asking) in out
    assert restarted(before, node_state()) == sorted(asking)
    assert not probe.failed(), "writes no server took: %s" % probe.failed()[:3]
    assert unschedulable() == []


@ha_only
def test_limit_with_force_reboots_exactly_that_node():
    before = node_state()
    rc, out = run_playbook("reboot.yml", "--limit", AGENTS[0], "-e", "reboot_force=true")
    assert rc == 0, out[-3000:]
    assert restarted(before, node_state()) == [AGENTS[0]]
    assert unschedulable() == []


@pytest.mark.skipif(not GPU, reason="the scenario has no GPU worker")
def test_the_gpu_worker_comes_back_and_its_model_server_is_waited_for():
    """The vLLM Deployment epic 12 converged (homelab_vllm_namespace/gpu_mode_deployment, one replica on the GPU
    node): the reboot drains its Pod and waits for it Ready again before it calls the node back."""
    name = GPU[0]
    before = node_state()
    rc, out = run_playbook("reboot.yml", "--limit", name, "-e", "reboot_force=true")
    assert rc == 0, out[-3000:]
    assert restarted(before, node_state()) == [name]
    assert "ml/vllm-server: 1 of 1 replicas Ready" in out, out[-3000:]
    assert unschedulable() == []
    dep = kubernetes.client.AppsV1Api(client_for()).read_namespaced_deployment("vllm-server", "ml")
    assert dep.status.ready_replicas == 1
