# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one Kubernetes layer under every module and the gpu-mode command: an ApiClient from
kubeconfig/context/host/api_key, one error type with details, and the call that turns the client's failures
into it (no Ansible imports: the gpu-mode command on the GPU worker uses it too). The Ansible side is
k8s_module.py.

`direct_connection` reads the same options for a request straight over http.client: the official client's import
costs about 0.6 s of every module run (its models, pydantic since release 35), more than a whole apply's requests."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile

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


class Connection:
    """What a request to the API server needs: its URL, the TLS context (None for http) and the auth headers."""

    def __init__(self, host, ssl_context=None, headers=None):
        self.host = host
        self.ssl_context = ssl_context
        self.headers = headers or {}


# What only the official client follows: a user's credential plugins and basic auth, a cluster's proxy and TLS
# server name. A kubeconfig that uses any of them is left to it (direct_connection answers None).
_CLIENT_ONLY = {"user": ("exec", "auth-provider", "username", "password"),
                "cluster": ("proxy-url", "tls-server-name")}


def _named(items, name):
    """The entry of a kubeconfig list (contexts, clusters, users) with that name, or None."""
    return next((item for item in items or [] if isinstance(item, dict) and item.get("name") == name), None)


def _pem(section, key, base_dir):
    """The PEM text of `key` (a path, relative to the kubeconfig's folder) or `key`-data (base64), or None."""
    if section.get(key + "-data"):
        return base64.b64decode(section[key + "-data"]).decode("ascii")
    if section.get(key):
        with open(os.path.join(base_dir, os.path.expanduser(section[key]))) as handle:
            return handle.read()
    return None


def _tls(verify, ca_pem=None, ca_file=None, cert_pem=None, key_pem=None):
    context = ssl.create_default_context(cafile=ca_file, cadata=ca_pem) if verify else ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_pem and key_pem:  # ssl loads a client certificate from files only: a private folder, gone right after
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, text in ((cert, cert_pem), (key, key_pem)):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, key)
    return context


def direct_connection(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=None, ca_cert=None):
    """The Connection api_client() would make of the same options, or None where only the official client can follow
    them (in-cluster configuration, several KUBECONFIG files, a kubeconfig that is not as the common case has it or
    that uses what _CLIENT_ONLY names): the caller then uses api_client(), which also says what is wrong."""
    headers, pems, base_dir = {}, {}, "."
    verify = True
    if isinstance(kubeconfig, dict) or kubeconfig or not host:
        if isinstance(kubeconfig, dict):
            config = kubeconfig
        else:
            path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config"))
            if os.pathsep in path or not os.path.isfile(path):
                return None
            import yaml

            try:
                with open(path) as handle:
                    config = yaml.safe_load(handle)
            except (OSError, yaml.YAMLError):
                return None
            base_dir = os.path.dirname(os.path.abspath(path))
        if not isinstance(config, dict):
            return None
        ctx = _named(config.get("contexts"), context or config.get("current-context"))
        ctx = ctx.get("context") if ctx else None
        if not isinstance(ctx, dict):
            return None
        cluster = (_named(config.get("clusters"), ctx.get("cluster")) or {}).get("cluster")
        user = (_named(config.get("users"), ctx.get("user")) or {}).get("user") or {}
        if not isinstance(cluster, dict) or not cluster.get("server") or not isinstance(user, dict):
            return None
        if any(user.get(key) for key in _CLIENT_ONLY["user"]) or any(cluster.get(k) for k in _CLIENT_ONLY["cluster"]):
            return None
        try:
            pems = {"ca_pem": _pem(cluster, "certificate-authority", base_dir),
                    "cert_pem": _pem(user, "client-certificate", base_dir),
                    "key_pem": _pem(user, "client-key", base_dir)}
            token = user.get("token")
            if not token and user.get("tokenFile"):
                with open(os.path.join(base_dir, user["tokenFile"])) as handle:
                    token = handle.read().strip()
        except (OSError, ValueError):
            return None
        if token:
            headers["Authorization"] = "Bearer " + token
        verify = not cluster.get("insecure-skip-tls-verify", False)
        host = host or cluster["server"]
    if api_key:
        headers["Authorization"] = "Bearer " + api_key
    if validate_certs is not None:
        verify = bool(validate_certs)
    if ca_cert:
        pems["ca_pem"] = None
    if not host.startswith("https://"):
        return Connection(host, None, headers) if host.startswith("http://") else None
    try:
        return Connection(host, _tls(verify, ca_file=ca_cert, **pems), headers)
    except (OSError, ValueError, ssl.SSLError):
        return None
