"""Each platform epic playbook applied to the emulated Kubernetes API (kmock) twice:
the second run reports no change, vaulted values never reach the output, and the
objects that reached the API carry seed 002's labels, names and namespaces.

kmock cannot create Namespace objects, so namespace creation is turned off here.
"""

import json
import os
import subprocess
import sys

import kubernetes
import kubernetes.dynamic
import pytest
import yaml
from support import HANG_GUARD_SECONDS

from ansible_collections.homelab.platform.plugins.module_utils import manifests as m

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
SECRETS = os.path.join(ROOT, "tests", "integration", "vars", "platform-secrets.yml")
FAST = '{"homelab_create_namespaces": false, "homelab_kubeconfig": null, "k8s_manifests_api_retries": 2, "k8s_manifests_api_delay": 1}'

# epic playbook -> (namespace, a Secret it must create or None, kinds it must create)
EPICS = {
    "epic02_storage.yml": ("kube-system", None, {"HelmChart"}),
    "epic03_ingress.yml": ("infra", "cert-manager-secrets", {"HelmChart", "IPAddressPool", "L2Advertisement", "ClusterIssuer"}),
    "epic04_observability.yml": ("monitoring", "grafana-secrets", {"HelmChart", "ConfigMap", "Certificate", "IngressRoute", "Middleware"}),
    "epic05_postgres.yml": ("data", "postgres-secrets", {"StatefulSet", "Service", "ConfigMap", "NetworkPolicy", "CronJob", "PersistentVolumeClaim"}),
    "epic06_ollama.yml": ("ml", None, {"Deployment", "Service", "PersistentVolumeClaim", "Job", "IngressRoute"}),
    "epic07_dev_proxy.yml": ("dev", None, {"Deployment", "Service", "ConfigMap", "IngressRoute"}),
    "epic10_paperless.yml": ("docs", "paperless-secrets", {"Deployment", "Service", "PersistentVolumeClaim", "IngressRoute"}),
    "epic11_dev_containers.yml": ("dev", None, {"Deployment", "PersistentVolumeClaim"}),
    "epic17_open_webui.yml": ("apps", "open-webui-secrets", {"Deployment", "Service", "PersistentVolumeClaim", "IngressRoute"}),
    "epic18_dashboard.yml": ("infra", None, {"HelmChart", "ServiceAccount", "ClusterRoleBinding", "IngressRoute"}),
    "epic19_gitea.yml": ("dev", "gitea-secrets", {"HelmChart", "IngressRoute"}),
}
LISTS = {  # kind -> (api_version, namespaced)
    "HelmChart": ("helm.cattle.io/v1", True), "IngressRoute": ("traefik.io/v1alpha1", True),
    "Middleware": ("traefik.io/v1alpha1", True), "Certificate": ("cert-manager.io/v1", True),
    "ClusterIssuer": ("cert-manager.io/v1", False), "IPAddressPool": ("metallb.io/v1beta1", True),
    "L2Advertisement": ("metallb.io/v1beta1", True), "Deployment": ("apps/v1", True),
    "StatefulSet": ("apps/v1", True), "Service": ("v1", True), "ConfigMap": ("v1", True),
    "Secret": ("v1", True), "PersistentVolumeClaim": ("v1", True),
    "NetworkPolicy": ("networking.k8s.io/v1", True), "CronJob": ("batch/v1", True),
    "Job": ("batch/v1", True), "ServiceAccount": ("v1", True),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", False),
}


def apply(cluster, playbook, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url,
               K8S_AUTH_API_KEY="emulator-accepts-any-token")
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", playbook), "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", "@" + SECRETS, "-e", FAST, *extra],
        capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    return proc


def stats_of(proc):
    doc = json.loads(proc.stdout)
    failed = [(t["task"]["name"], t["hosts"]["localhost"].get("msg"))
              for p in doc["plays"] for t in p["tasks"] if t["hosts"].get("localhost", {}).get("failed")]
    assert proc.returncode == 0, failed
    return doc["stats"]["localhost"]


def objects_in(cluster, namespace):
    return objects_in_kinds(cluster, namespace, LISTS)


def objects_in_kinds(cluster, namespace, kinds):
    dynamic = kubernetes.dynamic.DynamicClient(cluster.api_client())
    found = []
    for kind in kinds:
        api_version, namespaced = LISTS[kind]
        resource = dynamic.resources.get(api_version=api_version, kind=kind)
        # kmock's lists lack `kind`, which ResourceInstance needs: take the raw JSON
        items = resource.get(namespace=namespace if namespaced else None,
                             serializer=lambda _client, data: data).get("items") or []
        found.extend(dict(item, kind=kind, apiVersion=api_version) for item in items)
    return [o for o in found if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "ansible"]


def test_check_mode_writes_only_dry_runs(cluster):
    """In check mode nothing is created (a missing object is reported, not sent) and a change reaches the API only
    as a server-side dry run (dryRun=All). kmock ignores dryRun and stores a patch anyway, so the requests are what
    is checked."""
    seen = len(list(cluster.emulator))
    proc = apply(cluster, "epic17_open_webui.yml", "--check", "--diff")
    assert stats_of(proc)["changed"] >= 1 and "Deployment apps/open-webui-server" in proc.stdout
    assert [r for r in list(cluster.emulator)[seen:] if str(r.method).upper().endswith(("POST", "PUT", "PATCH", "DELETE"))] == []
    assert objects_in(cluster, "apps") == []
    assert stats_of(apply(cluster, "epic17_open_webui.yml"))["changed"] >= 1
    seen = len(list(cluster.emulator))
    proc = apply(cluster, "epic17_open_webui.yml", "--check", "--diff", "-e", "open_webui_image=example.test/open-webui:v2")
    assert stats_of(proc)["changed"] == 1 and "example.test/open-webui:v2" in proc.stdout
    writes = [r for r in list(cluster.emulator)[seen:] if str(r.method).upper().endswith(("POST", "PUT", "PATCH", "DELETE"))]
    assert [str(r.url.path) for r in writes] == ["/apis/apps/v1/namespaces/apps/deployments/open-webui-server"]
    assert [(str(r.method), str(r.url.path)) for r in writes if r.params.get("dryRun") != "All"] == []
    assert not [v for v in yaml.safe_load(open(SECRETS)).values() if v in proc.stdout + proc.stderr]
    for obj in objects_in(cluster, "apps"):  # forget what the emulator kept, for the tests below
        api_version, namespaced = LISTS[obj["kind"]]
        dynamic = kubernetes.dynamic.DynamicClient(cluster.api_client())
        dynamic.resources.get(api_version=api_version, kind=obj["kind"]).delete(
            name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace") if namespaced else None)


@pytest.mark.parametrize("playbook", sorted(EPICS))
def test_epic_playbook_twice_on_the_emulated_api(cluster, playbook):
    namespace, secret, kinds = EPICS[playbook]
    first = apply(cluster, playbook)
    assert stats_of(first)["changed"] >= 1
    second = apply(cluster, playbook)
    assert stats_of(second)["changed"] == 0, "second run changed something"
    vaulted = yaml.safe_load(open(SECRETS)).values()
    assert not [v for v in vaulted if v in first.stdout + first.stderr + second.stdout + second.stderr]

    objects = objects_in(cluster, namespace)
    assert kinds <= {o["kind"] for o in objects}, {o["kind"] for o in objects}
    # labels, names and namespaces as seed 002 wants them (Secrets: the API may show data, not stringData)
    violations = [str(v) for v in m.check_objects(objects, playbook) if v.rule not in ("secret", "ingressroute-triplet")]
    assert violations == []
    if secret:
        names = [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"]
        assert secret in names, names


def test_objects_of_a_chart_api_wait_for_the_chart():
    """MetalLB's pools need the CRDs its chart installs: the HelmChart is applied first,
    then the role waits for the API and says what is missing if it never comes."""
    from support.kube import CRDS, EmulatedCluster

    bare = EmulatedCluster({k: v for k, v in CRDS.items() if not k.startswith("metallb.io/")})
    try:
        proc = apply(bare, "epic03_ingress.yml")
        assert proc.returncode != 0
        assert "metallb.io/v1beta1 IPAddressPool not served after 2 s" in proc.stdout
        names = [o["metadata"]["name"] for o in objects_in_kinds(bare, "infra", ["HelmChart"])]
        assert names == ["metallb"]  # applied before the wait; cert-manager's play never started
    finally:
        bare.stop()


def test_a_broken_inventory_value_changes_nothing(cluster):
    proc = apply(cluster, "epic05_postgres.yml", "-e", '{"postgres_databases": {"Bad-Name": {"password": "x"}}, "homelab_postgres_namespace": "data2"}')
    assert proc.returncode != 0
    assert "database names are lower-case identifiers" in proc.stdout
    assert [o for o in objects_in(cluster, "data2") if o["metadata"].get("namespace") == "data2"] == []


def test_a_per_epic_run_refuses_a_broken_value_before_applying(cluster):
    """No preflight runs in a per-epic playbook: the role's own values (and the home-lab-wide ones) are checked by
    kind before its first object. The inventory may move Ollama to another namespace, but not leave its volume
    without a size, nor give LiteLLM's port as 99999."""
    proc = apply(cluster, "epic06_ollama.yml", "-e", '{"homelab_ollama_namespace": "apps", "ollama_storage_size": "",'
                                                     ' "homelab_litellm_port": 99999}')
    assert proc.returncode != 0
    assert "homelab_litellm_port: 99999 is not a port number, 1-65535" in proc.stdout
    assert "ollama_storage_size: '' is not a size as Kubernetes takes it" in proc.stdout
    assert [o for o in objects_in(cluster, "apps") if o["metadata"]["labels"]["app.kubernetes.io/name"] == "ollama"] == []


def test_an_unreachable_api_fails_at_once_and_says_so():
    class Down:
        url = "http://127.0.0.1:1"

    proc = apply(Down(), "epic07_dev_proxy.yml", "-e", '{"homelab_create_namespaces": true}')
    assert proc.returncode != 0
    doc = json.loads(proc.stdout)
    failed = [(t["task"]["name"], t["hosts"]["localhost"]) for p in doc["plays"] for t in p["tasks"]
              if t["hosts"].get("localhost", {}).get("failed")]
    # the role's one call fails at its first request (discovery of the Namespace's API), not retried
    assert [entry[0] for entry in failed] == ["homelab.platform.k8s_manifests : Apply the manifests of dev_proxy"]
    result = failed[0][1]
    assert result["msg"].startswith("cannot reach the Kubernetes API at http://127.0.0.1:1")
    assert result["objects"] == [] and result["changed"] is False and result["host"] == "http://127.0.0.1:1"
    assert "Connection refused" in result["msg"] or "Max retries exceeded" in result["msg"]


def test_k3s_local_path_stays_but_is_no_longer_the_default_class(cluster):
    """K3s ships local-path as the default StorageClass; epic 2 patches it through k8s_manifests (only the
    annotation: the object stays K3s's) and the second run finds nothing to change."""
    storage = kubernetes.client.StorageV1Api(cluster.api_client())
    storage.create_storage_class({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": "local-path", "annotations": {
                                      "storageclass.kubernetes.io/is-default-class": "true"}},
                                  "provisioner": "rancher.io/local-path"})
    try:
        stats_of(apply(cluster, "epic02_storage.yml"))
        local = storage.read_storage_class("local-path")
        assert local.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "false"
        assert local.provisioner == "rancher.io/local-path"
        assert stats_of(apply(cluster, "epic02_storage.yml"))["changed"] == 0
    finally:
        storage.delete_storage_class("local-path")


def test_loki_stack_from_an_earlier_release_is_replaced_by_the_loki_chart(cluster):
    """A cluster converged before 0.2.0 has the HelmChart loki on the loki-stack chart; helm cannot upgrade that
    release to the Loki chart (an immutable StatefulSet selector), so epic 4 deletes it before applying its successor
    and a second run changes nothing."""
    custom = kubernetes.client.CustomObjectsApi(cluster.api_client())
    old = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {"name": "loki", "namespace": "monitoring"},
           "spec": {"repo": "https://grafana.github.io/helm-charts", "chart": "loki-stack", "version": "2.10.2",
                    "targetNamespace": "monitoring"}}
    try:
        custom.delete_namespaced_custom_object("helm.cattle.io", "v1", "monitoring", "helmcharts", "loki")
    except kubernetes.client.ApiException:
        pass
    custom.create_namespaced_custom_object("helm.cattle.io", "v1", "monitoring", "helmcharts", old)

    def deletes_of_loki(since):
        return [r for r in list(cluster.emulator)[since:] if str(r.method).upper().endswith("DELETE")
                and r.url.path.endswith("/namespaces/monitoring/helmcharts/loki")]

    seen = len(list(cluster.emulator))
    stats_of(apply(cluster, "epic04_observability.yml"))
    assert len(deletes_of_loki(seen)) == 1  # deleted, not patched into the other chart
    loki = custom.get_namespaced_custom_object("helm.cattle.io", "v1", "monitoring", "helmcharts", "loki")
    assert (loki["spec"]["chart"], loki["spec"]["version"]) == ("loki", "18.11.0")
    assert custom.get_namespaced_custom_object("helm.cattle.io", "v1", "monitoring", "helmcharts", "alloy")
    seen = len(list(cluster.emulator))
    assert stats_of(apply(cluster, "epic04_observability.yml"))["changed"] == 0
    assert deletes_of_loki(seen) == []
