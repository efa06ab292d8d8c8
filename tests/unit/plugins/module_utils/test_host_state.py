"""host_state: a role's reads on a host in one module run."""

import collections
import os
import stat

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import host_state as core

# systemctl show --property=Id,LoadState,UnitFileState,ActiveState -- tailscaled nosuch gpu-mode-default.service
# as systemd 252 (Debian 12) prints it: its own property order, a blank line between units.
SHOW = """Id=tailscaled.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=gpu-mode-default.service
LoadState=loaded
ActiveState=inactive
UnitFileState=enabled
"""

Pw = collections.namedtuple("Pw", "pw_uid pw_dir pw_shell")
Gr = collections.namedtuple("Gr", "gr_gid gr_mem")


class Host:
    """Answers the commands host_state runs, and records them."""

    def __init__(self, answers):
        self.answers = answers
        self.ran = []

    def __call__(self, argv):
        self.ran.append(argv)
        return self.answers[argv[0]]


def test_units_are_read_by_the_name_asked_in_one_systemctl_call():
    host = Host({"systemctl": (0, SHOW, "")})
    found = core.units(host, ["tailscaled", "nosuch", "gpu-mode-default.service"], [])
    assert found == {
        "tailscaled": {"load": "loaded", "enabled": "enabled", "active": "active"},
        "nosuch": {"load": "not-found", "enabled": "", "active": "inactive"},
        "gpu-mode-default.service": {"load": "loaded", "enabled": "enabled", "active": "inactive"},
    }
    assert host.ran == [["systemctl", "show", "--property=Id,LoadState,UnitFileState,ActiveState", "--",
                         "tailscaled", "nosuch", "gpu-mode-default.service"]]


def test_without_systemd_the_units_are_unknown_with_a_warning_and_another_count_is_an_error():
    warnings = []
    found = core.units(Host({"systemctl": (1, "", "System has not been booted with systemd")}), ["tailscaled"], warnings)
    assert found == {"tailscaled": {"load": "unknown", "enabled": "unknown", "active": "unknown"}}
    assert len(warnings) == 1 and "System has not been booted with systemd" in warnings[0]
    with pytest.raises(core.HostStateError, match="2 units"):
        core.units(Host({"systemctl": (0, SHOW.split("\n\n", maxsplit=1)[0], "")}), ["a", "b"], [])


def test_nothing_asked_runs_nothing():
    host = Host({})
    assert core.read(host) == {"dpkg": "", "units": {}, "users": {}, "groups": {}, "paths": {}, "commands": {},
                               "warnings": []}
    assert host.ran == []


def test_packages_give_dpkg_query_output_and_unknown_packages_are_not_an_error():
    out = "tailscale 1.80.3 hold installed\n"
    host = Host({"dpkg-query": (1, out, "dpkg-query: no packages found matching nosuch\n")})
    assert core.packages(host, ["tailscale=1.80.3", "nosuch"]) == out
    assert host.ran[0][-2:] == ["tailscale", "nosuch"]
    with pytest.raises(core.HostStateError, match="rc 2"):
        core.packages(Host({"dpkg-query": (2, "", "dpkg-query: error")}), ["tailscale"])
    with pytest.raises(core.HostStateError, match="name=version"):
        core.read(Host({}), package_specs=["=1.0"])


def test_users_and_groups_the_host_lacks_are_null():
    def getpwnam(name):
        if name != "alice":
            raise KeyError(name)
        return Pw(1000, "/home/alice", "/bin/bash")

    def getgrnam(name):
        if name != "gpu-mode":
            raise KeyError(name)
        return Gr(996, ["bob", "alice"])

    assert core.users(["alice", "nobody2"], getpwnam) == {
        "alice": {"uid": 1000, "home": "/home/alice", "shell": "/bin/bash"}, "nobody2": None}
    assert core.groups(["gpu-mode", "games2"], getgrnam) == {
        "gpu-mode": {"gid": 996, "members": ["alice", "bob"]}, "games2": None}


def test_paths_on_a_real_filesystem(tmp_path):
    (tmp_path / "k3s").write_text("binary")
    os.chmod(tmp_path / "k3s", 0o755)
    (tmp_path / "kubectl").symlink_to("k3s")
    (tmp_path / "db").mkdir()
    found = core.paths([str(tmp_path / name) for name in ("k3s", "kubectl", "db", "nosuch")])
    assert found[str(tmp_path / "k3s")] == {"exists": True, "type": "file", "mode": "0755", "target": None}
    assert found[str(tmp_path / "kubectl")]["type"] == "link"
    assert found[str(tmp_path / "kubectl")]["target"] == "k3s"
    assert found[str(tmp_path / "db")]["type"] == "directory"
    assert found[str(tmp_path / "nosuch")] == {"exists": False, "type": None, "mode": None, "target": None}


def test_a_path_that_cannot_be_read_is_an_error():
    def lstat(name):
        raise PermissionError(13, "Permission denied")

    with pytest.raises(core.HostStateError, match="cannot read /root/x: Permission denied"):
        core.paths(["/root/x"], lstat=lstat)


def test_commands_return_their_exit_code_unjudged_and_bad_argv_is_refused():
    host = Host({"/usr/local/bin/k3s": (0, "k3s version v1.31.4+k3s1 (a)\n", ""), "dpkg": (0, "i386\n", "")})
    found = core.commands(host, {"version": ["/usr/local/bin/k3s", "--version"],
                                 "foreign": ["dpkg", "--print-foreign-architectures"]})
    assert found["version"] == {"rc": 0, "stdout": "k3s version v1.31.4+k3s1 (a)\n", "stderr": ""}
    assert found["foreign"]["stdout"] == "i386\n"
    for bad in ("k3s --version", [], ["k3s", 1]):
        with pytest.raises(core.HostStateError, match="commands.bad must be a non-empty list"):
            core.commands(host, {"bad": bad})


def test_mode_is_octal_of_the_permission_bits():
    info = os.stat_result((stat.S_IFREG | 0o600, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    found = core.paths(["/etc/k3s-token"], lstat=lambda name: info)
    assert found["/etc/k3s-token"]["mode"] == "0600"
