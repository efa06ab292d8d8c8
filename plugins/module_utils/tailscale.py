# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tailscale node state and the smallest command that reaches the wanted settings.

Works on the JSON the tailscale CLI prints: `tailscale status --json`
(ipnstate.Status) and `tailscale debug prefs` (ipn.Prefs). Plain data in,
plain data out; the module runs the commands.
"""

from __future__ import annotations

import ipaddress

DEFAULT_CONTROL_URL = "https://controlplane.tailscale.com"

# Settings `tailscale set` can change on a logged-in node, and their flags.
SETTABLE = {
    "accept_routes": "--accept-routes",
    "advertise_routes": "--advertise-routes",
    "advertise_exit_node": "--advertise-exit-node",
    "exit_node": "--exit-node",
    "hostname": "--hostname",
    "accept_dns": "--accept-dns",
    "ssh": "--ssh",
}
# Settings only `tailscale up` (re-authentication) can change.
UP_ONLY = {"advertise_tags": "--advertise-tags", "login_server": "--login-server"}

EXIT_ROUTES = {"0.0.0.0/0", "::/0"}


class TailscaleError(ValueError):
    """Unusable input or CLI output; the message says what to do."""


def normalize_routes(routes, name="advertise_routes"):
    """Sorted canonical CIDRs; host bits set is an error (tailscale refuses them too)."""
    out = []
    for route in routes or []:
        try:
            net = ipaddress.ip_network(str(route).strip(), strict=True)
        except ValueError as exc:
            raise TailscaleError("%s: %r is not a network in CIDR form (%s)" % (name, route, exc)) from exc
        out.append(str(net))
    return sorted(set(out), key=lambda c: (ipaddress.ip_network(c).version, ipaddress.ip_network(c)))


def normalize_tags(tags):
    out = []
    for tag in tags or []:
        tag = str(tag).strip()
        if not tag.startswith("tag:") or len(tag) <= 4:
            raise TailscaleError("advertise_tags: %r must look like tag:<name>" % tag)
        out.append(tag)
    return sorted(set(out))


def current(status, prefs):
    """The node's state and settings from status and prefs JSON (dicts)."""
    if not isinstance(status, dict):
        raise TailscaleError("tailscale status --json did not return a JSON object")
    prefs = prefs or {}
    self_ = status.get("Self") or {}
    ips = status.get("TailscaleIPs") or self_.get("TailscaleIPs") or []
    routes = [r for r in (prefs.get("AdvertiseRoutes") or []) if r not in EXIT_ROUTES]
    return {
        "backend_state": status.get("BackendState", "NoState"),
        "logged_in": status.get("BackendState") in ("Running", "Starting", "Stopped") and not prefs.get("LoggedOut", False),
        "running": status.get("BackendState") == "Running",
        "ipv4": next((ip for ip in ips if ":" not in ip), None),
        "ipv6": next((ip for ip in ips if ":" in ip), None),
        "dns_name": (self_.get("DNSName") or "").rstrip(".") or None,
        "hostname": prefs.get("Hostname") or "",
        "settings": {
            "accept_routes": bool(prefs.get("RouteAll", False)),
            "advertise_routes": normalize_routes(routes),
            "advertise_exit_node": bool(EXIT_ROUTES & set(prefs.get("AdvertiseRoutes") or [])),
            "exit_node": prefs.get("ExitNodeIP") or prefs.get("ExitNodeID") or "",
            "hostname": prefs.get("Hostname") or "",
            "accept_dns": bool(prefs.get("CorpDNS", True)),
            "ssh": bool(prefs.get("RunSSH", False)),
            "advertise_tags": sorted(prefs.get("AdvertiseTags") or []),
            "login_server": (prefs.get("ControlURL") or DEFAULT_CONTROL_URL).rstrip("/"),
        },
        "primary_routes": list(self_.get("PrimaryRoutes") or []),
        "tags": list(self_.get("Tags") or []),
    }


def wanted_settings(params):
    """Normalise the module's options into the settings current() reports."""
    wanted = {}
    for key in list(SETTABLE) + list(UP_ONLY):
        value = params.get(key)
        if value is None:
            continue  # not managed
        if key == "advertise_routes":
            value = normalize_routes(value)
        elif key == "advertise_tags":
            value = normalize_tags(value)
        elif key == "login_server":
            value = (value or DEFAULT_CONTROL_URL).rstrip("/")
        wanted[key] = value
    return wanted


def _flag(key, value):
    flag = SETTABLE.get(key) or UP_ONLY[key]
    if isinstance(value, bool):
        return "%s=%s" % (flag, "true" if value else "false")
    if isinstance(value, list):
        return "%s=%s" % (flag, ",".join(value))
    return "%s=%s" % (flag, value)


def plan(state, wanted, have_auth_key):
    """What to run: {'action': 'none'|'set'|'up', 'args': [...], 'changes': {key: (before, after)}}.

    - Not logged in: `tailscale up` with every wanted setting (needs an auth key).
    - Logged in, only settable differences: `tailscale set` with just those flags.
    - Logged in, tags or login server differ: `tailscale up --reset --force-reauth`
      with every wanted setting (needs an auth key).
    The auth key itself is never part of args: the caller adds it.
    """
    changes = {}
    for key, value in wanted.items():
        before = state["settings"].get(key)
        if before != value:
            changes[key] = (before, value)
    if not state["logged_in"]:
        if not have_auth_key:
            raise TailscaleError(
                "the node is not logged in to the tailnet (BackendState %s): set tailscale_authkey "
                "(an auth key or OAuth client secret, vaulted)" % state["backend_state"]
            )
        return {"action": "up", "args": ["up"] + [_flag(k, v) for k, v in sorted(wanted.items())], "changes": changes}
    if not changes:
        if not state["running"]:
            return {"action": "up", "args": ["up"], "changes": {"backend_state": (state["backend_state"], "Running")}}
        return {"action": "none", "args": [], "changes": {}}
    if any(key in UP_ONLY for key in changes):
        if not have_auth_key:
            raise TailscaleError(
                "changing %s needs re-authentication: set tailscale_authkey (vaulted) for this run"
                % ", ".join(sorted(k for k in changes if k in UP_ONLY))
            )
        args = ["up", "--reset", "--force-reauth"] + [_flag(k, v) for k, v in sorted(wanted.items())]
        return {"action": "up", "args": args, "changes": changes}
    return {"action": "set", "args": ["set"] + [_flag(k, changes[k][1]) for k in sorted(changes)], "changes": changes}


def facts(state):
    """The facts other roles use (k3s node-ip, tls-san, kubeconfig address)."""
    return {
        "tailscale_ipv4": state["ipv4"],
        "tailscale_ipv6": state["ipv6"],
        "tailscale_dns_name": state["dns_name"],
        "tailscale_backend_state": state["backend_state"],
    }
