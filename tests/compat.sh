#!/usr/bin/env bash
# The collection under the oldest ansible-core it claims (meta/runtime.yml's requires_ansible) and the newest
# release this Python installs, each in a venv of its own (.cache/compat): the tarball `make build` wrote,
# installed into an empty collections path as a Galaxy user installs it, runs `--syntax-check` of every playbook
# by its FQCN, render.yml writes every manifest (the same files under both versions), and the unit tests pass;
# ansible-test sanity runs under the oldest too (make sanity runs it under the pinned version).
#
#   tests/compat.sh            both versions
#   tests/compat.sh 2.17.0     one version ("newest": the newest the package index has for this Python)
#
# The collections it depends on (community.general, kubernetes.core) come from the `ansible` package of the
# main venv (make venv): no Galaxy server is needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
oldest="$(sed -n 's/^requires_ansible: *">=\([0-9][0-9.]*\)".*/\1/p' meta/runtime.yml)"
[ -n "$oldest" ] || { echo "no requires_ansible \">=X.Y.Z\" in meta/runtime.yml" >&2; exit 1; }
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("$oldest" newest)
tarball="$(ls .cache/build/homelab-platform-*.tar.gz 2>/dev/null | head -1)"
[ -n "$tarball" ] || { echo "no tarball in .cache/build: make build" >&2; exit 1; }
deps="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# the unit tests' libraries, at the pins of requirements.txt (one place for every pin)
grep -E '^(jinja2|netaddr|kubernetes|kubernetes-validate|PyYAML|pytest|kmock|pytest-asyncio)==' requirements.txt \
  >.cache/compat-requirements.txt
playbooks=()
for book in playbooks/*.yml; do
  name="$(basename "$book" .yml)"
  playbooks+=("homelab.platform.$name")
done

renders=()
for version in "${versions[@]}"; do
  venv=".cache/compat/ansible-core-$version"
  if [ ! -e "$venv/.installed" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    spec="ansible-core==$version"
    [ "$version" != newest ] || spec="ansible-core"
    "$venv/bin/pip" install -q "$spec" -r .cache/compat-requirements.txt
    touch "$venv/.installed"
  fi
  echo "== $("$venv/bin/ansible" --version | head -1)"
  installed="$(mktemp -d)"
  trap 'rm -rf "$installed"' EXIT
  ANSIBLE_COLLECTIONS_PATH="$installed" "$venv/bin/ansible-galaxy" collection install --no-deps --offline --force \
    -p "$installed" "$tarball" >/dev/null
  ANSIBLE_COLLECTIONS_PATH="$installed:$deps" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    "$venv/bin/ansible-playbook" -i localhost, --syntax-check "${playbooks[@]}" >/dev/null
  echo "syntax-check of ${#playbooks[@]} playbooks from the installed tarball: ok"
  # Every role's templates and filters run: the manifests render.yml writes must be the same under every version
  # (ansible-core before 2.19 templates to text, hands filters its own str subclass and dumps shared objects as
  # YAML aliases: all three once broke or changed a manifest there).
  rendered="$root/.cache/compat/render-$version"
  rm -rf "$rendered"
  ANSIBLE_COLLECTIONS_PATH="$installed:$deps" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    "$venv/bin/ansible-playbook" -i inventories/homelab homelab.platform.render -e "homelab_render_dir=$rendered" \
    -e @tests/integration/vars/platform-secrets.yml >"$rendered.log" 2>&1 \
    || { tail -40 "$rendered.log" >&2; echo "render.yml failed under ansible-core $version" >&2; exit 1; }
  renders+=("$rendered")
  echo "render.yml from the installed tarball: $(find "$rendered" -type f | wc -l) files"
  rm -rf "$installed"
  trap - EXIT
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
  if [ "$version" != newest ]; then  # the newest pinned one runs in make sanity
    PATH="$root/$venv/bin:$PATH" SANITY_DIR="$root/.cache/compat/sanity-$version" tests/sanity.sh
    echo "ansible-test sanity under ansible-core $version: ok"
  fi
done
if [ ${#renders[@]} -gt 1 ]; then
  diff -r "${renders[0]}" "${renders[1]}" >&2 || { echo "the manifests differ between ${versions[0]} and ${versions[1]}" >&2; exit 1; }
  echo "the manifests are the same under ${versions[*]}"
fi
