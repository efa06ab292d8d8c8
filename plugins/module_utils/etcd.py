# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""K3s's embedded etcd, read through etcd's own JSON gateway (no etcdctl on the node).

etcd serves its v3 API as JSON on the client port (POST /v3/cluster/member/list,
/v3/maintenance/status); K3s's etcd listens on https://127.0.0.1:2379 and wants the
client certificate K3s keeps under <data-dir>/server/tls/etcd/. The transport is
injected, so the report logic is unit-tested on recorded responses of a real etcd.
"""

from __future__ import annotations

import json
import os
import re

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

K3S_ETCD_TLS = "/var/lib/rancher/k3s/server/tls/etcd"
DEFAULT_ENDPOINT = "https://127.0.0.1:2379"
DEFAULT_CA = K3S_ETCD_TLS + "/server-ca.crt"
DEFAULT_CERT = K3S_ETCD_TLS + "/client.crt"
DEFAULT_KEY = K3S_ETCD_TLS + "/client.key"


class EtcdError(Exception):
    """etcd could not be asked; the message says which endpoint and why."""


class GatewayClient:
    """POSTs JSON to etcd's gateway over TLS with a client certificate."""

    def __init__(self, ca_cert, client_cert, client_key, timeout=5.0):
        missing = [path for path in (ca_cert, client_cert, client_key) if not os.path.isfile(path)]
        if missing:
            raise EtcdError(
                "the etcd client certificate is missing (%s). On a K3s server it is under %s; "
                "is this host a server with embedded etcd (and the task run with become)?" % (", ".join(missing), K3S_ETCD_TLS)
            )
        self.ca_cert, self.client_cert, self.client_key, self.timeout = ca_cert, client_cert, client_key, timeout

    def post(self, endpoint, path, body=None):
        url = endpoint.rstrip("/") + path
        try:
            response = open_url(
                url, data=json.dumps(body or {}), method="POST", headers={"Content-Type": "application/json"},
                ca_path=self.ca_cert, client_cert=self.client_cert, client_key=self.client_key,
                timeout=self.timeout, validate_certs=True, use_proxy=False,
            )
            return json.loads(response.read().decode())
        except HTTPError as exc:
            raise EtcdError("%s answered %s: %s" % (url, exc.code, exc.read().decode(errors="replace")[:300]))
        except (URLError, OSError, ValueError) as exc:
            raise EtcdError("%s: %s" % (url, getattr(exc, "reason", exc)))


def member_id(value):
    """etcd's gateway writes uint64 IDs as decimal strings; etcdctl and K3s show them in hex."""
    return "%x" % int(value)


def parse_members(response):
    members = []
    for raw in response.get("members", []):
        members.append(
            {
                "id": member_id(raw["ID"]),
                "name": raw.get("name", ""),
                "peer_urls": list(raw.get("peerURLs", [])),
                "client_urls": list(raw.get("clientURLs", [])),
                "is_learner": bool(raw.get("isLearner", False)),
                # A member added but never started has no name and no client URL yet.
                "started": bool(raw.get("name")),
            }
        )
    return sorted(members, key=lambda m: (m["name"], m["id"]))


def report(member_list, statuses):
    """The cluster as the day-2 playbooks judge it.

    member_list: the gateway's member list response; statuses: member id (hex) ->
    the gateway's maintenance status response, or an error message (str)."""
    members = parse_members(member_list)
    leader = None
    for member in members:
        status = statuses.get(member["id"])
        member["healthy"] = False
        member["leader"] = False
        if not member["started"]:
            member["error"] = "added to the cluster but never started"
        elif isinstance(status, str):
            member["error"] = status
        elif status is None:
            member["error"] = "not asked"
        elif status.get("errors"):
            member["error"] = "; ".join(status["errors"])
        elif not int(status.get("leader", 0) or 0):
            member["error"] = "no leader"
        else:
            member["error"] = None
            member["healthy"] = True
            member["version"] = status.get("version")
            member["db_size"] = int(status.get("dbSize", 0) or 0)
            member["raft_index"] = int(status.get("raftIndex", 0) or 0)
            if member_id(status["leader"]) == member["id"]:
                member["leader"] = True
                leader = member["name"]
    voters = [m for m in members if not m["is_learner"]]
    learners = [m for m in members if m["is_learner"]]
    unhealthy = [m for m in members if not m["healthy"]]
    return {
        "members": members,
        "voters": len(voters),
        "learners": len(learners),
        "leader": leader,
        # Every member answers, one leader, nobody still a learner: what "back" means for a server.
        "healthy": bool(members) and not unhealthy and not learners and leader is not None,
        "problems": ["%s: %s" % (m["name"] or m["id"], m["error"]) for m in unhealthy]
        + ["%s: still a learner (not yet promoted to a voting member)" % m["name"] for m in learners],
    }


def inspect(client, endpoint=DEFAULT_ENDPOINT):
    """Member list from `endpoint`, then the status of every member from its own client URL."""
    member_list = client.post(endpoint, "/v3/cluster/member/list")
    statuses = {}
    for member in parse_members(member_list):
        if not member["client_urls"]:
            continue
        try:
            statuses[member["id"]] = client.post(member["client_urls"][0], "/v3/maintenance/status")
        except EtcdError as exc:
            statuses[member["id"]] = str(exc)
    return report(member_list, statuses)


def node_member(members, node):
    """The member K3s made for Node `node` (named <node>-<8 hex>), or None when it has none."""
    pattern = re.compile(r"^%s-[0-9a-f]{8}$" % re.escape(node))
    found = [m for m in members if pattern.match(m["name"])]
    if len(found) > 1:
        raise EtcdError("several etcd members are named after node %s (%s): remove the stale one with etcdctl first"
                        % (node, ", ".join(m["name"] for m in found)))
    return found[0] if found else None


def removal_refusal(cluster, member):
    """Why removing `member` from the cluster `cluster` (an inspect() report) must not happen, or None.

    etcd needs a majority of the voting members that remain: removing a member is refused when
    it is the last one, or when fewer than a majority of the others are healthy voters."""
    others = [m for m in cluster["members"] if m["id"] != member["id"]]
    if not others:
        return ("%s is the cluster's last etcd member: removing it would delete the datastore "
                "(playbooks/reset.yml removes the whole cluster)" % member["name"])
    voters = [m for m in others if not m["is_learner"]]
    healthy = [m for m in voters if m["healthy"]]
    quorum = len(voters) // 2 + 1
    if len(healthy) < quorum:
        problems = "; ".join(cluster["problems"]) or "no voting member left"
        return ("after removing %s, %d of the %d remaining voting members would be healthy and quorum needs %d: "
                "bring these back first: %s" % (member["name"], len(healthy), len(voters), quorum, problems))
    return None


def remove_member(client, endpoint, member):
    """Remove `member` (from parse_members) through `endpoint`; etcd's gateway takes the uint64 ID as a string."""
    client.post(endpoint, "/v3/cluster/member/remove", {"ID": str(int(member["id"], 16))})
