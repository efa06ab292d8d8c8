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
  - Creates the directories O(directories) lists, then writes the text files O(files) lists, then makes the
    symbolic links O(links) lists, in one module run
    instead of one task round trip per path (each costs 0.2-0.5 s over ssh whether or not it changes anything).
  - A file is written only when its content differs, atomically (a temporary file beside it, then a rename), with its
    mode, owner and group set before the rename; mode, owner and group are corrected where only they differ.
  - Fails, changing nothing more, on a path that exists as the wrong type or an owner or group the host does not
    have; paths handled before the failure stay as written.
  - For secrets use ansible.builtin.copy with no_log; this module shows the content of what changes in its diff.
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[],
                             options=dict(path=dict(type="path", required=True), **OWNERSHIP)),
            files=dict(type="list", elements="dict", default=[],
                       options=dict(dest=dict(type="path", required=True), content=dict(type="str", required=True),
                                    **OWNERSHIP)),
            links=dict(type="list", elements="dict", default=[],
                       options=dict(path=dict(type="path", required=True), src=dict(type="path", required=True))),
        ),
        supports_check_mode=True,
    )
    try:
        result = core.ensure(module.params["directories"], module.params["files"], module.params["links"],
                             check_mode=module.check_mode)
    except (core.FilesError, OSError) as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
