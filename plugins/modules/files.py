#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: A role's directories and text files on a host in one call
description:
  - Creates the directories O(directories) lists, then writes the text files O(files) and O(secret_files) list,
    then makes the symbolic links O(links) lists, then removes the files O(absent) lists, in one module run
    instead of one task round trip per path (each costs 0.2-0.5 s over ssh whether or not it changes anything).
  - A file is written only when its content differs, atomically (a temporary file beside it, then a rename), with its
    mode, owner and group set before the rename; mode, owner and group are corrected where only they differ.
  - Fails, changing nothing more, on a path that exists as the wrong type or an owner or group the host does not
    have; paths handled before the failure stay as written.
  - The diff shows the content of what changes in O(files); secrets (tokens, credentials) go in O(secret_files),
    whose content is never logged, returned or shown in a diff.
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  directories:
    description: Directories to create (parents included) or correct, in order, before any file.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      mode:
        description: Octal mode as a string, e.g. C("0755").
        type: str
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
  files:
    description: Text files (UTF-8) to write, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file. Its directory must exist or be listed in O(directories).
        type: path
        required: true
      content:
        description: The whole content, e.g. from a C(template) or C(file) lookup (give the file lookup C(rstrip=false)).
        type: str
        required: true
      mode:
        description: Octal mode as a string, e.g. C("0644"); a new file without one gets C(0644).
        type: str
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
      force:
        description: Replace a file whose content differs; V(false) writes the file only when it does not exist.
        type: bool
        default: true
      validate:
        description:
          - A command that checks a new content before it replaces the file, with C(%s) for the file to check,
            e.g. C(/usr/sbin/visudo -cf %s). When it fails, the file is left as it was and the module fails with its
            output. Not run in check mode.
        type: str
  secret_files:
    description:
      - Text files written as O(files) are, after them, whose content is a secret (no_log) and shows in a diff as
        C((secret content, not shown)).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file. Its directory must exist or be listed in O(directories).
        type: path
        required: true
      content:
        description: The whole content.
        type: str
        required: true
      mode:
        description: Octal mode as a string; give C("0600") or stricter.
        type: str
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
      force:
        description: Replace a file whose content differs; V(false) writes the file only when it does not exist
          (a generated token, written once).
        type: bool
        default: true
      validate:
        description: A command that checks a new content before it replaces the file, as in O(files[].validate).
        type: str
  absent:
    description: Files or symbolic links to remove, last (what a role wrote and no longer wants). A directory is refused.
    type: list
    elements: path
    default: []
  links:
    description:
      - Symbolic links to make, after the files. A link that points elsewhere is re-pointed; a path that exists and
        is not a link (a tool installed otherwise) is left as it is and listed in RV(kept).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The link.
        type: path
        required: true
      src:
        description: What it points to.
        type: path
        required: true
extends_documentation_fragment:
  - homelab.platform.check_mode_diff
"""

EXAMPLES = r"""
- name: The tool's directories, modules and settings
  homelab.platform.files:
    directories:
      - {path: /opt/tool/lib, mode: "0755", owner: root, group: root}
    files:
      - dest: /opt/tool/lib/core.py
        content: "{{ lookup('ansible.builtin.file', 'core.py', rstrip=false) }}"
        mode: "0644"
      - dest: /etc/tool.conf
        content: "{{ lookup('ansible.builtin.template', 'tool.conf.j2') }}"
        mode: "0644"
  notify: Restart tool
"""

RETURN = r"""
changed_paths:
  description: The directories and files created or changed, in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/tool.conf]
kept:
  description: Paths of O(links) left alone because they exist and are not links.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/bin/kubectl]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.platform.plugins.module_utils import files as core

OWNERSHIP = dict(mode=dict(type="str"), owner=dict(type="str"), group=dict(type="str"))
FILE = dict(dest=dict(type="path", required=True), force=dict(type="bool", default=True), validate=dict(type="str"),
            **OWNERSHIP)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[],
                             options=dict(path=dict(type="path", required=True), **OWNERSHIP)),
            files=dict(type="list", elements="dict", default=[],
                       options=dict(content=dict(type="str", required=True), **FILE)),
            secret_files=dict(type="list", elements="dict", default=[], no_log=False,  # its content is no_log
                              options=dict(content=dict(type="str", required=True, no_log=True), **FILE)),
            absent=dict(type="list", elements="path", default=[]),
            links=dict(type="list", elements="dict", default=[],
                       options=dict(path=dict(type="path", required=True), src=dict(type="path", required=True))),
        ),
        supports_check_mode=True,
    )
    try:
        p = module.params
        result = core.ensure(p["directories"], p["files"], p["links"], check_mode=module.check_mode,
                             secret_files=p["secret_files"], absent=p["absent"],
                             run=lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}))
    except (core.FilesError, OSError) as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
