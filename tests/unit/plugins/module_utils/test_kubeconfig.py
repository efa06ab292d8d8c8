import os

import pytest
import yaml

from ansible_collections.homelab.platform.plugins.module_utils import kubeconfig as core

with open(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "k3s", "k3s.yaml"), encoding="utf-8") as handle:
    K3S_YAML = handle.read()

EXISTING = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "work", "cluster": {"server": "https://work.example:6443"}}],
    "users": [{"name": "work", "user": {"token": "abc"}}],
    "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
    "current-context": "work",
}


def k3s():
    return yaml.safe_load(K3S_YAML)


def test_rename_points_everything_at_new_name_and_server():
    doc = core.rename(k3s(), "homelab", "https://100.84.89.67:6443")
    assert doc["clusters"][0] == {
        "name": "homelab",
        "cluster": {"certificate-authority-data": "Q0EK", "server": "https://100.84.89.67:6443"},
    }
    assert doc["contexts"][0] == {"name": "homelab", "context": {"cluster": "homelab", "user": "homelab"}}
    assert doc["users"][0]["name"] == "homelab"
    assert doc["current-context"] == "homelab"


def test_rename_does_not_mutate_input():
    src = k3s()
    core.rename(src, "homelab", "https://h:6443")
    assert src["clusters"][0]["name"] == "default"


@pytest.mark.parametrize("server", ["http://h:6443", "", None])
def test_rename_requires_https(server):
    with pytest.raises(core.KubeconfigError, match="https://"):
        core.rename(k3s(), "homelab", server)


def test_rename_rejects_multi_entry():
    doc = k3s()
    doc["clusters"].append(doc["clusters"][0])
    with pytest.raises(core.KubeconfigError, match="exactly one entry in 'clusters'"):
        core.rename(doc, "homelab", "https://h:6443")


def test_merge_keeps_other_contexts():
    new = core.rename(k3s(), "homelab", "https://h:6443")
    merged = core.merge(EXISTING, new)
    assert [c["name"] for c in merged["contexts"]] == ["work", "homelab"]
    assert [u["name"] for u in merged["users"]] == ["work", "homelab"]
    assert merged["users"][0] == EXISTING["users"][0]
    assert merged["current-context"] == "homelab"


def test_merge_without_set_current_keeps_users_choice():
    new = core.rename(k3s(), "homelab", "https://h:6443")
    assert core.merge(EXISTING, new, set_current=False)["current-context"] == "work"
    assert core.merge(None, new, set_current=False)["current-context"] == "homelab"


def test_merge_replaces_same_name_in_place_and_is_stable():
    first = core.merge(EXISTING, core.rename(k3s(), "homelab", "https://old:6443"))
    second = core.merge(first, core.rename(k3s(), "homelab", "https://new:6443"))
    assert [c["name"] for c in second["clusters"]] == ["work", "homelab"]
    assert second["clusters"][1]["cluster"]["server"] == "https://new:6443"
    assert core.merge(second, core.rename(k3s(), "homelab", "https://new:6443")) == second


def test_merge_refuses_non_mapping():
    with pytest.raises(core.KubeconfigError, match="refusing to overwrite"):
        core.merge(["not", "a", "mapping"], core.rename(k3s(), "homelab", "https://h:6443"))


def test_summary_has_no_credentials():
    text = repr(core.summary(core.merge(EXISTING, core.rename(k3s(), "homelab", "https://h:6443"))))
    for secret in ("S0VZCg==", "Q0VSVAo=", "abc", "Q0EK"):
        assert secret not in text
