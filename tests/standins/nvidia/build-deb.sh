#!/usr/bin/env bash
# Packs the nvidia-container-runtime stand-in as nvidia-container-toolkit_<VERSION>_amd64.deb
# (the pinned release's file name), so the role's offline path installs it in the lab.
# usage: build-deb.sh OUT VERSION
set -euo pipefail
out="$1"; version="$2"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/DEBIAN" "$work/usr/bin" "$out"
install -m 0755 "$here/nvidia-container-runtime" "$work/usr/bin/nvidia-container-runtime"
cat >"$work/DEBIAN/control" <<CONTROL
Package: nvidia-container-toolkit
Version: $version
Architecture: amd64
Maintainer: homelab.platform tests <tests@homelab.invalid>
Description: STAND-IN for the NVIDIA Container Toolkit (homelab.platform container lab only)
 Provides /usr/bin/nvidia-container-runtime so K3s detects a runtime; runs nothing.
CONTROL
dpkg-deb --root-owner-group --build "$work" "$out/nvidia-container-toolkit_${version}_amd64.deb" >/dev/null
