# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of this collection's controller-side modules (ADR-020).

A module task that runs on the controller itself (connection local, no become, no async, and the Python interpreter
of the host it runs on is the one running ansible-playbook) runs its module in the task's worker process instead of a
new Python process: the module's own main() with its own AnsibleModule, fed the same JSON arguments the AnsiballZ
wrapper feeds it (module_defaults, check mode, diff, no_log and the other internal options included), with the task's
environment in os.environ while it runs, and its printed result parsed by the code that parses a module's output. A
new process costs about 0.6 s before the module's first line, and a site.yml run has about 25 such tasks.

Any other task, a run with homelab_modules_in_worker false, or an ansible-core older than 2.19 (no module
serialization profiles) runs the module the usual way: the module is the reference, this only saves a process.
`-vvv` says which way each task went.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import traceback

from ansible.module_utils import basic
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

try:  # ansible-core 2.19+: the profiles a module's arguments and result travel in
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # pragma: no cover - older ansible-core: every task runs the module the usual way
    Direction = get_module_encoder = None

display = Display()

# The serialization profile of a module that declares none (all of this collection's modules).
PROFILE = "legacy"


def module_path_reason(transport, become, async_val, interpreter, executable=None, serializes=True, wanted=True):
    """None when a task can run its module in the worker; else why it runs the module in a process of its own."""
    if not wanted:
        return "homelab_modules_in_worker is false"
    if not serializes:
        return "this ansible-core has no module serialization profiles (2.19+)"
    if transport != "local":
        return "the connection is %s, not local" % transport
    if become:
        return "the task uses become"
    if async_val:
        return "the task is async"
    executable = executable or sys.executable
    if not interpreter or not same_python(str(interpreter), executable):
        return "the host's Python (%s) is not the controller's (%s)" % (interpreter or "auto", executable)
    return None


def same_python(interpreter, executable):
    """Whether `interpreter` is the Python `executable` is: the same file reached from the same directory (a
    virtualenv's bin/python and bin/python3 are; the system Python a virtualenv links to is not)."""
    interpreter, executable = os.path.normpath(interpreter), os.path.normpath(executable)
    return os.path.dirname(interpreter) == os.path.dirname(executable) and \
        os.path.realpath(interpreter) == os.path.realpath(executable)


def module_name_of(fqcn):
    """The Python module of a module's FQCN (namespace.collection.name)."""
    parts = fqcn.split(".")
    if len(parts) != 3:
        raise ValueError("%r is not a module's fully qualified name" % fqcn)
    return "ansible_collections.%s.%s.plugins.modules.%s" % tuple(parts)


def run_main(module, encoded_args, environment=None, profile=PROFILE):
    """Run a module's main() as the AnsiballZ wrapper would (its JSON arguments in basic._ANSIBLE_ARGS), with
    `environment` added to os.environ while it runs: what it printed, what it wrote to stderr, its exit code. An
    exception that escapes main() is rc 1 with the traceback on stderr, as a module process reports it."""
    saved = basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE  # pylint: disable=protected-access
    environment = {str(key): str(value) for key, value in (environment or {}).items()}
    saved_environ = {key: os.environ.get(key) for key in environment}
    out, err = io.StringIO(), io.StringIO()
    rc = 0
    try:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = encoded_args, profile  # pylint: disable=protected-access
        os.environ.update(environment)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module.main()
        rc = 1
        err.write("the module returned without exit_json or fail_json\n")
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # pylint: disable=broad-exception-caught  # a module process reports any exception the same way
        rc = 1
        err.write(traceback.format_exc())
    finally:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved  # pylint: disable=protected-access
        for key, value in saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out.getvalue(), err.getvalue(), rc


class InWorkerAction(NormalAction):
    """ansible.builtin.normal, whose module runs in the worker where the task runs on the controller itself."""

    def _execute_module(self, module_name=None, module_args=None, tmp=None, task_vars=None, persist_files=False,
                        delete_remote_tmp=None, wrap_async=False, ignore_unknown_opts=False):
        task_vars = task_vars if task_vars is not None else {}
        # the interpreter of the host the module runs on: the delegated one's, as _configure_module reads it
        host_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to, {}) \
            if self._task.delegate_to else task_vars
        reason = module_path_reason(
            transport=getattr(self._connection, "transport", None), become=self._play_context.become,
            async_val=wrap_async or self._task.async_val,
            interpreter=self._templar.template(host_vars.get("ansible_python_interpreter")),
            serializes=get_module_encoder is not None,
            wanted=boolean(self._templar.template(task_vars.get("homelab_modules_in_worker", True)), strict=False))
        if module_name not in (None, self._task.action) or reason:
            display.vvv("%s runs as a module process: %s" % (self._task.resolved_action, reason or "another module"),
                        host=task_vars.get("inventory_hostname"))
            return super()._execute_module(module_name=module_name, module_args=module_args, tmp=tmp,
                                           task_vars=task_vars, persist_files=persist_files,
                                           delete_remote_tmp=delete_remote_tmp, wrap_async=wrap_async,
                                           ignore_unknown_opts=ignore_unknown_opts)
        display.vvv("%s runs in the worker (ADR-020)" % self._task.resolved_action,
                    host=task_vars.get("inventory_hostname"))
        args = dict(self._task.args if module_args is None else module_args)
        self._update_module_args(self._task.action, args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        encoded = json.dumps({"ANSIBLE_MODULE_ARGS": args},
                             cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode()
        environment = {}
        self._compute_environment_string(raw_environment_out=environment)
        module = importlib.import_module(module_name_of(self._task.resolved_action))
        stdout, stderr, rc = run_main(module, encoded, environment)
        self._used_interpreter = None
        data = self._parse_returned_data({"stdout": stdout, "stderr": stderr, "rc": rc}, PROFILE)
        if rc and not data.get("failed"):  # a traceback, or an exit without a result: fail as a module process does
            data.update(failed=True, rc=rc, module_stderr=stderr,
                        msg=data.get("msg") or "MODULE FAILURE: the module exited %d; see module_stderr" % rc)
        remove_internal_keys(data)
        return data
