"""module_utils/validate: the API server's name rules and port range, each refusal naming variable and value."""

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import validate as v


@pytest.mark.parametrize("kind,good,bad", [
    ("port", [1, 4000, "8080", 65535], [0, 65536, 99999, -1, "http", True, None, 4000.5]),
    ("namespace", ["ml", "kube-system", "a" * 63, "0ns"], ["ML", "-ml", "ml-", "m.l", "a" * 64, "", 5]),
    ("service", ["litellm", "vllm-api", "a" * 63], ["0svc", "Svc", "svc-", "s.vc", "a" * 64, ""]),
    ("name", ["vllm-server", "litellm.config", "0abc"], ["Vllm", "a..b", "-x", "x-", "a" * 254, ""]),
])
def test_each_kind_has_the_api_servers_rule(kind, good, bad):
    assert [value for value in good if not v.is_valid(kind, value)] == []
    assert [value for value in bad if v.is_valid(kind, value)] == []


def test_problems_name_the_variable_the_value_and_what_is_allowed():
    problems = v.value_problems({"homelab_litellm_port": 99999, "homelab_vllm_namespace": "ML",
                                 "homelab_litellm_service": "9litellm", "homelab_vllm_deployment": "vllm_server",
                                 "homelab_domain": "NOT CHECKED", "homelab_ollama_port": 11434})
    assert problems == [
        "homelab_litellm_port: 99999 is not a port number, 1-65535",
        "homelab_litellm_service: '9litellm' is not a Service name: a DNS-1035 label (lower case letters, digits and "
        "'-', starting with a letter and ending with a letter or digit, at most 63 characters)",
        "homelab_vllm_deployment: 'vllm_server' is not an object name: a DNS-1123 subdomain (lower case letters, "
        "digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters)",
        "homelab_vllm_namespace: 'ML' is not a Namespace name: a DNS-1123 label (lower case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters)",
    ]


def test_kinds_can_be_given_and_an_unknown_kind_is_refused():
    assert v.value_problems({"litellm_listen": 0}, kinds={"litellm_listen": "port"}) == [
        "litellm_listen: 0 is not a port number, 1-65535"]
    with pytest.raises(v.ValidationError, match="unknown kind 'color'"):
        v.value_problems({"x": 1}, kinds={"x": "color"})
