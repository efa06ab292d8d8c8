"""The filter plugins turn core errors into AnsibleFilterError naming the filter and the value."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.platform.plugins.filter.k3s import FilterModule as K3sFilters
from ansible_collections.homelab.platform.plugins.filter.network import FilterModule as NetworkFilters

NET = NetworkFilters().filters()
K3S = K3sFilters().filters()


def test_network_filters_are_registered():
    assert {"cidr_conflicts", "tailscale_ip", "network_preflight"} <= set(NET)
    assert NET["cidr_conflicts"]({"lan": "192.168.2.0/24", "pods": "10.42.0.0/16"}) == []
    assert NET["tailscale_ip"](["192.168.0.100", "100.80.98.64"]) == "100.80.98.64"


@pytest.mark.parametrize("bad,message", [
    ({"lan": "192.168.2.0/33"}, "cidr_conflicts: lan: '192.168.2.0/33' is not a valid CIDR"),
    ("192.168.2.0/24", "cidr_conflicts: expected a list of CIDRs or a dict"),
])
def test_cidr_conflicts_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        NET["cidr_conflicts"](bad)


def test_tailscale_ip_bad_input():
    with pytest.raises(AnsibleFilterError, match="tailscale_ip: 'nope' is not an IP address"):
        NET["tailscale_ip"](["nope"])


def test_k3s_filters():
    assert K3S["k3s_labels"]({"a": "b"}) == ["a=b"]
    with pytest.raises(AnsibleFilterError, match="not a K3s release version"):
        K3S["k3s_version"]("latest")
