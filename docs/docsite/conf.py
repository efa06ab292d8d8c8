# Sphinx configuration of the collection's docs site (`make docs`), after `antsibull-docs sphinx-init`: the plugin
# and role pages antsibull-docs writes, and the project's Markdown pages (architecture, epics, runbooks, ADRs, lab)
# read with MyST. Built offline: the Ansible docs' labels the plugin pages link to come from docs/docsite/ansible.txt
# (tools/docs_inventory.py turns it into an intersphinx inventory), and every warning fails the build.

import os

project = 'homelab.platform'
copyright = 'homelab.platform contributors'
title = 'homelab.platform'
html_short_title = 'homelab.platform'

extensions = ['sphinx.ext.intersphinx', 'sphinx_antsibull_ext', 'myst_parser']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# The labels of docs.ansible.com the generated pages link to, from a local inventory (no network while building).
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/',
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible_devel.inv')),
}
intersphinx_disabled_reftypes = []

default_role = 'any'
nitpicky = True
# MyST: a Markdown page's headings get anchors, so `page.md#a-heading` links resolve.
myst_heading_anchors = 3
