import copy

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import gpu_mode as core


def deployment(mode="ml", replicas=1, ready=1, vram=8192):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm-server", "namespace": "ml", "labels": {"app": "vllm-server", "gpu-mode": mode},
                     "annotations": {core.VRAM_ANNOTATION: str(vram)}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "vllm-server"}},
                 "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"labels": {"app": "vllm-server", "gpu-mode": mode}},
                              "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2"}]}}},
        "status": {"readyReplicas": ready},
    }


MODES = {"ml": deployment("ml"), "r1": deployment("r1", vram=8704)}
for body in MODES.values():
    body.pop("status")


def live(mode="ml", replicas=1, ready=1):
    """As the API returns it: with defaults the server added."""
    d = deployment(mode, replicas, ready)
    d["metadata"]["uid"] = "1234"
    d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    d["spec"]["revisionHistoryLimit"] = 10
    return d


def test_state_of():
    assert core.state_of(None) == {"mode": "absent", "label": None, "replicas": 0, "ready_replicas": 0, "exists": False}
    assert core.state_of(live("r1"))["mode"] == "r1"
    state = core.state_of(live("ml", replicas=0, ready=0))
    assert state["mode"] == "gaming" and state["label"] == "ml"


def test_plan_already_in_mode_is_none_despite_server_defaults():
    assert core.plan(live("ml"), "ml", MODES)["action"] == "none"
    assert core.plan(live("ml", replicas=0, ready=0), "gaming", MODES)["action"] == "none"


def test_plan_switches():
    assert core.plan(live("ml"), "r1", MODES)["action"] == "apply"
    assert core.plan(live("ml", replicas=0, ready=0), "ml", MODES)["action"] == "apply"
    scale = core.plan(live("r1"), "gaming", MODES)
    assert scale["action"] == "scale" and scale["body"] == {"spec": {"replicas": 0}}
    assert core.plan(None, "ml", MODES)["action"] == "apply"


def test_plan_drift_is_a_change():
    drifted = live("ml")
    drifted["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai:latest"
    assert core.plan(drifted, "ml", MODES)["action"] == "apply"


def test_plan_unknown_mode_lists_known():
    with pytest.raises(core.GpuModeError, match="unknown mode 'turbo': known modes are gaming, ml, r1, status") as err:
        core.plan(live(), "turbo", MODES)
    assert err.value.exit_code == core.EXIT_USAGE


def test_modes_are_data_a_new_mode_needs_no_code():
    modes = dict(MODES, coder=deployment("coder", vram=6000))
    modes["coder"].pop("status")
    core.validate_modes(modes, "vllm-server", "ml")
    assert core.plan(live("ml"), "coder", modes)["after"]["mode"] == "coder"


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b["metadata"].update(name="other"), "Deployment is named 'other', expected 'vllm-server'"),
    (lambda b: b["metadata"]["labels"].update({"gpu-mode": "r1"}), "metadata.labels.gpu-mode must be 'ml'"),
    (lambda b: b["spec"]["template"]["metadata"]["labels"].pop("gpu-mode"), "spec.template.metadata.labels.gpu-mode must be 'ml'"),
    (lambda b: b.update(kind="StatefulSet"), "expected a Deployment definition"),
    (lambda b: b["spec"].update(replicas=0), "a serving mode needs replicas >= 1"),
    (lambda b: b["metadata"].update(namespace="default"), "in namespace 'default', expected 'ml'"),
])
def test_validate_modes(mutate, message):
    modes = copy.deepcopy(MODES)
    mutate(modes["ml"])
    with pytest.raises(core.GpuModeError, match=message):
        core.validate_modes(modes, "vllm-server", "ml")


def test_builtin_modes_cannot_be_redefined():
    with pytest.raises(core.GpuModeError, match="'gaming' is built in"):
        core.validate_modes({"gaming": MODES["ml"]}, "vllm-server", "ml")


# nvidia-smi facts as homelab.platform.nvidia_gpu_facts reports them (RTX 3060 12 GB)
RTX3060 = {"memory_total_mib": 12288, "memory_used_mib": 9100, "processes": []}


def test_vram_fits_when_vllm_holds_the_memory():
    gpu = dict(RTX3060, processes=[{"pid": 4242, "name": "VLLM::EngineCore", "used_memory_mib": 8900}])
    assert core.vram_check(MODES["r1"], gpu, "ml") == {"need_mib": 8704, "free_mib": 12288}


def test_vram_refused_while_a_game_holds_it():
    gpu = dict(RTX3060, processes=[{"pid": 7001, "name": "factorio", "used_memory_mib": 5200}])
    with pytest.raises(core.GpuModeError, match=r"needs 8704 MiB, 7088 of 12288 MiB are free \(held by factorio \(pid 7001, 5200 MiB\)\)") as err:
        core.vram_check(MODES["r1"], gpu, "gaming")
    assert err.value.exit_code == core.EXIT_VRAM


def test_vram_without_process_list_uses_used_memory_in_gaming():
    with pytest.raises(core.GpuModeError, match="needs 8192 MiB, 3188 of 12288"):
        core.vram_check(MODES["ml"], RTX3060, "gaming")
    assert core.vram_check(MODES["ml"], None, "gaming") is None


def pod(name, mode, ready=False, terminating=False, phase="Running"):
    meta = {"name": name, "labels": {"app": "vllm-server", "gpu-mode": mode}}
    if terminating:
        meta["deletionTimestamp"] = "2026-11-23T09:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_goal_reached():
    assert core.goal_reached({}, "gaming", 0)
    assert not core.goal_reached({"a": pod("a", "ml", terminating=True)}, "gaming", 0)
    assert core.goal_reached({"b": pod("b", "r1", ready=True)}, "r1", 1)
    assert not core.goal_reached({"a": pod("a", "ml", ready=True, terminating=True), "b": pod("b", "r1", ready=True)}, "r1", 1)
    assert not core.goal_reached({"b": pod("b", "r1", ready=False)}, "r1", 1)


class ScriptedApi:
    """Test stand-in for KubernetesApi: a list result, then scripted watch events."""

    def __init__(self, pods, events, resource_version="100"):
        self.pods = pods
        self.events = list(events)
        self.resource_version = resource_version
        self.watch_calls = []

    def list_pods(self, namespace):
        return list(self.pods), self.resource_version

    def watch_pods(self, namespace, timeout, resource_version=None):
        self.watch_calls.append((timeout, resource_version))
        while self.events:
            yield self.events.pop(0)

    def pod_events(self, namespace, name):
        return ["FailedScheduling: 0/5 nodes are available: 1 Insufficient nvidia.com/gpu."]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.25
        return self.now


def test_wait_returns_on_the_event_that_reaches_the_goal():
    api = ScriptedApi([pod("old", "ml", ready=True)], [
        ("MODIFIED", pod("old", "ml", terminating=True)),
        ("DELETED", pod("old", "ml", terminating=True)),
        ("ADDED", pod("new", "r1", phase="Pending")),
        ("MODIFIED", pod("new", "r1", ready=True)),
        ("MODIFIED", pod("never-read", "r1")),
    ])
    seen = []
    elapsed, pods = core.wait_for(api, "ml", {"app": "vllm-server"}, "r1", 1, 60,
                                  progress=lambda t, p: seen.append(len(p)), clock=FakeClock())
    assert [p["name"] for p in pods] == ["new"] and pods[0]["ready"]
    assert api.events == [("MODIFIED", pod("never-read", "r1"))]
    assert api.watch_calls[0][1] == "100"  # watched from the list's resourceVersion
    assert seen == [1, 0, 1, 1]


def test_wait_timeout_reports_phases_and_events():
    api = ScriptedApi([pod("new", "r1", phase="Pending")], [])
    with pytest.raises(core.GpuModeTimeout) as err:
        core.wait_for(api, "ml", {"app": "vllm-server"}, "r1", 1, 5, clock=FakeClock())
    text = str(err.value)
    assert "timed out after 5s waiting for 1 Ready pod(s) of mode r1; saw: new Pending" in text
    assert "Insufficient nvidia.com/gpu" in text
    assert err.value.details["pods"][0]["phase"] == "Pending"


def test_wait_without_resource_versions_relists_in_slices():
    api = ScriptedApi([pod("old", "ml", terminating=True)], [], resource_version="...")
    with pytest.raises(core.GpuModeTimeout):
        core.wait_for(api, "ml", {"app": "vllm-server"}, "gaming", 0, 12, clock=FakeClock(), slice_seconds=5)
    assert len(api.watch_calls) >= 2 and all(rv is None and t <= 5 for t, rv in api.watch_calls)


def test_is_subset():
    assert core.is_subset({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2, "c": 3}], "d": 4})
    assert not core.is_subset({"a": [1]}, {"a": [1, 2]})
    assert core.is_subset({"replicas": 1}, {"replicas": "1"}) and not core.is_subset({"x": True}, {"x": "True"})


class DeploymentApi(ScriptedApi):
    """ScriptedApi with one Deployment whose status lags behind its pods (as a controller's does)."""

    def __init__(self, deployment, pods):
        super().__init__(pods, [])
        self.deployment = deployment

    def get_deployment(self, namespace, name):
        return copy.deepcopy(self.deployment)


@pytest.mark.parametrize("mode,check_mode", [("ml", False), ("status", False), ("r1", True)])
def test_readiness_is_read_from_pods_not_the_lagging_deployment_status(mode, check_mode):
    # The pod is Ready, the Deployment's status still says 0 (the controller has not caught up).
    api = DeploymentApi(live("ml", ready=0), [pod("vllm-1", "ml", ready=True), pod("other", "ml", ready=True) | {
        "metadata": {"name": "other", "labels": {"app": "someone-else"}}}])
    result = core.switch(api, mode, MODES if mode != "status" else {}, check_mode=check_mode)
    assert result["ready_replicas"] == 1
    assert [p["name"] for p in result["pods"]] == ["vllm-1"]
    assert result["changed"] is (mode == "r1")


def _vllm(command=None, args=None):
    container = {"name": "vllm"}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


@pytest.mark.parametrize("deployment, names", [
    (_vllm(args=["--model", "/models/qwen", "--served-model-name", "Qwen/A", "qwen", "--port", "8000"]), ["Qwen/A", "qwen"]),
    (_vllm(args=["--model=Qwen/A", "--max-model-len", "8192"]), ["Qwen/A"]),
    (_vllm(args=["--served-model-name=x", "--model", "Qwen/A"]), ["x"]),
    (_vllm(command=["vllm", "serve", "Qwen/A"], args=["--port", "8000"]), ["Qwen/A"]),
    (_vllm(args=["--port", "8000"]), []),
    (None, []),
])
def test_served_models_are_what_vllm_answers_to(deployment, names):
    assert core.served_models(deployment) == names


class _Rest:
    """k8s_apply's request(method, path): what DirectApi answers (None for a 404 on a GET)."""

    def __init__(self, objects, refusal=None):
        self.objects, self.refusal, self.paths = objects, refusal, []

    def request(self, method, path):
        self.paths.append((method, path))
        if self.refusal:
            raise self.refusal
        return self.objects.get(path)


def test_status_over_the_read_api_reads_the_deployment_and_its_pods():
    pod = {"metadata": {"name": "vllm-server-1", "labels": {"app": "vllm-server", "gpu-mode": "ml"}},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    rest = _Rest({"/apis/apps/v1/namespaces/ml/deployments/vllm-server": live("ml"),
                  "/api/v1/namespaces/ml/pods": {"items": [pod], "metadata": {"resourceVersion": "7"}}})
    result = core.switch(core.ReadApi(rest), core.STATUS, {})
    assert (result["mode"], result["ready_replicas"], result["changed"]) == ("ml", 1, False)
    assert [p["name"] for p in result["pods"]] == ["vllm-server-1"]
    assert all(method == "GET" for method, _path in rest.paths)
    with pytest.raises(core.GpuModeError, match="Deployment ml/vllm-server not found"):
        core.switch(core.ReadApi(_Rest({})), core.STATUS, {})


def test_the_read_api_names_what_it_tried_when_the_api_refuses_or_is_away():
    from ansible_collections.homelab.platform.plugins.module_utils.k8s_apply import ApiError
    from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError

    with pytest.raises(core.GpuModeError, match="Kubernetes API refused to read the Deployment: 403 Forbidden") as error:
        core.switch(core.ReadApi(_Rest({}, ApiError(403, "Forbidden", "no"))), core.STATUS, {})
    assert error.value.exit_code == core.EXIT_API and error.value.details["status"] == 403
    away = K8sError("cannot reach the Kubernetes API at https://100.64.0.11:6443: refused", {"host": "https://100.64.0.11:6443"})
    with pytest.raises(core.GpuModeError, match="^cannot reach the Kubernetes API at https://100.64.0.11:6443"):
        core.switch(core.ReadApi(_Rest({}, away)), core.STATUS, {})
