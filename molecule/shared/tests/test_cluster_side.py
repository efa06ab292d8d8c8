"""The cluster side of site.yml in the lab: every epic's objects in the lab's API, K3s's helm-controller and
deploy controller (stand-ins) at work, the ML stack placed, and verify.yml's report (SKIP, never PASS, for
what needs a real cluster)."""

import glob
import json
import os
import tempfile

import kubernetes
import pytest
import yaml
from conftest import LAB_ROOT, SCENARIO, client_for, default_only, names, recap_changed, run_playbook, wait_for
from conftest import host as lab_host

GPU = names("gpu_workers")
CHART_CRDS = os.path.join(LAB_ROOT, "tests", "standins", "k3s", "chart-crds.json")


@pytest.fixture(scope="module")
def dynamic():
    return kubernetes.dynamic.DynamicClient(client_for())


def rendered_objects():
    """Every object playbooks/render.yml renders for the scenario's inventory (Secrets are never written)."""
    with tempfile.TemporaryDirectory() as out:
        code, log = run_playbook("render.yml", "-e", "homelab_render_dir=" + out)
        assert code == 0, log[-3000:]
        objects = []
        for path in sorted(glob.glob(os.path.join(out, "**", "*.yaml"), recursive=True)):
            with open(path, encoding="utf-8") as handle:
                for doc in yaml.safe_load_all(handle):  # a document is an object or a list of them
                    objects += [(os.path.relpath(path, out), obj) for obj in (doc if isinstance(doc, list) else [doc])
                                if obj]
    return objects


@default_only  # the same objects from the same roles
def test_every_object_the_epics_render_is_in_the_api(dynamic):
    objects = rendered_objects()
    assert len(objects) > 50  # every platform role rendered something
    missing = []
    for path, obj in objects:
        # vLLM's Deployment is applied by gpu-mode (roles/vllm: k8s_manifests_apply), in the mode it is in;
        # gpu-mode's RBAC by the gpu_mode role on a GPU worker, when there is one
        if path == os.path.join("vllm", "deployment.yaml") or obj["kind"] == "Secret" or (
                not GPU and path.startswith("gpu_mode" + os.sep)):
            continue
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            resource.get(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
        except kubernetes.dynamic.exceptions.NotFoundError:
            missing.append("%s %s/%s (%s)" % (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                              path))
    assert missing == []


def test_each_helmchart_was_installed_by_its_job_from_the_real_chart(dynamic):
    """The helm-controller stand-in installs what the real helm renders from the pinned archive: the chart's CRDs
    with their real schemas, its workloads (whose Pods the kubelet stand-in runs), a release record."""
    charts = dynamic.resources.get(api_version="helm.cattle.io/v1", kind="HelmChart").get().items
    by_name = {c.metadata.name: c for c in charts}
    # K3s's packaged Traefik (the lab disables only servicelb) and the epics' charts
    assert {"traefik-crd", "traefik", "metallb", "cert-manager", "kube-prometheus-stack", "loki", "alloy"} <= \
        set(by_name)
    jobs = dynamic.resources.get(api_version="batch/v1", kind="Job")
    secrets = dynamic.resources.get(api_version="v1", kind="Secret")
    for chart in charts:
        assert chart.status.jobName == "helm-install-" + chart.metadata.name
        job = jobs.get(name=chart.status.jobName, namespace=chart.metadata.namespace)
        assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])
        if str(chart.spec.chart).endswith(".tgz"):
            continue  # K3s's packaged charts: their recorded CRDs only
        target = chart.spec.targetNamespace or chart.metadata.namespace
        release = wait_for(lambda: secrets.get(namespace=target, label_selector="owner=helm,name=%s,status=deployed"
                                               % chart.metadata.name).items, "release %s" % chart.metadata.name)
        assert len(release) == 1 and not (chart.status.conditions or []), chart.status.conditions
    with open(CHART_CRDS, encoding="utf-8") as handle:
        recorded = json.load(handle)
    crds = {c.metadata.name: c for c in dynamic.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").get().items}
    assert {"%s.%s" % (c["plural"], c["group"]) for c in recorded["traefik-crd"]["crds"]} <= set(crds)
    pool_schema = crds["ipaddresspools.metallb.io"].to_dict()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "addresses" in pool_schema["properties"]["spec"]["properties"]  # the chart's real schema
    for name in ("certificates.cert-manager.io", "servicemonitors.monitoring.coreos.com",
                 "prometheusrules.monitoring.coreos.com"):
        assert name in crds, name
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    for namespace, name in (("infra", "metallb-controller"), ("infra", "cert-manager"),
                            ("monitoring", "kube-prometheus-stack-grafana")):
        assert wait_for(lambda ns=namespace, n=name: (deployments.get(name=n, namespace=ns).status.readyReplicas
                                                      or 0) >= 1, "%s/%s Ready" % (namespace, name))
    # an object of a chart's API, as epic 3 applied it
    pools = dynamic.resources.get(api_version="metallb.io/v1beta1", kind="IPAddressPool").get(namespace="infra")
    assert [p.spec.addresses for p in pools.items] == [["192.168.77.200-192.168.77.220"]]


def test_k3s_packaged_manifests_are_deployed_and_local_path_is_not_the_default(dynamic):
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    for name in ("coredns", "local-path-provisioner", "metrics-server"):
        dep = deployments.get(name=name, namespace="kube-system")
        assert dep.status.readyReplicas == 1, name
    local_path = dynamic.resources.get(api_version="storage.k8s.io/v1", kind="StorageClass").get(name="local-path")
    assert local_path.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "false"  # epic 2


def test_the_ml_stack_runs_where_the_inventory_puts_it():
    core = kubernetes.client.CoreV1Api(client_for())

    def ready_pods(namespace, selector):
        return [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
                if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]

    ollama = wait_for(lambda: ready_pods("ml", "app.kubernetes.io/name=ollama"), "Ollama Ready")
    assert {p.spec.node_name for p in ollama} == {"lab-agent-1"}  # ollama_node_selector
    assert wait_for(lambda: ready_pods("ml", "app.kubernetes.io/name=litellm"), "LiteLLM Ready")
    if GPU:
        vllm = wait_for(lambda: ready_pods("ml", "app.kubernetes.io/name=vllm"), "vLLM Ready")
        assert {p.spec.node_name for p in vllm} == set(GPU)  # the nvidia.com/gpu the GPU worker advertises


def test_verify_passes_in_the_lab_and_says_what_it_skipped():
    code, out = run_playbook("verify.yml")
    assert code == 0, out[-4000:]
    assert "PASS nodes: " in out and "PASS pods kube-system" in out
    # the charts' objects are in the lab's API: the checks of them run (epic 4's one default data source, epic 2's
    # default StorageClass, the charts' pods in infra and monitoring)
    for check in ("pods infra", "pods monitoring", "storageclass: nfs-client is the default",
                  "datasources: "):
        assert "PASS %s" % check in out, check
    for check in ("certificates", "servicemonitors", "https https://grafana.lab.home.arpa") + (
            ("gpu-pod",) if GPU else ()):
        assert "SKIP %s: " % check in out, check
        assert "PASS %s" % check not in out
    if GPU and SCENARIO == "default":
        assert "PASS gpu-mode: ml (1/1 ready)" in out


def vllm_state():
    """(spec.replicas, the modes of the vLLM Pods that are not terminating) as the lab's API has them."""
    api = client_for()
    dep = kubernetes.client.AppsV1Api(api).read_namespaced_deployment("vllm-server", "ml")
    pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod("ml", label_selector="app.kubernetes.io/name=vllm")
    ready = sorted(p.metadata.labels.get("gpu-mode") for p in pods.items if not p.metadata.deletion_timestamp and any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions or []))
    return dep.spec.replicas, ready


@pytest.mark.skipif(not GPU, reason="the scenario has no GPU worker")
def test_a_switch_on_the_gpu_worker_is_seen_in_the_api():
    h = lab_host(GPU[0])
    run = h.run("gpu-mode gaming")
    assert run.rc == 0, run.stdout + run.stderr
    assert vllm_state() == (0, [])  # gpu-mode waited until vLLM's Pods were gone
    run = h.run("gpu-mode r1")
    assert run.rc == 0, run.stdout + run.stderr
    assert vllm_state() == (1, ["r1"]) and "R1 mode" in h.check_output("gpu-mode status")
    run = h.run("gpu-mode ml")
    assert run.rc == 0, run.stdout + run.stderr
    assert vllm_state() == (1, ["ml"])


@pytest.mark.skipif(not GPU, reason="the scenario has no GPU worker")
def test_the_gpu_mode_playbook_switches_from_the_controller():
    code, out = run_playbook("gpu_mode.yml", "-e", "mode=gaming")
    assert code == 0, out[-3000:]
    assert vllm_state() == (0, [])
    assert json.loads(lab_host(GPU[0]).check_output("gpu-mode --json status"))["mode"] == "gaming"
    code, out = run_playbook("gpu_mode.yml", "-e", "mode=r1", "--check")  # reads the status, switches nothing
    assert code == 0 and "would switch to r1" in out and recap_changed(out) == {GPU[0]: 1}, out[-3000:]
    assert vllm_state() == (0, [])
    code, out = run_playbook("gpu_mode.yml", "-e", "mode=ml")
    assert code == 0, out[-3000:]
    assert vllm_state() == (1, ["ml"])
    # one writer of the remembered choice: the node's gpu-mode, run by the playbook
    assert lab_host(GPU[0]).file("/var/lib/gpu-mode/choice").content_string.strip() == "ml"
    code, out = run_playbook("gpu_mode.yml", "-e", "mode=ml")
    assert code == 0 and recap_changed(out) == {GPU[0]: 0}, out[-3000:]
    code, out = run_playbook("gpu_mode.yml", "-e", "mode=run")
    assert code != 0 and "give the mode" in out, out[-3000:]
