"""The lab's Kubernetes API (k3s stand-in + lab_apiserver.py): one state in the cluster's real etcd,
answered by every server; a Node per lab host, Ready while its unit runs, NotReady once stopped.

Each request runs on a server, against https://127.0.0.1:6443 with the kubeconfig K3s wrote
there (its admin client certificate), as a user on that node does.
"""

import json
import os
import shlex
import uuid

import kubernetes
import pytest
from conftest import AGENTS, ALL, FIRST, LAB_ROOT, SERVERS, host, names, read_yaml, wait_for

TLS = "/var/lib/rancher/k3s/server/tls/etcd"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=%s/server-ca.crt --cert=%s/client.crt --key=%s/client.key "
           "--endpoints=https://127.0.0.1:2379" % (TLS, TLS, TLS))

# A client of the standard library only (the lab image has no kubernetes package).
CLIENT = r"""
import base64, json, os, ssl, sys, tempfile, urllib.error, urllib.request, yaml
method, path, body, ctype, use_cert = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
cfg = yaml.safe_load(open("/etc/rancher/k3s/k3s.yaml"))
cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
tmp = tempfile.mkdtemp()
def put(name, key):
    path = os.path.join(tmp, name)
    open(path, "wb").write(base64.b64decode(key))
    return path
ctx = ssl.create_default_context(cafile=put("ca", cluster["certificate-authority-data"]))
if use_cert:
    ctx.load_cert_chain(put("crt", user["client-certificate-data"]), put("key", user["client-key-data"]))
req = urllib.request.Request(cluster["server"] + path, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": ctype})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        code, text = resp.status, resp.read()
except urllib.error.HTTPError as exc:
    code, text = exc.code, exc.read()
print(json.dumps({"code": code, "body": json.loads(text) if text.strip().startswith(b"{") else text.decode()}))
"""


def api(name, method, path, body=None, ctype="application/json", cert=True):
    cmd = "python3 - %s %s %s %s %s <<'PYEOF'\n%s\nPYEOF" % (
        method, shlex.quote(path), shlex.quote(json.dumps(body) if body is not None else ""), shlex.quote(ctype),
        "1" if cert else "0", CLIENT)
    return json.loads(host(name).check_output(cmd))


def ready(node):
    return [c["status"] for c in node["status"].get("conditions", []) if c["type"] == "Ready"]


def get_node(server, name):
    answer = api(server, "GET", "/api/v1/nodes/%s" % name)
    return answer["body"] if answer["code"] == 200 else None


@pytest.fixture
def namespace():
    name = "lab-api-%s" % uuid.uuid4().hex[:6]
    assert api(FIRST, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})["code"] == 201
    yield name
    api(FIRST, "DELETE", "/api/v1/namespaces/%s" % name)


def test_the_api_needs_the_kubeconfig_client_certificate():
    answer = api(FIRST, "GET", "/api/v1/namespaces", cert=False)
    assert answer["code"] == 401 and answer["body"]["reason"] == "Unauthorized"


def test_the_kubeconfig_merged_on_the_controller_reaches_the_api():
    """What a user does from the controller (on the tailnet): the real kubernetes client, the
    kubeconfig k3s_server merged, its context."""
    kubeconfig = os.path.join(LAB_ROOT, ".cache", "lab", "kubeconfig")
    client = kubernetes.config.new_client_from_config(kubeconfig, context="homelab")
    nodes = kubernetes.client.CoreV1Api(client).list_node().items
    assert sorted(n.metadata.name for n in nodes) == sorted(ALL)


def test_version_is_the_running_k3s(expected_version):
    assert api(FIRST, "GET", "/version")["body"]["gitVersion"] == expected_version


@pytest.mark.parametrize("name", ALL)
def test_every_lab_host_registered_its_node(name, expected_version):
    node = wait_for(lambda: get_node(FIRST, name), "Node %s registered" % name)
    assert node["status"]["nodeInfo"]["kubeletVersion"] == expected_version
    assert ready(node) == ["True"]
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == name
    config = read_yaml(host(name), "/etc/rancher/k3s/config.yaml")
    for item in config.get("node-label") or []:
        key, _sep, value = item.partition("=")
        assert labels.get(key) == value, "node-label %s from config.yaml" % item
    taints = ["%s=%s:%s" % (t["key"], t.get("value", ""), t["effect"]) for t in node["spec"].get("taints", [])]
    assert sorted(taints) == sorted(config.get("node-taint") or [])
    if name in SERVERS:
        assert labels["node-role.kubernetes.io/control-plane"] == "true"
        assert labels["node-role.kubernetes.io/etcd"] == "true"
    else:
        assert "node-role.kubernetes.io/control-plane" not in labels
    if name in names("gpu_workers"):
        assert labels["homelab.platform/node-class"] == "gpu"


def test_objects_live_in_etcd_and_namespaces_are_enforced(namespace):
    missing = api(FIRST, "POST", "/api/v1/namespaces/no-such-namespace/configmaps", {"metadata": {"name": "x"}})
    assert missing["code"] == 404 and "no-such-namespace" in missing["body"]["message"]
    created = api(FIRST, "POST", "/api/v1/namespaces/%s/configmaps" % namespace,
                  {"metadata": {"name": "probe", "labels": {"app": "probe"}}, "data": {"k": "v1"}})
    assert created["code"] == 201
    stored = host(FIRST).check_output("%s get --print-value-only /registry/configmaps/%s/probe" % (ETCDCTL, namespace))
    assert json.loads(stored)["data"] == {"k": "v1"}
    again = api(FIRST, "POST", "/api/v1/namespaces/%s/configmaps" % namespace, {"metadata": {"name": "probe"}})
    assert again["code"] == 409 and again["body"]["reason"] == "AlreadyExists"
    patched = api(FIRST, "PATCH", "/api/v1/namespaces/%s/configmaps/probe" % namespace, {"data": {"k": "v2"}},
                  "application/merge-patch+json")
    assert patched["body"]["data"] == {"k": "v2"}
    assert int(patched["body"]["metadata"]["resourceVersion"]) > int(created["body"]["metadata"]["resourceVersion"])
    selected = api(FIRST, "GET", "/api/v1/namespaces/%s/configmaps?labelSelector=app%%3Dprobe" % namespace)["body"]
    assert selected["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in selected["items"]] == ["probe"]
    other = api(FIRST, "GET", "/api/v1/namespaces/%s/configmaps?labelSelector=app%%3Dother" % namespace)["body"]
    assert other["items"] == []
    assert api(FIRST, "DELETE", "/api/v1/namespaces/%s" % namespace)["code"] == 200
    assert api(FIRST, "GET", "/api/v1/namespaces/%s/configmaps/probe" % namespace)["code"] == 404


@pytest.mark.disruptive
def test_a_stopped_agent_is_notready_and_ready_again_when_started():
    name = AGENTS[0]
    node = host(name)
    node.check_output("systemctl stop k3s-agent")
    try:
        wait_for(lambda: ready(get_node(FIRST, name)) == ["Unknown"], "Node %s NotReady after its unit stopped" % name)
    finally:
        node.check_output("systemctl start k3s-agent")
    wait_for(lambda: ready(get_node(FIRST, name)) == ["True"], "Node %s Ready after its unit started" % name)


@pytest.mark.disruptive
@pytest.mark.skipif(len(SERVERS) < 3, reason="one API state across servers needs the HA scenario")
def test_every_server_answers_one_state_also_with_one_server_stopped(namespace):
    first, second, third = SERVERS[:3]
    api(first, "POST", "/api/v1/namespaces/%s/configmaps" % namespace, {"metadata": {"name": "one"}, "data": {"n": "1"}})
    for server in SERVERS:
        assert api(server, "GET", "/api/v1/namespaces/%s/configmaps/one" % namespace)["body"]["data"] == {"n": "1"}
    host(third).check_output("systemctl stop k3s")
    try:
        wait_for(lambda: ready(get_node(first, third)) == ["Unknown"], "Node %s NotReady" % third)
        assert api(second, "GET", "/api/v1/namespaces/%s/configmaps/one" % namespace)["body"]["data"] == {"n": "1"}
        written = api(second, "PATCH", "/api/v1/namespaces/%s/configmaps/one" % namespace, {"data": {"n": "2"}},
                      "application/merge-patch+json")
        assert written["code"] == 200, "two of three etcd members are a quorum: writes go on"
        assert api(first, "GET", "/api/v1/namespaces/%s/configmaps/one" % namespace)["body"]["data"] == {"n": "2"}
    finally:
        host(third).check_output("systemctl start k3s")
    wait_for(lambda: ready(get_node(first, third)) == ["True"], "Node %s Ready again" % third)
    assert api(third, "GET", "/api/v1/namespaces/%s/configmaps/one" % namespace)["body"]["data"] == {"n": "2"}


# --- the lab controller (controller-manager, scheduler and kubelet parts) ------------------------

def pods(namespace, selector):
    answer = api(FIRST, "GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (namespace, selector))
    return answer["body"]["items"]


def running(items):
    return [p for p in items if p["status"].get("phase") == "Running" and ready(p) == ["True"]
            and not p["metadata"].get("deletionTimestamp")]


def deployment(namespace, name, labels, node_selector=None, replicas=1, strategy="RollingUpdate"):
    spec = {"containers": [{"name": "main", "image": "registry.invalid/lab:1"}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "strategy": {"type": strategy}, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": dict(labels, app=name)}, "spec": spec}}}


def test_a_deployment_runs_where_its_node_selector_points_and_recreate_replaces_it(namespace):
    node_class = "gpu" if names("gpu_workers") else "cpu"  # the ha scenario has no GPU worker
    workers = names("%s_workers" % node_class)
    body = deployment(namespace, "vllm", {"gpu-mode": "ml"}, {"homelab.platform/node-class": node_class},
                      strategy="Recreate")
    assert api(FIRST, "POST", "/apis/apps/v1/namespaces/%s/deployments" % namespace, body)["code"] == 201
    placed = wait_for(lambda: running(pods(namespace, "app%3Dvllm")), "a Ready vllm pod")
    assert [p["spec"]["nodeName"] for p in placed] == workers
    status = wait_for(lambda: api(FIRST, "GET", "/apis/apps/v1/namespaces/%s/deployments/vllm" % namespace)
                      ["body"].get("status", {}).get("readyReplicas") == 1, "readyReplicas 1")
    assert status
    api(FIRST, "PATCH", "/apis/apps/v1/namespaces/%s/deployments/vllm" % namespace,
        {"spec": {"template": {"metadata": {"labels": {"gpu-mode": "r1"}}}}}, "application/merge-patch+json")
    wait_for(lambda: [p["metadata"]["labels"]["gpu-mode"] for p in running(pods(namespace, "app%3Dvllm"))] == ["r1"]
             and len(pods(namespace, "app%3Dvllm")) == 1, "the r1 pod alone")
    api(FIRST, "PATCH", "/apis/apps/v1/namespaces/%s/deployments/vllm/scale" % namespace, {"spec": {"replicas": 0}},
        "application/merge-patch+json")
    wait_for(lambda: not pods(namespace, "app%3Dvllm"), "no vllm pod at 0 replicas")


def test_a_cordoned_node_gets_no_pods_and_an_evicted_pod_moves(namespace):
    body = deployment(namespace, "web", {})
    api(FIRST, "POST", "/apis/apps/v1/namespaces/%s/deployments" % namespace, body)
    first = wait_for(lambda: running(pods(namespace, "app%3Dweb")), "a Ready web pod")[0]
    node = first["spec"]["nodeName"]
    api(FIRST, "PATCH", "/api/v1/nodes/%s" % node, {"spec": {"unschedulable": True}}, "application/merge-patch+json")
    try:
        evicted = api(FIRST, "POST", "/api/v1/namespaces/%s/pods/%s/eviction" % (namespace, first["metadata"]["name"]),
                      {"apiVersion": "policy/v1", "kind": "Eviction",
                       "metadata": {"name": first["metadata"]["name"], "namespace": namespace}})
        assert evicted["code"] == 201
        moved = wait_for(lambda: [p for p in running(pods(namespace, "app%3Dweb"))
                                  if p["metadata"]["name"] != first["metadata"]["name"]], "the replacement pod")
        assert moved[0]["spec"]["nodeName"] != node, "a cordoned node gets no new pods"
    finally:
        api(FIRST, "PATCH", "/api/v1/nodes/%s" % node, {"spec": {"unschedulable": None}}, "application/merge-patch+json")


def test_a_job_runs_to_completion(namespace):
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "registry.invalid/lab:1"}]}}}}
    api(FIRST, "POST", "/apis/batch/v1/namespaces/%s/jobs" % namespace, body)
    job = wait_for(lambda: [c for c in api(FIRST, "GET", "/apis/batch/v1/namespaces/%s/jobs/once" % namespace)
                            ["body"].get("status", {}).get("conditions", []) if c["type"] == "Complete"], "Job Complete")
    assert job[0]["status"] == "True"
