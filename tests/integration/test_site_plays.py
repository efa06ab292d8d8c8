"""What site.yml runs where, read from ansible-playbook's own --list-hosts and --list-tasks on the example
inventory (nothing is executed)."""

import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "homelab")
PLAY = re.compile(r"^  play #(\d+) ")


def listing(option, *extra):
    """{play number: the lines under it} of `ansible-playbook site.yml <option>`."""
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", INVENTORY,
                           os.path.join(ROOT, "playbooks", "site.yml"), option] + list(extra),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plays, current = {}, None
    for line in proc.stdout.splitlines():
        match = PLAY.match(line)
        if match:
            current = plays.setdefault(int(match.group(1)), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return plays


def play_hosts(lines):
    """The hosts of one play in --list-hosts (the lines after "hosts (N):")."""
    start = next(index for index, line in enumerate(lines) if line.startswith("hosts ("))
    return lines[start + 1:]


def test_every_node_is_prepared_exactly_once_per_run_and_by_the_prereq_tag():
    cluster = ["k3s-master", "k3s-worker-01", "k3s-worker-02", "k3s-gpu-worker", "k3s-nas-worker"]
    for tags in ((), ("--tags", "prereq")):
        hosts, tasks = listing("--list-hosts", *tags), listing("--list-tasks", *tags)
        preparing = [number for number, lines in tasks.items()
                     if "homelab.platform.prereq : Install base packages" in " ".join(lines)]
        prepared = collections.Counter(host for number in preparing for host in play_hosts(hosts[number]))
        assert prepared == collections.Counter(cluster), tags
