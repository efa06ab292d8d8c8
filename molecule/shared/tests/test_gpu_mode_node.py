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


def as_user(h, user, command):
    return h.run("su -s /bin/sh %s -c %s", user, command)


@pytest.mark.parametrize("name", GPU)
def test_the_player_switches_without_root_through_the_sudo_rule(name):
    """gpu_mode_users (lab-player) run gpu-mode as root through sudo: the same answer root gets (the lab's API
    refuses the kubeconfig only root can read); options and other modes stay root's."""
    h = host(name)
    rule = h.file("/etc/sudoers.d/homelab-gpu-mode")
    assert (rule.user, rule.mode) == ("root", 0o440) and h.run("visudo -cf /etc/sudoers.d/homelab-gpu-mode").rc == 0
    assert "lab-player" in h.check_output("getent group gpu-mode")
    run = as_user(h, "lab-player", "gpu-mode status")
    assert run.rc == 4 and "401 Unauthorized" in run.stderr, run.stderr
    for refused in ("gpu-mode boot", "gpu-mode --json status", "gpu-mode --config /tmp/x ml"):
        run = as_user(h, "lab-player", refused)
        assert run.rc == 2 and "members of the gpu-mode group may run" in run.stderr, (refused, run.stderr)
    allowed = "sudo -n -l /usr/local/bin/gpu-mode run --user-env /tmp/f -- sh -c true"
    assert as_user(h, "lab-player", allowed).rc == 0
    assert as_user(h, "lab-player", "sudo -n -l /usr/local/bin/gpu-mode status --config /tmp/x").rc != 0


@pytest.mark.parametrize("name", GPU)
def test_run_hands_the_players_environment_to_root_once(name):
    h = host(name)
    run = as_user(h, "lab-player", "TMPDIR=/tmp gpu-mode run -- sh -c 'exit 3'")
    assert run.rc == 4 and "401 Unauthorized" in run.stderr, run.stderr  # read, then the lab's API refused
    assert h.run("ls /tmp/gpu-mode-env-* 2>/dev/null").stdout == ""  # the environment file was read and removed


@pytest.mark.parametrize("name", GPU)
def test_a_user_outside_the_group_cannot_switch(name):
    run = as_user(host(name), "lab-outsider", "gpu-mode gaming")
    assert run.rc == 1 and "not in the gpu-mode group" in run.stderr, run.stderr
