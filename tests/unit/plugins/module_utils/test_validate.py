"""module_utils/validate: the API server's name rules and port range, each refusal naming variable and value."""

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import validate as v


@pytest.mark.parametrize("kind,good,bad", [
    ("port", [1, 4000, "8080", 65535], [0, 65536, 99999, -1, "http", True, None, 4000.5]),
    ("namespace", ["ml", "kube-system", "a" * 63, "0ns"], ["ML", "-ml", "ml-", "m.l", "a" * 64, "", 5]),
    ("service", ["litellm", "vllm-api", "a" * 63], ["0svc", "Svc", "svc-", "s.vc", "a" * 64, ""]),
    ("name", ["vllm-server", "litellm.config", "0abc"], ["Vllm", "a..b", "-x", "x-", "a" * 254, ""]),
    ("size", ["20Gi", "512Mi", "1Ti", "1.5Gi", "100M", "1e9", "4Gi"], ["20GB", "0Gi", "0", "-1Gi", "Gi", "20 Gi", 20, ""]),
    ("duration", ["15d", "336h", "1w2d", "90m", "30s", "500ms", "1y"], ["15 days", "2d1w", "0d", "15", "d", "1.5h", ""]),
    ("schedule", ["30 2 * * *", "0 */12 * * *", "*/30 * * * *", "0 2 * * mon-fri", "0 0 1,15 * *", "@daily",
                  "@hourly"], ["61 2 * * *", "30 25 * * *", "* * * *", "* * * * * *", "0 2 * * 7", "5-1 * * * *",
                               "*/0 * * * *", "@every 5m", "daily", ""]),
    ("version", ["1.102.5", "v1.2.3", "1.17.8-1", "0.17.3", "1.0.0+build.1"], ["latest", "1.2", "v1", "", 1.2]),
    ("k3s_version", ["v1.34.3+k3s1", "v1.35.0-rc1+k3s1"], ["1.34.3", "v1.34.3", "v1.34.3-k3s1", "latest"]),
    ("seconds", [1, 300, "600"], [0, -5, "5m", 1.5, True, None]),
    ("hostname", ["", "gpu-box", "GPU-1", "a" * 63], ["gpu_box", "GPU box", "-gpu", "gpu.lan", "a" * 64]),
    ("alias", ["vllm-qwen", "ollama-llama3.2", "cloud-claude"], ["", "Qwen/Qwen2.5-7B-Instruct", "vllm qwen", 7]),
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


def test_kind_of_a_name_never_reads_a_boolean_or_a_count_as_a_name_or_duration():
    assert v.kind_of("litellm_create_namespace") is None  # a role's bool; namespace names are homelab_*_namespace
    assert v.kind_of("k3s_etcd_snapshot_retention") is None  # a count of snapshots, not a duration
    assert v.kind_of("k3s_etcd_snapshot_schedule_cron") == "schedule"
    assert v.kind_of("k3s_version") == "k3s_version" and v.kind_of("tailscale_version") == "version"
    assert v.kind_of("monitoring_log_retention") == "duration" and v.kind_of("gpu_mode_timeout") == "seconds"
    assert v.kind_of("k3s_node_name") == "name"  # K3s registers the Node under it


def test_checked_variables_are_this_collections_own():
    names = ["homelab_litellm_port", "postgres_storage_size", "ansible_port", "ansible_version", "other_size",
             "litellm_create_namespace", "k3s_version", "k3s_token"]
    assert v.checked_variables(names) == ["homelab_litellm_port", "k3s_version", "postgres_storage_size"]


def test_the_checked_prefixes_are_the_roles():
    import os

    roles = os.path.join(os.path.dirname(v.__file__), "..", "..", "roles")
    assert sorted(v.PREFIXES) == sorted(["homelab"] + [name for name in os.listdir(roles) if name != "homelab"])


def test_every_default_of_a_checked_kind_passes():
    import glob
    import os

    import yaml

    roles = os.path.join(os.path.dirname(v.__file__), "..", "..", "roles")
    values = {}
    for path in glob.glob(os.path.join(roles, "*", "defaults", "main.yml")):
        with open(path, encoding="utf-8") as handle:
            values.update({k: val for k, val in (yaml.safe_load(handle) or {}).items()
                           if not (isinstance(val, str) and "{{" in val)})
    checked = v.checked_variables(values)
    assert len(checked) > 30
    assert v.value_problems({name: values[name] for name in checked}) == []
