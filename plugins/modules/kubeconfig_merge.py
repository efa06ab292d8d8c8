#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeconfig_merge
short_description: Merge a K3s kubeconfig into a kubeconfig file under its own context
description:
  - Takes the kubeconfig K3s writes on a server (cluster, user and context all called C(default),
    server C(https://127.0.0.1:6443)), renames its cluster, user and context to O(context),
    points it at O(server), and merges it into the kubeconfig file at O(path).
  - Other clusters, users and contexts in the file are kept untouched.
  - The file is written atomically with mode O(mode); credentials are never shown in output or diff.
version_added: 0.1.0
author:
  - homelab.platform developers (@homelab)
options:
  path:
    description: Kubeconfig file to create or update, usually on the controller.
    type: path
    required: true
  kubeconfig:
    description: Content of the K3s kubeconfig (C(/etc/rancher/k3s/k3s.yaml)).
    type: str
    required: true
  server:
    description: API server URL clients should use, e.g. the first server's Tailscale address.
    type: str
    required: true
  context:
    description: Name given to the cluster, user and context.
    type: str
    default: homelab
  set_current_context:
    description: Make O(context) the current context. When false, the current context changes only if the file had none.
    type: bool
    default: true
  mode:
    description: File mode of O(path).
    type: raw
    default: "0600"
extends_documentation_fragment:
  - homelab.platform.check_mode_diff
requirements:
  - PyYAML
"""

EXAMPLES = r"""
- name: Merge the cluster's kubeconfig on the controller
  homelab.platform.kubeconfig_merge:
    path: ~/.kube/config
    kubeconfig: "{{ k3s_kubeconfig.content | b64decode }}"
    server: https://100.84.89.67:6443
    context: homelab
  delegate_to: localhost
  become: false
"""

RETURN = r"""
contexts:
  description: Context names in the file after the merge.
  returned: always
  type: list
  elements: str
  sample: [homelab, work]
current_context:
  description: The file's current context after the merge.
  returned: always
  type: str
  sample: homelab
"""

import os
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.platform.plugins.module_utils import kubeconfig as core

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            kubeconfig=dict(type="str", required=True, no_log=True),
            server=dict(type="str", required=True),
            context=dict(type="str", default="homelab"),
            set_current_context=dict(type="bool", default=True),
            mode=dict(type="raw", default="0600"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    p = module.params
    path = p["path"]

    try:
        new = core.rename(yaml.safe_load(p["kubeconfig"]), p["context"], p["server"])
    except (yaml.YAMLError, core.KubeconfigError) as exc:
        module.fail_json(msg="cannot use the K3s kubeconfig: %s" % exc)

    existing = None
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as handle:
                existing = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            module.fail_json(msg="cannot read the existing kubeconfig %s: %s (fix or move it; it was left unchanged)" % (path, exc))
    try:
        merged = core.merge(existing, new, set_current=p["set_current_context"])
    except core.KubeconfigError as exc:
        module.fail_json(msg="%s: %s" % (path, exc))

    changed = merged != existing
    result = dict(
        changed=changed,
        contexts=core.summary(merged)["contexts"],
        current_context=merged.get("current-context"),
    )
    if module._diff:
        before = core.summary(existing) if existing else {}
        after = core.summary(merged)
        if changed and before == after:
            after = dict(after, credentials="updated")
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)

    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                yaml.safe_dump(merged, handle, default_flow_style=False, sort_keys=False)
            os.chmod(tmp, 0o600)
            module.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(dict(path=path, mode=p["mode"]))
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
