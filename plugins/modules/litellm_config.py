#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: litellm_config
short_description: Render and validate the LiteLLM proxy config.yaml, optionally as a ConfigMap
description:
  - Builds LiteLLM's config.yaml from structured data (aliases, fallback chains, router/litellm/general settings)
    and refuses configs LiteLLM would accept but run badly. Each error names the offending item.
  - Rules; every fallback key and target is a defined alias; no self-reference or cycle; at most 5 fallbacks per
    chain; each fallback entry a one-key dict; a provider prefix on every model; vLLM and Ollama tiers with an http(s)
    api_base; API keys, master key and database URL as os.environ/VAR references; fallbacks in one place only;
    router_settings keys that LiteLLM's Router accepts; with fallbacks, C(disable_cooldowns=true) (a cooldown of a
    one-deployment tier sends its requests down the chain after it answers again, and from LiteLLM 1.108 to the
    cloud while Ollama is up) and a C(max_fallbacks) that reaches every tier of each chain; timeouts > 0.
  - Writes the text to O(dest) and/or a ConfigMap whose annotation carries the checksum; put RV(checksum) on the
    proxy's pod template so a changed config rolls the pods (the file is mounted with subPath and never reloaded).
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  aliases:
    description:
      - Alias -> C(model) (with provider prefix), C(api_base), C(timeout), C(stream_timeout), C(api_key_env)
        (environment variable holding the key), C(tier) (vllm, ollama, cloud), C(extra) (more litellm_params).
    type: dict
    required: true
  fallbacks:
    description: Alias -> list of aliases tried in order, or LiteLLM's list of one-key dicts.
    type: raw
  router_settings:
    description: LiteLLM Router settings (disable_cooldowns, num_retries, timeout, max_fallbacks, ...).
    type: dict
    default: {}
  litellm_settings:
    description: litellm_settings (request_timeout, drop_params, ...).
    type: dict
    default: {}
  general_settings:
    description: general_settings (master_key and database_url as os.environ/VAR).
    type: dict
    default: {}
  dest:
    description: Write config.yaml here.
    type: path
  configmap:
    description: Write the config into this ConfigMap through the Kubernetes API.
    type: dict
    suboptions:
      name:
        description: ConfigMap name.
        type: str
        required: true
      namespace:
        description: Namespace.
        type: str
        required: true
      key:
        description: Data key (the file name mounted with subPath).
        type: str
        default: config.yaml
      labels:
        description: Labels of the ConfigMap.
        type: dict
        default: {}
extends_documentation_fragment:
  - homelab.platform.k8s_auth
  - homelab.platform.check_mode_diff
"""

EXAMPLES = r"""
- name: Render the seed's three-tier config into a ConfigMap
  homelab.platform.litellm_config:
    aliases:
      vllm-qwen: {model: openai/Qwen/Qwen2.5-7B-Instruct-AWQ, api_base: "http://vllm-api.ml.svc.cluster.local:8000/v1", timeout: 30, tier: vllm}
      ollama-qwen: {model: "ollama/qwen2.5:3b", api_base: "http://ollama.ml.svc.cluster.local:11434", timeout: 120}
      openai-gpt4o: {model: openai/gpt-4o-mini, api_key_env: OPENAI_API_KEY}
    fallbacks: {vllm-qwen: [ollama-qwen], ollama-qwen: [openai-gpt4o]}
    router_settings: {disable_cooldowns: true, num_retries: 0}
    general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}
    configmap: {name: litellm-config, namespace: ml}
  register: litellm_cfg
"""

RETURN = r"""
config:
  description: The rendered config.yaml.
  returned: success
  type: str
checksum:
  description: sha256 of the rendered text, for the pod template annotation.
  returned: success
  type: str
"""

import os
import tempfile
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core
from ansible_collections.homelab.platform.plugins.module_utils.k8s_client import K8sError
from ansible_collections.homelab.platform.plugins.module_utils.k8s_module import K8sModule

try:
    # module_utils dumps with it: imported here so a missing PyYAML is reported with missing_required_lib
    import yaml  # noqa: F401 pylint: disable=unused-import

    HAS_YAML = True
    YAML_ERROR = None
except ImportError:
    HAS_YAML = False
    YAML_ERROR = traceback.format_exc()


def main():
    argument_spec = dict(
        aliases=dict(type="dict", required=True),
        fallbacks=dict(type="raw"),
        router_settings=dict(type="dict", default={}),
        litellm_settings=dict(type="dict", default={}),
        general_settings=dict(type="dict", default={}),
        dest=dict(type="path"),
        configmap=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            key=dict(type="str", default="config.yaml", no_log=False),
            labels=dict(type="dict", default={}),
        )),
    )
    module = K8sModule(argument_spec, needs_client=False, supports_check_mode=True)  # only a ConfigMap needs it
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_ERROR)
    p = module.params
    try:
        config = core.build(p["aliases"], p["fallbacks"], p["router_settings"], p["litellm_settings"], p["general_settings"])
    except core.LiteLLMConfigError as exc:
        module.fail_json(msg=str(exc))
    text, checksum = core.render(config)
    result = dict(changed=False, config=text, checksum=checksum)
    diffs = []

    if p["dest"]:
        before = None
        if os.path.exists(p["dest"]):
            with open(p["dest"], encoding="utf-8") as handle:
                before = handle.read()
        if before != text:
            result["changed"] = True
            diffs.append(dict(before=before or "", after=text, before_header=p["dest"], after_header=p["dest"]))
            if not module.check_mode:
                directory = os.path.dirname(os.path.abspath(p["dest"]))
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".litellm-config-")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)
                module.atomic_move(tmp, p["dest"])

    if p["configmap"]:
        api = module.api_client()  # fails with missing_required_lib when the kubernetes library is missing
        from kubernetes import client  # pylint: disable=import-outside-toplevel

        cm = p["configmap"]
        body = core.configmap_body(cm["name"], cm["namespace"], cm["key"], text, checksum, cm["labels"])
        try:
            changed, before = core.apply_configmap(client.CoreV1Api(api), body, module.check_mode)
        except K8sError as exc:
            module.fail_from(exc, config=text, checksum=checksum)
        if changed:
            result["changed"] = True
            header = "configmap %s/%s" % (cm["namespace"], cm["name"])
            diffs.append(dict(before=before or "", after=text, before_header=header, after_header=header))
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
