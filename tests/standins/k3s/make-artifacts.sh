#!/usr/bin/env bash
# Lays out K3s "release assets" built from the stand-in, one folder per version,
# the way a user lays out real ones for an offline install:
#   <out>/<version>/k3s  and  <out>/<version>/sha256sum-amd64.txt
# usage: make-artifacts.sh OUT VERSION [VERSION...]
set -euo pipefail
out="$1"; shift
here="$(cd "$(dirname "$0")" && pwd)"
for version in "$@"; do
  dir="$out/$version"
  mkdir -p "$dir"
  { echo '#!/usr/bin/python3'; sed "s/@VERSION@/$version/" "$here/k3s-standin.py"; } >"$dir/k3s.tmp"
  chmod 0755 "$dir/k3s.tmp"
  mv "$dir/k3s.tmp" "$dir/k3s"
  (cd "$dir" && sha256sum k3s >sha256sum-amd64.txt)
done
