"""k8s_client.merge_patch: a JSON merge patch with every client the collection meets (the nodes have Debian's)."""

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import k8s_client


class _ApiClient:
    def __init__(self):
        self.default_headers = {"User-Agent": "test"}

    def set_default_header(self, name, value):
        self.default_headers[name] = value


class _NewApi:
    """A client >= 24: the generated methods take _content_type."""

    def __init__(self):
        self.api_client = _ApiClient()
        self.calls = []

    def patch_namespaced_deployment(self, name, namespace, body, **kwargs):
        self.calls.append((name, namespace, body, kwargs, dict(self.api_client.default_headers)))
        return "patched"


class _OldApi(_NewApi):
    """Debian 12's python3-kubernetes 22.6: an unknown keyword is a TypeError, JSON patch is the default type."""

    def patch_namespaced_deployment(self, name, namespace, body, **kwargs):
        if kwargs:
            raise TypeError("Got an unexpected keyword argument '%s' to method patch_namespaced_deployment"
                            % next(iter(kwargs)))
        return super().patch_namespaced_deployment(name, namespace, body)


def test_merge_patch_names_its_content_type_on_new_clients():
    api = _NewApi()
    assert k8s_client.merge_patch(api.patch_namespaced_deployment, "vllm", "ml", {"spec": {"replicas": 0}}) == "patched"
    (_name, _ns, _body, kwargs, headers), = api.calls
    assert kwargs == {"_content_type": "application/merge-patch+json"} and "Content-Type" not in headers


def test_merge_patch_on_old_clients_sends_the_header_for_that_call_only():
    api = _OldApi()
    assert k8s_client.merge_patch(api.patch_namespaced_deployment, "vllm", "ml", {"spec": {"replicas": 0}}) == "patched"
    (_name, _ns, body, kwargs, headers), = api.calls
    assert kwargs == {} and body == {"spec": {"replicas": 0}}
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert api.api_client.default_headers == {"User-Agent": "test"}, "the next request is not a merge patch"


def test_merge_patch_keeps_other_type_errors():
    def broken(*_args, **_kwargs):
        raise TypeError("body must be a dict")

    with pytest.raises(TypeError, match="body must be a dict"):
        k8s_client.merge_patch(broken, "x", "y", [])


# k8s_client.call: the one place the client's failures become the collection's K8sError.

class _Config:
    host = "https://10.0.0.1:6443"


class _Core:
    """A generated API class: its api_client names the server."""

    def __init__(self, error=None):
        self.api_client = type("ApiClient", (), {"configuration": _Config()})()
        self.error = error

    def read_namespaced_config_map(self, name, namespace):
        if self.error:
            raise self.error
        return {"name": name, "namespace": namespace}


def _api_exception(status, reason):
    from kubernetes.client.exceptions import ApiException

    return ApiException(status=status, reason=reason)


def test_call_answers_what_the_client_answers():
    assert k8s_client.call("read", _Core().read_namespaced_config_map, "c", "ml") == {"name": "c", "namespace": "ml"}


def test_call_a_missing_object_is_none_only_when_asked():
    api = _Core(_api_exception(404, "Not Found"))
    assert k8s_client.call("read the ConfigMap ml/c", api.read_namespaced_config_map, "c", "ml", missing=True) is None
    with pytest.raises(k8s_client.K8sError) as err:
        k8s_client.call("read the ConfigMap ml/c", api.read_namespaced_config_map, "c", "ml")
    assert str(err.value) == "Kubernetes API refused to read the ConfigMap ml/c: 404 Not Found"
    assert err.value.details == {"status": 404, "reason": "Not Found"}


def test_call_a_refusal_names_what_was_tried_and_carries_status_and_reason():
    api = _Core(_api_exception(401, "Unauthorized"))
    with pytest.raises(k8s_client.K8sError) as err:
        k8s_client.call("read the ConfigMap ml/c", api.read_namespaced_config_map, "c", "ml", missing=True)
    assert str(err.value) == "Kubernetes API refused to read the ConfigMap ml/c: 401 Unauthorized"
    assert err.value.details == {"status": 401, "reason": "Unauthorized"}


def test_call_an_unreachable_server_is_named():
    api = _Core(ConnectionRefusedError("[Errno 111] Connection refused"))
    with pytest.raises(k8s_client.K8sError) as err:
        k8s_client.call("read the ConfigMap ml/c", api.read_namespaced_config_map, "c", "ml")
    assert str(err.value) == ("cannot reach the Kubernetes API at https://10.0.0.1:6443 to read the ConfigMap ml/c: "
                              "[Errno 111] Connection refused")
    assert err.value.details == {"host": "https://10.0.0.1:6443"}


def test_call_a_body_the_client_rejects_is_invalid_input():
    with pytest.raises(k8s_client.K8sError) as err:
        k8s_client.call("create the Deployment", _Core(ValueError("Invalid value for `containers`")).read_namespaced_config_map,
                        "c", "ml")
    assert err.value.details == {"invalid": True} and "Invalid value for `containers`" in str(err.value)


def test_a_configuration_error_is_a_k8s_error():
    with pytest.raises(k8s_client.K8sError, match="kubeconfig /nonexistent/kubeconfig does not exist"):
        k8s_client.api_client(kubeconfig="/nonexistent/kubeconfig")
