#!/usr/bin/env bash
# Packs the tailscale stand-ins as tailscale_<VERSION>_amd64.deb, the file name
# of Tailscale's own package, so the role's offline .deb path installs them.
# usage: build-deb.sh OUT VERSION
set -euo pipefail
out="$1"; version="$2"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/DEBIAN" "$work/usr/bin" "$work/usr/sbin" "$work/lib/systemd/system" "$work/etc/default" "$out"
{ echo '#!/usr/bin/python3'; sed "s/@VERSION@/$version/" "$here/tailscale-standin.py"; } >"$work/usr/bin/tailscale"
{ echo '#!/usr/bin/python3'; cat "$here/tailscaled-standin.py"; } >"$work/usr/sbin/tailscaled"
chmod 0755 "$work/usr/bin/tailscale" "$work/usr/sbin/tailscaled"
cat >"$work/lib/systemd/system/tailscaled.service" <<'UNIT'
[Unit]
Description=Tailscale node agent (STAND-IN for the container lab)
Wants=network-pre.target
After=network-pre.target NetworkManager.service systemd-resolved.service

[Service]
EnvironmentFile=-/etc/default/tailscaled
ExecStart=/usr/sbin/tailscaled
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
printf 'PORT="41641"\nFLAGS=""\n' >"$work/etc/default/tailscaled"
cat >"$work/DEBIAN/control" <<CONTROL
Package: tailscale
Version: $version
Architecture: amd64
Maintainer: homelab.platform tests <tests@homelab.invalid>
Description: STAND-IN for Tailscale (homelab.platform container lab only)
 Emulates the tailscale CLI and tailscaled for the lab; not Tailscale.
CONTROL
echo "/etc/default/tailscaled" >"$work/DEBIAN/conffiles"
dpkg-deb --root-owner-group --build "$work" "$out/tailscale_${version}_amd64.deb" >/dev/null
