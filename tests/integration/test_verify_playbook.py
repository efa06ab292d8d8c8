"""playbooks/verify.yml against the emulated API, with a real HTTPS server behind a
certificate from a test CA: every seed 001 check prints its PASS line, and each
broken piece turns into the FAIL line that names it (and the playbook fails)."""

import datetime
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading

import kubernetes
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import HANG_GUARD_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
NODES = ["k3s-master", "k3s-worker-01", "k3s-worker-02", "k3s-gpu-worker", "k3s-nas-worker"]


def _cert(subject, issuer, key, signer, ca=False, names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """A TLS server for localhost, signed by a CA made for this test."""
    tmp = tmp_path_factory.mktemp("tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "homelab test CA")])
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key, ca_key,
                 names=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "tls.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))

    class Grafana(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"grafana")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Grafana)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp / "tls.pem"), str(tmp / "tls.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "https://localhost:%d/" % server.server_address[1], str(tmp / "ca.pem")
    server.shutdown()


@pytest.fixture(scope="module")
def healthy(cluster):
    client = cluster.api_client()
    core, storage = kubernetes.client.CoreV1Api(client), kubernetes.client.StorageV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)
    for name in NODES:
        core.create_node({"metadata": {"name": name},
                          "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    for namespace, pods in {"kube-system": ["coredns-1", "traefik-1"], "infra": ["metallb-controller-1", "cert-manager-1"],
                            "monitoring": ["kube-prometheus-stack-grafana-1", "loki-0"]}.items():
        for name in pods:
            core.create_namespaced_pod(namespace, {
                "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    # kube-prometheus-stack's data source file, as its chart renders it (templates/grafana/configmaps-datasources.yaml)
    core.create_namespaced_config_map("monitoring", {
        "metadata": {"name": "kube-prometheus-stack-grafana-datasource", "labels": {"grafana_datasource": "1"}},
        "data": {"datasource.yaml": "apiVersion: 1\ndatasources:\n- {name: Prometheus, type: prometheus, isDefault: true}\n"
                                    "- {name: Loki, type: loki, isDefault: false}\n"}})
    for name, default in (("nfs-client", "true"), ("local-path", "false")):
        storage.create_storage_class({"metadata": {"name": name, "annotations": {
            "storageclass.kubernetes.io/is-default-class": default}}, "provisioner": "x"})
    # kube-prometheus-stack's Grafana Service and its ServiceMonitor, as the chart renders them
    core.create_namespaced_service("monitoring", {
        "metadata": {"name": "kube-prometheus-stack-grafana",
                     "labels": {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "kube-prometheus-stack"}},
        "spec": {"ports": [{"name": "http-web", "port": 80}], "selector": {"app.kubernetes.io/name": "grafana"}}})
    custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", "monitoring", "servicemonitors", {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "kube-prometheus-stack-grafana", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "grafana",
                                              "app.kubernetes.io/instance": "kube-prometheus-stack"}},
                 "endpoints": [{"port": "http-web"}]}})
    custom.create_namespaced_custom_object("cert-manager.io", "v1", "monitoring", "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "grafana-certificate", "namespace": "monitoring"},
        "spec": {"secretName": "grafana-tls", "issuerRef": {"name": "letsencrypt-prod"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    return core, custom


def verify(cluster, url, ca, **inventory):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", K8S_AUTH_HOST=cluster.url,
               K8S_AUTH_API_KEY="emulator-accepts-any-token")
    # verify_nodes false: the example inventory's nodes are not there (the node checks run in Molecule).
    extra = {"homelab_kubeconfig": None, "verify_gpu": False, "verify_nodes": False, "verify_https_urls": [url]}
    if ca:
        extra["verify_https_ca_cert"] = ca
    extra.update(inventory)
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "homelab"),
         os.path.join(ROOT, "playbooks", "verify.yml"), "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", json.dumps(extra)], capture_output=True, text=True, env=env, check=False, timeout=HANG_GUARD_SECONDS)
    doc = json.loads(proc.stdout)
    report = [t for p in doc["plays"] for t in p["tasks"] if t["task"]["name"] == "Report"]
    return proc.returncode, (report[0]["hosts"]["localhost"]["msg"] if report else proc.stdout)


def test_a_healthy_cluster_passes_every_check(cluster, healthy, https_server):
    code, lines = verify(cluster, *https_server)
    assert code == 0, lines
    assert lines == [
        "PASS nodes: 5 nodes Ready",
        "PASS pods kube-system: kube-system: 2 pods running or completed",
        "PASS pods infra: infra: 2 pods running or completed",
        "PASS pods monitoring: monitoring: 2 pods running or completed",
        "PASS storageclass: nfs-client is the default StorageClass",
        "PASS datasources: 2 Grafana data sources, Prometheus the default",
        "PASS servicemonitors: 1 ServiceMonitors, each selects a Service",
        "PASS certificates: 1 certificates Ready",
        "PASS https %s: %s answered 200 over verified TLS" % (https_server[0], https_server[0]),
    ]


def test_an_untrusted_certificate_fails_the_https_check(cluster, healthy, https_server):
    code, lines = verify(cluster, https_server[0], None)  # the system CAs do not know the test CA
    assert code != 0
    assert lines[-1].startswith("FAIL https ") and "CERTIFICATE_VERIFY_FAILED" in lines[-1]
    assert lines[:-1] == [line for line in lines[:-1] if line.startswith("PASS ")]


def test_a_bad_ca_bundle_is_reported(cluster, healthy, https_server):
    code, out = verify(cluster, https_server[0], os.path.join(ROOT, "README.md"))
    assert code != 0 and "is not a usable CA bundle" in out


def test_broken_pieces_are_named(cluster, healthy, https_server):
    core, custom = healthy
    core.patch_namespaced_pod("cert-manager-1", "infra", {"status": {"phase": "Pending", "conditions": [], "containerStatuses": [
        {"name": "c", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}})
    custom.patch_namespaced_custom_object("cert-manager.io", "v1", "monitoring", "certificates", "grafana-certificate", {
        "status": {"conditions": [{"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"}]}})
    core.delete_node("k3s-nas-worker")
    # loki-stack's own data source file beside kube-prometheus-stack's (the defect of issue 35)
    core.create_namespaced_config_map("monitoring", {
        "metadata": {"name": "loki-loki-stack", "labels": {"grafana_datasource": "1"}},
        "data": {"loki-stack-datasource.yaml": "apiVersion: 1\ndatasources:\n- {name: Loki, type: loki, isDefault: true}\n"}})
    # a ServiceMonitor whose labels no Service carries (vLLM's, with a typo in the selector)
    custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", "monitoring", "servicemonitors", {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "vllm", "namespace": "monitoring"},
        "spec": {"namespaceSelector": {"matchNames": ["ml"]},
                 "selector": {"matchLabels": {"app.kubernetes.io/name": "vllm-server"}}, "endpoints": [{"port": "http"}]}})
    code, lines = verify(cluster, "https://localhost:1/", https_server[1])
    assert code != 0
    assert "FAIL servicemonitors: select no Service, so nothing is scraped: monitoring/vllm" in lines
    assert "FAIL nodes: 4 registered of 5" in lines
    assert "FAIL pods infra: infra: cert-manager-1 (ImagePullBackOff)" in lines
    assert ("FAIL certificates: not Ready: monitoring/grafana-certificate "
            "(Issuing certificate as Secret does not exist)") in lines
    assert lines[-1].startswith("FAIL https https://localhost:1/: https://localhost:1/: ")
    assert "PASS storageclass: nfs-client is the default StorageClass" in lines
    assert ("FAIL datasources: Grafana refuses its data sources: 2 defaults (Loki, Prometheus); "
            "provisioned twice: Loki") in lines


def test_the_checks_follow_the_inventorys_storage_class_and_namespaces(cluster, healthy, https_server):
    code, lines = verify(cluster, *https_server, homelab_storage_class="shared-nfs",
                         homelab_monitoring_namespace="observe")
    assert code != 0  # this cluster's default class is nfs-client, and nothing runs in observe
    assert [line for line in lines if line.startswith(("PASS storageclass", "FAIL storageclass"))] == [
        line for line in lines if line.startswith("FAIL storageclass") and "shared-nfs" in line]
    pods = [line.split(":")[0].split(" ", 1) for line in lines if " pods " in line]
    assert [check for _status, check in pods] == ["pods kube-system", "pods infra", "pods observe"]
    assert pods[-1][0] == "FAIL"
