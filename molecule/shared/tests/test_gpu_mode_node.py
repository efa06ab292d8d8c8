"""The gpu_mode role on the lab's GPU worker: command, modes, kubeconfig, boot unit."""

import json

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
    # one file holds the command's code (a zipapp of the module_utils it shares with the gpu_mode module)
    assert h.run("python3 -m zipfile -l /usr/local/bin/gpu-mode").stdout.count("homelab_gpu_mode/") == 8
    assert not h.file("/usr/local/lib/homelab-gpu-mode").exists
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
def test_status_reads_the_lab_api_with_the_service_accounts_token(name):
    """The role wrote a kubeconfig with the gpu-mode-switcher ServiceAccount's token (no client certificate);
    the lab's API takes it, as the kube-apiserver takes a ServiceAccount token."""
    h = host(name)
    kubeconfig = yaml.safe_load(h.file("/etc/gpu-mode/kubeconfig").content_string)
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"token"} and kubeconfig["contexts"][0]["context"]["namespace"] == "ml"
    run = h.run("gpu-mode --json status")
    assert run.rc == 0, run.stderr
    assert json.loads(run.stdout)["mode"] in ("ml", "r1", "gaming")


@pytest.mark.parametrize("name", GPU)
def test_status_with_credentials_the_api_refuses_fails_clearly_with_its_exit_code(name):
    """A token no Secret holds: the lab's API answers 401, gpu-mode says so and exits 4."""
    h = host(name)
    kubeconfig = yaml.safe_load(h.file("/etc/gpu-mode/kubeconfig").content_string)
    kubeconfig["users"][0]["user"] = {"token": "lab-sa.refused-NOTASECRET"}
    h.check_output("install -d -m 0700 /tmp/refused && printf %%s %s > /tmp/refused/kubeconfig", yaml.safe_dump(kubeconfig))
    h.check_output("echo KUBECONFIG=/tmp/refused/kubeconfig > /tmp/refused/config")
    run = h.run("gpu-mode --config /tmp/refused/config status")
    h.run("rm -rf /tmp/refused")
    assert run.rc == 4, run.stdout + run.stderr
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
    """gpu_mode_users (lab-player) run gpu-mode as root through sudo: the same answer root gets (read with the
    kubeconfig only root can read); options and other modes stay root's."""
    h = host(name)
    rule = h.file("/etc/sudoers.d/homelab-gpu-mode")
    assert (rule.user, rule.mode) == ("root", 0o440) and h.run("visudo -cf /etc/sudoers.d/homelab-gpu-mode").rc == 0
    assert "lab-player" in h.check_output("getent group gpu-mode")
    run = as_user(h, "lab-player", "gpu-mode status")
    assert run.rc == 0 and run.stdout == h.run("gpu-mode status").stdout, run.stderr
    for refused in ("gpu-mode boot", "gpu-mode --json status", "gpu-mode --config /tmp/x ml"):
        run = as_user(h, "lab-player", refused)
        assert run.rc == 2 and "members of the gpu-mode group may run" in run.stderr, (refused, run.stderr)
    allowed = "sudo -n -l /usr/local/bin/gpu-mode run --user-env /tmp/f -- sh -c true"
    assert as_user(h, "lab-player", allowed).rc == 0
    assert as_user(h, "lab-player", "sudo -n -l /usr/local/bin/gpu-mode status --config /tmp/x").rc != 0


@pytest.mark.parametrize("name", GPU)
def test_run_hands_the_players_environment_to_root_once(name):
    h = host(name)
    before = json.loads(h.check_output("gpu-mode --json status"))["mode"]
    run = as_user(h, "lab-player", "TMPDIR=/tmp GAME_MARK=lab-game gpu-mode run -- sh -c "
                  "'test \"$(id -un)\" = lab-player && test \"$GAME_MARK\" = lab-game || exit 9; "
                  "gpu-mode status > /tmp/during.txt; exit 3'")
    assert run.rc == 3, run.stdout + run.stderr  # the game's own exit code, run as the player with its environment
    assert h.check_output("cat /tmp/during.txt").startswith("Gaming mode")  # the player's own status, mid-game
    h.run("rm -f /tmp/during.txt")
    assert json.loads(h.check_output("gpu-mode --json status"))["mode"] == before  # the GPU given back
    assert h.run("ls /tmp/gpu-mode-env-* 2>/dev/null").stdout == ""  # the environment file was read and removed


@pytest.mark.parametrize("name", GPU)
def test_a_user_outside_the_group_cannot_switch(name):
    run = as_user(host(name), "lab-outsider", "gpu-mode gaming")
    assert run.rc == 1 and "not in the gpu-mode group" in run.stderr, run.stderr
