"""Epic playbooks applied to the emulated Kubernetes API twice: the second run changes nothing.

kmock's emulator cannot create Namespace objects (namespaced objects work
without them), so namespace creation is turned off here.
"""

import json
import os
import subprocess
import sys
from support import HANG_GUARD_SECONDS


from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def apply(cluster, playbook, *extra):
    return run(cluster, playbook, *extra)[0]


def run(cluster, playbook, *extra):
    """ansible-playbook with the json callback (module arguments included): the stats and everything printed."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url, K8S_AUTH_API_KEY="emulator-accepts-any-token")
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", playbook), "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", '{"vllm_create_namespace": false, "homelab_kubeconfig": null}', *extra],
        capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    doc = json.loads(proc.stdout)
    failed = [(t["task"]["name"], t["hosts"]["localhost"].get("msg", t["hosts"]["localhost"].get("censored")))
              for p in doc["plays"] for t in p["tasks"] if t["hosts"].get("localhost", {}).get("failed")]
    assert proc.returncode == 0, failed
    return doc["stats"]["localhost"], proc.stdout + proc.stderr


def test_epic12_twice_second_run_changes_nothing(cluster):
    first = apply(cluster, "epic12_vllm.yml")
    assert first["changed"] == 1  # one kubernetes.core.k8s call: Service and the Deployment of the default mode
    second = apply(cluster, "epic12_vllm.yml")
    assert second["changed"] == 0 and second["failures"] == 0
    api = core.KubernetesApi(cluster.api_client())
    deployment = api.get_deployment("ml", "vllm-server")
    assert deployment["metadata"]["labels"]["gpu-mode"] == "ml"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_epic12_follows_the_inventorys_vllm_namespace_and_deployment_name(cluster):
    moved = ("-e", '{"homelab_vllm_namespace": "gpu", "homelab_vllm_deployment": "vllm-engine"}')
    first = apply(cluster, "epic12_vllm.yml", *moved)
    assert first["changed"] == 1
    second = apply(cluster, "epic12_vllm.yml", *moved)  # it finds its own Deployment again: nothing to change
    assert second["changed"] == 0 and second["failures"] == 0
    api = core.KubernetesApi(cluster.api_client())
    assert api.get_deployment("gpu", "vllm-engine")["metadata"]["labels"]["gpu-mode"] == "ml"
    assert api.get_deployment("gpu", "vllm-server") is None  # one Deployment, under the inventory's name


def test_epic12_keeps_the_operators_gaming_choice(cluster):
    api = core.KubernetesApi(cluster.api_client())
    apply(cluster, "epic12_vllm.yml")
    api.patch_deployment("ml", "vllm-server", {"spec": {"replicas": 0}})
    stats = apply(cluster, "epic12_vllm.yml")
    assert stats["changed"] == 0
    assert core.state_of(api.get_deployment("ml", "vllm-server"))["mode"] == "gaming"


def test_epic12_keeps_the_operators_serving_mode_and_gives_it_its_current_definition(cluster):
    api = core.KubernetesApi(cluster.api_client())
    apply(cluster, "epic12_vllm.yml")
    api.patch_deployment("ml", "vllm-server", {"metadata": {"labels": {"gpu-mode": "r1"}},
                                               "spec": {"replicas": 1, "template": {"metadata": {
                                                   "labels": {"gpu-mode": "r1"}}}}})  # `gpu-mode r1`, an old R1
    stats = apply(cluster, "epic12_vllm.yml")
    assert stats["changed"] == 1  # R1's definition of today, still R1
    deployment = api.get_deployment("ml", "vllm-server")
    assert core.state_of(deployment)["mode"] == "r1"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--reasoning-parser" in args and args[args.index("--model") + 1] == "casperhansen/deepseek-r1-distill-qwen-7b-awq"
    assert apply(cluster, "epic12_vllm.yml")["changed"] == 0
    import kubernetes

    service = kubernetes.client.CoreV1Api(cluster.api_client()).read_namespaced_service("vllm-api", "ml")
    assert service.spec.selector == {"app": "vllm-server"} and service.spec.ports[0].port == 8000


def test_epic14_twice_second_run_changes_nothing_and_never_prints_the_key(cluster):
    extra = ("-e", '{"litellm_create_namespace": false, "litellm_master_key": "sk-test-master-do-not-print",'
                   ' "litellm_provider_keys": {"OPENAI_API_KEY": "sk-test-openai-do-not-print"}}')
    first, printed = run(cluster, "epic14_litellm.yml", *extra)
    assert first["changed"] == 1  # one k8s_apply call: the Secret, ConfigMap, Deployment and Service
    second, printed_again = run(cluster, "epic14_litellm.yml", *extra, "--diff")
    assert second["changed"] == 0
    for key in ("sk-test-master-do-not-print", "sk-test-openai-do-not-print"):
        assert key not in printed + printed_again
    import kubernetes

    client = cluster.api_client()
    core_api = kubernetes.client.CoreV1Api(client)
    apps = kubernetes.client.AppsV1Api(client)
    configmap = core_api.read_namespaced_config_map("litellm-config", "ml")
    deployment = apps.read_namespaced_deployment("litellm-proxy", "ml")
    checksum = configmap.metadata.annotations["homelab.platform/config-checksum"]
    assert deployment.spec.template.metadata.annotations["homelab.platform/config-checksum"] == checksum
    assert "fallbacks" in configmap.data["config.yaml"]
    assert core_api.read_namespaced_service("litellm", "ml").spec.ports[0].port == 4000


def test_epic14_without_a_master_key_fails_clearly(cluster):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               K8S_AUTH_HOST=cluster.url, K8S_AUTH_API_KEY="emulator-accepts-any-token", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", "epic14_litellm.yml"), "-e", "ansible_python_interpreter=" + sys.executable],
        capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    assert proc.returncode != 0
    assert "litellm_master_key is empty: the proxy refuses to start without one" in proc.stdout


def test_epic12_nvidia_cluster_side_twice(cluster, tmp_path):
    # Only the controller's play: localhost made explicit so --limit can pick it.
    local = tmp_path / "local.ini"
    local.write_text("localhost ansible_connection=local\n")
    limit = ("-i", str(local), "--limit", "localhost")
    first = apply(cluster, "epic12_nvidia.yml", *limit)
    assert first["changed"] >= 1
    assert apply(cluster, "epic12_nvidia.yml", *limit)["changed"] == 0
    import kubernetes

    client = cluster.api_client()
    chart = kubernetes.client.CustomObjectsApi(client).get_namespaced_custom_object(
        "helm.cattle.io", "v1", "kube-system", "helmcharts", "nvidia-device-plugin")
    assert chart["spec"]["chart"] == "nvidia-device-plugin"
    assert "runtimeClassName: nvidia" in chart["spec"]["valuesContent"]
