# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the collection's Kubernetes modules (defined once)."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8S_ENV

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=(env_fallback, [K8S_ENV["kubeconfig"]])),
    context=dict(type="str", fallback=(env_fallback, [K8S_ENV["context"]])),
    host=dict(type="str", fallback=(env_fallback, [K8S_ENV["host"]])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, [K8S_ENV["api_key"]])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, [K8S_ENV["validate_certs"]])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, [K8S_ENV["ca_cert"]])),
)


def auth_params(params):
    return {key: params.get(key) for key in AUTH_ARG_SPEC}
