# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base of every module of this collection that talks to the Kubernetes API: the connection options
(defined once, as kubernetes.core names them), the check for the `kubernetes` library, the client, and the
failure a K8sError becomes. The logic stays in each module's module_utils, behind k8s_client."""

from __future__ import annotations

from importlib.util import find_spec

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.homelab.platform.plugins.module_utils import k8s_client

# Looked for, not imported: the import costs about 0.6 s, and a run that reaches the API directly
# (k8s_client.direct_connection) never makes it.
HAS_K8S = find_spec("kubernetes") is not None

_ENV = k8s_client.K8S_ENV
AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=(env_fallback, [_ENV["kubeconfig"]])),
    context=dict(type="str", fallback=(env_fallback, [_ENV["context"]])),
    host=dict(type="str", fallback=(env_fallback, [_ENV["host"]])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, [_ENV["api_key"]])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, [_ENV["validate_certs"]])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, [_ENV["ca_cert"]])),
)


class K8sModule(AnsibleModule):
    """An AnsibleModule with the connection options; `needs_client=False` when only some runs reach the API (the
    library is then required by api_client())."""

    def __init__(self, argument_spec, needs_client=True, **kwargs):
        super().__init__(argument_spec=dict(argument_spec, **AUTH_ARG_SPEC), **kwargs)
        if needs_client:
            self.require_client()

    def require_client(self):
        if not HAS_K8S:
            self.fail_json(msg=missing_required_lib("kubernetes"))

    def api_client(self):
        """The ApiClient the connection options describe; a module failure saying what was tried when none can be
        built."""
        self.require_client()
        try:
            return k8s_client.api_client(**{key: self.params.get(key) for key in AUTH_ARG_SPEC})
        except k8s_client.K8sError as exc:
            return self.fail_from(exc)

    def direct_connection(self):
        """k8s_client.direct_connection of the connection options: None when only the official client can follow
        them, or says what is wrong with them (then api_client())."""
        return k8s_client.direct_connection(**{key: self.params.get(key) for key in AUTH_ARG_SPEC})

    def rest_api(self):
        """k8s_apply's request layer for the connection options: DirectApi when direct_connection() can follow
        them (ADR-018), else Api over the official client's ApiClient."""
        from ansible_collections.homelab.platform.plugins.module_utils import k8s_apply

        connection = self.direct_connection()
        return k8s_apply.DirectApi(connection) if connection else k8s_apply.Api(self.api_client())

    def fail_from(self, exc, **result):
        """Fail with the error's message and its details (status, reason, host ...) next to `result`."""
        self.fail_json(msg=str(exc), **dict(result, **getattr(exc, "details", {})))

    def exit_with(self, result):
        """exit_json with `result`, its `diff` kept only when the run asked for one (--diff)."""
        diff = result.pop("diff", None)
        if self._diff and diff is not None:
            result["diff"] = diff
        self.exit_json(**result)
