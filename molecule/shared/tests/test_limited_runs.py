"""Per-node and per-tag runs of site.yml on the converged lab change nothing (the README's
`--limit HOST --tags TAG`): every functional tag on every host its plays reach, `--limit HOST`
alone, and the whole playbook in check mode with diff.

A tag that selects exactly the same tasks on a host as one already run (epic15 and tailscale, epic13
and gpu_mode, ...) is listed, compared, and not run twice: `--list-tasks` shows it is the same run.
The hosts' runs go side by side (one thread per host, each host's runs one after the other): each run is
limited to its host, and a run that changes anything fails the test whatever the order.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ALL, SCENARIO, recap_changed, run_playbook

LAB_PHASE = 0.5  # conftest: after the checks of the converge, before anything restarts a unit
pytestmark = pytest.mark.skipif(SCENARIO != "default", reason="the default scenario has one host of each kind")


def plays(*tags):
    """[(hosts, tags, tasks)] of every play of site.yml (with --tags: the tasks they select), from
    ansible-playbook's own listing."""
    rc, out = run_playbook("site.yml", "--list-hosts", "--list-tasks", *(["--tags", tags[0]] if tags else []))
    assert rc == 0, out[-3000:]
    found = []
    for block in re.split(r"\n\s*play #\d+ ", out)[1:]:
        play_tags = re.search(r"\tTAGS: \[(.*)\]", block).group(1).split(",")
        hosts = re.search(r"hosts \(\d+\):\n((?:\s+\S+\n)*)", block).group(1).split()
        listed = block.split("tasks:", 1)[1].strip().splitlines() if "tasks:" in block else []
        found.append((hosts, set(play_tags) - {"always", ""}, [line.strip() for line in listed]))
    return found


def host_tags():
    tags = {name: set() for name in ALL}
    for hosts, play_tags, unused_tasks in plays():
        for name in hosts:
            if name in tags:
                tags[name] |= play_tags
    return tags


def per_host(commands):
    """{key: run_playbook(*args)} for {key: (host, args)}: one thread per host, a host's runs in order."""
    queues = {}
    for key, (name, args) in commands.items():
        queues.setdefault(name, []).append((key, args))
    with ThreadPoolExecutor(max_workers=len(queues)) as pool:
        done = pool.map(lambda queue: [(key, run_playbook(*args)) for key, args in queue], queues.values())
        return dict(pair for results in done for pair in results)


@pytest.fixture(scope="module")
def runs():
    """One run per distinct task list: {(host, tag): (exit code, output)}, and the aliases: (host, tag) -> the
    (host, tag) whose tasks on that host are the same."""
    done, aliases, commands = {}, {}, {}
    tags_of = host_tags()
    every_tag = sorted(set().union(*tags_of.values()))
    with ThreadPoolExecutor(max_workers=3) as pool:  # read-only listings, side by side
        selected_by = dict(zip(every_tag, pool.map(plays, every_tag)))
    for name, tags in sorted(tags_of.items()):
        for tag in sorted(tags, key=lambda t: (t.startswith("epic"), t)):  # the README's tags run, epicNN alias
            listed = tuple(task for hosts, unused_tags, selected in selected_by[tag] if name in hosts for task in selected)
            if (name, listed) in done:
                aliases[(name, tag)] = done[(name, listed)]
                continue
            done[(name, listed)] = (name, tag)
            commands[(name, tag)] = (name, ("site.yml", "--limit", name, "--tags", tag))
    return per_host(commands), aliases


@pytest.fixture(scope="module")
def host_runs():
    """`site.yml --limit HOST` for every host, side by side."""
    return per_host({name: (name, ("site.yml", "--limit", name)) for name in ALL})


def test_every_host_has_its_functional_tags():
    tags = host_tags()
    assert {"tailscale", "prereq", "k3s"} <= set.intersection(*tags.values()), tags
    gpu = [name for name in ALL if name.startswith("lab-gpu")]
    assert {"nvidia", "gpu_mode"} <= tags[gpu[0]], tags


def test_each_tag_on_each_host_exits_0_and_changes_nothing(runs):
    results, aliases = runs
    failures = {}
    for (name, tag), (rc, out) in results.items():
        changed = recap_changed(out)
        if rc != 0 or any(changed.values()):
            failures["--limit %s --tags %s" % (name, tag)] = (rc, changed, out[-2500:])
    assert failures == {}, failures
    assert set(aliases.values()) <= set(results)


@pytest.mark.parametrize("name", ALL)
def test_a_limited_run_of_one_host_changes_nothing(host_runs, name):
    rc, out = host_runs[name]
    changed = recap_changed(out)
    assert rc == 0 and set(changed) == {name} and changed[name] == 0, (changed, out[-3000:])


def test_the_whole_site_in_check_mode_with_diff_changes_nothing():
    rc, out = run_playbook("site.yml", "--check", "--diff")
    changed = recap_changed(out)
    assert rc == 0 and not any(changed.values()), (changed, out[-3000:])
