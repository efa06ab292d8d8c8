# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfig rewriting and merging (plain dicts, no Ansible imports)."""

from __future__ import annotations

import copy


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used; the message names the problem."""


def _single(doc, kind):
    items = doc.get(kind) or []
    if len(items) != 1:
        raise KubeconfigError("expected exactly one entry in '%s' of the K3s kubeconfig, found %d" % (kind, len(items)))
    return items[0]


def rename(doc, name, server):
    """Turn the K3s kubeconfig (cluster/user/context 'default', server 127.0.0.1)
    into one whose cluster, user and context are all called `name` and whose
    server URL is `server`."""
    if not isinstance(doc, dict):
        raise KubeconfigError("the K3s kubeconfig is not a YAML mapping")
    if not name:
        raise KubeconfigError("a context name is required")
    if not server or not str(server).startswith("https://"):
        raise KubeconfigError("the server URL must start with https:// (got %r)" % (server,))
    doc = copy.deepcopy(doc)
    cluster = _single(doc, "clusters")
    user = _single(doc, "users")
    context = _single(doc, "contexts")
    cluster["name"] = name
    cluster.setdefault("cluster", {})["server"] = server
    user["name"] = name
    context["name"] = name
    context.setdefault("context", {}).update({"cluster": name, "user": name})
    doc["current-context"] = name
    return doc


def _upsert(entries, new):
    out = [e for e in entries if e.get("name") != new.get("name")]
    for i, e in enumerate(entries):
        if e.get("name") == new.get("name"):
            out.insert(i, new)
            return out
    out.append(new)
    return out


def merge(existing, new, set_current=True):
    """Merge a single-context kubeconfig `new` into `existing` (a dict or None).

    Entries with the same names are replaced; all other clusters, users and
    contexts are kept. current-context moves to the new context only when
    set_current is true or the existing file had none.
    """
    result = copy.deepcopy(existing) if existing else {}
    if not isinstance(result, dict):
        raise KubeconfigError("the existing kubeconfig is not a YAML mapping; refusing to overwrite it")
    result.setdefault("apiVersion", "v1")
    result.setdefault("kind", "Config")
    result.setdefault("preferences", {})
    for kind in ("clusters", "users", "contexts"):
        entries = result.get(kind) or []
        for entry in new.get(kind) or []:
            entries = _upsert(entries, copy.deepcopy(entry))
        result[kind] = entries
    if set_current or not result.get("current-context"):
        result["current-context"] = new.get("current-context")
    return result


def summary(doc):
    """What a diff may show: names and servers, never credentials."""
    doc = doc or {}
    return {
        "current-context": doc.get("current-context"),
        "contexts": sorted(c.get("name") for c in doc.get("contexts") or []),
        "clusters": {c.get("name"): (c.get("cluster") or {}).get("server") for c in doc.get("clusters") or []},
    }
