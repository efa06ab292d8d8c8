"""STAND-IN for the tailscale CLI, for the container lab only (tests/standins).

Tailscale's packages cannot be downloaded on the machines that run our tests.
This answers the commands the roles use, with the JSON shapes of the real CLI
(ipnstate.Status for `status --json`, ipn.Prefs for `debug prefs`), keeps the
node's prefs in /var/lib/tailscale/standin.json, and logs every call that
changes something to /var/lib/tailscale/standin-calls.log (auth keys redacted).

  status --json | debug prefs | ip [-4|-6] | version
  up [--auth-key=tskey-...|file:PATH] [--reset] [--force-reauth] [--timeout=D] [setting flags]
  set [setting flags]

`up` creates tailscale0 with the address from /etc/tailscale-standin.conf
(TS_STANDIN_IPV4=100.x.y.z), as tailscaled would once control assigns it.
"""
import json
import os
import subprocess
import sys

VERSION = "@VERSION@"
STATE = "/var/lib/tailscale/standin.json"
CALLS = "/var/lib/tailscale/standin-calls.log"
CONF = "/etc/tailscale-standin.conf"
PIDFILE = "/run/tailscale/tailscaled.pid"
SUFFIX = "tail0lab.ts.net"

DEFAULT_PREFS = {
    "ControlURL": "https://controlplane.tailscale.com",
    "RouteAll": False,
    "ExitNodeID": "",
    "ExitNodeIP": "",
    "CorpDNS": True,
    "RunSSH": False,
    "WantRunning": False,
    "LoggedOut": True,
    "ShieldsUp": False,
    "AdvertiseTags": None,
    "Hostname": "",
    "AdvertiseRoutes": None,
    "NoSNAT": False,
    "NetfilterMode": 2,
}
FLAGS = {
    "accept-routes": ("RouteAll", "bool"),
    "advertise-routes": ("AdvertiseRoutes", "list"),
    "exit-node": ("ExitNodeIP", "str"),
    "hostname": ("Hostname", "str"),
    "accept-dns": ("CorpDNS", "bool"),
    "ssh": ("RunSSH", "bool"),
    "advertise-tags": ("AdvertiseTags", "list"),
    "login-server": ("ControlURL", "str"),
}
EXIT = ["0.0.0.0/0", "::/0"]


def fail(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def conf():
    out = {}
    if os.path.exists(CONF):
        with open(CONF, encoding="utf-8") as handle:
            for line in handle:
                if "=" in line and not line.startswith("#"):
                    key, value = line.strip().split("=", 1)
                    out[key] = value
    return out


def daemon_running():
    try:
        with open(PIDFILE, encoding="utf-8") as handle:
            os.kill(int(handle.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def load():
    if os.path.exists(STATE):
        with open(STATE, encoding="utf-8") as handle:
            return json.load(handle)
    return {"prefs": dict(DEFAULT_PREFS)}


def save(state):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    tmp = STATE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.replace(tmp, STATE)


def log_call(argv):
    redacted = ["--auth-key=<redacted>" if a.startswith(("--auth-key", "--authkey")) else a for a in argv]
    with open(CALLS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(redacted) + "\n")


def backend_state(prefs):
    if prefs.get("LoggedOut"):
        return "NeedsLogin"
    return "Running" if prefs.get("WantRunning") else "Stopped"


def ips(prefs):
    if backend_state(prefs) != "Running":
        return []
    ipv4 = conf().get("TS_STANDIN_IPV4")
    if not ipv4:
        fail("stand-in: TS_STANDIN_IPV4 missing in %s" % CONF)
    last = ipv4.split(".")
    return [ipv4, "fd7a:115c:a1e0::%x:%x" % (int(last[2]), int(last[3]))]


def hostname(prefs):
    return prefs.get("Hostname") or os.uname().nodename


def status(state):
    prefs = state["prefs"]
    addrs = ips(prefs)
    running = bool(addrs)
    routes = [r for r in prefs.get("AdvertiseRoutes") or [] if r not in EXIT]
    self_ = {
        "ID": "nStandin" + hostname(prefs).replace("-", "") if running else "",
        "PublicKey": "nodekey:" + ("%064x" % (abs(hash(hostname(prefs))) % (1 << 255))),
        "HostName": hostname(prefs),
        "DNSName": "%s.%s." % (hostname(prefs), SUFFIX) if running else "",
        "OS": "linux",
        "UserID": 1 if running else 0,
        "TailscaleIPs": addrs or None,
        "Addrs": [],
        "CurAddr": "",
        "Relay": "",
        "Online": running,
        "ExitNode": False,
        "ExitNodeOption": False,
        "Active": False,
        "InNetworkMap": running,
        "InMagicSock": False,
        "InEngine": False,
    }
    if running and prefs.get("AdvertiseTags"):
        self_["Tags"] = prefs["AdvertiseTags"]
    if running and routes:
        self_["PrimaryRoutes"] = routes  # the lab's control plane approves every route
    return {
        "Version": VERSION,
        "TUN": True,
        "BackendState": backend_state(prefs),
        "AuthURL": "",
        "TailscaleIPs": addrs or None,
        "Self": self_,
        "Health": [] if running else ["state=%s, wantRunning=%s" % (backend_state(prefs), str(prefs.get("WantRunning")).lower())],
        "MagicDNSSuffix": SUFFIX if running else "",
        "CurrentTailnet": {"Name": "lab", "MagicDNSSuffix": SUFFIX, "MagicDNSEnabled": True} if running else None,
        "CertDomains": None,
        "Peer": None,
        "User": None,
        "ClientVersion": None,
    }


def parse(args):
    flags = {}
    for arg in args:
        if not arg.startswith("--"):
            fail("stand-in: unexpected argument %r" % arg, 2)
        key, sep, value = arg[2:].partition("=")
        flags[key] = value if sep else "true"
    return flags


def apply(prefs, flags):
    for key, value in flags.items():
        if key in FLAGS:
            pref, kind = FLAGS[key]
            if kind == "bool":
                if value not in ("true", "false"):
                    fail("invalid boolean value %r for --%s" % (value, key), 2)
                prefs[pref] = value == "true"
            elif kind == "list":
                prefs[pref] = [v for v in value.split(",") if v] or None
            else:
                prefs[pref] = value
        elif key == "advertise-exit-node":
            routes = [r for r in prefs.get("AdvertiseRoutes") or [] if r not in EXIT]
            prefs["AdvertiseRoutes"] = (routes + EXIT if value == "true" else routes) or None
        elif key not in ("auth-key", "authkey", "reset", "force-reauth", "timeout"):
            fail("flag provided but not defined: -%s" % key, 2)
    return prefs


def run(*cmd):
    return subprocess.run(cmd, check=False, capture_output=True)


def ensure_interface(addrs):
    if not addrs:
        return
    if run("ip", "link", "show", "tailscale0").returncode != 0:
        run("ip", "tuntap", "add", "dev", "tailscale0", "mode", "tun")
    if addrs[0] not in run("ip", "-4", "-o", "addr", "show", "dev", "tailscale0").stdout.decode():
        run("ip", "addr", "add", addrs[0] + "/32", "dev", "tailscale0")
    run("ip", "link", "set", "tailscale0", "up")


def cmd_up(args):
    flags = parse(args)
    state = load()
    prefs = dict(DEFAULT_PREFS) if "reset" in flags else state["prefs"]
    key = flags.get("auth-key") or flags.get("authkey")
    if key and key.startswith("file:"):
        try:
            with open(key[5:], encoding="utf-8") as handle:
                key = handle.read().strip()
        except OSError as exc:
            fail("reading auth key file: %s" % exc)
    needs_auth = prefs.get("LoggedOut", True) or "force-reauth" in flags
    if needs_auth:
        if not key:
            fail("stand-in: login needed and no --auth-key given (the real CLI would print an auth URL and wait)")
        if not key.startswith("tskey-"):
            fail("backend error: invalid key: unable to validate API key")
    prefs = apply(prefs, flags)
    prefs["LoggedOut"] = False
    prefs["WantRunning"] = True
    state["prefs"] = prefs
    save(state)
    log_call(sys.argv[1:])
    ensure_interface(ips(prefs))


def cmd_set(args):
    state = load()
    flags = parse(args)
    if any(k in flags for k in ("auth-key", "authkey", "advertise-tags", "login-server", "reset")):
        fail("flag provided but not defined (set cannot change it; use up)", 2)
    if flags:
        state["prefs"] = apply(state["prefs"], flags)
        save(state)
        log_call(sys.argv[1:])
    ensure_interface(ips(state["prefs"]))


def main(argv):
    if len(argv) < 2:
        fail("usage: tailscale status|up|set|ip|debug prefs|version", 2)
    command, rest = argv[1], argv[2:]
    if command == "version":
        print(VERSION)
        return 0
    if not daemon_running():
        fail("failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)")
    if command == "status":
        if "--json" not in rest:
            fail("stand-in: only `status --json` is emulated", 2)
        print(json.dumps(status(load()), indent=2))
    elif command == "debug" and rest[:1] == ["prefs"]:
        print(json.dumps(load()["prefs"], indent=2))
    elif command == "ip":
        addrs = ips(load()["prefs"])
        if not addrs:
            fail("no current Tailscale IPs; state: %s" % backend_state(load()["prefs"]))
        for addr in addrs:
            if ("-6" not in rest or ":" in addr) and ("-4" not in rest or ":" not in addr):
                print(addr)
    elif command == "up":
        cmd_up(rest)
    elif command == "set":
        cmd_set(rest)
    else:
        fail("stand-in: tailscale %s is not emulated" % command, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
