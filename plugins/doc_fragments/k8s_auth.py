# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Kubernetes connection options (as kubernetes.core names them, with K8S_AUTH_* fallbacks)."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or its content as a dict. Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG),
        then C(~/.kube/config), then the in-cluster service account.
    type: raw
  context:
    description: Context of the kubeconfig to use (E(K8S_AUTH_CONTEXT)).
    type: str
  host:
    description: API server URL (E(K8S_AUTH_HOST)); overrides the kubeconfig's.
    type: str
  api_key:
    description: Bearer token (E(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    description: Verify the API server's certificate (E(K8S_AUTH_VERIFY_SSL)).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA bundle for the API server (E(K8S_AUTH_SSL_CA_CERT)).
    type: path
    aliases: [ssl_ca_cert]
requirements:
  - kubernetes (Python library)
"""
