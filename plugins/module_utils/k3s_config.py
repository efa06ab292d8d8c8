# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""K3s release and config-file logic shared by the k3s roles' filters.

Plain data in, plain data out: no Ansible imports, so it is unit-tested alone.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from .k8s_client import K8sError

# v1.34.3+k3s1, v1.30.0-rc1+k3s1 (release candidates are published the same way)
K3S_VERSION_RE = re.compile(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<pre>-rc\d+)?\+k3s(?P<build>\d+)$")

# Keys the roles compute themselves. Each maps to the variable a user sets instead.
MANAGED_KEYS = {
    "token": "k3s_token (vaulted); the roles write it to a 0600 token file",
    "token-file": "nothing: the roles manage the token file (k3s_token_file)",
    "agent-token": "nothing: agents join with the cluster token file",
    "agent-token-file": "nothing: agents join with the cluster token file",
    "server": "k3s_api_host / the k3s_server group (the first server is the join target)",
    "cluster-init": "nothing: the first host of the k3s_server group initialises etcd",
    "cluster-reset": "nothing: playbooks/restore.yml -e k3s_cluster_reset=true (docs/runbooks/cluster-restore.md)",
    "cluster-reset-restore-path": "nothing: playbooks/restore.yml -e k3s_restore_snapshot=PATH (docs/runbooks/cluster-restore.md)",
    "node-ip": "k3s_node_ip",
    "https-listen-port": "homelab_api_port (joining nodes, kubeconfigs and gpu-mode use it too)",
    "node-external-ip": "k3s_node_external_ip",
    "flannel-iface": "k3s_flannel_iface (or k3s_use_tailscale)",
    "node-label": "k3s_node_labels (a dict)",
    "node-taint": "k3s_node_taints (a list)",
    "etcd-snapshot-schedule-cron": "k3s_etcd_snapshot_schedule_cron",
    "etcd-snapshot-retention": "k3s_etcd_snapshot_retention",
    "etcd-snapshot-dir": "k3s_etcd_snapshot_dir (backup.yml and restore.yml read it too)",
    "etcd-snapshot-compress": "k3s_etcd_snapshot_compress",
    "etcd-s3": "k3s_etcd_s3_enabled",
    "etcd-s3-endpoint": "k3s_etcd_s3_endpoint",
    "etcd-s3-region": "k3s_etcd_s3_region",
    "etcd-s3-bucket": "k3s_etcd_s3_bucket",
    "etcd-s3-folder": "k3s_etcd_s3_folder",
    "etcd-s3-access-key": "k3s_etcd_s3_access_key (vaulted)",
    "etcd-s3-secret-key": "k3s_etcd_s3_secret_key (vaulted)",
}

# Architectures as Ansible reports them -> (binary asset suffix, checksum file suffix)
# The managed keys K3s reads as numbers (its flags are IntFlag). A template renders them as text under ansible-core
# before 2.19 and as numbers from 2.19 on: written as numbers always, config.yaml stays the same whatever runs it.
INT_KEYS = ("https-listen-port", "etcd-snapshot-retention")

ARCH_ASSETS = {
    "x86_64": ("", "amd64"),
    "amd64": ("", "amd64"),
    "aarch64": ("-arm64", "arm64"),
    "arm64": ("-arm64", "arm64"),
    "armv7l": ("-armhf", "arm"),
    "armhf": ("-armhf", "arm"),
}

RELEASE_BASE_URL = "https://github.com/k3s-io/k3s/releases/download"


class K3sConfigError(ValueError):
    """Bad input for the K3s roles; the message says what to change."""


def parse_version(version):
    """Return the parts of a K3s release version or raise K3sConfigError."""
    if not isinstance(version, str) or not K3S_VERSION_RE.match(version.strip()):
        raise K3sConfigError(
            "k3s_version %r is not a K3s release version: expected the form "
            "v<major>.<minor>.<patch>+k3s<build>, e.g. v1.34.3+k3s1" % (version,)
        )
    m = K3S_VERSION_RE.match(version.strip())
    return {
        "version": version.strip(),
        "major": int(m.group("major")),
        "minor": int(m.group("minor")),
        "patch": int(m.group("patch")),
        "prerelease": (m.group("pre") or "").lstrip("-"),
        "build": int(m.group("build")),
    }


def release_assets(version, arch, base_url=RELEASE_BASE_URL):
    """Where the binary and its checksum file of a release live, for one architecture."""
    info = parse_version(version)
    if arch not in ARCH_ASSETS:
        raise K3sConfigError(
            "architecture %r has no K3s release binary (supported: %s)" % (arch, ", ".join(sorted(ARCH_ASSETS)))
        )
    suffix, sum_suffix = ARCH_ASSETS[arch]
    release = "%s/%s" % (base_url.rstrip("/"), quote(info["version"], safe=""))
    binary = "k3s" + suffix
    checksums = "sha256sum-%s.txt" % sum_suffix
    return {
        "version": info["version"],
        "binary_name": binary,
        "checksum_name": checksums,
        "binary_url": "%s/%s" % (release, binary),
        "checksum_url": "%s/%s" % (release, checksums),
    }


def installed_version(version_output):
    """Parse `k3s --version` output ("k3s version v1.34.3+k3s1 (48ffa7b6)"); None if absent."""
    if not version_output:
        return None
    m = re.search(r"^k3s version (v\S+)", version_output, re.MULTILINE)
    return m.group(1) if m else None


def snapshot_time(path):
    """K3s names snapshots <name>-<node>-<unix time>[.zip]; the time orders them."""
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".zip"):
        base = base[: -len(".zip")]
    stamp = base.rsplit("-", 1)[-1]
    if not stamp.isdigit():
        raise K3sConfigError("%r is not named like a K3s snapshot (<name>-<node>-<unix time>)" % path)
    return int(stamp)


def snapshots_expired(paths, keep):
    """The snapshots beyond the newest `keep` (K3s's retention rule), oldest last."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise K3sConfigError("the snapshot retention must be a whole number of at least 1, not %r" % (keep,))
    ordered = sorted(paths, key=lambda p: (snapshot_time(p), p), reverse=True)
    return ordered[keep:]


def _order(parts):
    """Sort key of a parsed version: a release sorts after its release candidates."""
    pre = parts["prerelease"]
    return (parts["major"], parts["minor"], parts["patch"], 0 if pre else 1, int(pre[2:] or 0) if pre else 0,
            parts["build"])


def upgrade_plan(installed, target, allow_skip=False):
    """What an upgrade to `target` does to each node, and why it is refused.

    `installed` maps each node to the version its binary reports (None or "" when K3s is not
    installed). Refused (K3s's upgrade rules, docs.k3s.io/upgrades): going back to an older version
    on any node (a downgrade is a restore, not an upgrade), and moving a node more than one minor
    version at once (Kubernetes' version skew policy: 1.32 -> 1.34 must go through 1.33), unless
    `allow_skip`. Nodes already on `target` are left alone.
    """
    goal = parse_version(target)
    nodes, refusals, found = {}, [], []
    for node in sorted(installed):
        version = installed[node] or None
        if version is None:
            nodes[node] = "install"
            continue
        have = parse_version(version)
        found.append(have)
        if _order(have) == _order(goal):
            nodes[node] = "none"
            continue
        nodes[node] = "upgrade"
        if _order(have) > _order(goal):
            refusals.append("%s runs %s, newer than %s: a downgrade is not an upgrade (restore the pre-upgrade "
                            "snapshot with the old version instead, docs/runbooks/k3s-upgrade.md)"
                            % (node, version, goal["version"]))
        elif (have["major"], have["minor"] + 1) < (goal["major"], goal["minor"]) and not allow_skip:
            refusals.append("%s runs %s: going to %s skips a minor version (upgrade one minor at a time, "
                            "e.g. to the newest v%d.%d.x first, or set k3s_upgrade_allow_skip=true)"
                            % (node, version, goal["version"], have["major"], have["minor"] + 1))
    oldest = min(found, key=_order)["version"] if found else None
    touched = sorted(n for n, action in nodes.items() if action != "none")
    return {
        "target": goal["version"],
        "nodes": nodes,
        "upgrade": touched,
        "refusals": refusals,
        "oldest": oldest,
        # K3s snapshot names allow [A-Za-z0-9._-]: "+" becomes "-".
        "snapshot_name": ("pre-upgrade-%s-to-%s" % (oldest, goal["version"])).replace("+", "-") if oldest else None,
    }


def checksum_from_file(text, name):
    """The sha256 for `name` in a `sha256sum` style file (the release's sha256sum-<arch>.txt)."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name:
            digest = parts[0].lower()
            if re.fullmatch(r"[0-9a-f]{64}", digest):
                return digest
    raise K3sConfigError("no sha256 for %r in the checksum file" % name)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")]
    return [value] if value != "" else []


def labels_to_list(labels):
    """{'a': 'b'} -> ['a=b'] (sorted, so the rendered config is stable)."""
    if not labels:
        return []
    if not isinstance(labels, dict):
        raise K3sConfigError("k3s_node_labels must be a dict of label -> value, got %s" % type(labels).__name__)
    return ["%s=%s" % (k, v) for k, v in sorted(labels.items())]


MANAGED_LABELS_ANNOTATION = "homelab.platform/managed-labels"
MANAGED_TAINTS_ANNOTATION = "homelab.platform/managed-taints"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_taint(taint):
    """'key=value:Effect' or 'key:Effect' (K3s's node-taint form) -> a Node taint dict."""
    if not isinstance(taint, str) or ":" not in taint:
        raise K3sConfigError("taint %r is not of the form key[=value]:Effect" % (taint,))
    head, effect = taint.rsplit(":", 1)
    key, _sep, value = head.partition("=")
    if not key or effect not in TAINT_EFFECTS:
        raise K3sConfigError("taint %r: expected key[=value]:Effect with Effect one of %s" % (taint, ", ".join(TAINT_EFFECTS)))
    return dict({"key": key, "effect": effect}, **({"value": value} if value else {}))


def _taint_id(taint):
    return "%s:%s" % (taint["key"], taint["effect"])


def _taint_fields(taint):
    """What makes two taints the same (the API adds timeAdded to some)."""
    return (taint["key"], taint.get("value") or "", taint["effect"])


def node_metadata_patch(node, labels, taints):
    """The JSON merge patch that makes a Node carry the inventory's labels and taints, or None when it does.

    K3s applies node-label/node-taint only when a node registers; this reconciles them on every run.
    What the inventory set before is remembered in two annotations, so a label or taint removed from
    the inventory is removed from the Node, while labels and taints others set (K3s, the NVIDIA
    device plugin, a cordon) are left alone."""
    labels = {k: str(v) for k, v in (labels or {}).items()}
    wanted = [parse_taint(t) for t in (taints or [])]
    metadata = node.get("metadata") or {}
    current_labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    before_labels = [k for k in (annotations.get(MANAGED_LABELS_ANNOTATION) or "").split(",") if k]
    before_taints = [t for t in (annotations.get(MANAGED_TAINTS_ANNOTATION) or "").split(",") if t]

    label_patch = {k: v for k, v in labels.items() if current_labels.get(k) != v}
    label_patch.update({k: None for k in before_labels if k not in labels and k in current_labels})

    wanted_ids = [_taint_id(t) for t in wanted]
    current_taints = (node.get("spec") or {}).get("taints") or []
    kept = [t for t in current_taints if _taint_id(t) not in wanted_ids and _taint_id(t) not in before_taints]
    new_taints = kept + wanted
    annotation_patch = {}
    for key, value in ((MANAGED_LABELS_ANNOTATION, ",".join(sorted(labels))),
                       (MANAGED_TAINTS_ANNOTATION, ",".join(sorted(wanted_ids)))):
        if annotations.get(key, "") != value:
            annotation_patch[key] = value or None
    patch = {}
    if label_patch or annotation_patch:
        patch["metadata"] = {}
        if label_patch:
            patch["metadata"]["labels"] = label_patch
        if annotation_patch:
            patch["metadata"]["annotations"] = annotation_patch
    if sorted(map(_taint_fields, current_taints)) != sorted(map(_taint_fields, new_taints)):
        patch["spec"] = {"taints": new_taints}
    return patch or None


def merged(target, patch):
    """`target` with the JSON merge patch (RFC 7386) `patch` applied, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merged(result.get(key), value)
    return result


def _metadata_view(node):
    """The part of a Node the reconcile changes, for a diff: its labels and taints."""
    return {"labels": dict((node.get("metadata") or {}).get("labels") or {}),
            "taints": sorted("%s=%s:%s" % _taint_fields(t) for t in (node.get("spec") or {}).get("taints") or [])}


def reconcile_node(api, name, labels, taints, check_mode=False, timeout=0, delay=5, clock=time.monotonic,
                   sleep=time.sleep):
    """Give Node `name` the inventory's labels and taints (node_metadata_patch) through `api`, anything with
    k8s_apply's request(method, path, body, content_type=...); waits up to `timeout` seconds for a node that just
    started to register. Check mode reads and sends nothing. Returns {changed, patch, diff}."""
    path = "/api/v1/nodes/" + quote(name, safe="")
    deadline = clock() + timeout
    while True:
        try:
            node = api.request("GET", path)
        except K8sError:  # an API server that is still starting (refused, 5xx): asked again until the deadline
            if clock() >= deadline:
                raise
            node = None
        if node is not None or clock() >= deadline:
            break
        sleep(delay)
    if node is None:
        raise K3sConfigError("the Node %s is not registered%s: is K3s running on that host, and is k3s_node_name the "
                             "name it registers?" % (name, " after %ds" % timeout if timeout else ""))
    patch = node_metadata_patch(node, labels, taints)
    after = node
    if patch is not None:
        after = merged(node, patch) if check_mode else api.request(
            "PATCH", path, patch, content_type="application/merge-patch+json")
    return {"changed": patch is not None, "patch": patch,
            "diff": {"before": _metadata_view(node), "after": _metadata_view(after)}}


# What K3s fixes when the cluster is created (k3s-io/k3s pkg/daemons/config/types.go CriticalControlArgs: servers
# refuse to join with a "critical configuration" mismatch), with K3s's defaults (pkg/cli/cmds/server.go; cluster-dns
# is the service range's 10th address when unset, pkg/cli/server/server.go). These four are data in the cluster
# itself (Nodes' podCIDR, every Service's clusterIP, CoreDNS's address in every kubelet and pod): changing them on a
# running cluster needs a new cluster and a restore.
IMMUTABLE_KEYS = ("cluster-cidr", "service-cidr", "cluster-dns", "cluster-domain")
IMMUTABLE_DEFAULTS = {"cluster-cidr": "10.42.0.0/16", "service-cidr": "10.43.0.0/16", "cluster-domain": "cluster.local"}


def _effective(config):
    """The immutable settings a config.yaml dict gives K3s, normalised (CIDRs and addresses as ipaddress writes
    them, dual-stack lists in order)."""
    import ipaddress

    def items(key):
        value = config.get(key)
        if value in (None, "", []):
            value = IMMUTABLE_DEFAULTS.get(key)
        if value is None:
            return None
        return [part.strip() for item in _as_list(value) for part in str(item).split(",") if part.strip()]

    found = {}
    for key in ("cluster-cidr", "service-cidr"):
        try:
            found[key] = [str(ipaddress.ip_network(cidr, strict=False)) for cidr in items(key)]
        except ValueError as exc:
            raise K3sConfigError("%s: %s" % (key, exc)) from exc
    dns = items("cluster-dns")
    try:
        found["cluster-dns"] = [str(ipaddress.ip_address(ip)) for ip in dns] if dns else [
            str(ipaddress.ip_network(cidr)[10]) for cidr in found["service-cidr"]]
    except (ValueError, IndexError) as exc:
        raise K3sConfigError("cluster-dns: %s" % exc) from exc
    found["cluster-domain"] = items("cluster-domain")
    return found


def critical_changes(current, wanted):
    """The settings K3s fixes at cluster creation that `wanted` (the config.yaml about to be written) changes from
    `current` (the one the running server has), as "key: old -> new" lines; empty when none changes."""
    if not isinstance(current, dict) or not isinstance(wanted, dict):
        raise K3sConfigError("critical_changes compares two config.yaml dicts")
    before, after = _effective(current), _effective(wanted)
    return ["%s: %s -> %s" % (key, ",".join(before[key]), ",".join(after[key]))
            for key in IMMUTABLE_KEYS if before[key] != after[key]]


def build_config(managed, user=None, extra_lists=None):
    """Merge the roles' managed settings with a user's config dict.

    managed: keys the role computed (None/'' values are dropped).
    user: the user's dict (k3s_server_config / k3s_agent_config); managed keys are refused.
    extra_lists: list-valued keys whose user items are appended to the managed ones
                 (e.g. tls-san), deduplicated, order kept.
    """
    user = user or {}
    if not isinstance(user, dict):
        raise K3sConfigError("the K3s config must be a dict of config.yaml keys, got %s" % type(user).__name__)
    refused = sorted(k for k in user if k.replace("_", "-") in MANAGED_KEYS)
    if refused:
        raise K3sConfigError(
            "these keys are managed by the roles and may not be set in the config dict: "
            + "; ".join("%s (set %s)" % (k, MANAGED_KEYS[k.replace("_", "-")]) for k in refused)
        )
    bad = sorted(str(k) for k in user if not isinstance(k, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", k))
    if bad:
        raise K3sConfigError(
            "config keys must be K3s flag names without dashes in front, in lower case (e.g. 'disable', "
            "'kube-apiserver-arg'): %s" % ", ".join(bad)
        )
    config = {}
    for key, value in managed.items():
        if value is None or value == "" or value == []:
            continue
        config[key] = int(value) if key in INT_KEYS and str(value).isdigit() else value
    extra_lists = set(extra_lists or ())
    for key, value in user.items():
        if key in extra_lists and key in config:
            merged = []
            for item in _as_list(config[key]) + _as_list(value):
                if item not in merged:
                    merged.append(item)
            config[key] = merged
        else:
            config[key] = value
    return dict(sorted(config.items()))
