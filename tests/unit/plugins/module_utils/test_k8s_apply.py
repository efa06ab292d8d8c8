"""k8s_apply: one call applies a role's objects; create, leave alone, patch, wait on an API, retry a webhook."""

import base64
import copy
import json

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import k8s_apply as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError

SERVED = {
    "v1": {"Namespace": ("namespaces", False), "Secret": ("secrets", True), "ConfigMap": ("configmaps", True)},
    "apps/v1": {"Deployment": ("deployments", True)},
    "helm.cattle.io/v1": {"HelmChart": ("helmcharts", True)},
}


def merged(target, patch):
    result = copy.deepcopy(target)
    for key, value in patch.items():
        result[key] = merged(result.get(key) or {}, value) if isinstance(value, dict) else copy.deepcopy(value)
    return result


class FakeApi:
    """An API server in a dict: discovery from `served`, objects by path, a merge for every patch type except
    strategic on custom resources (415, as the real server answers). `refusals` pops an ApiError per write."""

    host = "https://fake:6443"

    def __init__(self, served=None, defaults=None):
        self.served = copy.deepcopy(SERVED if served is None else served)
        self.objects = {}
        self.requests = []
        self.refusals = []
        self.defaults = defaults or {}  # kind -> fields the server adds on create
        self.version = 0

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        self.requests.append((method, path, content_type, dict(query or {})))
        parts = path.split("/")
        if path.startswith("/api/") and len(parts) == 3 or path.startswith("/apis/") and len(parts) == 4:
            version = path.split("/", 2)[2]
            if version not in self.served:
                return None
            return {"resources": [{"kind": k, "name": p, "namespaced": n} for k, (p, n) in self.served[version].items()]}
        if method != "GET" and self.refusals:
            raise self.refusals.pop(0)
        if method == "GET":
            return copy.deepcopy(self.objects.get(path))
        dry = (query or {}).get("dryRun") == "All"
        if method == "POST":
            obj = as_stored(body, self.defaults)
            target = path + "/" + obj["metadata"]["name"]
        else:
            if content_type == core.STRATEGIC and "/apis/helm.cattle.io/" in path:
                raise core.ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
            target, obj = path, merged(self.objects[path], as_stored(body))
        if obj == self.objects.get(target):
            return copy.deepcopy(obj)
        if not dry:
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self.objects[target] = obj
        return copy.deepcopy(obj)

    def writes(self):
        return [r for r in self.requests if r[0] in ("POST", "PATCH")]


def as_stored(body, defaults=None):
    obj = core.as_stored(copy.deepcopy(body))
    return merged((defaults or {}).get(obj.get("kind"), {}), obj)


NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "apps"}, "data": {"a": "1"}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "apps"},
          "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}
CHART = {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {"name": "c", "namespace": "kube-system"},
         "spec": {"chart": "c", "version": "1.0"}}
OTHER_CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "apps"}, "data": {"b": "2"}}
SECRET = {"name": "app-secrets", "namespace": "apps", "labels": {"app": "app"}, "string_data": {"PASSWORD": "hunter2-xyz"}}


def test_creates_what_is_missing_namespaces_then_secrets_then_the_rest_in_order():
    api = FakeApi()
    result = core.apply(api, [CM, NS, DEPLOY], [SECRET])
    assert result["changed"]
    assert [(r["kind"], r["action"]) for r in result["objects"]] == [
        ("Namespace", "created"), ("Secret", "created"), ("ConfigMap", "created"), ("Deployment", "created")]
    assert [w[1] for w in api.writes()] == ["/api/v1/namespaces", "/api/v1/namespaces/apps/secrets",
                                            "/api/v1/namespaces/apps/configmaps", "/apis/apps/v1/namespaces/apps/deployments"]
    stored = api.objects["/api/v1/namespaces/apps/secrets/app-secrets"]
    assert base64.b64decode(stored["data"]["PASSWORD"]) == b"hunter2-xyz"


def test_a_second_run_changes_nothing_and_writes_nothing():
    api = FakeApi(defaults={"Deployment": {"spec": {"progressDeadlineSeconds": 600}}})
    core.apply(api, [NS, CM, DEPLOY], [SECRET])
    api.requests.clear()
    again = core.apply(api, [NS, CM, DEPLOY], [SECRET])
    assert not again["changed"] and not again["diff"]
    assert {r["action"] for r in again["objects"]} == {"unchanged"}
    assert api.writes() == []  # the server's defaults and the Secret's base64 data compare as equal


def test_a_changed_field_is_patched_strategically_with_its_diff():
    api = FakeApi()
    core.apply(api, [CM, DEPLOY])
    changed = copy.deepcopy(DEPLOY)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    result = core.apply(api, [CM, changed])
    assert result["changed"] and [r["action"] for r in result["objects"]] == ["unchanged", "patched"]
    assert [(w[0], w[2]) for w in api.writes()][-1] == ("PATCH", core.STRATEGIC)
    diff = result["diff"][0]
    assert diff["before_header"] == "Deployment apps/app"
    assert diff["before"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"
    assert diff["after"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert "resourceVersion" not in diff["after"]["metadata"]


def test_a_patch_the_server_normalises_away_is_no_change():
    api = FakeApi()
    core.apply(api, [DEPLOY])
    normalised = copy.deepcopy(DEPLOY)
    normalised["spec"]["replicas"] = True  # not a subset of 1, yet storing it changes nothing here
    api.request = _normalising(api.request)
    result = core.apply(api, [normalised])
    assert not result["changed"] and result["objects"][0]["action"] == "unchanged"


def _normalising(request):
    def wrapped(method, path, body=None, query=None, content_type="application/json"):
        if method == "PATCH":
            body = copy.deepcopy(body)
            body["spec"]["replicas"] = 1
        return request(method, path, body, query, content_type)
    return wrapped


def test_a_custom_resource_takes_a_merge_patch_and_the_choice_is_remembered():
    api = FakeApi()
    core.apply(api, [CHART])
    v2 = merged(CHART, {"spec": {"version": "2.0"}})
    run = core.Applier(api)
    run.apply(v2)
    run.apply(merged(CHART, {"spec": {"version": "3.0"}}))
    patches = [w[2] for w in api.writes() if w[0] == "PATCH"]
    assert patches == [core.STRATEGIC, core.MERGE, core.MERGE]
    assert api.objects["/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/c"]["spec"]["version"] == "3.0"


def test_secret_values_never_leave_the_module():
    api = FakeApi()
    first = core.apply(api, [NS], [SECRET])
    rotated = dict(SECRET, string_data={"PASSWORD": "new-value-abc", "TOKEN": "tok-123-abc"})
    second = core.apply(api, [NS], [rotated])
    text = json.dumps([first, second])
    for value in ("hunter2-xyz", "new-value-abc", "tok-123-abc"):
        assert value not in text and base64.b64encode(value.encode()).decode() not in text
    secret_diff = second["diff"][0]
    assert secret_diff["before"]["data"] == {"PASSWORD": core.HIDDEN}
    assert secret_diff["after"]["data"] == {"PASSWORD": core.HIDDEN + " (changed)", "TOKEN": core.HIDDEN + " (changed)"}


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_an_awaited_api_is_polled_until_served():
    api, clock = FakeApi(), Clock()
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p", "namespace": "infra"}}
    calls = {"n": 0}
    original = api.request

    def chart_installs_the_crd_on_the_third_look(method, path, *args):
        if path == "/apis/metallb.io/v1beta1":
            calls["n"] += 1
            if calls["n"] == 3:
                api.served["metallb.io/v1beta1"] = {"IPAddressPool": ("ipaddresspools", True)}
        return original(method, path, *args)

    api.request = chart_installs_the_crd_on_the_third_look
    result = core.apply(api, [CHART, pool], await_apis=[{"api_version": "metallb.io/v1beta1", "kind": "IPAddressPool"}],
                        api_timeout=60, api_delay=5, clock=clock, sleep=clock.sleep)
    assert [r["action"] for r in result["objects"]] == ["created", "created"]
    assert clock.sleeps == [5, 5]


def test_an_awaited_api_never_served_fails_after_the_timeout_naming_it_and_what_was_applied():
    api, clock = FakeApi(), Clock()
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p", "namespace": "infra"}}
    with pytest.raises(K8sError) as err:
        core.apply(api, [CHART, pool], await_apis=[{"api_version": "metallb.io/v1beta1", "kind": "IPAddressPool"}],
                   api_timeout=20, api_delay=5, clock=clock, sleep=clock.sleep)
    assert "metallb.io/v1beta1 IPAddressPool not served after 20 s" in str(err.value)
    assert err.value.details["objects"][0]["action"] == "created" and err.value.details["changed"]
    assert sum(clock.sleeps) == 20


def test_an_api_nobody_awaits_fails_at_once():
    api, clock = FakeApi(), Clock()
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p", "namespace": "infra"}}
    with pytest.raises(K8sError, match="serves no IPAddressPool in metallb.io/v1beta1 .*is its CRD installed"):
        core.apply(api, [pool], clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_a_webhook_refusal_is_retried_and_any_other_refusal_fails_at_once_naming_the_object():
    api, clock = FakeApi(), Clock()
    webhook = core.ApiError(500, "InternalError", 'failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io"')
    api.refusals = [webhook, webhook]
    assert core.apply(api, [CM], clock=clock, sleep=clock.sleep)["changed"]
    assert clock.sleeps == [5, 5]
    api.refusals = [core.ApiError(422, "Invalid", "spec.replicas: must be >= 0")]
    with pytest.raises(K8sError, match="refused to apply Deployment apps/app: 422 Invalid: spec.replicas"):
        core.apply(api, [DEPLOY], clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [5, 5]


def test_a_webhook_that_keeps_refusing_fails_after_the_timeout():
    api, clock = FakeApi(), Clock()
    api.refusals = [core.ApiError(500, "InternalError", "failed calling webhook x")] * 10
    with pytest.raises(K8sError, match="still refused after 10 s"):
        core.apply(api, [CM], api_timeout=10, api_delay=5, clock=clock, sleep=clock.sleep)


def test_check_mode_sends_no_create_and_patches_as_a_dry_run():
    api = FakeApi()
    core.apply(api, [DEPLOY])
    before = copy.deepcopy(api.objects)
    api.requests.clear()
    changed = merged(DEPLOY, {"spec": {"replicas": 3}})
    result = core.apply(api, [CM, changed], check_mode=True)
    assert [r["action"] for r in result["objects"]] == ["created", "patched"]
    assert [(w[0], w[3]) for w in api.writes()] == [("PATCH", {"dryRun": "All"})]
    assert api.objects == before
    assert result["diff"][1]["after"]["spec"]["replicas"] == 3


def test_patches_touch_only_objects_that_exist():
    api = FakeApi()
    core.apply(api, [CM])
    result = core.apply(api, [], patches=[
        {"api_version": "v1", "kind": "ConfigMap", "name": "app", "namespace": "apps", "patch": {"data": {"b": "2"}}},
        {"api_version": "v1", "kind": "ConfigMap", "name": "gone", "namespace": "apps", "patch": {"data": {"b": "2"}}}])
    assert [r["action"] for r in result["objects"]] == ["patched", "absent"]
    assert api.objects["/api/v1/namespaces/apps/configmaps/app"]["data"] == {"a": "1", "b": "2"}
    again = [{"kind": "ConfigMap", "name": "app", "namespace": "apps", "patch": {"data": {"b": "2"}}}]
    assert not core.apply(api, [], patches=again)["changed"]
    api.refusals = [core.ApiError(422, "Invalid", "data: must be strings")]
    with pytest.raises(K8sError, match="refused to patch ConfigMap app: 422 Invalid: data: must be strings"):
        core.apply(api, [], patches=[{"kind": "ConfigMap", "name": "app", "namespace": "apps", "patch": {"data": {"c": 3}}}])


def test_bad_objects_get_a_clear_error():
    with pytest.raises(K8sError, match="needs apiVersion, kind and metadata.name"):
        core.apply(FakeApi(), [{"kind": "ConfigMap", "metadata": {"name": "x"}}])
    with pytest.raises(K8sError, match="ConfigMap x is namespaced: give metadata.namespace"):
        core.apply(FakeApi(), [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])


def test_manifests_are_parsed_and_applied_after_the_objects_in_order():
    api = FakeApi()
    texts = ["# a header\n" + json.dumps(CM) + "\n---\n" + json.dumps([DEPLOY]) + "\n---\n", json.dumps(OTHER_CM)]
    result = core.apply(api, [NS], [SECRET], manifests=texts)
    assert [(r["kind"], r["name"]) for r in result["objects"]] == [
        ("Namespace", "apps"), ("Secret", "app-secrets"), ("ConfigMap", "app"), ("Deployment", "app"), ("ConfigMap", "other")]
    again = core.apply(api, [NS], [SECRET], manifests=texts)
    assert not again["changed"] and api.objects["/api/v1/namespaces/apps/configmaps/other"]["data"] == {"b": "2"}


def test_a_manifest_that_is_not_yaml_fails_before_anything_is_applied():
    api = FakeApi()
    with pytest.raises(K8sError, match=r"manifests\[1\] is not valid YAML") as info:
        core.apply(api, [NS], manifests=[json.dumps(CM), "kind: [ConfigMap"])
    assert api.writes() == [] and info.value.details["objects"] == [] and not info.value.details["changed"]
    with pytest.raises(K8sError, match="an object to apply is not a mapping: 'just text'"):
        core.apply(api, [], manifests=["just text"])


def test_wait_returns_once_the_rollout_is_ready_and_names_what_is_not():
    api, clock = FakeApi(), Clock()
    path = "/apis/apps/v1/namespaces/apps/deployments/app"
    original_sleep = clock.sleep

    def kubelet(seconds):
        original_sleep(seconds)
        if clock.now >= 4:
            api.objects[path]["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                           "availableReplicas": 1}

    assert core.apply(api, [DEPLOY], wait=True, wait_timeout=30, clock=clock, sleep=kubelet)["changed"]
    assert clock.now == 4
    api.objects[path]["status"] = {}
    with pytest.raises(K8sError, match=r"not ready after 6 s: Deployment apps/app"):
        core.apply(api, [DEPLOY], wait=True, wait_timeout=6, clock=clock, sleep=clock.sleep)


class _Response:
    def __init__(self, status, body):
        self.status, self._body, self.data = status, body, None

    def read(self):
        self.data = self._body
        return self.data


class _Rest:
    def __init__(self, status, body, raises=False):
        self.status, self.body, self.raises, self.calls = status, body, raises, []

    def request(self, method, url, headers=None, body=None, _request_timeout=None):
        self.calls.append((method, url, headers, body))
        if self.raises:  # clients before 30 raise on a status outside 2xx
            from kubernetes.client.exceptions import ApiException

            exc = ApiException(status=self.status, reason="x")
            exc.body = self.body
            raise exc
        return _Response(self.status, self.body)


class _Configuration:
    host = "https://127.0.0.1:6443/"

    def auth_settings(self):
        return {"BearerToken": {"in": "header", "key": "authorization", "value": "Bearer t0ken"}}


class _Client:
    def __init__(self, rest):
        self.rest_client, self.configuration = rest, _Configuration()


@pytest.mark.parametrize("raises", [False, True])
def test_the_rest_layer_reads_answers_and_refusals_from_old_and_new_clients(raises):
    pytest.importorskip("kubernetes")
    rest = _Rest(200, b'{"kind": "ConfigMap"}')
    api = core.Api(_Client(rest))
    assert api.request("GET", "/api/v1/namespaces/a/configmaps/b", query={"dryRun": "All"}) == {"kind": "ConfigMap"}
    method, url, headers, _body = rest.calls[0]
    assert url == "https://127.0.0.1:6443/api/v1/namespaces/a/configmaps/b?dryRun=All"
    assert headers["authorization"] == "Bearer t0ken"
    missing = core.Api(_Client(_Rest(404, b'{"reason": "NotFound", "message": "not found"}', raises)))
    assert missing.request("GET", "/api/v1/namespaces/a/configmaps/b") is None
    refused = core.Api(_Client(_Rest(422, b'{"reason": "Invalid", "message": "bad field"}', raises)))
    with pytest.raises(core.ApiError, match="422 Invalid: bad field") as err:
        refused.request("POST", "/api/v1/namespaces/a/configmaps", {"kind": "ConfigMap"})
    assert err.value.status == 422


def test_check_mode_does_not_wait_for_an_api_the_chart_would_install():
    api, clock = FakeApi(), Clock()
    pool = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p", "namespace": "infra"}}
    result = core.apply(api, [CHART, pool], await_apis=[{"api_version": "metallb.io/v1beta1", "kind": "IPAddressPool"}],
                        check_mode=True, clock=clock, sleep=clock.sleep)
    assert [r["action"] for r in result["objects"]] == ["created", "created"] and clock.sleeps == []
    assert api.writes() == []


def test_a_status_written_by_a_controller_meanwhile_is_no_change():
    api = FakeApi()
    core.apply(api, [DEPLOY])
    path = "/apis/apps/v1/namespaces/apps/deployments/app"
    normalising = _normalising(api.request)

    def controller_writes_status_during_the_patch(method, request_path, *args):
        answer = normalising(method, request_path, *args)
        if method == "PATCH":
            answer = dict(answer, status={"replicas": 1, "readyReplicas": 1})
        return answer

    api.request = controller_writes_status_during_the_patch
    result = core.apply(api, [merged(DEPLOY, {"spec": {"replicas": 5}})])  # the server keeps 1 (see _normalising)
    assert [w[0] for w in api.writes()][-1] == "PATCH"
    assert result["objects"][0]["action"] == "unchanged"
    assert "status" not in api.objects[path]


def token_secret(**data):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "gpu-mode-switcher-token", "namespace": "ml"}, "data": data}


@pytest.mark.parametrize("path,value", [
    ("data.token", "dG9r"), ("data.ca.crt", "Y2E="), ("metadata.name", "gpu-mode-switcher-token"),
    ("data.missing", None), ("data.token.deeper", None), ("type.x", None)])
def test_a_dotted_field_and_a_key_with_dots(path, value):
    assert core.field(token_secret(token="dG9r", **{"ca.crt": "Y2E="}), path) == value


def test_get_object_reads_once_and_a_missing_object_is_none():
    api = FakeApi()
    api.objects["/api/v1/namespaces/ml/secrets/gpu-mode-switcher-token"] = token_secret(token="dG9r")
    assert core.get_object(api, "v1", "Secret", "gpu-mode-switcher-token", "ml")["data"] == {"token": "dG9r"}
    assert core.get_object(api, "v1", "Secret", "other", "ml") is None
    assert core.get_object(api, "v1", "Namespace", "ml") is None  # cluster-scoped: no namespace in the path
    assert api.requests[-1][1] == "/api/v1/namespaces/ml"
    with pytest.raises(K8sError, match="does not serve Gadget in v1"):
        core.get_object(api, "v1", "Gadget", "g")


def test_get_object_waits_until_the_fields_are_filled():
    api, clock = FakeApi(), Clock()
    path = "/api/v1/namespaces/ml/secrets/gpu-mode-switcher-token"
    original = api.request

    def token_controller_fills_it_on_the_third_read(method, target, *args):
        if target == path:
            reads = sum(1 for r in api.requests if r[1] == path)
            api.objects[path] = token_secret(**({"token": "dG9r", "ca.crt": "Y2E="} if reads >= 2 else {}))
        return original(method, target, *args)

    api.request = token_controller_fills_it_on_the_third_read
    obj = core.get_object(api, "v1", "Secret", "gpu-mode-switcher-token", "ml", ["data.token", "data.ca.crt"],
                          timeout=20, delay=2, clock=clock, sleep=clock.sleep)
    assert obj["data"]["token"] == "dG9r" and clock.sleeps == [2, 2]


def test_get_object_names_what_is_still_missing_after_the_timeout():
    api, clock = FakeApi(), Clock()
    with pytest.raises(K8sError, match="Secret ml/gpu-mode-switcher-token does not exist after 6s"):
        core.get_object(api, "v1", "Secret", "gpu-mode-switcher-token", "ml", ["data.token"], timeout=6, delay=2,
                        clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [2, 2, 2]
    api.objects["/api/v1/namespaces/ml/secrets/gpu-mode-switcher-token"] = token_secret(token="")
    with pytest.raises(K8sError, match="gpu-mode-switcher-token: data.token still empty after 6s"):
        core.get_object(api, "v1", "Secret", "gpu-mode-switcher-token", "ml", ["data.token"], timeout=6, delay=2,
                        clock=clock, sleep=clock.sleep)
