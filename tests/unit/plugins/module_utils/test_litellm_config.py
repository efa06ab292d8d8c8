import copy

import pytest
import yaml

from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core

# The seed's tiers (seed 000 "The LiteLLM Configuration"), with provider prefixes.
ALIASES = {
    "vllm-qwen": {"model": "openai/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://vllm-api.ml.svc.cluster.local:8000/v1",
                  "timeout": 30, "tier": "vllm"},
    "vllm-r1": {"model": "openai/casperhansen/deepseek-r1-distill-qwen-7b-awq",
                "api_base": "http://vllm-api.ml.svc.cluster.local:8000/v1", "timeout": 60, "tier": "vllm"},
    "ollama-qwen": {"model": "ollama/qwen2.5:3b", "api_base": "http://ollama.ml.svc.cluster.local:11434", "timeout": 120},
    "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"},
}
FALLBACKS = [{"vllm-qwen": ["ollama-qwen"]}, {"ollama-qwen": ["openai-gpt4o"]}]
ROUTER = {"disable_cooldowns": True, "num_retries": 0}  # the role's defaults
GENERAL = {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def build(**over):
    args = dict(aliases=copy.deepcopy(ALIASES), fallbacks=copy.deepcopy(FALLBACKS), router_settings=dict(ROUTER),
                litellm_settings={"request_timeout": 600}, general_settings=dict(GENERAL))
    args.update(over)
    return core.build(**args)


def test_seed_config_renders():
    config = build()
    assert [m["model_name"] for m in config["model_list"]] == ["vllm-qwen", "vllm-r1", "ollama-qwen", "openai-gpt4o"]
    assert config["model_list"][3]["litellm_params"] == {"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"}
    assert config["router_settings"]["fallbacks"] == FALLBACKS
    assert "fallbacks" not in config["litellm_settings"]
    text, checksum = core.render(config)
    assert yaml.safe_load(text) == config and len(checksum) == 64
    assert core.render(build())[1] == checksum  # stable


def test_fallbacks_as_a_dict_too():
    assert build(fallbacks={"vllm-qwen": ["ollama-qwen"]})["router_settings"]["fallbacks"] == [{"vllm-qwen": ["ollama-qwen"]}]


@pytest.mark.parametrize("fallbacks,message", [
    ([{"vllm-qwn": ["ollama-qwen"]}], "fallbacks: 'vllm-qwn' is not a defined alias"),
    ([{"vllm-qwen": ["ollama"]}], "fallbacks for 'vllm-qwen': target 'ollama' is not a defined alias"),
    ([{"vllm-qwen": ["vllm-qwen"]}], "fallbacks for 'vllm-qwen' point at itself"),
    ([{"vllm-qwen": ["ollama-qwen"]}, {"ollama-qwen": ["vllm-qwen"]}],
     "fallbacks form a cycle: ollama-qwen -> vllm-qwen -> ollama-qwen"),
    ([{"vllm-qwen": ["ollama-qwen"] * 6}], "fallbacks for 'vllm-qwen' list 6 targets; at most 5"),
    ([{"vllm-qwen": ["ollama-qwen"], "vllm-r1": ["ollama-qwen"]}], r"fallbacks\[0\] must be a dict with exactly one key"),
    (["vllm-qwen"], r"fallbacks\[0\] must be a dict with exactly one key"),
    ([{"vllm-qwen": ["ollama-qwen"]}, {"vllm-qwen": ["openai-gpt4o"]}], "fallbacks for 'vllm-qwen' are defined twice"),
    ([{"vllm-qwen": []}], "fallbacks for 'vllm-qwen' are empty"),
])
def test_fallback_rules(fallbacks, message):
    with pytest.raises(core.LiteLLMConfigError, match=message):
        build(fallbacks=fallbacks)


@pytest.mark.parametrize("alias,change,message", [
    ("openai-gpt4o", {"model": "gpt-4o-mini"}, "alias 'openai-gpt4o': model 'gpt-4o-mini' has no provider prefix"),
    ("ollama-qwen", {"api_base": None}, "alias 'ollama-qwen' is a ollama tier and needs an http\\(s\\) api_base .*ollama serve"),
    ("vllm-qwen", {"api_base": "vllm-api:8000"}, "alias 'vllm-qwen' is a vllm tier and needs an http\\(s\\) api_base"),
    ("openai-gpt4o", {"api_key": "sk-live-123"}, "alias 'openai-gpt4o' api_key must be an os.environ/VAR reference"),
    ("vllm-qwen", {"timeout": 0}, "alias 'vllm-qwen' timeout must be a number of seconds > 0, got 0"),
    ("vllm-qwen", {"timeout": "30"}, "alias 'vllm-qwen' timeout must be a number of seconds > 0, got '30'"),
    ("openai-gpt4o", {"api_key_env": "OPENAI API KEY"}, "api_key_env must be an environment variable name"),
])
def test_alias_rules(alias, change, message):
    aliases = copy.deepcopy(ALIASES)
    aliases[alias].update(change)
    if change.get("api_base", "x") is None:
        aliases[alias].pop("api_base")
    with pytest.raises(core.LiteLLMConfigError, match=message):
        build(aliases=aliases)


def test_secret_in_extra_params_is_refused():
    aliases = copy.deepcopy(ALIASES)
    aliases["openai-gpt4o"]["extra"] = {"api_key": "sk-live-123"}
    with pytest.raises(core.LiteLLMConfigError, match="alias 'openai-gpt4o' api_key must be an os.environ/VAR"):
        build(aliases=aliases)


@pytest.mark.parametrize("general,message", [
    ({"master_key": "sk-1234"}, "general_settings.master_key must be an os.environ/VAR reference"),
    ({"master_key": "os.environ/LITELLM_MASTER_KEY", "database_url": "postgresql://u:p@db/litellm"},
     "general_settings.database_url must be an os.environ/VAR reference"),
])
def test_general_settings_secrets(general, message):
    with pytest.raises(core.LiteLLMConfigError, match=message):
        build(general_settings=general)


def test_fallbacks_in_one_place_only():
    with pytest.raises(core.LiteLLMConfigError, match="fallbacks are defined in litellm_settings and elsewhere"):
        build(litellm_settings={"fallbacks": FALLBACKS})
    with pytest.raises(core.LiteLLMConfigError, match="both as the fallbacks option and in router_settings"):
        build(router_settings=dict(ROUTER, fallbacks=FALLBACKS))
    config = build(fallbacks=None, router_settings=dict(ROUTER, fallbacks=FALLBACKS))
    assert config["router_settings"]["fallbacks"] == FALLBACKS


def test_unknown_router_settings_are_named():
    with pytest.raises(core.LiteLLMConfigError, match="does not accept .*: cooldown, retries"):
        build(router_settings=dict(ROUTER, retries=2, cooldown=30))


@pytest.mark.parametrize("router", [{"allowed_fails": 1, "cooldown_time": 30, "num_retries": 0},
                                    {"disable_cooldowns": False}, {}])
def test_cooldowns_refused_with_a_fallback_chain(router):
    with pytest.raises(core.LiteLLMConfigError, match="disable_cooldowns must be true when fallbacks are defined"):
        build(router_settings=router)
    assert build(router_settings=router, fallbacks=None)["router_settings"] == router  # no chain, nothing to break


def test_max_fallbacks_shorter_than_the_chain_refused():
    with pytest.raises(core.LiteLLMConfigError, match="max_fallbacks 1 stops the fallbacks of 'vllm-qwen' before "
                                                      "openai-gpt4o"):
        build(router_settings=dict(ROUTER, max_fallbacks=1))
    assert build(router_settings=dict(ROUTER, max_fallbacks=2))["router_settings"]["max_fallbacks"] == 2
    with pytest.raises(core.LiteLLMConfigError, match="max_fallbacks must be an integer >= 1"):
        build(router_settings=dict(ROUTER, max_fallbacks=0))


def test_allowed_fails_type():
    with pytest.raises(core.LiteLLMConfigError, match="allowed_fails must be an integer >= 0"):
        build(router_settings=dict(ROUTER, allowed_fails="1"))


@pytest.mark.parametrize("settings,message", [
    ({"router_settings": dict(ROUTER, timeout=-1)}, "router_settings.timeout must be a number of seconds > 0"),
    ({"litellm_settings": {"request_timeout": 0}}, "litellm_settings.request_timeout must be a number of seconds > 0"),
    ({"router_settings": dict(ROUTER, cooldown_time=0)}, "router_settings.cooldown_time must be a number of seconds > 0"),
])
def test_timeouts_positive(settings, message):
    with pytest.raises(core.LiteLLMConfigError, match=message):
        build(**settings)


def test_no_aliases():
    with pytest.raises(core.LiteLLMConfigError, match="aliases must be a non-empty dict"):
        build(aliases={})


QWEN, R1 = "Qwen/Qwen2.5-7B-Instruct-AWQ", "casperhansen/deepseek-r1-distill-qwen-7b-awq"


@pytest.mark.parametrize("served, reaches, skipped, then", [
    ({QWEN}, "vllm-qwen", [], ["ollama-qwen", "openai-gpt4o"]),  # ml mode, vLLM Ready
    ({R1}, "ollama-qwen", ["vllm-qwen"], ["openai-gpt4o"]),  # r1 mode: vLLM answers another model
    (set(), "ollama-qwen", ["vllm-qwen"], ["openai-gpt4o"]),  # gaming, or not Ready yet
])
def test_route_of_vllm_qwen_in_each_mode(served, reaches, skipped, then):
    config = yaml.safe_load(core.render(build())[0])  # the config.yaml LiteLLM reads
    expected = {"alias": "vllm-qwen", "reaches": reaches, "skipped": skipped, "then": then}
    assert core.route(config, "vllm-qwen", served) == expected


def test_route_follows_the_fallbacks_of_fallbacks_and_skips_every_alias_the_gpu_does_not_serve():
    config = build(fallbacks={"vllm-r1": ["vllm-qwen", "ollama-qwen"], "vllm-qwen": ["openai-gpt4o"]})
    assert core.route(config, "vllm-r1", {QWEN}) == {
        "alias": "vllm-r1", "reaches": "vllm-qwen", "skipped": ["vllm-r1"], "then": ["openai-gpt4o", "ollama-qwen"]}
    assert core.route(config, "vllm-r1", set())["skipped"] == ["vllm-r1", "vllm-qwen"]


def test_route_with_no_tier_left_and_of_an_unknown_alias():
    config = build(fallbacks={"vllm-qwen": ["vllm-r1"]})
    expected = {"alias": "vllm-qwen", "reaches": None, "skipped": ["vllm-qwen", "vllm-r1"], "then": []}
    assert core.route(config, "vllm-qwen", set()) == expected
    with pytest.raises(core.LiteLLMConfigError, match="no alias 'gpt-5'.*aliases: ollama-qwen, openai-gpt4o"):
        core.route(config, "gpt-5", set())


def test_model_id_drops_only_a_provider_prefix():
    assert core.model_id("openai/Qwen/Qwen2.5-7B-Instruct-AWQ") == QWEN
    assert core.model_id("ollama/qwen2.5:3b") == "qwen2.5:3b"
    assert core.model_id("Qwen/Qwen2.5") == "Qwen/Qwen2.5"  # no provider prefix
