"""prereq on every lab node: unattended security updates as the real unattended-upgrades reads them."""

import pytest
from conftest import ALL, host

HELD = ["k3s", "tailscale", ".*nvidia", "libcuda", "libnvcuvid", "libnvoptix", "steam"]
SETTINGS = "/etc/apt/apt.conf.d/52homelab-security-updates"


@pytest.mark.parametrize("name", ALL)
def test_security_updates_only_with_the_collections_packages_held(name):
    h = host(name)
    assert h.package("unattended-upgrades").is_installed
    f = h.file(SETTINGS)
    assert (f.user, f.mode) == ("root", 0o644)
    # What unattended-upgrades itself makes of every apt.conf.d file (Debian's 50unattended-upgrades included).
    out = h.check_output("unattended-upgrade --dry-run --debug 2>&1 | head -n 5")
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["Allowed origins are"] == ("origin=Debian,codename=bookworm-security,label=Debian-Security, "
                                            "origin=Debian,codename=bookworm,label=Debian-Security"), out
    assert lines["Initial blacklist"].split() == HELD, out


@pytest.mark.parametrize("name", ALL)
def test_no_automatic_reboot_and_daily_runs(name):
    config = host(name).check_output(
        "apt-config dump Unattended-Upgrade::Automatic-Reboot APT::Periodic::Unattended-Upgrade "
        "APT::Periodic::Update-Package-Lists")
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
