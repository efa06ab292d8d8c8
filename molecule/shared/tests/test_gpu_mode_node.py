"""The gpu_mode role on the lab's GPU worker: command, modes, kubeconfig, boot unit."""

import pytest
import yaml
from conftest import AGENTS, names, host

GPU = names("gpu_workers")
OTHERS = [n for n in AGENTS if n not in GPU]


@pytest.mark.parametrize("name", GPU)
def test_command_and_modes(name):
    h = host(name)
    assert h.file("/usr/local/bin/gpu-mode").mode == 0o755
    assert "ml, r1, gaming, status, boot" in h.check_output("gpu-mode --help")
    ml = yaml.safe_load(h.file("/etc/gpu-mode/modes/ml.yaml").content_string)
    r1 = yaml.safe_load(h.file("/etc/gpu-mode/modes/r1.yaml").content_string)
    assert ml["metadata"]["labels"]["gpu-mode"] == "ml" and r1["metadata"]["labels"]["gpu-mode"] == "r1"
    assert ml["spec"]["strategy"]["type"] == "Recreate"
    r1_args = r1["spec"]["template"]["spec"]["containers"][0]["args"]
    assert r1_args[r1_args.index("--reasoning-parser") + 1] == "deepseek_r1"
    assert "--enable-reasoning" not in r1_args and "--quantization" not in r1_args
    assert "DEFAULT_MODE=ml" in h.file("/etc/gpu-mode/config").content_string


@pytest.mark.parametrize("name", GPU)
def test_kubeconfig_is_private(name):
    f = host(name).file("/etc/gpu-mode/kubeconfig")
    assert f.mode == 0o600 and f.user == "root"


@pytest.mark.parametrize("name", GPU)
def test_status_with_credentials_the_api_refuses_fails_clearly_with_its_exit_code(name):
    # The lab inventory's gpu-mode kubeconfig carries a bearer token; the lab's API (the k3s
    # stand-in on the first server) accepts only client certificates signed by its client CA.
    run = host(name).run("gpu-mode status")
    assert run.rc == 4
    assert "Kubernetes API refused to" in run.stderr and "401 Unauthorized" in run.stderr


@pytest.mark.parametrize("name", GPU)
def test_boot_unit_enabled_and_ordered_after_the_agent(name):
    h = host(name)
    assert h.service("gpu-mode-default").is_enabled
    props = h.check_output("systemctl show gpu-mode-default -p After -p Type -p ExecStart")
    assert "k3s-agent.service" in props and "Type=oneshot" in props and "gpu-mode boot" in props


@pytest.mark.parametrize("name", OTHERS)
def test_only_gpu_workers_get_it(name):
    assert not host(name).file("/usr/local/bin/gpu-mode").exists
