"""Epic playbooks applied to the emulated Kubernetes API twice: the second run changes nothing.

kmock's emulator cannot create Namespace objects (namespaced objects work
without them), so namespace creation is turned off here.
"""

import json
import os
import subprocess
import sys

import pytest
from support.kube import EmulatedCluster

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def cluster():
    emulated = EmulatedCluster()
    yield emulated
    emulated.stop()


def apply(cluster, playbook, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url, K8S_AUTH_API_KEY="emulator-accepts-any-token")
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", playbook), "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", '{"vllm_create_namespace": false, "homelab_kubeconfig": null}', *extra],
        capture_output=True, text=True, env=env, check=False, timeout=300)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, json.dumps([t for p in doc["plays"] for t in p["tasks"]
                                             if t["hosts"].get("localhost", {}).get("failed")], indent=1)[:4000]
    return doc["stats"]["localhost"]


def test_epic12_twice_second_run_changes_nothing(cluster):
    first = apply(cluster, "epic12_vllm.yml")
    assert first["changed"] >= 2  # Service + Deployment
    second = apply(cluster, "epic12_vllm.yml")
    assert second["changed"] == 0 and second["failures"] == 0
    api = core.KubernetesApi(cluster.api_client())
    deployment = api.get_deployment("ml", "vllm-server")
    assert deployment["metadata"]["labels"]["gpu-mode"] == "ml"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_epic12_keeps_the_operators_gaming_choice(cluster):
    api = core.KubernetesApi(cluster.api_client())
    apply(cluster, "epic12_vllm.yml")
    api.patch_deployment("ml", "vllm-server", {"spec": {"replicas": 0}})
    stats = apply(cluster, "epic12_vllm.yml")
    assert stats["changed"] == 0
    assert core.state_of(api.get_deployment("ml", "vllm-server"))["mode"] == "gaming"
