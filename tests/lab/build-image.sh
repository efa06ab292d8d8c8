#!/usr/bin/env bash
# Builds the lab's Debian bookworm systemd image from Debian packages
# (debootstrap + podman import): no container registry is needed.
#
#   tests/lab/build-image.sh [IMAGE]      default IMAGE: localhost/homelab-lab:bookworm
#
# The image is rebuilt only when this script changes (its sha256 is stored as
# an image label), so repeated `make lab`/`make test` runs reuse it.
set -euo pipefail

IMAGE="${1:-${LAB_IMAGE:-localhost/homelab-lab:bookworm}}"
SUITE="${LAB_SUITE:-bookworm}"
MIRROR="${LAB_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,python3-yaml,iproute2,procps,sudo,ca-certificates,kmod,gnupg,openssl,etcd-server,etcd-client,python3-jsonpatch,iptables,python3-cryptography,python3-cffi-backend,openssh-server"
# etcd-server/etcd-client: the real etcd (3.4) the k3s stand-in runs as its embedded
# datastore, and the etcdctl of K3s's docs; openssl makes its certificates; python3-jsonpatch
# applies JSON patches in the stand-in's Kubernetes API (tests/standins/k3s/lab_apiserver.py);
# iptables: the chains K3s's CNI and kube-proxy make, which reset.yml must remove;
# python3-cryptography: the AES-CBC with which the stand-in's API stores Secrets (secrets-encryption).
# openssh-server: Ansible reaches the lab hosts over ssh with pipelining, as users reach theirs
# (docs/lab.md: the connection goes through `podman exec ... sshd -i`, no address needed).
# (python3-cffi-backend named: debootstrap does not resolve the virtual package python3-cryptography needs).
recipe="$(sha256sum "$0" | cut -c1-16)"

if podman image exists "$IMAGE" &&
  [ "$(podman image inspect --format '{{ index .Labels "homelab.recipe" }}' "$IMAGE")" = "$recipe" ]; then
  echo "lab image $IMAGE is up to date (recipe $recipe)"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
root="$(mktemp -d /var/tmp/homelab-lab-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT

echo "building $IMAGE from $SUITE ($MIRROR)"
start=$(date +%s)
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >/dev/null

# Units that make no sense (or hang) inside a container; Debian's own etcd unit
# (K3s embeds etcd: the k3s stand-in starts it itself).
for unit in systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
  getty.target console-getty.service systemd-logind.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-modules-load.service systemd-sysctl.service \
  etcd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo 'homelab-lab' >"$root/etc/hostname"
: >"$root/etc/machine-id"

# Empty apt lists dated at the epoch: apt's cache_valid_time then triggers one
# update on first use instead of shipping stale lists in the image.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*
mkdir -p "$root/var/lib/apt/lists/partial"
touch -d @0 "$root/var/lib/apt/lists"
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/*.bin

tar -C "$root" -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL homelab.recipe=$recipe" \
  - "$IMAGE" >/dev/null
echo "built $IMAGE in $(($(date +%s) - start)) s"
