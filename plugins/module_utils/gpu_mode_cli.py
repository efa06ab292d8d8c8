# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `gpu-mode` command on the GPU worker, built on module_utils/gpu_mode.py.

  gpu-mode ml|r1|gaming|<mode>   switch (and remember the choice)
  gpu-mode status                show the current mode, who holds the VRAM and where LiteLLM
                                 sends vllm-qwen requests in this mode
  gpu-mode run -- COMMAND...     gaming while COMMAND runs (a Steam launch option:
                                 `gpu-mode run -- %command%`), then the mode from before
  gpu-mode boot                  what gpu-mode-default.service runs at boot: wait for the
                                 API, then apply the remembered choice if it was gaming
                                 (sticky), else the default mode

Without root, a member of the gpu-mode group runs status|ml|r1|gaming|run the same way: the
command goes through the gpu_mode role's sudo rule (module_utils/gpu_mode_sudo.py).

Exit codes: 0 done, 1 failed, 2 usage, 3 timed out, 4 API unreachable/refused, 5 not enough VRAM;
`run` exits with the command's own exit code (128 + N when a signal N ended it).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from . import gpu_mode as core
from . import gpu_mode_run
from . import litellm_config
from . import gpu_mode_sudo
from . import nvidia
from .k8s_client import ClientConfigError, api_client

CONFIG_DIR = "/etc/gpu-mode"
STATE_FILE = "/var/lib/gpu-mode/choice"
DESCRIPTION_ANNOTATION = "gpu-mode.homelab.platform/description"


def load_modes(directory):
    import yaml

    modes = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                    mode = (doc.get("metadata", {}).get("labels") or {}).get(core.MODE_LABEL)
                    if mode:
                        modes[mode] = doc
    return modes


def read_config(path):
    config = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    config[key.strip()] = value.strip().strip('"')
    return config


def describe(mode, modes):
    if mode == core.GAMING:
        return "Gaming mode: vLLM scaled to 0, GPU free"
    body = modes.get(mode) or {}
    text = ((body.get("metadata") or {}).get("annotations") or {}).get(DESCRIPTION_ANNOTATION)
    return "%s mode%s" % (mode.upper(), (": " + text) if text else "")


def litellm_tier(api, config, namespace, deployment, ready):
    """Where LiteLLM sends requests for LITELLM_ALIAS (default vllm-qwen) now, from the proxy's own
    config.yaml in its ConfigMap and the model vLLM serves (ready: vLLM has a Ready pod). None when
    LITELLM_CONFIGMAP is set empty (no LiteLLM); {"alias", "error"} when it cannot be told."""
    import yaml

    name = config.get("LITELLM_CONFIGMAP", "litellm-config")
    if not name:
        return None
    alias = config.get("LITELLM_ALIAS", "vllm-qwen")
    litellm_namespace = config.get("LITELLM_NAMESPACE", namespace)
    where = "%s/%s" % (litellm_namespace, name)
    key = config.get("LITELLM_KEY", "config.yaml")
    try:
        data = api.get_config_map(litellm_namespace, name)
        if data is None or key not in data:
            raise litellm_config.LiteLLMConfigError(
                "no %s in the ConfigMap %s (the litellm role writes it)" % (key, where) if data is not None
                else "no ConfigMap %s (the litellm role writes it)" % where)
        served = set(core.served_models(api.get_deployment(namespace, deployment))) if ready else set()
        return litellm_config.route(yaml.safe_load(data[key]) or {}, alias, served)
    except (core.GpuModeError, litellm_config.LiteLLMConfigError, yaml.YAMLError) as exc:
        return {"alias": alias, "error": str(exc).splitlines()[0]}


def tier_line(tier):
    """One line for `gpu-mode status`."""
    alias = tier["alias"]
    if "error" in tier:
        return "LiteLLM: where %s requests go is not known: %s" % (alias, tier["error"])
    after = (" (if it fails: %s)" % ", ".join(tier["then"])) if tier["then"] else ""
    if tier["reaches"] == alias:
        return "LiteLLM: %s requests reach vLLM on this GPU%s" % (alias, after)
    skipped = "%s not served in this mode" % ", ".join(tier["skipped"])
    if tier["reaches"] is None:
        return "LiteLLM: %s requests fail: %s, no fallback left" % (alias, skipped)
    return "LiteLLM: %s requests fall back to %s (%s)%s" % (alias, tier["reaches"], skipped, after)


class Progress:
    """One line per change of what is seen, with elapsed seconds and pod phases."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def __call__(self, elapsed, pods):
        seen = ", ".join("%s %s%s" % (p["name"], "Ready" if p["ready"] else p["phase"],
                                      " (terminating)" if p["terminating"] else "") for p in pods) or "no vLLM pods"
        if seen != self.last:
            self.stream.write("[%5.1fs] %s\n" % (elapsed, seen))
            self.stream.flush()
            self.last = seen


def remember(mode, path=STATE_FILE):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(mode + "\n")
    os.replace(path + ".tmp", path)


def remembered(path=STATE_FILE):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def wait_for_api(api, namespace, deployment, budget, out, sleep=time.sleep, clock=time.monotonic):
    deadline = clock() + budget
    while True:
        try:
            api.get_deployment(namespace, deployment)
            return
        except core.GpuModeError as exc:
            if clock() >= deadline:
                raise core.GpuModeError("the Kubernetes API did not answer within %ds: %s" % (budget, exc),
                                        exit_code=core.EXIT_API) from exc
            out.write("waiting for the Kubernetes API...\n")
            sleep(2)


def local_gpu(nvidia_smi="nvidia-smi"):
    """This node's first GPU from nvidia-smi, or None without a driver (no VRAM preflight then)."""
    import shutil
    import subprocess

    binary = shutil.which(nvidia_smi)
    if not binary:
        return None
    proc = subprocess.run([binary, "-q", "-x"], capture_output=True, text=True, check=False, timeout=30)
    if proc.returncode != 0:
        return None
    try:
        gpus = nvidia.parse(proc.stdout)["gpus"]
    except nvidia.NvidiaSmiError:
        return None
    return gpus[0] if gpus else None


def parser():
    p = argparse.ArgumentParser(prog="gpu-mode", description="Share the GPU between ML inference and gaming.")
    p.add_argument("mode", help="ml, r1, gaming, status, boot, run, or another mode from the modes directory")
    p.epilog = "run: gpu-mode [--timeout N] run -- COMMAND [ARGS...]"
    p.add_argument("--timeout", type=int, help="seconds to wait for the switch (default from the config, 300)")
    p.add_argument("--no-wait", action="store_true", help="return once the change is applied")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--config", default=os.path.join(CONFIG_DIR, "config"), help="KEY=VALUE settings file")
    p.add_argument("--user-env", help=argparse.SUPPRESS)  # run through the sudo rule (gpu_mode_sudo)
    return p


def sudo_allows(argv):
    """`sudo -n -l COMMAND`: whether the sudo rules let this user run it without a password."""
    try:
        return subprocess.run(["sudo", "-n", "-l"] + argv[2:], capture_output=True, check=False).returncode == 0
    except OSError:  # no sudo
        return False


def as_user(args, command, err, environ, program, execvp=os.execvp, allowed=sudo_allows):
    """Not root: run the same command again through the gpu-mode group's sudo rule (exec: signals reach it)."""
    options = [name for name, value in (("--timeout", args.timeout), ("--no-wait", args.no_wait),
                                        ("--json", args.json), ("--user-env", args.user_env)) if value]
    if args.config != os.path.join(CONFIG_DIR, "config"):
        options.append("--config")
    why = gpu_mode_sudo.refusal(args.mode, options)
    if why:
        err.write("gpu-mode: %s\n" % why)
        return core.EXIT_USAGE
    if not allowed(gpu_mode_sudo.sudo_argv(program, args.mode, command)):
        err.write("gpu-mode: this user may not switch the GPU: not in the %s group, or its sudo rule is missing "
                  "(the gpu_mode role: gpu_mode_users; then log in again), or run it as root\n" % gpu_mode_sudo.GROUP)
        return core.EXIT_FAILED
    env_file = None
    if args.mode == "run":
        env_file = gpu_mode_sudo.write_user_env(environ, environ.get("XDG_RUNTIME_DIR") or None)
    try:
        execvp("sudo", gpu_mode_sudo.sudo_argv(program, args.mode, command, env_file))
    except OSError as exc:
        if env_file:
            os.unlink(env_file)
        err.write("gpu-mode: cannot run sudo: %s\n" % (exc.strerror or exc))
        return core.EXIT_FAILED
    return core.EXIT_OK  # reached only when execvp is a test's stand-in


def main(argv=None, out=sys.stdout, err=sys.stderr, api=None, state_file=STATE_FILE, sleep=time.sleep,
         clock=time.monotonic, environ=None, user=None):
    """user: (euid, program, execvp, allowed) of the installed command (command()): not root, it goes through
    the sudo rule; None (in-process use, tests): run here."""
    environ = os.environ if environ is None else environ
    euid, program, execvp, allowed = user or (0, None, None, None)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:  # everything after -- is the command of `run`, its options included
        command = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args, extra = parser().parse_known_args(argv)
    if args.mode == "run":
        command = extra + command
    elif extra or command:
        err.write("gpu-mode: unexpected arguments after %s: %s\n" % (args.mode, " ".join(extra + command)))
        return core.EXIT_USAGE
    if euid != 0:
        return as_user(args, command, err, environ, program, execvp, allowed)
    config = read_config(args.config)
    namespace = config.get("NAMESPACE", core.DEFAULT_NAMESPACE)
    deployment = config.get("DEPLOYMENT", core.DEFAULT_DEPLOYMENT)
    timeout = args.timeout or int(config.get("TIMEOUT", "300"))
    try:
        modes = load_modes(config.get("MODES_DIR", os.path.join(CONFIG_DIR, "modes")))
        if api is None:
            api = core.KubernetesApi(api_client(kubeconfig=config.get("KUBECONFIG", os.path.join(CONFIG_DIR, "kubeconfig"))))
        mode = args.mode
        sticky = False
        run_dir = os.path.join(os.path.dirname(state_file), "run")
        if mode == "run":
            caller = gpu_mode_sudo.sudo_user(environ)
            if args.user_env and caller is None:
                raise core.GpuModeError("--user-env is for the sudo rule of the gpu-mode group", exit_code=core.EXIT_USAGE)
            user_env = gpu_mode_sudo.read_user_env(args.user_env, caller) if args.user_env else None
            return gpu_mode_run.run(
                api, modes, command, run_dir, lambda: remembered(state_file),
                {"namespace": namespace, "deployment": deployment, "timeout": timeout, "progress": Progress(err)},
                lambda text: err.write("gpu-mode: %s\n" % text), user=gpu_mode_run.calling_user(environ), env=user_env)
        if mode == "boot":
            with gpu_mode_run.Sessions(run_dir).locked() as sessions:
                sessions.clear()  # no game survives a reboot
            wait_for_api(api, namespace, deployment, int(config.get("API_WAIT", "300")), err, sleep=sleep, clock=clock)
            choice = remembered(state_file)
            sticky = choice == core.GAMING
            mode = core.GAMING if sticky else config.get("DEFAULT_MODE", "ml")
            err.write("boot: %s\n" % ("keeping gaming (chosen before the reboot; `gpu-mode ml` to switch back)"
                                      if sticky else "default mode %s" % mode))
        gpu = local_gpu(config.get("NVIDIA_SMI", "nvidia-smi")) if mode != core.GAMING else None
        result = core.switch(api, mode, modes, namespace=namespace, deployment=deployment, wait=not args.no_wait,
                             timeout=timeout, progress=Progress(err), gpu=gpu)
        if mode == core.STATUS and gpu:
            result["gpu"] = {key: gpu.get(key) for key in ("name", "memory_total_mib", "memory_used_mib", "processes")}
        if mode == core.STATUS:
            tier = litellm_tier(api, config, namespace, deployment,
                                result["mode"] != core.GAMING and result["ready_replicas"] > 0)
            if tier is not None:
                result["litellm"] = tier
        if args.mode not in ("status", "boot"):
            remember(mode, state_file)
    except ClientConfigError as exc:
        err.write("gpu-mode: %s\n" % exc)
        return core.EXIT_API
    except core.GpuModeError as exc:
        err.write("gpu-mode: %s\n" % exc)
        return exc.exit_code
    result.pop("diff", None)
    if args.json:
        out.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        line = describe(result["mode"], modes)
        if result["mode"] != core.GAMING:
            line += " (%d/%d ready)" % (result["ready_replicas"], result["replicas"])
        if result["changed"]:
            line += " - switched from %s in %.1fs" % (result["previous_mode"], result["duration_seconds"])
        out.write(line + "\n")
        if result.get("gpu"):
            out.write(vram_line(result["gpu"]) + "\n")
        if result.get("litellm"):
            out.write(tier_line(result["litellm"]) + "\n")
    return core.EXIT_OK


def command():
    """The installed `gpu-mode` command."""
    return main(user=(os.geteuid(), os.path.realpath(sys.argv[0]), os.execvp, sudo_allows))


def vram_line(gpu):
    """Who holds the GPU's memory, from nvidia-smi (the parser nvidia_gpu_facts uses)."""
    holders = ", ".join("%s (pid %s, %s MiB)" % (p.get("name"), p.get("pid"), p.get("used_memory_mib"))
                        for p in gpu.get("processes") or [])
    return "GPU memory: %s of %s MiB in use%s" % (gpu.get("memory_used_mib"), gpu.get("memory_total_mib"),
                                                  ("; held by " + holders) if holders else "; no process holds VRAM")
