import pytest

from ansible_collections.homelab.platform.plugins.module_utils import network as core

SEED_LANS = {
    "k3s-master": "192.168.2.0/24",
    "k3s-worker-01": "192.168.2.0/24",
    "k3s-worker-02": "192.168.2.0/24",
    "k3s-nas-worker": "192.168.2.0/24",
    "k3s-gpu-worker": "192.168.0.0/24",
}
SEED_ROUTES = {"k3s-master": ["192.168.2.0/24"], "k3s-gpu-worker": ["192.168.0.0/24"]}


def test_conflicts_list_names_pairs_by_cidr():
    assert core.cidr_conflicts(["10.0.0.0/8", "10.42.0.0/16", "192.168.2.0/24"]) == [["10.0.0.0/8", "10.42.0.0/16"]]


def test_conflicts_dict_uses_names():
    pairs = core.cidr_conflicts({"lan": "192.168.2.0/24", "pool": "192.168.2.200-192.168.2.220", "pods": "10.42.0.0/16"})
    assert pairs == [["lan", "pool"]]


def test_adjacent_networks_do_not_overlap():
    assert core.cidr_conflicts(["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/23"]) == []


def test_ipv6_and_mixed_families():
    assert core.cidr_conflicts(["fd00::/8", "fd7a:115c:a1e0::/48", "10.0.0.0/8"]) == [["fd00::/8", "fd7a:115c:a1e0::/48"]]
    assert core.cidr_conflicts(["::ffff:0:0/96", "2001:db8::/32"]) == []


@pytest.mark.parametrize("bad", ["192.168.2.0/33", "not-a-cidr", "", None, "10.0.0.9-10.0.0.1"])
def test_bad_input_is_named(bad):
    with pytest.raises(core.NetworkError) as err:
        core.cidr_conflicts({"lan-a": "192.168.0.0/24", "broken": bad})
    assert "broken" in str(err.value)


def test_bad_container_type():
    with pytest.raises(core.NetworkError, match="list of CIDRs or a dict"):
        core.cidr_conflicts("192.168.0.0/24")


def test_tailscale_ip_picks_cgnat_v4():
    # ansible_all_ipv4_addresses order on a node: LAN first, then tailscale0.
    assert core.tailscale_ip(["192.168.2.20", "10.42.0.0", "100.84.89.67"]) == "100.84.89.67"
    assert core.tailscale_ip(["100.63.255.255", "100.128.0.1"]) is None  # just outside 100.64.0.0/10


def test_tailscale_ip_v6_and_prefix_forms():
    addrs = ["100.84.89.67/32", "fe80::1%eth0", "fd7a:115c:a1e0:ab12:4843:cd96:6254:5943"]
    assert core.tailscale_ip(addrs, 6) == "fd7a:115c:a1e0:ab12:4843:cd96:6254:5943"
    assert core.tailscale_ip(addrs) == "100.84.89.67"


def test_tailscale_ip_bad_input():
    with pytest.raises(core.NetworkError, match="'banana' is not an IP address"):
        core.tailscale_ip(["banana"])
    with pytest.raises(core.NetworkError, match="version must be 4 or 6"):
        core.tailscale_ip(["100.64.0.1"], 5)


def test_preflight_seed_plan_is_sound():
    assert core.preflight(
        lans=SEED_LANS, routes=SEED_ROUTES, cluster_cidr="10.42.0.0/16", service_cidr="10.43.0.0/16",
        metallb_pools={"default": {"addresses": "192.168.2.100-192.168.2.120", "lan": "192.168.2.0/24"}},
    ) == []


def test_preflight_finds_each_kind_of_overlap():
    problems = core.preflight(
        lans={"a": "192.168.2.0/24", "b": "192.168.2.128/25", "c": "10.42.5.0/24"},
        routes={"a": ["192.168.2.0/24"], "c": ["100.100.0.0/16"]},
        cluster_cidr="10.42.0.0/16", service_cidr="10.42.128.0/17",
        metallb_pools={"p": {"addresses": "10.43.0.10-10.43.0.20", "lan": "192.168.2.0/24"}},
    )
    text = "\n".join(problems)
    assert "LAN of a (192.168.2.0/24) overlaps LAN of b (192.168.2.128/25)" in text
    assert "LAN of c (10.42.5.0/24) overlaps K3s cluster-cidr (10.42.0.0/16)" in text
    assert "K3s cluster-cidr (10.42.0.0/16) overlaps K3s service-cidr (10.42.128.0/17)" in text
    assert "route advertised by c (100.100.0.0/16) overlaps Tailscale addresses (100.64.0.0/10)" in text
    assert "MetalLB pool p (10.43.0.10-10.43.0.20) is outside its node's LAN 192.168.2.0/24" in text


def test_preflight_pool_overlapping_pods():
    problems = core.preflight(
        lans={"a": "192.168.2.0/24"}, cluster_cidr="192.168.2.128/25",
        metallb_pools={"p": {"addresses": "192.168.2.200-192.168.2.210", "lan": "192.168.2.0/24"}},
    )
    assert "MetalLB pool p (192.168.2.200-192.168.2.210) overlaps K3s cluster-cidr (192.168.2.128/25)" in problems


@pytest.mark.parametrize("addresses,public", [
    ("203.0.113.10-203.0.113.20", "203.0.113.10/31, 203.0.113.12/30, 203.0.113.16/30, 203.0.113.20/32"),
    ("192.168.255.250-192.169.0.5", "192.169.0.0/30, 192.169.0.4/31"),
    ("128.0.0.0/1", "128.0.0.0/1"),
    ("2001:db8::/120", "2001:db8::/120"),
])
def test_preflight_refuses_a_pool_with_public_addresses(addresses, public):
    """LoadBalancer addresses come from private ranges only: RFC 1918, IPv6 unique local, the tailnet."""
    problems = core.preflight(metallb_pools={"p": {"addresses": addresses}})
    assert problems == ["MetalLB pool p (%s) holds public addresses (%s): LoadBalancer addresses stay on the LAN "
                        "(private ranges; all access from outside goes through Tailscale)" % (addresses, public)]


@pytest.mark.parametrize("addresses", ["10.0.0.0/8", "172.16.0.1-172.31.255.254", "192.168.2.200-192.168.2.210",
                                       "fd00:1::/64"])
def test_preflight_keeps_pools_in_private_ranges(addresses):
    assert core.preflight(metallb_pools={"p": {"addresses": addresses}}) == []


def test_preflight_refuses_a_pool_holding_a_nodes_lan_address_and_two_nodes_on_one_address():
    problems = core.preflight(
        lans={"a": "192.168.2.0/24", "b": "192.168.2.0/24", "c": "192.168.2.0/24", "d": "192.168.2.0/24"},
        addresses={"a": "192.168.2.105", "b": "192.168.2.10", "c": "192.168.2.10", "d": ""},
        metallb_pools={"p": {"addresses": "192.168.2.100-192.168.2.120", "lan": "192.168.2.0/24"}},
    )
    assert problems == [
        "b and c have the same LAN address 192.168.2.10: each node needs its own",
        "MetalLB pool p (192.168.2.100-192.168.2.120) holds 192.168.2.105, the LAN address of a: MetalLB would hand a "
        "node's own address to a Service and answer ARP for it; leave the nodes' addresses out of the pool"]


def test_preflight_leaves_addresses_that_are_names_or_outside_the_hosts_lan():
    """A host reached by name, by its tailnet address, or with no LAN given: its LAN address is not known."""
    assert core.preflight(
        lans={"a": "192.168.2.0/24", "b": "192.168.2.0/24"},
        addresses={"a": "k3s-master.lan", "b": "100.64.0.11", "c": "192.168.2.110", "192.168.2.111": ""},
        metallb_pools={"p": {"addresses": "192.168.2.100-192.168.2.120", "lan": "192.168.2.0/24"}},
    ) == []
    # a host named by its address (no ansible_host) is at that address
    assert core.preflight(lans={"192.168.2.111": "192.168.2.0/24"}, addresses={"192.168.2.111": ""},
                          metallb_pools={"p": {"addresses": "192.168.2.100-192.168.2.120", "lan": "192.168.2.0/24"}}
                          )[0].startswith("MetalLB pool p (192.168.2.100-192.168.2.120) holds 192.168.2.111")


def test_preflight_route_of_other_lan_conflict():
    problems = core.preflight(lans={"a": "192.168.2.0/24", "b": "192.168.0.0/24"}, routes={"b": ["192.168.2.0/23"]})
    assert problems == ["LAN of a (192.168.2.0/24) overlaps route advertised by b (192.168.2.0/23)"]


def test_preflight_bad_pool_spec():
    with pytest.raises(core.NetworkError, match="MetalLB pool p: expected a dict"):
        core.preflight(metallb_pools={"p": "192.168.2.0/24"})


def test_preflight_the_pod_range_equal_to_the_service_range_is_refused():
    """Issue 36: `cluster-cidr: 10.43.0.0/16` beside K3s's default service-cidr passed as "sound"."""
    problems = core.preflight(lans=SEED_LANS, cluster_cidr="10.43.0.0/16", service_cidr="10.43.0.0/16")
    assert problems == ["K3s cluster-cidr and K3s service-cidr are the same range (10.43.0.0/16): the pod range, the "
                        "service range and the tailnet each need a range no other network uses"]
    lan = core.preflight(lans={"a": "10.42.0.0/16"}, cluster_cidr="10.42.0.0/16", service_cidr="10.43.0.0/16")
    assert lan == ["LAN of a and K3s cluster-cidr are the same range (10.42.0.0/16): the pod range, the service range "
                   "and the tailnet each need a range no other network uses"]
    # hosts sharing one LAN stay one network
    assert core.preflight(lans={"a": "192.168.2.0/24", "b": "192.168.2.0/24"}) == []


def test_preflight_cluster_dns_is_an_unreserved_address_of_the_service_range():
    assert core.preflight(service_cidr="10.43.0.0/16", cluster_dns="10.43.0.10") == []
    assert core.preflight(service_cidr="10.43.0.0/16", cluster_dns="10.44.0.10") == [
        "K3s cluster-dns 10.44.0.10 is outside K3s service-cidr 10.43.0.0/16: it must be an address of the service range"]
    assert core.preflight(service_cidr="10.43.0.0/16", cluster_dns="10.43.0.1") == [
        "K3s cluster-dns 10.43.0.1 is reserved in K3s service-cidr 10.43.0.0/16 (the network address and the first "
        "address, the Service kubernetes): use another, e.g. 10.43.0.10"]
    assert core.preflight(service_cidr="10.43.0.0/16", cluster_dns="dns") == ["K3s cluster-dns 'dns' is not an IP address"]


def test_preflight_a_range_that_is_no_cidr_is_named():
    with pytest.raises(core.NetworkError, match="K3s cluster-cidr"):
        core.preflight(cluster_cidr="10.42.0.0/33")
