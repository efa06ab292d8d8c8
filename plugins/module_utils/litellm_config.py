# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LiteLLM proxy config.yaml: validation LiteLLM itself does not do, and rendering.

Input is structured data (aliases, fallback chains, settings); output is the
config.yaml text and its checksum. Each rule names the item that breaks it.
"""

from __future__ import annotations

import hashlib
import re

from .k8s_client import call, merge_patch

ENV_REF = re.compile(r"^os\.environ/[A-Za-z_][A-Za-z0-9_]*$")
MAX_FALLBACKS = 5
LOCAL_TIERS = ("vllm", "ollama")
LOCAL_PREFIXES = {"ollama": "ollama", "ollama_chat": "ollama", "hosted_vllm": "vllm"}
KNOWN_PROVIDERS = {
    "openai", "hosted_vllm", "ollama", "ollama_chat", "anthropic", "azure", "azure_ai", "bedrock", "vertex_ai",
    "gemini", "groq", "mistral", "openrouter", "together_ai", "deepseek", "huggingface", "text-completion-openai",
    "fireworks_ai", "cohere", "xai", "perplexity", "lm_studio", "llamafile",
}
# Arguments of litellm.Router that a proxy's router_settings may carry. Anything
# else LiteLLM drops without a word (the end-to-end test checks this list
# against the installed Router's signature).
ROUTER_SETTINGS = {
    "routing_strategy", "routing_strategy_args", "num_retries", "timeout", "stream_timeout", "max_fallbacks",
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "allowed_fails",
    "allowed_fails_policy", "cooldown_time", "disable_cooldowns", "retry_after", "retry_policy",
    "model_group_retry_policy", "model_group_alias", "enable_pre_call_checks", "optional_pre_call_checks",
    "redis_host", "redis_port", "redis_password", "redis_url", "cache_responses", "cache_kwargs",
    "caching_groups", "client_ttl", "default_litellm_params", "default_max_parallel_requests", "set_verbose",
    "debug_level", "enable_tag_filtering", "provider_budget_config", "polling_interval", "default_priority",
}
SECRET_KEYS = ("api_key", "master_key", "database_url", "salt_key", "redis_password")


class LiteLLMConfigError(ValueError):
    """Input that would give a broken or unsafe LiteLLM config; the message names the item."""


def _fail(message):
    raise LiteLLMConfigError(message)


def _positive(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        _fail("%s must be a number of seconds > 0, got %r" % (where, value))


def normalize_fallbacks(fallbacks):
    """Accept {alias: [targets]} or LiteLLM's list of one-key dicts; return {alias: [targets]}."""
    if fallbacks is None:
        return {}
    if isinstance(fallbacks, dict):
        items = list(fallbacks.items())
    elif isinstance(fallbacks, list):
        items = []
        for index, entry in enumerate(fallbacks):
            if not isinstance(entry, dict) or len(entry) != 1:
                _fail("fallbacks[%d] must be a dict with exactly one key (alias: [targets]), got %r" % (index, entry))
            items.extend(entry.items())
    else:
        _fail("fallbacks must be a dict alias -> [targets] or a list of one-key dicts, got %s" % type(fallbacks).__name__)
    out = {}
    for alias, targets in items:
        if alias in out:
            _fail("fallbacks for %r are defined twice" % alias)
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            _fail("fallbacks for %r must be a list of aliases, got %r" % (alias, targets))
        out[alias] = list(targets)
    return out


def _check_env_ref(value, where):
    if value is not None and not (isinstance(value, str) and ENV_REF.match(value)):
        _fail("%s must be an os.environ/VAR reference (keep the secret in the litellm-secrets Secret), not a literal" % where)


def validate(aliases, fallbacks=None, router_settings=None, litellm_settings=None, general_settings=None):
    """Check everything; return the normalised fallbacks."""
    router_settings = router_settings or {}
    litellm_settings = litellm_settings or {}
    general_settings = general_settings or {}
    if not isinstance(aliases, dict) or not aliases:
        _fail("aliases must be a non-empty dict of alias -> {model, api_base, timeout, ...}")
    for alias, spec in aliases.items():
        where = "alias %r" % alias
        if not isinstance(spec, dict) or not spec.get("model"):
            _fail("%s needs a model" % where)
        model = str(spec["model"])
        provider = model.split("/", 1)[0] if "/" in model else ""
        if not provider or provider not in KNOWN_PROVIDERS:
            _fail("%s: model %r has no provider prefix LiteLLM knows (e.g. openai/, hosted_vllm/, ollama/)" % (where, model))
        tier = spec.get("tier") or LOCAL_PREFIXES.get(provider)
        api_base = spec.get("api_base")
        if tier in LOCAL_TIERS and not (isinstance(api_base, str) and re.match(r"^https?://[^/\s]+", api_base)):
            _fail("%s is a %s tier and needs an http(s) api_base (without one LiteLLM talks to localhost%s)"
                  % (where, tier, ", and starts its own `ollama serve`" if tier == "ollama" else ""))
        if "timeout" in spec:
            _positive(spec["timeout"], "%s timeout" % where)
        if "stream_timeout" in spec:
            _positive(spec["stream_timeout"], "%s stream_timeout" % where)
        if "api_key" in spec:
            _check_env_ref(spec["api_key"], "%s api_key" % where)
        if spec.get("api_key_env") is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(spec["api_key_env"])):
            _fail("%s api_key_env must be an environment variable name, got %r" % (where, spec["api_key_env"]))
        for key, value in (spec.get("extra") or {}).items():
            if key in SECRET_KEYS:
                _check_env_ref(value, "%s %s" % (where, key))

    if "fallbacks" in litellm_settings and (fallbacks or "fallbacks" in router_settings):
        _fail("fallbacks are defined in litellm_settings and elsewhere: define them once (router_settings wins silently)")
    if "fallbacks" in router_settings and fallbacks:
        _fail("fallbacks are given both as the fallbacks option and in router_settings: define them once")
    chains = normalize_fallbacks(fallbacks or router_settings.get("fallbacks") or litellm_settings.get("fallbacks"))
    for alias, targets in chains.items():
        if alias not in aliases:
            _fail("fallbacks: %r is not a defined alias (aliases: %s)" % (alias, ", ".join(sorted(aliases))))
        if not targets:
            _fail("fallbacks for %r are empty" % alias)
        if len(targets) > MAX_FALLBACKS:
            _fail("fallbacks for %r list %d targets; at most %d" % (alias, len(targets), MAX_FALLBACKS))
        for target in targets:
            if target not in aliases:
                _fail("fallbacks for %r: target %r is not a defined alias" % (alias, target))
            if target == alias:
                _fail("fallbacks for %r point at itself" % alias)
    _check_cycles(chains)

    unknown = sorted(set(router_settings) - ROUTER_SETTINGS)
    if unknown:
        _fail("router_settings keys LiteLLM's Router does not accept (it would drop them silently): %s" % ", ".join(unknown))
    if chains and router_settings.get("disable_cooldowns") is not True:
        _fail("router_settings.disable_cooldowns must be true when fallbacks are defined: each alias is one "
              "deployment, and LiteLLM's cooldown of it keeps sending its requests down the chain for cooldown_time "
              "after it answers again (vLLM skipped after gpu-mode ml) and, from LiteLLM 1.108, cools down the next "
              "local tier for the first one's 404s, so the cloud answers while Ollama is up (docs/adr/ADR-024)")
    depth = router_settings.get("max_fallbacks", MAX_FALLBACKS)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        _fail("router_settings.max_fallbacks must be an integer >= 1, got %r" % (depth,))
    for alias in chains:
        unreached = [name for name in candidates(chains, alias) if name not in candidates(chains, alias, depth)]
        if unreached:
            _fail("router_settings.max_fallbacks %d stops the fallbacks of %r before %s: raise it or shorten the chain"
                  % (depth, alias, ", ".join(unreached)))
    allowed_fails = router_settings.get("allowed_fails", litellm_settings.get("allowed_fails"))
    if allowed_fails is not None and (isinstance(allowed_fails, bool) or not isinstance(allowed_fails, int)
                                      or allowed_fails < 0):
        _fail("allowed_fails must be an integer >= 0, got %r" % (allowed_fails,))
    for where, settings in (("router_settings", router_settings), ("litellm_settings", litellm_settings)):
        for key in ("timeout", "request_timeout", "stream_timeout", "cooldown_time"):
            if key in settings:
                _positive(settings[key], "%s.%s" % (where, key))
    for key in ("master_key", "database_url", "salt_key"):
        if key in general_settings:
            _check_env_ref(general_settings[key], "general_settings.%s" % key)
    return chains


def _check_cycles(chains):
    state = {}

    def visit(alias, path):
        if state.get(alias) == "done":
            return
        if state.get(alias) == "active":
            cycle = path[path.index(alias):] + [alias]
            _fail("fallbacks form a cycle: %s" % " -> ".join(cycle))
        state[alias] = "active"
        for target in chains.get(alias, []):
            visit(target, path + [alias])
        state[alias] = "done"

    for alias in sorted(chains):
        visit(alias, [])


def build(aliases, fallbacks=None, router_settings=None, litellm_settings=None, general_settings=None):
    """The config as a dict, in LiteLLM's layout (fallbacks in router_settings only)."""
    chains = validate(aliases, fallbacks, router_settings, litellm_settings, general_settings)
    model_list = []
    for alias, spec in aliases.items():
        params = {"model": spec["model"]}
        if spec.get("api_base"):
            params["api_base"] = spec["api_base"]
        if spec.get("api_key_env"):
            params["api_key"] = "os.environ/%s" % spec["api_key_env"]
        elif spec.get("api_key"):
            params["api_key"] = spec["api_key"]
        for key in ("timeout", "stream_timeout"):
            if key in spec:
                params[key] = spec[key]
        params.update(spec.get("extra") or {})
        model_list.append({"model_name": alias, "litellm_params": params})
    router = {k: v for k, v in (router_settings or {}).items() if k != "fallbacks"}
    if chains:
        router["fallbacks"] = [{alias: targets} for alias, targets in chains.items()]
    config = {"model_list": model_list}
    litellm = {k: v for k, v in (litellm_settings or {}).items() if k != "fallbacks"}
    if litellm:
        config["litellm_settings"] = litellm
    config["router_settings"] = router
    if general_settings:
        config["general_settings"] = dict(general_settings)
    return config


def dump(data):
    """YAML as LiteLLM's config.yaml is written (keys in the order built)."""
    import yaml  # here, not at the top: the module reports a missing PyYAML with missing_required_lib first

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def render(config):
    """config.yaml text and its sha256."""
    text = "# LiteLLM proxy config, rendered by homelab.platform.litellm_config. Do not edit.\n" + dump(config)
    return text, hashlib.sha256(text.encode()).hexdigest()


def rendered(aliases, fallbacks=None, router_settings=None, litellm_settings=None, general_settings=None):
    """The validated config.yaml of these settings as {config, checksum} (build() then render())."""
    text, checksum = render(build(aliases, fallbacks, router_settings, litellm_settings, general_settings))
    return {"config": text, "checksum": checksum}


CHECKSUM_ANNOTATION = "homelab.platform/config-checksum"


def configmap_body(name, namespace, key, text, checksum, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                     "annotations": {CHECKSUM_ANNOTATION: checksum}},
        "data": {key: text},
    }


def apply_configmap(core_api, body, check_mode=False):
    """Create or update the ConfigMap through a CoreV1Api; returns (changed, previous text or None). Failures are
    the Kubernetes layer's K8sError, naming the ConfigMap."""
    meta = body["metadata"]
    key = next(iter(body["data"]))
    where = "ConfigMap %s/%s" % (meta["namespace"], meta["name"])
    current = call("read the " + where, core_api.read_namespaced_config_map, meta["name"], meta["namespace"],
                   missing=True)
    if current is None:
        if not check_mode:
            call("create the " + where, core_api.create_namespaced_config_map, meta["namespace"], body)
        return True, None
    before = (current.data or {}).get(key)
    same = before == body["data"][key] and (current.metadata.annotations or {}).get(CHECKSUM_ANNOTATION) == \
        meta["annotations"][CHECKSUM_ANNOTATION] and all(
            (current.metadata.labels or {}).get(k) == v for k, v in meta["labels"].items())
    if same:
        return False, before
    if not check_mode:
        call("patch the " + where, merge_patch, core_api.patch_namespaced_config_map, meta["name"], meta["namespace"],
             body, host=core_api.api_client.configuration.host)
    return True, before


def model_id(model):
    """What a backend is asked for: the alias' model without its provider prefix (openai/Qwen/X -> Qwen/X)."""
    provider, _sep, rest = str(model).partition("/")
    return rest if provider in KNOWN_PROVIDERS and rest else str(model)


def candidates(chains, alias, depth=MAX_FALLBACKS):
    """The aliases LiteLLM tries for `alias`, in order: the alias, then each fallback with its own fallbacks
    (LiteLLM's run_async_fallback: depth first, a group already tried is skipped, at most max_fallbacks deep)."""
    order = [alias]
    if depth > 0:
        for target in chains.get(alias, []):
            order.extend(t for t in candidates(chains, target, depth - 1) if t not in order)
    return order


def route(config, alias, served):
    """Where requests for `alias` go, from the proxy's config as LiteLLM reads it (the ConfigMap's config.yaml).

    The alias' api_base is the vLLM Service the GPU's mode decides; served: the model ids it answers now (empty
    when vLLM is scaled to 0 or not Ready). An alias on that api_base is up when its model id is served; any
    other alias is not the GPU's to judge and counts as up. Returns {alias, reaches (None: no tier left),
    skipped: [aliases passed over], then: [the tiers tried if the reached one fails]}."""
    models = {entry.get("model_name"): entry.get("litellm_params") or {}
              for entry in config.get("model_list") or [] if isinstance(entry, dict)}
    if alias not in models:
        _fail("the LiteLLM config has no alias %r (aliases: %s)" % (alias, ", ".join(sorted(m for m in models if m))))
    chains = normalize_fallbacks((config.get("router_settings") or {}).get("fallbacks")
                                 or (config.get("litellm_settings") or {}).get("fallbacks"))
    depth = (config.get("router_settings") or {}).get("max_fallbacks", MAX_FALLBACKS)  # LiteLLM's default: 5
    order = [name for name in candidates(chains, alias, depth) if name in models]
    gpu_api_base = models[alias].get("api_base")
    down = [name for name in order
            if models[name].get("api_base") == gpu_api_base and model_id(models[name].get("model")) not in served]
    up = [name for name in order if name not in down]
    return {"alias": alias, "reaches": up[0] if up else None, "skipped": down, "then": up[1:]}
