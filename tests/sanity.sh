#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection laid out as
# ansible_collections/homelab/platform (ansible-test needs that path).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# SANITY_DIR: where the copy goes (make compat runs a second sanity under another ansible-core beside this one)
dest="${SANITY_DIR:-$root/.cache/sanity}/ansible_collections/homelab/platform"
rm -rf "$dest"
mkdir -p "$dest"
tar -C "$root" --exclude=./.venv --exclude=./.cache --exclude=./.git --exclude=__pycache__ \
  --exclude=.pytest_cache -cf - . | tar -C "$dest" -xf -
cd "$dest"
# ansible-test lists files through git; the copy is its own repository.
git init -q && git add -A
# ansible-test bootstraps pip from an unreachable host unless a cached script exists.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for v in 23.1.2 24.2 24.3 25.0 25.1 25.2; do  # 23.1.2: ansible-test of ansible-core 2.17
  [ -e "$cache/get_pip_${v//./_}.py" ] || cp "$root/tests/get-pip-offline.py" "$cache/get_pip_${v//./_}.py"
done
python_version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ansible-test sanity --requirements --python "$python_version" "$@"
