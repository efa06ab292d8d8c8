"""The filter plugins turn core errors into AnsibleFilterError naming the filter and the value."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.platform.plugins.filter.dpkg import FilterModule as DpkgFilters
from ansible_collections.homelab.platform.plugins.filter.k3s import FilterModule as K3sFilters
from ansible_collections.homelab.platform.plugins.filter.network import FilterModule as NetworkFilters

NET = NetworkFilters().filters()
K3S = K3sFilters().filters()


def test_network_filters_are_registered():
    assert {"cidr_conflicts", "tailscale_ip", "network_preflight"} <= set(NET)
    assert NET["cidr_conflicts"]({"lan": "192.168.2.0/24", "pods": "10.42.0.0/16"}) == []
    assert NET["tailscale_ip"](["192.168.0.100", "100.80.98.64"]) == "100.80.98.64"


@pytest.mark.parametrize("bad,message", [
    ({"lan": "192.168.2.0/33"}, "cidr_conflicts: lan: '192.168.2.0/33' is not a valid CIDR"),
    ("192.168.2.0/24", "cidr_conflicts: expected a list of CIDRs or a dict"),
])
def test_cidr_conflicts_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        NET["cidr_conflicts"](bad)


def test_tailscale_ip_bad_input():
    with pytest.raises(AnsibleFilterError, match="tailscale_ip: 'nope' is not an IP address"):
        NET["tailscale_ip"](["nope"])


def test_k3s_filters():
    assert K3S["k3s_labels"]({"a": "b"}) == ["a=b"]
    with pytest.raises(AnsibleFilterError, match="not a K3s release version"):
        K3S["k3s_version"]("latest")


def test_litellm_config_renders_what_the_module_renders_and_refuses_a_bad_chain():
    from ansible_collections.homelab.platform.plugins.filter.litellm import FilterModule as LiteLLMFilters
    from ansible_collections.homelab.platform.plugins.module_utils import litellm_config as core

    class Tagged(str):  # a templating engine hands over str subclasses, which YAML cannot represent as such
        pass

    render = LiteLLMFilters().filters()["litellm_config"]
    aliases = {Tagged("ollama-qwen"): {"model": Tagged("ollama/qwen2.5:3b"), "api_base": "http://ollama:11434"},
               "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}
    fallbacks = {"ollama-qwen": ["openai-gpt4o"]}
    out = render(aliases, fallbacks=fallbacks, router_settings={"disable_cooldowns": True})
    plain = {"ollama-qwen": {"model": "ollama/qwen2.5:3b", "api_base": "http://ollama:11434"},
             "openai-gpt4o": {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}
    text, checksum = core.render(core.build(plain, fallbacks, {"disable_cooldowns": True}))
    assert out == {"config": text, "checksum": checksum}
    with pytest.raises(AnsibleFilterError, match="vllm-qwen"):
        render(aliases, fallbacks={"vllm-qwen": ["ollama-qwen"]}, router_settings={"disable_cooldowns": True})


def test_dpkg_filters_are_registered_and_name_themselves_on_a_bad_spec():
    dpkg = DpkgFilters().filters()
    assert dpkg["dpkg_query_argv"](["sudo"])[-1] == "sudo"
    assert dpkg["dpkg_missing"]("sudo 1.9 install installed\n", ["sudo", "curl"]) == ["curl"]
    assert dpkg["dpkg_unheld"]("sudo 1.9 hold installed\n", ["sudo=1.9", "curl"]) == ["curl"]
    assert dpkg["dpkg_selection"]("sudo 1.9 hold installed\n", "sudo") == "hold"
    with pytest.raises(AnsibleFilterError, match="missing: a package is 'name'"):
        dpkg["dpkg_missing"]("", ["=1.0"])
