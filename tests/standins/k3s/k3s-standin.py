"""STAND-IN for the k3s binary, for the container lab only (tests/standins).

The real k3s release cannot be downloaded on the machines that run our tests.
This stand-in answers only the part of the k3s command line the roles and the
day-2 playbooks use, the way the real binary answers it (docs.k3s.io, k3s-io/k3s
pkg/etcd), and records what it was told so Molecule's verify step can assert it.

  k3s --version | -v          prints "k3s version <VERSION> (standin)" + go version
  k3s server [flags]          reads /etc/rancher/k3s/config.yaml (+ config.yaml.d) like k3s does,
  k3s agent  [flags]          needs the token file, joins `server:` over TCP,
                              writes /etc/rancher/k3s/k3s.yaml (server: admin client certificate),
                              serves the supervisor paths and the Kubernetes API on port 6443
                              over TLS (server; the API with embedded etcd: lab_apiserver.py),
                              registers its Node through the API (Ready; NotReady at stop),
                              notifies systemd READY=1
  k3s server --cluster-reset [--cluster-reset-restore-path=PATH]
                              resets etcd to one member (restoring PATH first),
                              leaves db/reset-flag, prints K3s's message, exits 0
  k3s etcd-snapshot save|ls|list|l|delete|prune [flags]
                              real etcd snapshots in K3s's layout and naming
  k3s token rotate [--token OLD] --new-token NEW [--server URL]
                              PUT /v1-k3s/token on the server (basic auth server:OLD): the bootstrap
                              key in etcd moves to the new token, server/token is rewritten; every
                              server then needs the new token (a server whose token does not match
                              the datastore's bootstrap key refuses to start, as K3s does)
  k3s secrets-encrypt status [-o json]|enable|disable|prepare|rotate|reencrypt [-f] [--skip]|rotate-keys
                              GET /v1-k3s/encrypt/status, PUT /v1-k3s/encrypt/config on the server (basic
                              auth server:<token>); `secrets-encryption: true` on the first start writes
                              server/cred/encryption-config.json, and the API stores Secrets encrypted
                              (aescbc) in etcd: lab_secrets.py says what is emulated and how
  k3s kubectl|crictl|ctr ...  exits 1: "not available in the k3s stand-in"

The datastore is REAL: a server with embedded etcd (cluster-init, a `server:` to
join, or an existing db/etcd) runs Debian's etcd binary as its child, as K3s runs
etcd in-process: client URL https://127.0.0.1:2379 and https://<node-ip>:2379, peer
URL https://<node-ip>:2380, certificates under <data-dir>/server/tls/etcd/ with
K3s's file names, its config in <data-dir>/server/db/etcd/config, member name
<node>-<8 hex> kept in db/etcd/name. The first server makes the CAs; a joining
server fetches them from the first one's supervisor port (/v1-k3s/server-bootstrap,
token as basic auth), reads the members from /db/info, adds itself as a learner
and is promoted once in sync, as K3s does; it reports READY only as a voter.
The Kubernetes API keeps its objects in that etcd (lab_apiserver.py says what it answers);
every server answers the same objects. Nodes: each server and agent registers its Node with
the kubelet's client certificate (an agent gets it from its server's supervisor,
/v1-k3s/client-kubelet.crt), K3s's labels plus node-label/node-taint at registration,
nodeInfo.kubeletVersion = this version, Ready while running; at stop it writes what the
node lifecycle controller writes later in K3s (Ready Unknown, NotReady).
Controllers, K3s's deploy controller (its packaged manifests, `disable`) and helm-controller:
lab_controller.py. Not done by the stand-in: scheduled snapshots (cron), S3 upload/download; a server
without embedded etcd (SQLite) runs no datastore and no API.

Records (JSON lines) in /var/lib/rancher/k3s/standin/: invocation.json (the
last start: argv, merged config, version) and events.log (start, ready, stop
with wall-clock times, so restart ordering across nodes can be checked).
Env K3S_STANDIN_READY_DELAY (seconds, e.g. from /etc/default/k3s) delays
readiness to make overlapping restarts observable.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import pkgutil
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile

import lab_apiserver  # next to this file, and inside the k3s zip application
import lab_controller
import lab_secrets

VERSION = "@VERSION@"
CONFIG = "/etc/rancher/k3s/config.yaml"
STATE = "/var/lib/rancher/k3s/standin"
KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
# Where K3s looks for NVIDIA's runtime when the agent starts (k3s pkg/agent/containerd/runtimes.go).
NVIDIA_RUNTIMES = ("/usr/local/nvidia/toolkit/nvidia-container-runtime", "/usr/bin/nvidia-container-runtime")
ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
LOCAL_ENDPOINT = "https://127.0.0.1:2379"
COMPRESSED_EXT = ".zip"
RESET_DONE = (
    "Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. "
    "Backup and delete ${datadir}/server/db on each peer etcd server and rejoin the nodes"
)
# What a joining server takes from the first one (K3s: the bootstrap data).
BOOTSTRAP_FILES = {
    "ServerCA": "server-ca.crt",
    "ServerCAKey": "server-ca.key",
    "ETCDServerCA": "etcd/server-ca.crt",
    "ETCDServerCAKey": "etcd/server-ca.key",
    "ETCDPeerCA": "etcd/peer-ca.crt",
    "ETCDPeerCAKey": "etcd/peer-ca.key",
    "ClientCA": "client-ca.crt",
    "ClientCAKey": "client-ca.key",
}
AGENT_DIR = "/var/lib/rancher/k3s/agent"
# The stand-in keeps its CA files on disk; the bootstrap key records which token the cluster uses.
BOOTSTRAP_MARKER = "bootstrap data (k3s stand-in: the files themselves stay on disk)"
# Bootstrap files that the datastore carries between servers (K3s: ControlRuntimeBootstrap), under server/cred.
BOOTSTRAP_ENCRYPTION = {"EncryptionConfig": "encryption-config.json", "EncryptionHash": "encryption-state.json"}
NODE_STATUS_PERIOD = 30  # seconds between the node agent's checks of its Node
POD_SYNC_PERIOD = 1  # seconds between the kubelet stand-in's looks at the Pods bound to its node


def record(event, **data):
    os.makedirs(STATE, exist_ok=True)
    entry = dict(event=event, time=time.time(), pid=os.getpid(), version=VERSION, **data)
    with open(os.path.join(STATE, "events.log"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def log(level, msg):
    """logrus text format, as k3s logs when stderr is not a terminal."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stderr.write('time="%s" level=%s msg="%s"\n' % (now, level, msg.replace('"', '\\"')))
    sys.stderr.flush()


class Fatal(Exception):
    pass


def die(msg):
    raise Fatal(msg)


def load_config():
    """config.yaml, then config.yaml.d/*.yaml in lexical order, later keys winning (K3s's rule;
    a key ending in + appends to a list)."""
    import glob

    import yaml  # python3-yaml in the lab image; the real k3s parses YAML itself

    config = {}
    for path in [CONFIG] + sorted(glob.glob(CONFIG + ".d/*.yaml")):
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            for key, value in (yaml.safe_load(handle) or {}).items():
                if key.endswith("+"):
                    key = key[:-1]
                    value = (config.get(key) or []) + (value if isinstance(value, list) else [value])
                config[key] = value
    return config


def parse_args(args, positionals=False):
    """--key=value / --key value / --flag, as k3s (urfave/cli) accepts them.

    Returns (flags, positionals). Without `positionals`, a bare word is an error."""
    flags, words, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            if not positionals:
                die("unexpected argument %r" % arg)
            words.append(arg)
            i += 1
            continue
        key = arg.lstrip("-")
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("-") and key not in BOOL_FLAGS:
            value = args[i + 1]
            i += 1
        else:
            value = True
        flags.setdefault(key, []).append(value)
        i += 1
    return {k: (v if len(v) > 1 else v[0]) for k, v in flags.items()}, words


# Never written to the stand-in's records (they are readable by others).
SECRET_KEYS = {"token", "agent-token", "etcd-s3-access-key", "etcd-s3-secret-key"}

BOOL_FLAGS = {
    "cluster-init", "secrets-encryption", "f", "force", "skip", "cluster-reset", "etcd-snapshot-compress", "snapshot-compress", "compress", "etcd-s3", "s3",
    "etcd-disable-snapshots", "etcd-s3-insecure", "s3-insecure", "etcd-s3-skip-ssl-verify", "s3-skip-ssl-verify",
}


def truthy(value):
    return value is True or str(value).lower() in ("true", "1", "yes")


def notify(state):
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
        sock.sendall(state.encode())
    finally:
        sock.close()


def split_url(url):
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, _sep, port = hostport.rpartition(":")
    return host.strip("[]"), int(port or 6443)


def wait_for_server(url, budget=90.0):
    """Agents and joining servers need the server's supervisor port, as k3s does."""
    host, port = split_url(url)
    deadline = time.time() + budget
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as exc:
            if time.time() > deadline:
                die("failed to contact server %s: %s" % (url, exc))
            time.sleep(1)


def write_containerd_config():
    """Like K3s at agent start: generate containerd's config (version 3, containerd 2.x),
    with a runtime table for each detected runtime. Never read back: K3s rewrites it each start."""
    lines = [
        "# File generated by k3s (stand-in). DO NOT EDIT. Use config.toml.tmpl instead.",
        "version = 3",
        "",
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc']",
        "  runtime_type = \"io.containerd.runc.v2\"",
    ]
    for path in NVIDIA_RUNTIMES:
        if os.path.exists(path):
            lines += [
                "",
                "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia']",
                "  runtime_type = \"io.containerd.runc.v2\"",
                "",
                "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia'.options]",
                "  BinaryName = \"%s\"" % path,
                "  SystemdCgroup = false",
            ]
            break
    os.makedirs(os.path.dirname(CONTAINERD_CONFIG), exist_ok=True)
    with open(CONTAINERD_CONFIG, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def write_private(path, data, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def write_kubeconfig(mode, node, port):
    """K3s's admin kubeconfig: the server CA, the API on the loopback, the client-admin certificate."""
    def data(name):
        with open(node.tls_path(name), "rb") as handle:
            return base64.b64encode(handle.read()).decode()

    text = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
        "    server: https://127.0.0.1:%d\n  name: default\ncontexts:\n- context:\n"
        "    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n"
        "kind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n"
        "    client-certificate-data: %s\n    client-key-data: %s\n"
    ) % (data("server-ca.crt"), port, data("client-admin.crt"), data("client-admin.key"))
    write_private(KUBECONFIG, text, int(str(mode), 8))


class Node:
    """Paths and names of one K3s node, from its merged configuration."""

    def __init__(self, config):
        self.config = config
        self.data_dir = config.get("data-dir", "/var/lib/rancher/k3s")
        self.server_dir = os.path.join(self.data_dir, "server")
        self.db_dir = os.path.join(self.server_dir, "db")
        self.etcd_dir = os.path.join(self.db_dir, "etcd")
        self.reset_flag = os.path.join(self.db_dir, "reset-flag")
        self.tls = os.path.join(self.server_dir, "tls")
        self.etcd_tls = os.path.join(self.tls, "etcd")
        self.cred_dir = os.path.join(self.server_dir, "cred")
        self.name = config.get("node-name") or socket.gethostname()
        self.ip = config.get("node-ip") or default_ip()
        if isinstance(self.ip, list):
            self.ip = self.ip[0]
        self.ip = self.ip.split(",")[0]
        self.peer_url = "https://%s:2380" % self.ip
        self.client_url = "https://%s:2379" % self.ip
        self.pidfile = os.path.join(STATE, "etcd.pid")

    def tls_path(self, name):
        return os.path.join(self.tls, name)

    @property
    def snapshot_dir(self):
        return self.config.get("etcd-snapshot-dir") or os.path.join(self.db_dir, "snapshots")

    def initialized(self):
        return os.path.isdir(os.path.join(self.etcd_dir, "member", "wal"))

    def member_name(self, force=False):
        path = os.path.join(self.etcd_dir, "name")
        if force or not os.path.exists(path):
            name = "%s-%s" % (self.name, uuid.uuid4().hex[:8])
            os.makedirs(self.etcd_dir, mode=0o700, exist_ok=True)
            write_private(path, name)
            return name
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()


def default_ip():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("192.0.2.1", 9))
        return sock.getsockname()[0]
    finally:
        sock.close()


# --- certificates (openssl; K3s makes the same files with Go's crypto) ---------

def openssl(*args):
    run = subprocess.run(("openssl",) + args, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        die("openssl %s: %s" % (args[0], run.stderr.strip()))


def make_ca(crt, key, common_name):
    if os.path.exists(crt) and os.path.exists(key):
        return
    os.makedirs(os.path.dirname(crt), mode=0o700, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", crt, "-days", "3650", "-subj", "/CN=%s@%d" % (common_name, int(time.time())))
    os.chmod(key, 0o600)


def make_leaf(ca_crt, ca_key, crt, key, common_name, sans, usage, organization=None):
    """Signed by the CA; remade when its SANs change (a new node IP), as K3s does."""
    marker = crt + ".sans"
    wanted = ",".join(sans)
    if os.path.exists(crt) and os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = os.path.join(tmp, "csr"), os.path.join(tmp, "ext")
        with open(ext, "w", encoding="utf-8") as handle:
            handle.write("extendedKeyUsage=%s\n" % usage)
            handle.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            if sans:
                handle.write("subjectAltName=%s\n" % wanted)
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", csr,
                "-subj", ("/O=%s" % organization if organization else "") + "/CN=%s" % common_name)
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                "-out", crt, "-days", "365", "-extfile", ext)
    os.chmod(key, 0o600)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(wanted)


def ensure_certs(node, tls_sans=()):
    make_ca(node.tls_path("server-ca.crt"), node.tls_path("server-ca.key"), "k3s-server-ca")
    make_ca(node.tls_path("etcd/server-ca.crt"), node.tls_path("etcd/server-ca.key"), "etcd-server-ca")
    make_ca(node.tls_path("etcd/peer-ca.crt"), node.tls_path("etcd/peer-ca.key"), "etcd-peer-ca")
    local = ["DNS:localhost", "IP:127.0.0.1", "IP:%s" % node.ip]
    server_ca = (node.tls_path("etcd/server-ca.crt"), node.tls_path("etcd/server-ca.key"))
    peer_ca = (node.tls_path("etcd/peer-ca.crt"), node.tls_path("etcd/peer-ca.key"))
    make_leaf(*server_ca, node.tls_path("etcd/server-client.crt"), node.tls_path("etcd/server-client.key"),
              "etcd-server", local, "serverAuth,clientAuth")
    make_leaf(*peer_ca, node.tls_path("etcd/peer-server-client.crt"), node.tls_path("etcd/peer-server-client.key"),
              "etcd-peer", local, "serverAuth,clientAuth")
    make_leaf(*server_ca, node.tls_path("etcd/client.crt"), node.tls_path("etcd/client.key"),
              "etcd-client", [], "clientAuth")
    sans = local + ["IP:%s" % s if s.replace(".", "").isdigit() else "DNS:%s" % s for s in tls_sans]
    make_leaf(node.tls_path("server-ca.crt"), node.tls_path("server-ca.key"),
              node.tls_path("serving-kube-apiserver.crt"), node.tls_path("serving-kube-apiserver.key"),
              "kube-apiserver", sorted(set(sans)), "serverAuth")
    # Clients of the API: the admin of the kubeconfig K3s writes, and each node's kubelet.
    make_ca(node.tls_path("client-ca.crt"), node.tls_path("client-ca.key"), "k3s-client-ca")
    make_leaf(node.tls_path("client-ca.crt"), node.tls_path("client-ca.key"), node.tls_path("client-admin.crt"),
              node.tls_path("client-admin.key"), "system:admin", [], "clientAuth", "system:masters")


def kubelet_certificate(node, name):
    """client-kubelet.crt + key for node `name`, as K3s's supervisor hands them to an agent."""
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = os.path.join(tmp, "crt"), os.path.join(tmp, "key")
        make_leaf(node.tls_path("client-ca.crt"), node.tls_path("client-ca.key"), crt, key,
                  "system:node:%s" % name, [], "clientAuth", "system:nodes")
        with open(crt, "rb") as handle_crt, open(key, "rb") as handle_key:
            return handle_crt.read() + handle_key.read()


# --- etcd ---------------------------------------------------------------------

def etcdctl(node, *args, endpoints=LOCAL_ENDPOINT, check=True, timeout=60):
    cmd = [ETCDCTL, "--cacert", node.tls_path("etcd/server-ca.crt"), "--cert", node.tls_path("etcd/client.crt"),
           "--key", node.tls_path("etcd/client.key"), "--endpoints", endpoints, "--dial-timeout=3s",
           "--command-timeout=10s"] + list(args)
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout,
                         env=dict(os.environ, ETCDCTL_API="3"))
    if check and run.returncode != 0:
        die("etcdctl %s: %s" % (args[0], (run.stderr or run.stdout).strip()))
    return run


def members(node, endpoints=LOCAL_ENDPOINT):
    return json.loads(etcdctl(node, "member", "list", "-w", "json", endpoints=endpoints).stdout).get("members", [])


def write_etcd_config(node, name, cluster, state, force_new=False):
    import yaml

    tls = node.tls_path
    config = {
        "name": name,
        "data-dir": node.etcd_dir,
        "listen-client-urls": "%s,%s" % (LOCAL_ENDPOINT, node.client_url),
        "advertise-client-urls": node.client_url,
        "listen-peer-urls": "https://127.0.0.1:2380,%s" % node.peer_url,
        "initial-advertise-peer-urls": node.peer_url,
        "initial-cluster": cluster,
        "initial-cluster-state": state,
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "client-transport-security": {
            "cert-file": tls("etcd/server-client.crt"), "key-file": tls("etcd/server-client.key"),
            "client-cert-auth": True, "trusted-ca-file": tls("etcd/server-ca.crt"),
        },
        "peer-transport-security": {
            "cert-file": tls("etcd/peer-server-client.crt"), "key-file": tls("etcd/peer-server-client.key"),
            "client-cert-auth": True, "trusted-ca-file": tls("etcd/peer-ca.crt"),
        },
        # LAB ONLY, not K3s's setting: etcd checks that a peer connects from an address in its
        # certificate; the lab's tailnet stand-in routes 100.x over Podman's network, whose
        # masquerading makes peers arrive from the bridge's gateway (real Tailscale keeps the 100.x).
        "experimental-peer-skip-client-san-verification": True,
        "election-timeout": 5000,
        "heartbeat-interval": 500,
        "logger": "zap",
        "log-outputs": ["stderr"],
    }
    if force_new:
        config["force-new-cluster"] = True
    os.makedirs(node.etcd_dir, mode=0o700, exist_ok=True)
    os.chmod(node.etcd_dir, 0o700)
    write_private(os.path.join(node.etcd_dir, "config"), yaml.safe_dump(config, sort_keys=True))


def stop_stale_etcd(node):
    """An etcd left behind by a killed stand-in (KillMode=process keeps children)."""
    try:
        with open(node.pidfile, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            if b"etcd" not in handle.read().split(b"\0")[0]:
                return
    except (OSError, ValueError):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 30
    while time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def etcd_flags(config_file):
    """The config file as command-line flags: etcd 3.4 reads experimental-peer-skip-client-san-verification
    from its flags only (a --config-file makes it ignore every flag)."""
    import yaml

    with open(config_file, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    prefixes = {"client-transport-security": "", "peer-transport-security": "peer-"}
    flags = []
    for key, value in sorted(config.items()):
        items = [(prefixes[key] + k, v) for k, v in value.items()] if key in prefixes else [(key, value)]
        for name, item in items:
            item = ",".join(item) if isinstance(item, list) else str(item).lower() if isinstance(item, bool) else item
            flags.append("--%s=%s" % (name, item))
    return flags


class Etcd:
    def __init__(self, node):
        self.node = node
        self.proc = None

    def start(self):
        stop_stale_etcd(self.node)
        self.proc = subprocess.Popen([ETCD] + etcd_flags(os.path.join(self.node.etcd_dir, "config")))
        with open(self.node.pidfile, "w", encoding="utf-8") as handle:
            handle.write(str(self.proc.pid))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.node.pidfile):
            os.remove(self.node.pidfile)

    def status(self):
        run = etcdctl(self.node, "endpoint", "status", "-w", "json", check=False)
        if run.returncode != 0:
            return None
        return json.loads(run.stdout)[0]["Status"]

    def wait_up(self, budget=120):
        deadline = time.time() + budget
        while time.time() < deadline:
            if not self.running():
                die("etcd exited with status %s (see the journal)" % self.proc.returncode)
            status = self.status()
            if status is not None:
                return status
            time.sleep(0.5)
        die("etcd did not answer on %s within %d s" % (LOCAL_ENDPOINT, budget))

    def wait_voter(self, name, remote=LOCAL_ENDPOINT, budget=300):
        """K3s gives a learner 5 minutes to catch up; it is promoted once in sync with the leader.
        A learner serves no member API: `remote` are the voters' client URLs."""
        deadline = time.time() + budget
        while time.time() < deadline:
            status = self.wait_up(budget)
            if not status.get("isLearner"):
                return
            run = etcdctl(self.node, "member", "list", "-w", "json", endpoints=remote, check=False)
            current = json.loads(run.stdout).get("members", []) if run.returncode == 0 else []
            voters = ",".join(url for m in current if not m.get("isLearner") for url in m.get("clientURLs", []))
            for member in current:
                if member.get("name") == name and member.get("isLearner") and voters:
                    if etcdctl(self.node, "member", "promote", "%x" % member["ID"], endpoints=voters,
                               check=False).returncode == 0:
                        log("info", "Promoted learner %s to voting member" % name)
            time.sleep(1)
        die("this server has not yet been promoted from learner to voting member")


def normalize_token(token):
    """The password part of a K3s token: K10<ca hash>::<user>:<password>, or the password alone."""
    token = (token or "").strip()
    if "::" in token:
        return token.split("::", 1)[1].split(":", 1)[-1]
    return token


def bootstrap_key(token):
    """Where K3s keeps the bootstrap data encrypted with a token: /bootstrap/<12 hex of sha256(token)>."""
    return "/bootstrap/" + hashlib.sha256(normalize_token(token).encode()).hexdigest()[:12]


def bootstrap_value(node):
    """The bootstrap data the stand-in keeps in etcd: its marker (the CA files stay on disk) and the
    secrets-encryption files with their times, which K3s syncs between servers through the datastore."""
    value = {"marker": BOOTSTRAP_MARKER}
    for field, name in BOOTSTRAP_ENCRYPTION.items():
        path = os.path.join(node.cred_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                value[field] = {"Timestamp": os.stat(path).st_mtime, "Content": base64.b64encode(handle.read()).decode()}
    return json.dumps(value)


def save_bootstrap(node, token):
    """cluster.Save: this server's bootstrap files into the datastore."""
    etcdctl(node, "put", bootstrap_key(token), bootstrap_value(node))


def reconcile_bootstrap(node, token):
    """K3s's check at every server start (pkg/cluster/storage.go, bootstrap.go): the datastore's bootstrap
    data must be stored under this server's token, else the server refuses to start; then the newer of each
    file, on disk or in the datastore, wins. The first start stores it."""
    keys = etcdctl(node, "get", "--prefix", "--keys-only", "/bootstrap/").stdout.split()
    if not keys:
        return save_bootstrap(node, token)
    if bootstrap_key(token) not in keys:
        die("starting kubernetes: preparing server: failed to bootstrap cluster data: failed to reconcile with "
            "local datastore: bootstrap data already found and encrypted with different token")
    try:
        stored = json.loads(etcdctl(node, "get", "--print-value-only", bootstrap_key(token)).stdout)
    except ValueError:
        stored = {}  # a marker written before the stand-in kept files in it
    newer_here = False
    for field, name in BOOTSTRAP_ENCRYPTION.items():
        path, entry = os.path.join(node.cred_dir, name), stored.get(field)
        here = os.stat(path).st_mtime if os.path.exists(path) else None
        if entry and (here is None or entry["Timestamp"] > here):
            write_private(path, base64.b64decode(entry["Content"]))
            os.utime(path, (entry["Timestamp"], entry["Timestamp"]))
            log("info", "Reconciling %s from the datastore" % name)
        elif here is not None and (not entry or here > entry["Timestamp"]):
            newer_here = True
    if newer_here:
        save_bootstrap(node, token)
    return None


def rotate_bootstrap(node, old, new):
    """`k3s token rotate` on the server side: the bootstrap data moves to the new token's key."""
    old_key, new_key = bootstrap_key(old), bootstrap_key(new)
    if old_key != new_key:
        etcdctl(node, "put", new_key, bootstrap_value(node))
        etcdctl(node, "del", old_key)
    write_private(os.path.join(node.server_dir, "token"), "K10standin::server:%s\n" % normalize_token(new))


def supervisor_request(url, path, user=None, token="", method="GET", body=None, headers=(), timeout=10):
    """A request to a server's supervisor port, as K3s makes one with a plain (short) token: the
    server's CA is not pinned (a full token's CA hash would pin it); basic auth user:<password>.
    Returns the raw answer; raises urllib.error.HTTPError / OSError."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url.rstrip("/") + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    if user:
        credentials = "%s:%s" % (user, normalize_token(token))
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in headers:
        request.add_header(name, value)
    with urllib.request.urlopen(request, context=ctx, timeout=timeout) as response:
        return response.read()


def fetch(url, token, path):
    try:
        return json.loads(supervisor_request(url, path, "server", token))
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            die("failed to validate token: the server rejected it (401 Unauthorized)")
        die("%s%s: %s" % (url, path, exc))
    except OSError as exc:
        die("%s%s: %s" % (url, path, exc))


def join(node, server, token, etcd):
    """Learner first, then a voter: K3s's join (pkg/etcd/etcd.go)."""
    if not os.path.exists(node.tls_path("etcd/server-ca.key")):
        bootstrap = fetch(server, token, "/v1-k3s/server-bootstrap")
        for key, rel in BOOTSTRAP_FILES.items():
            write_private(node.tls_path(rel), base64.b64decode(bootstrap[key]["Content"]))
    ensure_certs(node, node.config.get("tls-san") or [])
    name = node.member_name()
    deadline = time.time() + 300
    while True:  # etcd takes one learner at a time: wait while another server is joining
        info = fetch(server, token, "/db/info")["members"]
        add, cluster, joining = True, [], False
        for member in info:
            peers = member.get("peerURLs", [])
            if not member.get("name") and node.peer_url in peers:
                member["name"] = name  # added, never started: it is us
            if not member.get("name"):
                joining = True  # another server's learner that has not started yet
                continue
            if member["name"] == name and node.peer_url in peers:
                add = False
            if member["name"] != name and member["name"].rsplit("-", 1)[0] == node.name:
                os.remove(os.path.join(node.etcd_dir, "name"))
                die("duplicate node name found, please use a unique name for this node")
            if peers:
                cluster.append("%s=%s" % (member["name"], peers[0]))
        voters = ",".join(url for m in info if not m.get("isLearner") for url in m.get("clientURLs", []))
        if not add:
            break
        if not joining:
            log("info", "Adding member %s=%s to etcd cluster %s" % (name, node.peer_url, cluster))
            run = etcdctl(node, "member", "add", name, "--peer-urls", node.peer_url, "--learner",
                          endpoints=voters, check=False)
            if run.returncode == 0:
                cluster.append("%s=%s" % (name, node.peer_url))
                break
            log("warning", "etcd member add: %s" % run.stderr.strip().splitlines()[-1])
        if time.time() > deadline:
            die("could not join the etcd cluster within 300 s: another member is still joining")
        time.sleep(2)
    log("info", "Starting etcd for cluster %s" % cluster)
    write_etcd_config(node, name, ",".join(cluster), "existing")
    etcd.start()
    etcd.wait_voter(name, voters)


def start_datastore(node, config, token, etcd):
    """Embedded etcd: start an existing member, join a cluster, or start a new one."""
    server = config.get("server")
    tls_sans = config.get("tls-san") or []
    if isinstance(tls_sans, str):
        tls_sans = tls_sans.split(",")
    if node.initialized():
        ensure_certs(node, tls_sans)
        name = node.member_name()
        write_etcd_config(node, name, "%s=%s" % (name, node.peer_url), "existing")
        if os.path.exists(node.reset_flag):
            os.remove(node.reset_flag)
        etcd.start()
        remote = LOCAL_ENDPOINT
        if server and (etcd.wait_up() or {}).get("isLearner"):
            info = fetch(server, token, "/db/info")["members"]
            remote = ",".join(u for m in info if not m.get("isLearner") for u in m.get("clientURLs", []))
        etcd.wait_voter(name, remote)
    elif server:
        join(node, server, token, etcd)
    else:
        ensure_certs(node, tls_sans)
        name = node.member_name(force=True)
        write_etcd_config(node, name, "%s=%s" % (name, node.peer_url), "new")
        etcd.start()
        etcd.wait_voter(name)


def embedded_etcd(node, config, role):
    return role == "server" and not config.get("datastore-endpoint") and (
        truthy(config.get("cluster-init")) or bool(config.get("server")) or node.initialized()
        or truthy(config.get("cluster-reset")))


# --- the supervisor port (6443), which also serves the Kubernetes API ----------

def supervisor(node, token, port, api_enabled, encrypt=False):
    """K3s's supervisor paths on the API port; the Kubernetes API itself (lab_apiserver) when the
    server runs embedded etcd, where the API keeps its objects (Secrets through the server's
    secrets-encryption configuration, lab_secrets)."""
    server_token = normalize_token(token)
    state = lab_secrets.EncryptionState(node.cred_dir)

    def authorized(handler, users):
        header = handler.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        return user in users and normalize_token(password) == server_token

    def answer(handler):
        """True when this is a supervisor path (answered here), False for the API."""
        path = handler.path.split("?", 1)[0]
        if handler.command == "PUT" and path == "/v1-k3s/token":
            return rotate_token(handler)
        if path in ("/v1-k3s/encrypt/status", "/v1-k3s/encrypt/config"):
            return encryption(handler, path)
        if handler.command != "GET" or not (path in ("/ping", "/cacerts", "/db/info") or path.startswith("/v1-k3s/")):
            return False
        if path == "/ping":
            handler.reply(200, b"pong", "text/plain")
        elif path == "/cacerts":
            with open(node.tls_path("server-ca.crt"), "rb") as handle:
                handler.reply(200, handle.read(), "text/plain")
        elif path == "/v1-k3s/client-kubelet.crt":
            name = handler.headers.get("K3s-Node-Name", "")
            if not authorized(handler, ("node", "server")) or not name:
                handler.reply(401, {"message": "Unauthorized"})
            else:
                handler.reply(200, kubelet_certificate(node, name), "application/octet-stream")
        elif path not in ("/v1-k3s/server-bootstrap", "/db/info"):
            handler.reply(404, {"message": "not found"})
        elif not authorized(handler, ("server",)):
            handler.reply(401, {"message": "Unauthorized"})
        elif path == "/db/info":
            try:
                handler.reply(200, {"members": members(node)})
            except Fatal as exc:
                handler.reply(503, {"message": str(exc)})
        else:
            bootstrap = {}
            for key, rel in BOOTSTRAP_FILES.items():
                with open(node.tls_path(rel), "rb") as handle:
                    bootstrap[key] = {"Timestamp": "", "Content": base64.b64encode(handle.read()).decode()}
            handler.reply(200, bootstrap)
        return True

    def rotate_token(handler):
        """PUT /v1-k3s/token {"newToken": ...} with the current token as server: basic auth (k3s token rotate)."""
        try:
            request = json.loads(handler.body() or b"{}")
        except ValueError:
            request = {}
        if not authorized(handler, ("server",)):
            handler.reply(401, {"message": "Unauthorized"})
        elif not api_enabled:
            handler.reply(400, {"message": "token rotation needs the embedded etcd datastore"})
        elif not normalize_token(request.get("newToken")):
            handler.reply(400, {"message": "new token must not be empty"})
        else:
            try:
                rotate_bootstrap(node, server_token, request["newToken"])
            except Fatal as exc:
                handler.reply(500, {"message": str(exc)})
                return True
            log("info", "Rotated the server token; restart the servers and agents with the new token")
            handler.reply(200, b"", "text/plain")
        return True

    def api_call(method, path, body=None):
        """The cluster's API in this process, as the supervisor's clients reach it."""
        path, _sep, query = path.partition("?")
        try:
            return api.handle(method, path, dict(urllib.parse.parse_qsl(query)), body, "application/merge-patch+json")
        except lab_apiserver.APIError as exc:
            return exc.code, exc.status()

    def reencrypt_secrets():
        """Every Secret written again (pkg/secretsencrypt/controller.go updateSecrets): the codec stores it
        under the current first provider."""
        code, listing = api_call("GET", "/api/v1/secrets")
        if code != 200:
            raise lab_secrets.EncryptionError("listing Secrets: HTTP %d" % code)
        for item in listing.get("items") or []:
            meta = item["metadata"]
            code, _obj = api_call("PUT", "/api/v1/namespaces/%s/secrets/%s" % (meta["namespace"], meta["name"]), item)
            if code != 200:
                raise lab_secrets.EncryptionError("failed to reencrypted secret: HTTP %d" % code)
        log("info", "completed reencrypt of %d secrets" % len(listing.get("items") or []))
        return len(listing.get("items") or [])

    def encryption(handler, path):
        """GET /v1-k3s/encrypt/status, PUT /v1-k3s/encrypt/config (pkg/server/secrets-encrypt.go): server token
        only; a refused request answers 400 with an error ID, its reason goes to the server's log."""
        if not authorized(handler, ("server",)):
            handler.reply(401, {"message": "Unauthorized"})
            return True
        stages = lab_secrets.Stages(state, node.name, api_call, encrypt)
        try:
            if api is None:
                raise lab_secrets.EncryptionError("secrets encryption needs the embedded etcd datastore")
            if path.endswith("/status") and handler.command == "GET":
                handler.reply(200, stages.status())
                return True
            if handler.command != "PUT":
                handler.reply(400, b"", "text/plain")
                return True
            request = json.loads(handler.body() or b"{}")
            stage, force, skip = request.get("stage"), bool(request.get("force")), bool(request.get("skip"))
            if stage == lab_secrets.PREPARE:
                stages.prepare(force)
            elif stage == lab_secrets.ROTATE:
                stages.rotate(force)
            elif stage == "rotate_keys":
                stages.rotate_keys(reencrypt_secrets)
            elif stage == lab_secrets.REENCRYPT_ACTIVE:
                stages.reencrypt(reencrypt_secrets, force, skip)
            elif stage is not None:
                raise lab_secrets.EncryptionError("unknown stage %s requested" % stage)
            elif request.get("enable") is not None:
                stages.enable(reencrypt_secrets, bool(request["enable"]))
            save_bootstrap(node, server_token)
        except (lab_secrets.EncryptionError, ValueError, Fatal) as exc:
            error_id = int.from_bytes(os.urandom(4), "big") % 99999
            log("warning", "secrets-encrypt error ID %05d: %s" % (error_id, exc))
            handler.reply(400, ("secrets-encrypt error ID %05d" % error_id).encode(), "text/plain")
            return True
        handler.reply(200, b"", "text/plain")
        return True

    api = None
    if api_enabled:
        codec = lab_secrets.SecretsCodec(state, lambda message: lab_apiserver.APIError(500, "InternalError", message))
        etcd_client = lab_apiserver.Etcd(LOCAL_ENDPOINT, node.tls_path("etcd/server-ca.crt"),
                                         node.tls_path("etcd/client.crt"), node.tls_path("etcd/client.key"),
                                         codec=codec)
        documents = json.loads(pkgutil.get_data("lab_apiserver", "discovery.json"))
        api = lab_apiserver.LabAPI(etcd_client, documents, VERSION)
    context = lab_apiserver.tls_context(node.tls_path("serving-kube-apiserver.crt"),
                                        node.tls_path("serving-kube-apiserver.key"), node.tls_path("client-ca.crt"))
    return lab_apiserver.serve(("0.0.0.0", port), context, api, answer)


# --- the node's kubelet side: its Node object ----------------------------------

def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def node_object(node, role, uses_etcd):
    """The Node the kubelet registers: K3s's own labels, then node-label / node-taint from the config
    (K3s applies those at registration only)."""
    labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/instance-type": "k3s", "node.kubernetes.io/instance-type": "k3s"}
    if role == "server":
        labels["node-role.kubernetes.io/control-plane"] = "true"
        labels["node-role.kubernetes.io/master"] = "true"
    if uses_etcd:
        labels["node-role.kubernetes.io/etcd"] = "true"
    for item in as_list(node.config.get("node-label")):
        key, _sep, value = str(item).partition("=")
        labels[key] = value
    taints = []
    for item in as_list(node.config.get("node-taint")):
        pair, _sep, effect = str(item).rpartition(":")
        key, _sep, value = pair.partition("=")
        taints.append(dict({"key": key, "effect": effect}, **({"value": value} if value else {})))
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node.name, "labels": labels},
            "spec": {"providerID": "k3s://%s" % node.name}}
    if taints:
        body["spec"]["taints"] = taints
    return body


def os_release():
    for line in read_text("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def read_text(path, default=""):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or default
    except OSError:
        return default


def nvidia_gpus():
    """How many GPUs `nvidia-smi -q -x` lists when the NVIDIA container runtime is installed: what the NVIDIA
    device plugin (a DaemonSet from its chart, which the lab does not install) registers with the kubelet as
    nvidia.com/gpu. 0 without the runtime or a driver that answers."""
    if not any(os.path.exists(path) for path in NVIDIA_RUNTIMES) or not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-q", "-x"], capture_output=True, text=True, timeout=10, check=True).stdout
        from xml.etree import ElementTree  # pylint: disable=import-outside-toplevel
        return len(ElementTree.fromstring(out).findall("gpu"))
    except (OSError, subprocess.SubprocessError, ValueError, SyntaxError):
        return 0


def node_status(node, ready):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if ready:
        condition = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "message": "kubelet is posting ready status"}
    else:  # what the node lifecycle controller writes once the kubelet stops posting (done at once here)
        condition = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                     "message": "Kubelet stopped posting node status."}
    condition.update(lastHeartbeatTime=stamp, lastTransitionTime=stamp)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1024
    resources = {"cpu": str(os.cpu_count()), "memory": "%dKi" % pages, "pods": "110"}
    gpus = nvidia_gpus()
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    status = {"conditions": [condition],
              "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
              "capacity": resources, "allocatable": resources,
              "nodeInfo": {"kubeletVersion": VERSION, "kubeProxyVersion": VERSION, "operatingSystem": "linux",
                           "architecture": "amd64", "osImage": os_release(), "kernelVersion": os.uname().release,
                           "containerRuntimeVersion": "containerd://standin",
                           "machineID": read_text("/etc/machine-id", uuid.uuid5(uuid.NAMESPACE_DNS, node.name).hex),
                           "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name)),
                           "bootID": read_text("/proc/sys/kernel/random/boot_id")}}
    return {"status": status}


class NodeAgent:
    """Registers this node's Node through the API (a server's own, or an agent's server) with the
    kubelet's client certificate, keeps it Ready while the unit runs, and marks it NotReady at stop."""

    def __init__(self, node, role, uses_etcd, api_url, token):
        self.node, self.role, self.uses_etcd = node, role, uses_etcd
        self.api_url, self.token = api_url.rstrip("/"), token
        self.stop_event = threading.Event()
        self.context = None
        self.connection = None  # call's kept-alive connection to the API server
        self.annotated = False
        self.thread = threading.Thread(target=self.loop, name="node-agent", daemon=True)

    def credentials(self):
        crt, key, ca = (os.path.join(AGENT_DIR, name) for name in
                        ("client-kubelet.crt", "client-kubelet.key", "server-ca.crt"))
        if self.role == "server":
            shutil.copyfile(self.node.tls_path("server-ca.crt"), ca)
            pem = kubelet_certificate(self.node, self.node.name)
        else:
            write_private(ca, supervisor_request(self.api_url, "/cacerts"), 0o644)
            pem = supervisor_request(self.api_url, "/v1-k3s/client-kubelet.crt", "node", self.token,
                                     headers=[("K3s-Node-Name", self.node.name)])
        cut = pem.index(b"-----BEGIN", pem.index(b"-----END CERTIFICATE-----"))
        write_private(crt, pem[:cut], 0o644)
        write_private(key, pem[cut:])
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False  # the agent may reach its server by any of its addresses
        context.load_cert_chain(crt, key)
        self.context = context

    def call(self, method, path, body=None, ctype="application/json", timeout=10):
        """(status, decoded body; {} for an error status) over one kept-alive connection, as a kubelet keeps its
        connection to the API server; a kept connection the server closed is opened again once."""
        data = json.dumps(body).encode() if body is not None else None
        reused = self.connection is not None
        if not reused:
            url = urllib.parse.urlsplit(self.api_url)
            self.connection = http.client.HTTPSConnection(url.hostname, url.port or 443, context=self.context,
                                                          timeout=timeout)
        try:
            self.connection.request(method, path, body=data, headers={"Content-Type": ctype})
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = None
            if reused:
                return self.call(method, path, body, ctype, timeout)
            raise OSError("%s %s: %s" % (method, path, exc)) from exc
        return (response.status, {}) if response.status >= 400 else (response.status, json.loads(payload or b"{}"))

    def ensure(self):
        path = "/api/v1/nodes/%s" % self.node.name
        code, current = self.call("GET", path)
        if code == 404:
            code, current = self.call("POST", "/api/v1/nodes", node_object(self.node, self.role, self.uses_etcd))
            if code not in (201, 409):
                raise OSError("registering Node %s: HTTP %d" % (self.node.name, code))
            log("info", "Successfully registered node %s" % self.node.name)
        elif code != 200:
            raise OSError("reading Node %s: HTTP %d" % (self.node.name, code))
        info = ((current.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")
        ready = [c for c in (current.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        wanted = node_status(self.node, True)  # asks nvidia-smi once per check
        gpus = ((current.get("status") or {}).get("capacity") or {}).get("nvidia.com/gpu")
        if code != 200 or info != VERSION or not ready or ready[0].get("status") != "True" or \
                gpus != wanted["status"]["capacity"].get("nvidia.com/gpu"):
            code, _body = self.call("PATCH", path + "/status", wanted,
                                    "application/strategic-merge-patch+json")
            if code != 200:
                raise OSError("updating the status of Node %s: HTTP %d" % (self.node.name, code))
        # At start, a server's Node takes its secrets-encryption stage (K3s: BootstrapEncryptionHashAnnotation);
        # afterwards only the encrypt requests move it.
        stage = None
        if self.role == "server" and not self.annotated:
            stage = lab_secrets.EncryptionState(self.node.cred_dir).annotation()
        if stage and ((current.get("metadata") or {}).get("annotations") or {}).get(lab_secrets.ANNOTATION) != stage:
            code, _body = self.call("PATCH", path, {"metadata": {"annotations": {lab_secrets.ANNOTATION: stage}}},
                                    "application/merge-patch+json")
            if code != 200:
                raise OSError("annotating Node %s: HTTP %d" % (self.node.name, code))
        self.annotated = True

    def sync_pods(self):
        """The kubelet's part for the Pods bound to this node (lab_controller.kubelet_update)."""
        code, pods = self.call("GET", "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s" % self.node.name)
        if code != 200:
            return
        for pod in pods.get("items", []):
            update = lab_controller.kubelet_update(pod, self.node.ip)
            if update is not None:
                self.call("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (
                    pod["metadata"]["namespace"], pod["metadata"]["name"]), update, "application/merge-patch+json")

    def loop(self):
        next_check = 0.0
        last_error = None
        while not self.stop_event.is_set():
            try:
                if self.context is None:
                    self.credentials()
                if time.monotonic() >= next_check:
                    self.ensure()
                    next_check = time.monotonic() + NODE_STATUS_PERIOD
                self.sync_pods()
                wait, last_error = POD_SYNC_PERIOD, None
            except (OSError, ValueError, ssl.SSLError) as exc:
                if str(exc) != last_error:  # once per distinct failure, not every retry
                    log("warning", "node %s: %s (retrying)" % (self.node.name, exc))
                    last_error = str(exc)
                next_check = 0.0
                wait = 2
            self.stop_event.wait(wait)

    def start(self):
        os.makedirs(AGENT_DIR, exist_ok=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(15)
        if self.context is None:
            return
        try:
            self.call("PATCH", "/api/v1/nodes/%s/status" % self.node.name, node_status(self.node, False),
                      "application/strategic-merge-patch+json", timeout=3)
        except (OSError, ValueError):
            pass  # the server is gone too: its Node stays as it was, as with K3s


def bind_or_die(port):
    """K3s fails the same way when another k3s holds its port."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("0.0.0.0", port))
    except OSError:
        die("listen tcp :%d: bind: address already in use" % port)
    finally:
        probe.close()


# --- k3s server / agent -------------------------------------------------------

def read_token(config):
    token = config.get("token")
    token_file = config.get("token-file")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            die("failed to read token file %s: %s" % (token_file, exc))
    return token


def run(role, args):
    config = load_config()
    flags, _words = parse_args(args)
    config.update(flags)  # CLI flags win over config.yaml, as in k3s
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "invocation.json"), "w", encoding="utf-8") as handle:
        shown = {k: ("<redacted>" if k in SECRET_KEYS else v) for k, v in config.items()}
        json.dump({"role": role, "argv": sys.argv, "config": shown, "version": VERSION}, handle, indent=2, sort_keys=True)
    record("start", role=role)

    token = read_token(config)
    server = config.get("server")
    if role == "agent" and not server:
        die("--server is required")
    if (role == "agent" or server) and not token:
        die("--token is required")
    node = Node(config)
    if role == "server" and truthy(config.get("cluster-reset")):
        return cluster_reset(node, config)

    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    write_containerd_config()
    etcd = Etcd(node)
    uses_etcd = embedded_etcd(node, config, role)
    httpd = None
    kubelet = None
    controller_stop = threading.Event()
    try:
        if server:
            wait_for_server(server)
        port = int(config.get("https-listen-port", 6443))
        if role == "server":
            bind_or_die(port)
            os.makedirs(node.server_dir, exist_ok=True)
            # K3s writes server/token at every start from the token it was given (after `k3s token rotate` and a
            # restart with the new token, every server's file holds the new one).
            if token:
                write_private(os.path.join(node.server_dir, "token"), "K10standin::server:%s\n" % normalize_token(token))
            if uses_etcd:
                start_datastore(node, config, token, etcd)
                reconcile_bootstrap(node, token)
                # secrets-encryption: the first server writes the key once; the others got it just above.
                if truthy(config.get("secrets-encryption")) and lab_secrets.EncryptionState(node.cred_dir).ensure():
                    log("info", "Generated the secrets encryption key (server/cred/encryption-config.json)")
                    save_bootstrap(node, token)
            else:
                ensure_certs(node, config.get("tls-san") or [])
            write_kubeconfig(config.get("write-kubeconfig-mode", "0600"), node, port)
            httpd = supervisor(node, token, port, api_enabled=uses_etcd,
                               encrypt=truthy(config.get("secrets-encryption")))
            if httpd.api is not None:  # controller-manager and scheduler, on the elected server
                with open(node.tls_path("server-ca.crt"), "rb") as handle:
                    controllers = lab_controller.Controller(httpd.api, node.name, log, ca_cert=handle.read())
                controllers.set_packaged(item.strip() for value in as_list(config.get("disable"))
                                         for item in str(value).split(","))
                threading.Thread(target=controllers.run, args=(controller_stop,), name="controllers",
                                 daemon=True).start()
        # The kubelet registers the Node through the API: a server's own (when it serves one), an agent's server.
        if uses_etcd or role == "agent":
            api_url = "https://127.0.0.1:%d" % port if role == "server" else server
            kubelet = NodeAgent(node, role, uses_etcd, api_url, token or "")
            kubelet.start()

        time.sleep(float(os.environ.get("K3S_STANDIN_READY_DELAY", "0")))
        notify("READY=1")
        record("ready", role=role, server=server)
        while not stop["now"]:
            if uses_etcd and not etcd.running():
                die("etcd exited with status %s" % etcd.proc.returncode)
            time.sleep(0.5)
    finally:
        controller_stop.set()
        if kubelet is not None:
            kubelet.stop()
        if httpd is not None:
            httpd.shutdown()
        etcd.stop()
    record("stop", role=role)
    return 0


def cluster_reset(node, config):
    """k3s server --cluster-reset [--cluster-reset-restore-path=PATH] (docs.k3s.io/cli/etcd-snapshot)."""
    restore = config.get("cluster-reset-restore-path")
    if not restore and os.path.exists(node.reset_flag):
        die("cluster-reset was successfully performed, please remove the cluster-reset flag and start k3s normally, "
            "if you need to perform another cluster reset, you must first manually delete the %s file"
            % node.reset_flag)
    bind_or_die(int(config.get("https-listen-port", 6443)))
    if not node.initialized() and not restore:
        die("etcd: no existing datastore in %s to reset" % node.etcd_dir)
    ensure_certs(node, config.get("tls-san") or [])
    etcd = Etcd(node)
    if restore:
        if not os.path.isabs(restore) and truthy(config.get("etcd-s3")):
            die("S3 download is not available in the k3s stand-in (%s)" % restore)
        if not os.path.exists(restore):
            die("etcd: snapshot path does not exist: %s" % restore)
        if os.path.isdir(restore):
            die("etcd: snapshot path must be a file, not a directory: %s" % restore)
        with tempfile.TemporaryDirectory() as tmp:
            source = restore
            if restore.endswith(COMPRESSED_EXT):
                with zipfile.ZipFile(restore) as archive:
                    inner = archive.namelist()[0]
                    archive.extract(inner, tmp)
                    source = os.path.join(tmp, inner)
            if os.path.isdir(node.etcd_dir):
                old = "%s-old-%d" % (node.etcd_dir, int(time.time()))
                os.rename(node.etcd_dir, old)
                log("info", "Pre-restore etcd database moved to %s" % old)
            name = "%s-%s" % (node.name, uuid.uuid4().hex[:8])  # a new member, as K3s names it
            restored = os.path.join(tmp, "restored")
            etcdctl(node, "snapshot", "restore", source, "--name", name, "--data-dir", restored,
                    "--initial-cluster", "%s=%s" % (name, node.peer_url),
                    "--initial-advertise-peer-urls", node.peer_url)
            shutil.move(restored, node.etcd_dir)
        write_private(os.path.join(node.etcd_dir, "name"), name)
        write_etcd_config(node, name, "%s=%s" % (name, node.peer_url), "existing")
    else:
        name = node.member_name(force=True)
        write_etcd_config(node, name, "%s=%s" % (name, node.peer_url), "existing", force_new=True)
    write_private(node.reset_flag, b"")
    etcd.start()
    try:
        deadline = time.time() + 120
        while True:
            etcd.wait_up()
            current = members(node)
            if len(current) == 1:
                if node.peer_url not in current[0].get("peerURLs", []):
                    etcdctl(node, "member", "update", "%x" % current[0]["ID"], "--peer-urls", node.peer_url)
                    continue
                if current[0].get("name") == name and etcdctl(node, "endpoint", "health", check=False).returncode == 0:
                    break
            if time.time() > deadline:
                die("etcd still has %d members after the reset" % len(current))
            time.sleep(0.5)
    finally:
        etcd.stop()
    # The next start must not force a new cluster again.
    write_etcd_config(node, name, "%s=%s" % (name, node.peer_url), "existing")
    log("info", RESET_DONE)
    record("cluster-reset", restore=restore or "")
    return 0


# --- k3s etcd-snapshot --------------------------------------------------------

def snapshot_files(node):
    directory = node.snapshot_dir
    if not os.path.isdir(directory):
        return []
    return sorted(f for f in os.listdir(directory) if os.path.isfile(os.path.join(directory, f)))


def snapshot_time(filename, path):
    base = filename[:-len(COMPRESSED_EXT)] if filename.endswith(COMPRESSED_EXT) else filename
    try:
        return int(base.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return int(os.path.getmtime(path))


def etcd_snapshot(args):
    config = load_config()
    flags, words = parse_args(args, positionals=True)
    aliases = {"dir": "etcd-snapshot-dir", "snapshot-compress": "etcd-snapshot-compress",
               "compress": "etcd-snapshot-compress", "s3": "etcd-s3"}
    for key, value in flags.items():
        config[aliases.get(key, key)] = value
    if not words:
        die("etcd-snapshot needs a subcommand: save, ls, delete or prune")
    command, names = words[0], words[1:]
    node = Node(config)
    if command in ("ls", "list", "l"):
        rows = [("Name", "Location", "Size", "Created")]
        for filename in snapshot_files(node):
            path = os.path.join(node.snapshot_dir, filename)
            created = datetime.datetime.fromtimestamp(snapshot_time(filename, path), datetime.timezone.utc)
            rows.append((filename, "file://" + path, str(os.path.getsize(path)), created.strftime("%Y-%m-%dT%H:%M:%SZ")))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            print(" ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + " " + row[3])
        return 0
    if command == "delete":
        if not names:
            die("no snapshots given for removal")
        for name in names:
            path = os.path.join(node.snapshot_dir, name)
            if os.path.isfile(path):
                os.remove(path)
                log("info", "Snapshot %s deleted." % name)
            else:
                log("warning", "Snapshot %s not found" % name)
        return 0
    if command == "prune":
        retention = int(config.get("snapshot-retention") or config.get("etcd-snapshot-retention") or 5)
        prefix = "%s-%s" % (config.get("name", "on-demand"), node.name)
        log("info", "Applying local snapshot retention policy: retention: %d, snapshotPrefix: %s, directory: %s"
            % (retention, prefix, node.snapshot_dir))
        matching = [f for f in snapshot_files(node) if f.startswith(prefix)]
        matching.sort(key=lambda f: snapshot_time(f, os.path.join(node.snapshot_dir, f)), reverse=True)
        for filename in matching[retention:]:
            log("info", "Removing local snapshot %s" % os.path.join(node.snapshot_dir, filename))
            os.remove(os.path.join(node.snapshot_dir, filename))
        return 0
    if command == "save":
        if not node.initialized():
            die("etcd database not found in %s" % node.etcd_dir)
        name = "%s-%s-%d" % (config.get("name", "on-demand"), node.name, int(time.time()))
        os.makedirs(node.snapshot_dir, mode=0o700, exist_ok=True)
        path = os.path.join(node.snapshot_dir, name)
        etcdctl(node, "snapshot", "save", path + ".part")
        os.chmod(path + ".part", 0o600)
        if truthy(config.get("etcd-snapshot-compress")):
            with zipfile.ZipFile(path + COMPRESSED_EXT, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(path + ".part", name)
            os.chmod(path + COMPRESSED_EXT, 0o600)
            os.remove(path + ".part")
            name += COMPRESSED_EXT
        else:
            os.rename(path + ".part", path)
        log("info", "Snapshot %s saved." % name)
        if truthy(config.get("etcd-s3")):
            log("warning", "S3 upload is not available in the k3s stand-in: %s stays local" % name)
        return 0
    die("unknown etcd-snapshot subcommand %r" % command)


def token_command(args):
    """k3s token rotate [--token OLD] --new-token NEW [--server URL] [--data-dir DIR] (docs.k3s.io/cli/token):
    asks the server (default this node's) to move the bootstrap data to the new token."""
    flags, words = parse_args(args, positionals=True)
    if words != ["rotate"]:
        die("k3s token %s is not available in the k3s stand-in (only rotate)" % " ".join(words))
    new = flags.get("new-token")
    if not isinstance(new, str) or not new:
        die("--new-token is required")
    old = flags.get("token") or flags.get("t")
    if not isinstance(old, str) or not old:
        data_dir = flags.get("data-dir") or flags.get("d") or "/var/lib/rancher/k3s"
        old = read_text(os.path.join(data_dir, "server", "token"))
    print("\033[33mWARNING\033[0m: Recommended to keep a record of the old token. If restoring from a snapshot, "
          "you must use the token associated with that snapshot.")
    url = flags.get("server") or flags.get("s") or "https://127.0.0.1:6443"
    try:
        supervisor_request(url, "/v1-k3s/token", "server", old, method="PUT", body={"newToken": new})
    except urllib.error.HTTPError as exc:
        die("%s/v1-k3s/token: %d %s" % (url.rstrip("/"), exc.code, exc.reason))
    except OSError as exc:
        die("%s/v1-k3s/token: %s" % (url.rstrip("/"), exc))
    print("Token rotated, restart k3s nodes with new token")
    return 0


ENCRYPT_COMMANDS = {  # subcommand: (request body, what K3s prints on success)
    "enable": ({"enable": True}, "secrets-encryption enabled"),
    "disable": ({"enable": False}, "secrets-encryption disabled"),
    "prepare": ({"stage": lab_secrets.PREPARE}, "prepare completed successfully"),
    "rotate": ({"stage": lab_secrets.ROTATE}, "rotate completed successfully"),
    "reencrypt": ({"stage": lab_secrets.REENCRYPT_ACTIVE}, "reencryption started"),
    "rotate-keys": ({"stage": "rotate_keys"}, "keys rotated, reencryption started"),
}


def status_text(status):
    """`k3s secrets-encrypt status` as pkg/cli/secretsencrypt prints it (text/tabwriter, padding 2)."""
    if status.get("enable") is None:
        return "Encryption Status: Disabled, no configuration file found"
    text = "Encryption Status: %s\n" % ("Enabled" if status["enable"] else "Disabled")
    text += "Current Rotation Stage: %s\n" % status.get("stage", "")
    text += "Server Encryption Hashes: %s\n" % (
        "All hashes match" if status.get("hashmatch") else status.get("hasherror", ""))
    rows = [("Active", "Key Type", "Name"), ("------", "--------", "----")]
    if status.get("activekey"):
        rows.append((" *", "AES-CBC", status["activekey"]))
    rows += [("", "AES-CBC", key) for key in status.get("inactivekeys") or []]
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(2)]
    table = "".join("%s%s%s\n" % (row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]) for row in rows)
    return text + "\n" + table


def secrets_encrypt_command(args):
    """k3s secrets-encrypt status|enable|disable|prepare|rotate|reencrypt|rotate-keys [flags]
    (docs.k3s.io/cli/secrets-encrypt): asks this server's supervisor with the server token."""
    flags, words = parse_args(args, positionals=True)
    if len(words) != 1 or words[0] not in list(ENCRYPT_COMMANDS) + ["status"]:
        die("usage: k3s secrets-encrypt status|enable|disable|prepare|rotate|reencrypt|rotate-keys")
    token = flags.get("token") or flags.get("t")
    if not isinstance(token, str) or not token:
        data_dir = flags.get("data-dir") or flags.get("d") or "/var/lib/rancher/k3s"
        token = read_text(os.path.join(data_dir, "server", "token"))
        if not token:
            die("open %s: no such file or directory" % os.path.join(data_dir, "server", "token"))
    url = flags.get("server") or flags.get("s") or "https://127.0.0.1:6443"
    command = words[0]
    try:
        if command == "status":
            status = json.loads(supervisor_request(url, "/v1-k3s/encrypt/status", "server", token))
            output = flags.get("output") or flags.get("o") or "text"
            print(json.dumps(status, indent="\t") if str(output).lower() == "json" else status_text(status))
            return 0
        body, done = ENCRYPT_COMMANDS[command]
        body = dict(body, force=truthy(flags.get("f") or flags.get("force")), skip=truthy(flags.get("skip")))
        supervisor_request(url, "/v1-k3s/encrypt/config", "server", token, method="PUT", body=body, timeout=70)
    except urllib.error.HTTPError as exc:
        die("see server log for details: %s" % (exc.read().decode(errors="replace") or exc.reason))
    except OSError as exc:
        die("%s: %s" % (url, exc))
    print(done)
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print("k3s (stand-in) - usage: k3s [--version] server|agent|etcd-snapshot|token rotate [flags]")
        return 0
    if argv[1] in ("--version", "-v", "version"):
        print("k3s version %s (standin)\ngo version go1.24.11" % VERSION)
        return 0
    try:
        if argv[1] in ("server", "agent"):
            return run(argv[1], argv[2:])
        if argv[1] == "etcd-snapshot":
            return etcd_snapshot(argv[2:])
        if argv[1] == "token":
            return token_command(argv[2:])
        if argv[1] == "secrets-encrypt":
            return secrets_encrypt_command(argv[2:])
    except Fatal as exc:
        record("fatal", message=str(exc))
        log("fatal", str(exc))
        return 1
    prog = os.path.basename(argv[0])
    sub = argv[1] if prog == "k3s" else prog
    sys.stderr.write("%s is not available in the k3s stand-in\n" % sub)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
