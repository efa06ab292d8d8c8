# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network checks built on netaddr: overlapping CIDRs, Tailscale addresses, the preflight."""

from __future__ import annotations

import ipaddress

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # reported by the callers with missing_required_lib / a filter error
    netaddr = None
    HAS_NETADDR = False

TAILNET_V4 = "100.64.0.0/10"
TAILNET_V6 = "fd7a:115c:a1e0::/48"
# The ranges a LoadBalancer address may come from ("NEVER use public IP exposure"): RFC 1918, RFC 4193, the tailnet.
PRIVATE = tuple(ipaddress.ip_network(cidr) for cidr in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", TAILNET_V4))


class NetworkError(ValueError):
    """Bad network input; the message names the offending value."""


def _require():
    if not HAS_NETADDR:
        raise NetworkError("the Python library netaddr is required on the controller (pip install netaddr)")


def to_set(value, name=None):
    """An IPSet from a CIDR, an address, or a range 'a.b.c.d-e.f.g.h'."""
    _require()
    label = name if name is not None else value
    if not isinstance(value, str) or not value.strip():
        raise NetworkError("%s: expected a CIDR, an address or a range, got %r" % (label, value))
    text = value.strip()
    try:
        if "-" in text and "/" not in text:
            first, last = (part.strip() for part in text.split("-", 1))
            return netaddr.IPSet(netaddr.IPRange(first, last))
        return netaddr.IPSet([netaddr.IPNetwork(text)])
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise NetworkError("%s: %r is not a valid CIDR, address or range (%s)" % (label, value, exc)) from exc


def _named(cidrs):
    if isinstance(cidrs, dict):
        items = list(cidrs.items())
    elif isinstance(cidrs, (list, tuple)):
        items = [(c, c) for c in cidrs]
    else:
        raise NetworkError("expected a list of CIDRs or a dict of name -> CIDR, got %s" % type(cidrs).__name__)
    return [(str(name), value, to_set(value, name)) for name, value in items]


def cidr_conflicts(cidrs):
    """Overlapping pairs among the given CIDRs/ranges: [[name_a, name_b], ...].

    A list names each entry by itself; a dict by its key. Adjacent networks do not
    overlap; IPv4 and IPv6 never do.
    """
    named = _named(cidrs)
    pairs = []
    for i, (name_a, _value_a, set_a) in enumerate(named):
        for name_b, _value_b, set_b in named[i + 1:]:
            if set_a & set_b:
                pairs.append([name_a, name_b])
    return pairs


def tailscale_ip(addresses, version=4):
    """The first address in Tailscale's range (100.64.0.0/10, or fd7a:115c:a1e0::/48 for version 6)."""
    _require()
    if isinstance(addresses, str):
        addresses = [addresses]
    if not isinstance(addresses, (list, tuple)):
        raise NetworkError("expected a list of addresses, got %s" % type(addresses).__name__)
    if version not in (4, 6):
        raise NetworkError("version must be 4 or 6, got %r" % (version,))
    tailnet = netaddr.IPNetwork(TAILNET_V4 if version == 4 else TAILNET_V6)
    for item in addresses:
        text = str(item).split("/", 1)[0].split("%", 1)[0]
        try:
            addr = netaddr.IPAddress(text)
        except (netaddr.AddrFormatError, ValueError) as exc:
            raise NetworkError("%r is not an IP address" % (item,)) from exc
        if addr.version == version and addr in tailnet:
            return str(addr)
    return None


def _cluster_dns_problems(cluster_dns, service_cidr):
    try:
        address = netaddr.IPAddress(str(cluster_dns))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return ["K3s cluster-dns %r is not an IP address" % (cluster_dns,)]
    if not service_cidr:
        return []
    services = netaddr.IPNetwork(str(service_cidr))
    if address not in services:
        return ["K3s cluster-dns %s is outside K3s service-cidr %s: it must be an address of the service range"
                % (address, services.cidr)]
    if address in (services.network, services.network + 1):
        return ["K3s cluster-dns %s is reserved in K3s service-cidr %s (the network address and the first address, "
                "the Service kubernetes): use another, e.g. %s" % (address, services.cidr, services.network + 10)]
    return []


def _private(cidr):
    """Whether a CIDR lies inside a private range (RFC 1918, IPv6 unique local) or the tailnet's CGNAT range."""
    network = ipaddress.ip_network(str(cidr))
    return any(network.version == private.version and network.subnet_of(private) for private in PRIVATE)


def preflight(lans=None, routes=None, cluster_cidr=None, service_cidr=None, metallb_pools=None,
              tailnet=TAILNET_V4, extra=None, cluster_dns=None, addresses=None):
    """Problems with a home-lab's address plan; an empty list means it is sound.

    lans: host -> its LAN CIDR. Hosts sharing a LAN are one network.
    routes: host -> list of CIDRs it advertises as a Tailscale subnet router. A
        route equal to (or inside) the advertiser's own LAN is that LAN.
    metallb_pools: pool name -> {'addresses': CIDR or range, 'lan': CIDR}.
    extra: name -> CIDR of other networks that must not overlap anything.
    cluster_dns: K3s's cluster-dns, an address of service_cidr that Kubernetes has not reserved (its first
        address is the Service `kubernetes`).
    addresses: host -> the address Ansible reaches it at (ansible_host; empty: the host's name). Those that are IP
        addresses inside the host's LAN are its LAN address: no MetalLB pool may hold one (MetalLB would answer
        ARP for a node's own address) and no two hosts may share one. Others (names, tailnet addresses) are left.
    Hosts may share a LAN; the pod range, the service range, the tailnet and `extra` share their range with nothing.
    """
    problems = []
    networks = {}  # CIDR text -> list of descriptions, so one network is listed once
    exclusive = set()  # descriptions of ranges that share their range with nothing

    def add(cidr, description):
        try:
            key = str(netaddr.IPNetwork(cidr).cidr) if "-" not in str(cidr) else str(cidr)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            key = str(cidr)
        networks.setdefault(key, []).append(description)

    lans = lans or {}
    for host, cidr in sorted(lans.items()):
        to_set(cidr, "LAN of %s" % host)
        add(cidr, "LAN of %s" % host)
    for host, host_routes in sorted((routes or {}).items()):
        for cidr in host_routes or []:
            route = to_set(cidr, "route %s advertised by %s" % (cidr, host))
            own = lans.get(host)
            if own and route.issubset(to_set(own)):
                continue  # a subnet router advertising (part of) its own LAN
            add(cidr, "route advertised by %s" % host)
    ranges = [("K3s cluster-cidr", cluster_cidr), ("K3s service-cidr", service_cidr), ("Tailscale addresses", tailnet)]
    for description, cidr in ranges + sorted((extra or {}).items()):
        if cidr:
            to_set(cidr, description)
            add(cidr, description)
            exclusive.add(description)

    for cidr, desc in sorted(networks.items()):
        if len(desc) > 1 and exclusive & set(desc):
            problems.append("%s are the same range (%s): the pod range, the service range and the tailnet each need "
                            "a range no other network uses" % (" and ".join(desc), cidr))
    labelled = {" / ".join(desc): cidr for cidr, desc in networks.items()}
    for a, b in cidr_conflicts(labelled):
        problems.append("%s (%s) overlaps %s (%s)" % (a, labelled[a], b, labelled[b]))

    if cluster_dns:
        problems += _cluster_dns_problems(cluster_dns, service_cidr)

    lan_addresses = {}  # host -> its LAN address
    for host, address in sorted((addresses or {}).items()):
        try:
            ip = netaddr.IPAddress(str(address or host))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue
        if host in lans and ip in to_set(lans[host]):
            lan_addresses[host] = ip
    holders = {}
    for host, ip in sorted(lan_addresses.items()):
        holders.setdefault(ip, []).append(host)
    for ip, hosts in sorted(holders.items()):
        if len(hosts) > 1:
            problems.append("%s have the same LAN address %s: each node needs its own" % (" and ".join(hosts), ip))

    for pool, spec in sorted((metallb_pools or {}).items()):
        if not isinstance(spec, dict) or "addresses" not in spec:
            raise NetworkError("MetalLB pool %s: expected a dict with 'addresses' (and 'lan')" % pool)
        pool_set = to_set(spec["addresses"], "MetalLB pool %s" % pool)
        public = [str(cidr) for cidr in pool_set.iter_cidrs() if not _private(cidr)]
        if public:
            problems.append("MetalLB pool %s (%s) holds public addresses (%s): LoadBalancer addresses stay on the LAN "
                            "(private ranges; all access from outside goes through Tailscale)"
                            % (pool, spec["addresses"], ", ".join(public)))
        lan = spec.get("lan")
        if lan and not pool_set.issubset(to_set(lan, "LAN of MetalLB pool %s" % pool)):
            problems.append("MetalLB pool %s (%s) is outside its node's LAN %s" % (pool, spec["addresses"], lan))
        for cidr, desc in sorted(networks.items()):
            if lan and str(netaddr.IPNetwork(lan).cidr) == cidr:
                continue
            if pool_set & to_set(cidr):
                problems.append("MetalLB pool %s (%s) overlaps %s (%s)" % (pool, spec["addresses"], " / ".join(desc), cidr))
        for host, ip in sorted(lan_addresses.items()):
            if ip in pool_set:
                problems.append("MetalLB pool %s (%s) holds %s, the LAN address of %s: MetalLB would hand a node's own "
                                "address to a Service and answer ARP for it; leave the nodes' addresses out of the pool"
                                % (pool, spec["addresses"], ip, host))
    return problems
