"""STAND-IN for the k3s binary, for the container lab only (tests/standins).

The real k3s release cannot be downloaded on the machines that run our tests.
This stand-in answers only the part of the k3s command line the roles use, the
way the real binary answers it, and records what it was told so Molecule's
verify step can assert it:

  k3s --version | -v          prints "k3s version <VERSION> (standin)" + go version
  k3s server [flags]          reads /etc/rancher/k3s/config.yaml like k3s does,
  k3s agent  [flags]          needs the token file, joins `server:` over TCP,
                              writes /etc/rancher/k3s/k3s.yaml (server),
                              listens on 6443 (server), notifies systemd READY=1
  k3s kubectl|crictl|ctr ...  exits 1: "not available in the k3s stand-in"

Records (JSON lines) in /var/lib/rancher/k3s/standin/: invocation.json (the
last start: argv, merged config, version) and events.log (start, ready, stop
with wall-clock times, so restart ordering across nodes can be checked).
Env K3S_STANDIN_READY_DELAY (seconds, e.g. from /etc/default/k3s) delays
readiness to make overlapping restarts observable.
"""
import json
import os
import signal
import socket
import sys
import time

VERSION = "@VERSION@"
CONFIG = "/etc/rancher/k3s/config.yaml"
STATE = "/var/lib/rancher/k3s/standin"
KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"


def record(event, **data):
    os.makedirs(STATE, exist_ok=True)
    entry = dict(event=event, time=time.time(), pid=os.getpid(), version=VERSION, **data)
    with open(os.path.join(STATE, "events.log"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def die(msg):
    record("fatal", message=msg)
    sys.stderr.write("level=fatal msg=\"%s\"\n" % msg)
    sys.exit(1)


def load_config():
    if not os.path.exists(CONFIG):
        return {}
    import yaml  # python3-yaml in the lab image; the real k3s parses YAML itself

    with open(CONFIG, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def parse_flags(args):
    """--key=value / --key value / --flag, as k3s (urfave/cli) accepts them."""
    flags, i = {}, 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            die("unexpected argument %r" % arg)
        key = arg.lstrip("-")
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            value = args[i + 1]
            i += 1
        else:
            value = True
        flags.setdefault(key, []).append(value)
        i += 1
    return {k: (v if len(v) > 1 else v[0]) for k, v in flags.items()}


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


def wait_for_server(url, budget=90.0):
    """Agents and joining servers need the server's supervisor port, as k3s does."""
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    deadline = time.time() + budget
    while True:
        try:
            with socket.create_connection((host, int(port or 6443)), timeout=2):
                return
        except OSError as exc:
            if time.time() > deadline:
                die("failed to contact server %s: %s" % (url, exc))
            time.sleep(1)


def write_kubeconfig(mode):
    os.makedirs(os.path.dirname(KUBECONFIG), exist_ok=True)
    text = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: U1RBTkQtSU4gQ0EK\n"
        "    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n"
        "    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n"
        "kind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n"
        "    client-certificate-data: U1RBTkQtSU4gQ0VSVAo=\n    client-key-data: U1RBTkQtSU4gS0VZCg==\n"
    )
    fd = os.open(KUBECONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(str(mode), 8))
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(KUBECONFIG, int(str(mode), 8))


def run(role, args):
    config = load_config()
    config.update(parse_flags(args))  # CLI flags win over config.yaml, as in k3s
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "invocation.json"), "w", encoding="utf-8") as handle:
        json.dump({"role": role, "argv": sys.argv, "config": config, "version": VERSION}, handle, indent=2, sort_keys=True)
    record("start", role=role)

    token = config.get("token")
    token_file = config.get("token-file")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            die("failed to read token file %s: %s" % (token_file, exc))
    server = config.get("server")
    if role == "agent" and not server:
        die("--server is required")
    if (role == "agent" or server) and not token:
        die("--token is required")

    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    listener = None
    if server:
        wait_for_server(server)
    if role == "server":
        os.makedirs("/var/lib/rancher/k3s/server", exist_ok=True)
        token_path = "/var/lib/rancher/k3s/server/token"
        if token and not os.path.exists(token_path):
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("K10standin::server:%s\n" % token)
        write_kubeconfig(config.get("write-kubeconfig-mode", "0600"))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", int(config.get("https-listen-port", 6443))))
        listener.listen(64)
        listener.settimeout(0.5)

    time.sleep(float(os.environ.get("K3S_STANDIN_READY_DELAY", "0")))
    notify("READY=1")
    record("ready", role=role, server=server)
    while not stop["now"]:
        if listener is None:
            time.sleep(0.5)
            continue
        try:
            listener.accept()[0].close()
        except socket.timeout:
            pass
        except OSError:
            pass
    record("stop", role=role)
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print("k3s (stand-in) - usage: k3s [--version] server|agent [flags]")
        return 0
    if argv[1] in ("--version", "-v", "version"):
        print("k3s version %s (standin)\ngo version go1.24.11" % VERSION)
        return 0
    if argv[1] in ("server", "agent"):
        return run(argv[1], argv[2:])
    prog = os.path.basename(argv[0])
    sub = argv[1] if prog == "k3s" else prog
    sys.stderr.write("%s is not available in the k3s stand-in\n" % sub)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
