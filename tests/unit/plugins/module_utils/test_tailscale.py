import json
import os

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import tailscale as core

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "tailscale")


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def master():
    return core.current(load("status_master.json"), load("prefs_master.json"))


@pytest.fixture
def fresh():
    prefs = dict(load("prefs_master.json"), AdvertiseRoutes=None, AdvertiseTags=None, RouteAll=False, LoggedOut=True)
    return core.current(load("status_needslogin.json"), prefs)


def test_current_reads_identity_and_settings(master):
    assert master["running"] and master["logged_in"]
    assert master["ipv4"] == "100.84.89.67"
    assert master["ipv6"] == "fd7a:115c:a1e0::5a01:5943"
    assert master["dns_name"] == "k3s-master.tail1234.ts.net"
    assert master["settings"]["advertise_routes"] == ["192.168.2.0/24"]
    assert master["settings"]["accept_routes"] is True
    assert master["settings"]["advertise_tags"] == ["tag:k3s-server"]
    assert master["settings"]["login_server"] == "https://controlplane.tailscale.com"
    assert core.facts(master)["tailscale_ipv4"] == "100.84.89.67"


def test_already_as_wanted_runs_nothing_even_without_key(master):
    wanted = core.wanted_settings({"advertise_routes": ["192.168.2.0/24"], "accept_routes": True,
                                   "advertise_tags": ["tag:k3s-server"], "login_server": ""})
    assert core.plan(master, wanted, have_auth_key=False) == {"action": "none", "args": [], "changes": {}}


def test_unmanaged_options_are_left_alone(master):
    assert core.plan(master, core.wanted_settings({"hostname": None, "ssh": None}), False)["action"] == "none"


def test_route_change_uses_set_with_only_that_flag(master):
    wanted = core.wanted_settings({"advertise_routes": ["192.168.2.0/24", "10.10.0.0/16"], "accept_routes": True})
    todo = core.plan(master, wanted, have_auth_key=False)
    assert todo["action"] == "set"
    assert todo["args"] == ["set", "--advertise-routes=10.10.0.0/16,192.168.2.0/24"]
    assert todo["changes"] == {"advertise_routes": (["192.168.2.0/24"], ["10.10.0.0/16", "192.168.2.0/24"])}


def test_withdrawing_routes_and_bool_flags(master):
    todo = core.plan(master, core.wanted_settings({"advertise_routes": [], "accept_routes": False, "ssh": True}), False)
    assert todo["args"] == ["set", "--accept-routes=false", "--advertise-routes=", "--ssh=true"]


def test_not_logged_in_needs_a_key(fresh):
    with pytest.raises(core.TailscaleError, match="not logged in.*NeedsLogin.*tailscale_authkey"):
        core.plan(fresh, core.wanted_settings({"accept_routes": True}), have_auth_key=False)


def test_not_logged_in_runs_up_with_every_wanted_setting(fresh):
    wanted = core.wanted_settings({"advertise_routes": ["192.168.0.0/24"], "accept_routes": True,
                                   "advertise_tags": ["tag:k3s-agent"]})
    todo = core.plan(fresh, wanted, have_auth_key=True)
    assert todo["action"] == "up"
    assert todo["args"] == ["up", "--accept-routes=true", "--advertise-routes=192.168.0.0/24",
                            "--advertise-tags=tag:k3s-agent"]
    assert not any("auth" in a for a in todo["args"])


def test_tag_change_needs_reauth(master):
    wanted = core.wanted_settings({"advertise_tags": ["tag:k3s-agent"]})
    with pytest.raises(core.TailscaleError, match="changing advertise_tags needs re-authentication"):
        core.plan(master, wanted, have_auth_key=False)
    todo = core.plan(master, wanted, have_auth_key=True)
    assert todo["args"][:3] == ["up", "--reset", "--force-reauth"]


def test_logged_in_but_stopped_is_brought_up(master):
    master = dict(master, running=False, backend_state="Stopped")
    assert core.plan(master, {}, have_auth_key=False)["args"] == ["up"]


def test_exit_node_routes_are_not_subnet_routes():
    prefs = dict(load("prefs_master.json"), AdvertiseRoutes=["0.0.0.0/0", "::/0", "192.168.2.0/24"])
    state = core.current(load("status_master.json"), prefs)
    assert state["settings"]["advertise_routes"] == ["192.168.2.0/24"]
    assert state["settings"]["advertise_exit_node"] is True


@pytest.mark.parametrize("route", ["192.168.2.1/24", "192.168.2.0/33", "lan"])
def test_bad_routes_are_named(route):
    with pytest.raises(core.TailscaleError, match="advertise_routes: %r is not a network" % route):
        core.wanted_settings({"advertise_routes": [route]})


def test_bad_tags():
    with pytest.raises(core.TailscaleError, match="must look like tag:<name>"):
        core.wanted_settings({"advertise_tags": ["k3s-server"]})


def test_status_must_be_object():
    with pytest.raises(core.TailscaleError, match="did not return a JSON object"):
        core.current([], {})
