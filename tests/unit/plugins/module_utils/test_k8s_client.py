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
