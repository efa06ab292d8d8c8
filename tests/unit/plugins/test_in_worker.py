"""plugin_utils/in_worker: which tasks run their module in the worker, and a module's main() run there as the
AnsiballZ wrapper runs it (arguments in, printed result, exit code, environment) with a real AnsibleModule."""

import json
import os
import sys
import types

import pytest
from ansible.module_utils import basic

from ansible_collections.homelab.platform.plugins.plugin_utils import in_worker

LOCAL = dict(transport="local", become=False, async_val=0, interpreter=sys.executable)


def test_a_local_task_on_the_controllers_python_runs_in_the_worker():
    assert in_worker.module_path_reason(**LOCAL) is None
    assert in_worker.module_path_reason(**{**LOCAL, "interpreter": sys.executable + "/."}) is None  # same path


@pytest.mark.parametrize("change,reason", [
    ({"wanted": False}, "homelab_modules_in_worker is false"),
    ({"serializes": False}, "no module serialization profiles"),
    ({"transport": "ssh"}, "the connection is ssh, not local"),
    ({"become": True}, "the task uses become"),
    ({"async_val": 30}, "the task is async"),
    ({"interpreter": "/usr/bin/python3", "executable": "/opt/venv/bin/python"},
     "the host's Python (/usr/bin/python3) is not the controller's (/opt/venv/bin/python)"),
    ({"interpreter": None}, "the host's Python (auto)"),
], ids=["switched off", "old core", "ssh", "become", "async", "other python", "auto"])
def test_any_other_task_runs_its_module_as_a_process_and_says_why(change, reason):
    assert reason in in_worker.module_path_reason(**dict(LOCAL, **change))


def test_a_virtualenvs_python_and_python3_are_one_python_its_base_python_is_not(tmp_path):
    base = tmp_path / "usr" / "bin" / "python3.11"
    base.parent.mkdir(parents=True)
    base.write_text("")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(base)
    (venv / "python3").symlink_to("python")
    assert in_worker.same_python(str(venv / "python"), str(venv / "python3"))
    assert in_worker.same_python(str(venv / "python3"), str(venv / ".." / "bin" / "python3"))
    assert not in_worker.same_python(str(base), str(venv / "python3"))  # another site-packages
    assert not in_worker.same_python(str(venv / "python"), str(tmp_path / "other" / "python"))


def test_the_python_module_of_a_modules_fqcn():
    assert in_worker.module_name_of("homelab.platform.k8s_apply") == \
        "ansible_collections.homelab.platform.plugins.modules.k8s_apply"
    with pytest.raises(ValueError, match="not a module's fully qualified name"):
        in_worker.module_name_of("k8s_apply")


def fake_module(body):
    """A module object whose main() builds a real AnsibleModule and runs `body(module)`."""

    def main():
        module = basic.AnsibleModule(argument_spec=dict(name=dict(type="str", required=True),
                                                        secret=dict(type="str", no_log=True)),
                                     supports_check_mode=True)
        body(module)

    return types.SimpleNamespace(main=main)


def encoded(**args):
    return json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False)}).encode()


def result_of(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_main_reads_its_arguments_and_its_result_is_printed_without_the_no_log_value():
    module = fake_module(lambda m: m.exit_json(changed=True, said="%s/%s" % (m.params["name"], m.params["secret"])))
    stdout, stderr, rc = in_worker.run_main(module, encoded(name="web", secret="s3cr3t-value"))
    result = result_of(stdout)
    assert rc == 0 and stderr == "" and result["changed"] is True
    assert result["said"] == "web/********" and "s3cr3t-value" not in stdout
    assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_a_failure_is_exit_code_1_with_its_message_and_the_module_arguments_are_put_back():
    before = basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE  # pylint: disable=protected-access
    stdout, _stderr, rc = in_worker.run_main(fake_module(lambda m: m.fail_json(msg="no such object")), encoded(name="x"))
    assert rc == 1 and result_of(stdout)["failed"] is True and result_of(stdout)["msg"] == "no such object"
    assert (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE) == before  # pylint: disable=protected-access


def test_bad_arguments_fail_as_a_module_process_fails():
    stdout, _stderr, rc = in_worker.run_main(fake_module(lambda m: m.exit_json()), encoded(name="x", nam="typo"))
    assert rc == 1 and "Unsupported parameters" in result_of(stdout)["msg"]


def test_an_exception_is_exit_code_1_with_its_traceback_on_stderr():
    def body(_module):
        raise RuntimeError("the module broke")

    stdout, stderr, rc = in_worker.run_main(fake_module(body), encoded(name="x"))
    assert rc == 1 and stdout == "" and "RuntimeError: the module broke" in stderr


def test_a_main_that_returns_without_a_result_is_a_failure():
    stdout, stderr, rc = in_worker.run_main(types.SimpleNamespace(main=lambda: None), encoded(name="x"))
    assert rc == 1 and stdout == "" and "without exit_json or fail_json" in stderr


def test_the_tasks_environment_is_seen_by_the_module_and_put_back_after(monkeypatch):
    monkeypatch.setenv("HOMELAB_TEST_KEPT", "before")
    monkeypatch.delenv("HOMELAB_TEST_ADDED", raising=False)

    def body(module):
        module.exit_json(kept=os.environ["HOMELAB_TEST_KEPT"], added=os.environ["HOMELAB_TEST_ADDED"])

    stdout, _stderr, rc = in_worker.run_main(fake_module(body), encoded(name="x"),
                                             {"HOMELAB_TEST_KEPT": "task", "HOMELAB_TEST_ADDED": 7})
    assert rc == 0 and result_of(stdout)["kept"] == "task" and result_of(stdout)["added"] == "7"
    assert os.environ["HOMELAB_TEST_KEPT"] == "before" and "HOMELAB_TEST_ADDED" not in os.environ


def test_every_action_of_the_collection_is_the_in_worker_action_of_a_module_of_the_same_name():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    actions = sorted(name[:-3] for name in os.listdir(os.path.join(root, "plugins", "action")) if name.endswith(".py"))
    assert actions, "no action plugins"
    for name in actions:
        assert os.path.isfile(os.path.join(root, "plugins", "modules", name + ".py")), name
        plugin = __import__("ansible_collections.homelab.platform.plugins.action." + name, fromlist=["ActionModule"])
        assert issubclass(plugin.ActionModule, in_worker.InWorkerAction), name
