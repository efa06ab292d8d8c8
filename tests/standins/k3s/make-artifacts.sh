#!/usr/bin/env bash
# Lays out K3s "release assets" built from the stand-in, one folder per version,
# the way a user lays out real ones for an offline install:
#   <out>/<version>/k3s  and  <out>/<version>/sha256sum-amd64.txt
# The k3s file is one executable, like the real binary: a Python zip application
# holding the stand-in, its Kubernetes API (lab_apiserver.py) and the discovery
# documents kmock recorded from a K3s cluster (read from the installed kmock package).
# usage: make-artifacts.sh OUT VERSION [VERSION...]
set -euo pipefail
out="$1"; shift
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
"$python" - "$build/discovery.json" <<'PY'
import gzip, importlib.resources, sys
data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
with open(sys.argv[1], "wb") as handle:
    handle.write(gzip.decompress(data))
PY
cp "$here/lab_apiserver.py" "$here/lab_controller.py" "$here/lab_secrets.py" "$here/chart-crds.json" "$build/"
for version in "$@"; do
  dir="$out/$version"
  mkdir -p "$dir"
  sed "s/@VERSION@/$version/" "$here/k3s-standin.py" >"$build/__main__.py"
  "$python" -m zipapp "$build" -p /usr/bin/python3 -o "$dir/k3s.tmp"
  chmod 0755 "$dir/k3s.tmp"
  mv "$dir/k3s.tmp" "$dir/k3s"
  (cd "$dir" && sha256sum k3s >sha256sum-amd64.txt)
done
