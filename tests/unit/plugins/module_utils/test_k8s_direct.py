"""k8s_client.direct_connection and k8s_apply.DirectApi: the API reached over http.client with what a kubeconfig
(or host and api_key) says, against real local servers: HTTPS that requires a client certificate, plain HTTP,
one that closes kept-alive connections; and every kubeconfig it leaves to the official client."""

import base64
import datetime
import http.server
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.homelab.platform.plugins.module_utils import k8s_apply as core
from ansible_collections.homelab.platform.plugins.module_utils import k8s_client
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError


def _cert(name, issuer=None, san=None, ca=False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer[0].subject if issuer else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert, key, pem, key_pem


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.server.close_after_reply:  # without saying so: as an idle timeout closes a kept-alive connection
            self.close_connection = True

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization"),
                                 getattr(self.connection, "getpeercert", lambda: None)()))
        if self.path.endswith("/missing"):
            self._reply(404, {"kind": "Status", "reason": "NotFound", "message": "not found"})
        else:
            self._reply(200, {"kind": "ConfigMap", "path": self.path})

    def do_PATCH(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(("PATCH", self.path, self.headers.get("Content-Type"), body))
        self._reply(422, {"kind": "Status", "reason": "Invalid", "message": "data: must be strings"})

    def log_message(self, *_args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(tls=None, close_after_reply=False):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.seen, server.close_after_reply = [], close_after_reply
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, "%s://127.0.0.1:%d" % ("https" if tls else "http", server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pki(tmp_path):
    """A CA, the server's certificate for 127.0.0.1 and a client certificate, as K3s's kubeconfig carries them."""
    import ipaddress

    ca = _cert("k3s-server-ca", ca=True)
    server = _cert("k3s", issuer=(ca[0], ca[1]), san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_ca = _cert("k3s-client-ca", ca=True)
    admin = _cert("system:admin", issuer=(client_ca[0], client_ca[1]))
    (tmp_path / "server.pem").write_bytes(server[2])
    (tmp_path / "server.key").write_bytes(server[3])
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    tls.load_verify_locations(cadata=client_ca[2].decode())
    tls.verify_mode = ssl.CERT_REQUIRED  # the API server refuses a client without a certificate it signed
    return {"tls": tls, "ca": ca[2], "cert": admin[2], "key": admin[3]}


def _kubeconfig(server, user, cluster_extra=None):
    return {"apiVersion": "v1", "kind": "Config", "current-context": "homelab",
            "clusters": [{"name": "other", "cluster": {"server": "https://other.invalid:6443"}},
                         {"name": "homelab", "cluster": dict({"server": server}, **(cluster_extra or {}))}],
            "users": [{"name": "homelab", "user": user}],
            "contexts": [{"name": "homelab", "context": {"cluster": "homelab", "user": "homelab"}}]}


def _b64(data):
    return base64.b64encode(data).decode()


def test_a_kubeconfig_with_a_client_certificate_reaches_https_that_requires_one(serve, pki):
    server, url = serve(tls=pki["tls"])
    config = _kubeconfig(url, {"client-certificate-data": _b64(pki["cert"]), "client-key-data": _b64(pki["key"])},
                         {"certificate-authority-data": _b64(pki["ca"])})
    connection = k8s_client.direct_connection(kubeconfig=config)
    api = core.DirectApi(connection)
    assert api.host == url
    wanted = {"kind": "ConfigMap", "path": "/api/v1/namespaces/ml/configmaps/a"}
    assert api.request("GET", "/api/v1/namespaces/ml/configmaps/a") == wanted
    assert api.request("GET", "/api/v1/namespaces/ml/configmaps/missing") is None
    assert dict(server.seen[0][3]["subject"][0])["commonName"] == "system:admin", "the client certificate was sent"
    with pytest.raises(core.ApiError, match="422 Invalid: data: must be strings"):
        api.request("PATCH", "/api/v1/namespaces/ml/configmaps/a", {"data": {"c": 3}},
                    content_type=core.MERGE)
    assert server.seen[-1][2:] == (core.MERGE, {"data": {"c": 3}})


def test_the_servers_certificate_is_checked_against_the_kubeconfigs_ca(serve, pki):
    _server, url = serve(tls=pki["tls"])
    other_ca = _cert("another-ca", ca=True)
    config = _kubeconfig(url, {"client-certificate-data": _b64(pki["cert"]), "client-key-data": _b64(pki["key"])},
                         {"certificate-authority-data": _b64(other_ca[2])})
    with pytest.raises(K8sError, match="cannot reach the Kubernetes API at %s: .*CERTIFICATE_VERIFY_FAILED" % url):
        core.DirectApi(k8s_client.direct_connection(kubeconfig=config)).request("GET", "/api")
    insecure = k8s_client.direct_connection(kubeconfig=config, validate_certs=False)
    assert core.DirectApi(insecure).request("GET", "/api")["kind"] == "ConfigMap"


def test_files_and_a_token_file_are_read_relative_to_the_kubeconfig(serve, tmp_path, pki):
    server, url = serve()
    (tmp_path / "token").write_text("s3cr3t\n")
    (tmp_path / "kubeconfig").write_text(json.dumps(_kubeconfig(url, {"tokenFile": "token"})))
    connection = k8s_client.direct_connection(kubeconfig=str(tmp_path / "kubeconfig"), context="homelab")
    core.DirectApi(connection).request("GET", "/version")
    assert server.seen[0][2] == "Bearer s3cr3t"
    (tmp_path / "ca.crt").write_bytes(pki["ca"])
    (tmp_path / "kubeconfig").write_text(json.dumps(_kubeconfig("https://127.0.0.1:1", {"token": "t"},
                                                                {"certificate-authority": "ca.crt"})))
    assert k8s_client.direct_connection(kubeconfig=str(tmp_path / "kubeconfig")).ssl_context.get_ca_certs()


def test_host_and_api_key_without_a_kubeconfig(serve):
    server, url = serve()
    api = core.DirectApi(k8s_client.direct_connection(host=url, api_key="emulator-token"))
    api.request("GET", "/api/v1/namespaces/ml/configmaps/a", query={"dryRun": "All"})
    assert server.seen[0][1:3] == ("/api/v1/namespaces/ml/configmaps/a?dryRun=All", "Bearer emulator-token")


def test_a_kept_alive_connection_the_server_closed_is_opened_again(serve):
    server, url = serve(close_after_reply=True)
    api = core.DirectApi(k8s_client.direct_connection(host=url))
    for name in "abc":
        assert api.request("GET", "/api/v1/namespaces/ml/configmaps/" + name)["kind"] == "ConfigMap"
    assert len(server.seen) == 3


def test_a_server_that_does_not_answer_is_reported_with_its_address(serve):
    server, url = serve()
    server.shutdown()
    server.server_close()
    with pytest.raises(K8sError, match="cannot reach the Kubernetes API at %s" % url) as error:
        core.DirectApi(k8s_client.direct_connection(host=url)).request("GET", "/api")
    assert error.value.details == {"host": url}


@pytest.mark.parametrize("user, cluster", [
    ({"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}, {}),
    ({"auth-provider": {"name": "oidc"}}, {}),
    ({"username": "admin", "password": "pw"}, {}),
    ({"token": "t"}, {"proxy-url": "http://proxy:3128"}),
    ({"token": "t"}, {"tls-server-name": "kubernetes"}),
])
def test_what_only_the_official_client_follows_is_left_to_it(user, cluster):
    assert k8s_client.direct_connection(kubeconfig=_kubeconfig("https://127.0.0.1:6443", user, cluster)) is None


def test_kubeconfigs_it_cannot_read_are_left_to_the_official_client_and_its_message(tmp_path, monkeypatch):
    assert k8s_client.direct_connection(kubeconfig=str(tmp_path / "absent")) is None
    assert k8s_client.direct_connection(kubeconfig=_kubeconfig("https://a:1", {}), context="no-such-context") is None
    (tmp_path / "broken").write_text("clusters: [")
    assert k8s_client.direct_connection(kubeconfig=str(tmp_path / "broken")) is None
    monkeypatch.setenv("KUBECONFIG", "%s:%s" % (tmp_path / "a", tmp_path / "b"))  # merged by the official client
    assert k8s_client.direct_connection() is None
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))  # in-cluster configuration next
    assert k8s_client.direct_connection() is None
    assert k8s_client.direct_connection(host="unix:///run/k8s.sock") is None
