#!/usr/bin/env bash
# The collection's docs site (make docs): antsibull-docs writes the plugin and role pages of the collection on
# ANSIBLE_COLLECTIONS_PATH, the project's Markdown pages (docs/) join them, Sphinx builds HTML into .cache/docs/html
# offline, and every warning fails the build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
site="$root/.cache/docs"
rm -rf "$site"
mkdir -p "$site/rst/project"
chmod og-w "$site/rst"  # antsibull-docs wants the directory writable only by its owner
antsibull-docs --config-file "$root/docs/docsite/antsibull-docs.cfg" collection --use-current \
  --dest-dir "$site/rst" homelab.platform >"$site/antsibull-docs.log" 2>&1 \
  || { cat "$site/antsibull-docs.log" >&2; exit 1; }
cp "$root/docs/docsite/index.rst" "$site/rst/index.rst"
for page in "$root"/docs/*.md; do cp "$page" "$site/rst/project/"; done
for folder in adr epics runbooks; do cp -r "$root/docs/$folder" "$site/rst/project/"; done
python3 "$root/tools/docs_inventory.py" "$root/docs/docsite/ansible.txt" "$site/ansible_devel.inv"
cp "$root/docs/docsite/conf.py" "$site/conf.py"
sphinx-build -q -W --keep-going -b html -c "$site" "$site/rst" "$site/html"
echo "docs site: $(find "$site/html" -name '*.html' | wc -l) pages in .cache/docs/html (open index.html)"
