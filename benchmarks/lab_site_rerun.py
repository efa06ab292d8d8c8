"""The idempotent re-run of the whole site.yml on the running lab (`make lab` first): wall time,
changed per host, and the ten slowest tasks from the profile_tasks callback (ansible.posix).

    .venv/bin/python benchmarks/lab_site_rerun.py [--podman] [--all] [--runs N]

--podman runs the same re-run over Molecule's podman connection instead of the lab inventory's
ssh with pipelining (ADR-013), for comparison. --all lists every task's time, not the ten slowest.
--runs N re-runs N times and prints each wall time and their median (the profile is the last run's):
on a 2-core machine two runs differ by several seconds. Run it on a machine that is otherwise idle:
the figures are wall times.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
TASK = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$", re.M)
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def rerun(podman):
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
               ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               CONTAINERS_CONF=os.path.join(ROOT, "tests", "lab", "containers.conf"), LAB_ROOT=ROOT)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "lab"),
               os.path.join(ROOT, "playbooks", "site.yml")]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as override:
        if podman:  # host vars of a second inventory source beat the lab's group_vars; -e would reach localhost too
            listed = json.loads(subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", command[2], "--list"],
                                               capture_output=True, text=True, env=env, check=True).stdout)
            hosts = {name: {"ansible_connection": "containers.podman.podman"}
                     for name in listed["_meta"]["hostvars"] if name != "localhost"}
            json.dump({"all": {"hosts": hosts}}, override)
            override.flush()
            command += ["-i", override.name]
        start = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        return time.monotonic() - start, proc


def main():
    podman = "--podman" in sys.argv[1:]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv[1:] else 1
    walls, changes = [], []
    for _run in range(runs):
        elapsed, proc = rerun(podman)
        out = proc.stdout + proc.stderr
        recap = RECAP.findall(out)
        if proc.returncode != 0 or not recap:
            sys.exit("site.yml failed (exit %d): is the lab up (make lab)?\n%s" % (proc.returncode, out[-3000:]))
        walls.append(elapsed)
        changes.append(sum(int(changed) for _host, _ok, changed, _unreachable, _failed in recap))
    if runs > 1:
        print("%d re-runs: %s s wall (changed %s); median %.1f s"
              % (runs, ", ".join("%.1f" % w for w in walls), ", ".join(map(str, changes)), statistics.median(walls)))
    print("site.yml re-run on the lab over %s: %.1f s wall, exit %d"
          % ("podman exec" if podman else "ssh with pipelining", elapsed, proc.returncode))
    print("%-16s %6s %8s %12s %7s" % ("host", "ok", "changed", "unreachable", "failed"))
    for host, ok, changed, unreachable, failed in recap:
        print("%-16s %6s %8s %12s %7s" % (host, ok, changed, unreachable, failed))
    tasks = TASK.findall(out)
    facts = [float(seconds) for task, seconds in tasks if task.strip().startswith("Gathering Facts")]
    print("%d tasks, %.1f s in total; fact gathering %d times, %.1f s"
          % (len(tasks), sum(float(seconds) for _task, seconds in tasks), len(facts), sum(facts)))
    shown = tasks if "--all" in sys.argv[1:] else tasks[:10]
    print("%s (profile_tasks):" % ("every task, slowest first" if len(shown) > 10 else "ten slowest tasks"))
    for name, seconds in shown:
        print("  %7ss  %s" % (seconds, name.strip()))


if __name__ == "__main__":
    main()
