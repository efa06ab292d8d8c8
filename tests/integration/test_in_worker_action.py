"""The collection's controller-side modules run in the task's worker (ADR-020) and give what they give as a module
process: ansible-playbook runs the same tasks against the emulated API both ways (homelab_modules_in_worker true and
false) and the results are the same (check mode and diff, changed, the object read, a failure's message), no secret
is printed either way, the task's environment reaches the module, and -vvv says which way each task went."""

import json

import pytest
import yaml

SECRET = "in-worker-secret-NOTASECRET"


def tasks(name):
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                  "data": {"greeting": "hello"}}
    apply = {"objects": [config_map], "secrets": [{"name": name + "-secrets", "namespace": "default",
                                                   "string_data": {"token": SECRET}}]}
    return [
        {"name": "Apply in check mode", "homelab.platform.k8s_apply": apply, "check_mode": True, "diff": True,
         "register": "in_check"},
        {"name": "Apply", "homelab.platform.k8s_apply": apply, "register": "first"},
        {"name": "Apply again", "homelab.platform.k8s_apply": apply, "register": "second"},
        {"name": "Read it back", "homelab.platform.k8s_get": {"kind": "ConfigMap", "namespace": "default", "name": name},
         "register": "read"},
        {"name": "Read a missing one, waiting for a field", "homelab.platform.k8s_get": {
            "kind": "ConfigMap", "namespace": "default", "name": name + "-missing", "wait_for": ["data.x"],
            "timeout": 0}, "register": "missing", "ignore_errors": True},
    ]


def run(playbook_runner, tmp_path, cluster, in_worker):
    name = "in-worker" if in_worker else "in-process"
    pb = tmp_path / (name + ".yml")
    pb.write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        # the connection reaches the module through the task's environment, both ways
        "environment": {"K8S_AUTH_HOST": cluster.url, "K8S_AUTH_API_KEY": "emulator-accepts-any-token"},
        "tasks": tasks(name)}]))
    proc = playbook_runner(pb, "localhost,", "-vvv", "-e", "homelab_modules_in_worker=%s" % in_worker,
                           json_out=True, env={"ANSIBLE_VERBOSE_TO_STDERR": "1"})
    assert proc.returncode == 0 and proc.json is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {task["task"]["name"]: task["hosts"]["localhost"] for task in proc.json["plays"][0]["tasks"]}
    return name, proc, results


@pytest.fixture(scope="module")
def both_ways(cluster, tmp_path_factory):
    from conftest import run_playbook  # pylint: disable=import-outside-toplevel

    tmp_path = tmp_path_factory.mktemp("in-worker")
    return {in_worker: run(run_playbook, tmp_path, cluster, in_worker) for in_worker in (True, False)}


def comparable(result, name):
    """A task's result with what differs by name or by way alone taken out."""
    text = json.dumps({key: value for key, value in result.items() if key not in ("invocation", "_ansible_no_log")})
    return json.loads(text.replace(name, "NAME"))


def test_the_tasks_go_the_way_they_are_told_and_say_so(both_ways):
    worker_stderr, process_stderr = both_ways[True][1].stderr, both_ways[False][1].stderr
    assert worker_stderr.count("homelab.platform.k8s_apply runs in the worker (ADR-020)") == 3
    assert worker_stderr.count("homelab.platform.k8s_get runs in the worker (ADR-020)") == 2
    assert "runs as a module process" not in worker_stderr
    assert process_stderr.count("runs as a module process: homelab_modules_in_worker is false") == 5
    assert "runs in the worker" not in process_stderr


@pytest.mark.parametrize("in_worker", [True, False], ids=["in the worker", "as a process"])
def test_each_way_applies_reads_and_fails_as_the_module_documents(both_ways, in_worker):
    _name, proc, results = both_ways[in_worker]
    assert results["Apply in check mode"]["changed"] is True and "diff" in results["Apply in check mode"]
    assert results["Apply"]["changed"] is True and results["Apply again"]["changed"] is False
    assert results["Read it back"]["object"]["data"] == {"greeting": "hello"}
    assert results["Read a missing one, waiting for a field"]["failed"] is True
    assert SECRET not in proc.stdout + proc.stderr


def test_both_ways_give_the_same_results(both_ways):
    (worker_name, _proc, worker), (process_name, _proc2, process) = both_ways[True], both_ways[False]
    for task in worker:
        assert comparable(worker[task], worker_name) == comparable(process[task], process_name), task
