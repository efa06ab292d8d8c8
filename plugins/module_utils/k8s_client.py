# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one Kubernetes layer under every module and the gpu-mode command: an ApiClient from
kubeconfig/context/host/api_key, one error type with details, and the call that turns the client's failures
into it (no Ansible imports: the gpu-mode command on the GPU worker uses it too). The Ansible side is
k8s_module.py."""

from __future__ import annotations

import os

K8S_ENV = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
}


MERGE_PATCH = "application/merge-patch+json"


def is_subset(want, have):
    """True when every key/value of `want` is in `have` (lists compared item by item)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(is_subset(w, h) for w, h in zip(want, have))
    return want == have or (isinstance(want, (int, float)) and str(want) == str(have) and not isinstance(want, bool))


def merge_patch(method, *args):
    """Calls a generated `patch_*` method of the client with a JSON merge patch (RFC 7386) as the body.

    Clients older than 24 (Debian 12's python3-kubernetes 22.6, on the nodes) take no `_content_type` and send
    the first type the API lists, JSON patch; with them the header goes in as a default header of the method's
    ApiClient for this one call (their default headers win over the generated ones)."""
    try:
        return method(*args, _content_type=MERGE_PATCH)
    except TypeError as exc:
        if "_content_type" not in str(exc):
            raise
    client = method.__self__.api_client
    client.set_default_header("Content-Type", MERGE_PATCH)
    try:
        return method(*args)
    finally:
        client.default_headers.pop("Content-Type", None)


class K8sError(Exception):
    """Anything between the caller and the Kubernetes API: no usable configuration, a refusal, an unreachable
    server, a body the client rejects. The message says what was tried; `details` carries what was seen
    (`status` and `reason` of a refusal, `host` of an unreachable server) for a module's failure result."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details or {}


class ClientConfigError(K8sError):
    """No usable Kubernetes configuration; the message says what was tried."""


def call(what, func, *args, missing=False, host=None, **kwargs):
    """func(*args, **kwargs) of a generated API class, its failures as one K8sError naming `what` was tried.

    missing: a 404 answers None instead of failing (the object, or the API a CRD brings, does not exist);
    host: the API's URL for the message when func is not a bound method of an API class."""
    from kubernetes.client.exceptions import ApiException

    try:
        return func(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404 and missing:
            return None
        raise K8sError("Kubernetes API refused to %s: %s %s" % (what, exc.status, exc.reason),
                       {"status": exc.status, "reason": exc.reason}) from exc
    except (ValueError, TypeError) as exc:  # the client's validation of a body
        raise K8sError("the request to %s is not valid for the Kubernetes client: %s" % (what, exc),
                       {"invalid": True}) from exc
    except Exception as exc:  # urllib3's connection errors and timeouts
        api = getattr(getattr(func, "__self__", None), "api_client", None)
        host = host or (api.configuration.host if api is not None else None)
        raise K8sError("cannot reach the Kubernetes API%s to %s: %s" % (" at %s" % host if host else "", what, exc),
                       {"host": host}) from exc


def api_client(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=None, ca_cert=None):
    """An ApiClient: explicit host/api_key, else the kubeconfig (file or dict), else in-cluster."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if isinstance(kubeconfig, dict):
            config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=configuration)
        elif kubeconfig or not host:
            path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config"))
            if os.path.exists(path):
                config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
            elif kubeconfig:
                raise ClientConfigError("kubeconfig %s does not exist" % path)
            elif not host:
                try:
                    config.load_incluster_config(client_configuration=configuration)
                except config.ConfigException as exc:
                    raise ClientConfigError(
                        "no Kubernetes configuration: give kubeconfig (or K8S_AUTH_KUBECONFIG), host and api_key, "
                        "or run in a pod (%s)" % exc) from exc
    except config.ConfigException as exc:
        raise ClientConfigError("cannot use kubeconfig %s: %s" % (kubeconfig, exc)) from exc
    if host:
        configuration.host = host
    if api_key:
        configuration.api_key = {"authorization": "Bearer " + api_key}
    if validate_certs is not None:
        configuration.verify_ssl = bool(validate_certs)
    if ca_cert:
        configuration.ssl_ca_cert = ca_cert
    return client.ApiClient(configuration)
