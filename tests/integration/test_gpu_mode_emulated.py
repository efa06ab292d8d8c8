"""gpu-mode core against an emulated Kubernetes API (kmock) with the real `kubernetes` client.

FakeKubelet (tests/integration/support/kube.py) plays the Deployment controller
and kubelet: Recreate strategy, pods Terminating for a while, Ready after a delay.
"""

import time

import pytest
from support.kube import FakeKubelet

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core


def mode_deployment(mode, model, vram=8192):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "vllm-server", "namespace": "ml",
            "labels": {"app": "vllm-server", "gpu-mode": mode},
            "annotations": {core.VRAM_ANNOTATION: str(vram)},
        },
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": "vllm-server"}},
            "template": {
                "metadata": {"labels": {"app": "vllm-server", "gpu-mode": mode}},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "args": ["--model", model]}]},
            },
        },
    }


MODES = {
    "ml": mode_deployment("ml", "Qwen/Qwen2.5-7B-Instruct-AWQ", 8192),
    "r1": mode_deployment("r1", "casperhansen/deepseek-r1-distill-qwen-7b-awq", 8704),
}


@pytest.fixture
def api(cluster):
    client = cluster.api_client()
    apps = core.KubernetesApi(client)
    # A fresh namespace state per test: remove what earlier tests left.
    try:
        apps._apps.delete_namespaced_deployment("vllm-server", "ml")
    except Exception:
        pass
    for pod in apps._core.list_namespaced_pod("ml").items:
        apps._core.patch_namespaced_pod(pod.metadata.name, "ml", {"metadata": {"finalizers": []}},
                                        _content_type="application/merge-patch+json")
        try:
            apps._core.delete_namespaced_pod(pod.metadata.name, "ml")
        except Exception:
            pass
    return apps


def switch(api, mode, **kw):
    kw.setdefault("timeout", 20)
    return core.switch(api, mode, MODES, **kw)


def labels(api):
    return api.get_deployment("ml", "vllm-server")["metadata"]["labels"]


def test_transitions_and_label_after_each_step(cluster, api):
    with FakeKubelet(cluster, ready_delay=0.3, terminate_delay=0.2) as kubelet:
        first = switch(api, "ml")
        assert first["changed"] and first["previous_mode"] == "absent" and first["mode"] == "ml"
        assert first["ready_replicas"] == 1 and labels(api)["gpu-mode"] == "ml"

        to_r1 = switch(api, "r1")
        assert (to_r1["previous_mode"], to_r1["mode"], to_r1["ready_replicas"]) == ("ml", "r1", 1)
        assert labels(api)["gpu-mode"] == "r1"
        assert [p["mode"] for p in to_r1["pods"]] == ["r1"]

        gaming = switch(api, "gaming")
        assert (gaming["previous_mode"], gaming["mode"], gaming["replicas"], gaming["ready_replicas"]) == ("r1", "gaming", 0, 0)
        assert api.list_pods("ml")[0] == []
        assert core.state_of(api.get_deployment("ml", "vllm-server"))["mode"] == "gaming"

        back = switch(api, "ml")
        assert (back["previous_mode"], back["mode"], back["ready_replicas"]) == ("gaming", "ml", 1)
        assert labels(api)["gpu-mode"] == "ml"

        # Recreate: every earlier pod was deleted before a later one was created.
        deleted = dict((name, t) for t, name in kubelet.events("deleted"))
        created = kubelet.events("created")
        assert len(created) == 3  # ml, r1, ml again
        for i, (t_new, _new) in enumerate(created):
            for _t_old, old in created[:i]:
                assert deleted[old] < t_new


def test_idempotent_repeat_changes_nothing(cluster, api):
    with FakeKubelet(cluster) as kubelet:
        switch(api, "ml")
        before = len(kubelet.timeline)
        again = switch(api, "ml")
        assert again["changed"] is False and again["mode"] == "ml" and again["ready_replicas"] == 1
        switch(api, "gaming")
        assert switch(api, "gaming")["changed"] is False
        assert len([e for e in kubelet.timeline[before:] if e[1] == "created"]) == 0


def writes_since(cluster, seen):
    """Write requests the emulator received after the first `seen` requests."""
    return [(str(r.method), str(r.url.path)) for r in list(cluster.emulator)[seen:]
            if str(r.method).upper().endswith(("POST", "PUT", "PATCH", "DELETE"))]


def test_check_mode_reports_without_changing(cluster, api):
    with FakeKubelet(cluster):
        switch(api, "ml")
    # The kubelet has stopped: any write from here on would be the check-mode switch's.
    seen = len(list(cluster.emulator))
    preview = switch(api, "gaming", check_mode=True)
    assert preview["changed"] is True
    assert preview["diff"] == {"before": {"mode": "ml", "replicas": 1}, "after": {"mode": "gaming", "replicas": 0}}
    assert preview["ready_replicas"] == 1 and [p["mode"] for p in preview["pods"]] == ["ml"]
    assert writes_since(cluster, seen) == []
    assert core.state_of(api.get_deployment("ml", "vllm-server"))["mode"] == "ml"


def test_status_reads_only(cluster, api):
    with FakeKubelet(cluster):
        switch(api, "r1")
        status = core.switch(api, "status", {})
        assert status["changed"] is False and status["mode"] == "r1" and status["ready_replicas"] == 1


def test_timeout_when_a_pod_never_becomes_ready(cluster, api):
    with FakeKubelet(cluster, never_ready={"r1"}):
        switch(api, "ml")
        started = time.monotonic()
        with pytest.raises(core.GpuModeTimeout) as err:
            switch(api, "r1", timeout=2)
        # Not before the deadline; the upper bound only catches a wait that never ends (a loaded
        # machine may be slow to report, so it is generous).
        assert time.monotonic() - started >= 2
        assert time.monotonic() - started < 60
        assert "timed out after 2s waiting for 1 Ready pod(s) of mode r1" in str(err.value)
        assert "Pending" in str(err.value)
        assert err.value.exit_code == core.EXIT_TIMEOUT
        # The label tells the truth: the r1 Deployment is applied, not Ready.
        state = core.state_of(api.get_deployment("ml", "vllm-server"))
        assert state["label"] == "r1" and state["ready_replicas"] == 0


def test_unknown_mode(cluster, api):
    with pytest.raises(core.GpuModeError, match="unknown mode 'turbo': known modes are gaming, ml, r1, status"):
        switch(api, "turbo")


def test_missing_deployment(cluster, api):
    with pytest.raises(core.GpuModeError, match="Deployment ml/vllm-server not found"):
        core.switch(api, "status", {})
    with pytest.raises(core.GpuModeError, match="Deployment not found: nothing runs vLLM"):
        switch(api, "gaming")


def test_api_refusing_connections():
    import kubernetes

    config = kubernetes.client.Configuration()
    config.host = "http://127.0.0.1:9"  # discard port: nothing listens
    config.retries = 0
    dead = core.KubernetesApi(kubernetes.client.ApiClient(config))
    with pytest.raises(core.GpuModeError) as err:
        core.switch(dead, "status", {})
    assert "cannot reach the Kubernetes API at http://127.0.0.1:9" in str(err.value)
    assert err.value.exit_code == core.EXIT_API
