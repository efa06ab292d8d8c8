"""remove_node.yml and reset.yml on the lab (runs last, conftest LAB_PHASE: it shrinks the cluster for good).

ha: the last server leaves: refused requests change nothing; then its etcd member is removed (3 -> 2
voters), its Node deleted, K3s removed from the host (Tailscale stays), and the cluster still takes
writes through both remaining servers. reset.yml on the agent removes K3s, its scripts and the CNI
links it made; a second run changes nothing. default: removing the only server is refused.
"""

import uuid

import kubernetes
import pytest
from conftest import (AGENTS, FIRST, SCENARIO, SERVERS, client_for, host, node_state, recap_changed, run_playbook,
                      wait_for)

LAB_PHASE = 4
TLS = "/var/lib/rancher/k3s/server/tls/etcd"
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=%s/server-ca.crt --cert=%s/client.crt --key=%s/client.key "
           "--endpoints=https://127.0.0.1:2379" % (TLS, TLS, TLS))
# What K3s leaves on a node (roles/k3s/vars/main.yml k3s__reset_paths).
K3S_PATHS = ["/usr/local/bin/k3s", "/usr/local/bin/kubectl", "/usr/local/bin/k3s-killall.sh",
             "/usr/local/bin/k3s-uninstall.sh", "/etc/systemd/system/k3s.service",
             "/etc/systemd/system/k3s-agent.service", "/etc/rancher/k3s", "/var/lib/rancher/k3s", "/run/k3s"]
CNI_LINKS = ["cni0", "flannel.1"]
# Chains flannel, the CNI portmap plugin and kube-proxy make on a real node (the stand-in makes
# none), with the jumps into them; LAB-KEEP is the node owner's and must stay.
K3S_RULES = ["iptables -N KUBE-SERVICES", "iptables -A INPUT -j KUBE-SERVICES",
             "iptables -t nat -N CNI-HOSTPORT-DNAT", "iptables -t nat -A PREROUTING -j CNI-HOSTPORT-DNAT",
             "iptables -N FLANNEL-FWD", "iptables -A FORWARD -s 10.42.0.0/16 -j FLANNEL-FWD",
             "ip6tables -N KUBE-FIREWALL", "ip6tables -A OUTPUT -j KUBE-FIREWALL"]
OWN_RULES = ["iptables -N LAB-KEEP", "iptables -A INPUT -j LAB-KEEP"]
ha_only = pytest.mark.skipif(SCENARIO != "ha", reason="node removal needs several servers (ha scenario)")


def assert_no_k3s(name):
    h = host(name)
    assert [p for p in K3S_PATHS if h.file(p).exists] == []
    assert h.run("systemctl cat k3s k3s-agent").rc != 0
    assert h.service("tailscaled").is_running  # Tailscale and the OS stay
    assert h.interface("tailscale0").exists


@pytest.mark.skipif(SCENARIO != "default", reason="the default scenario has a single server")
def test_removing_the_last_server_is_refused():
    before = node_state()
    rc, out = run_playbook("remove_node.yml", "-e", "node=" + FIRST, "-e", "confirm=yes")
    assert rc != 0 and "is the last server" in out and "Nothing was changed" in out, out[-3000:]
    assert node_state() == before


@pytest.fixture(scope="module")
def removal():
    leaving = SERVERS[-1]
    refusals = {}
    for case, args in {"without confirm": ["-e", "node=" + leaving],
                       "unknown node": ["-e", "node=no-such-node", "-e", "confirm=yes"],
                       "no node": ["-e", "confirm=yes"]}.items():
        before = node_state()
        rc, out = run_playbook("remove_node.yml", *args)
        refusals[case] = (rc, out, node_state() == before)
    rc, out = run_playbook("remove_node.yml", "-e", "node=" + leaving, "-e", "confirm=yes")
    assert rc == 0, out[-4000:]
    return {"leaving": leaving, "refusals": refusals, "out": out}


@ha_only
@pytest.mark.parametrize("case,message", [("without confirm", "add -e confirm=yes"),
                                          ("unknown node", "is not a host of group"),
                                          ("no node", "say which node")])
def test_refused_removals_change_nothing(removal, case, message):
    rc, out, unchanged = removal["refusals"][case]
    assert rc != 0 and message in out and "Nothing was changed" in out, out[-3000:]
    assert unchanged


@ha_only
def test_etcd_shrinks_to_the_servers_that_stay(removal):
    stay = [s for s in SERVERS if s != removal["leaving"]]
    members = host(FIRST).check_output(ETCDCTL + " member list -w simple").strip().splitlines()
    assert sorted(m.split(", ")[2].rsplit("-", 1)[0] for m in members) == stay
    assert all(", started, " in m and m.endswith(", false") for m in members), members  # voters
    assert "2 voting members left" in removal["out"]


@ha_only
def test_the_node_is_gone_and_the_cluster_still_takes_writes(removal):
    stay = [s for s in SERVERS if s != removal["leaving"]]
    core = kubernetes.client.CoreV1Api(client_for())
    assert removal["leaving"] not in [n.metadata.name for n in core.list_node().items]
    name = "after-removal-%s" % uuid.uuid4().hex[:6]
    kubernetes.client.CoreV1Api(client_for(stay[-1])).create_namespaced_config_map(
        "default", {"metadata": {"name": name}, "data": {"written": "through %s" % stay[-1]}})
    read = kubernetes.client.CoreV1Api(client_for(stay[0])).read_namespaced_config_map(name, "default")
    assert read.data == {"written": "through %s" % stay[-1]}


@ha_only
def test_the_removed_host_has_no_k3s_left(removal):
    assert_no_k3s(removal["leaving"])


@ha_only
def test_reset_removes_k3s_and_its_links_and_runs_twice(removal):
    agent = AGENTS[0]
    h = host(agent)
    for link in CNI_LINKS:  # what flannel makes on a real node (the stand-in makes none)
        h.check_output("ip tuntap add dev %s mode tun", link)
    for rule in K3S_RULES + OWN_RULES:
        h.check_output(rule)
    before = node_state()
    rc, out = run_playbook("reset.yml", "--limit", agent)
    assert rc != 0 and "Add -e confirm=yes" in out and "Nothing was changed" in out, out[-3000:]
    assert node_state() == before

    rc, out = run_playbook("reset.yml", "--limit", agent, "-e", "confirm=yes")
    assert rc == 0, out[-3000:]
    assert recap_changed(out)[agent] > 0
    assert_no_k3s(agent)
    assert [link for link in CNI_LINKS if h.interface(link).exists] == []
    rules = h.check_output("iptables-save; ip6tables-save")
    assert [line for line in rules.splitlines() if any(c in line for c in ("KUBE-", "CNI-", "FLANNEL"))] == [], rules
    assert ":LAB-KEEP" in rules and "-A INPUT -j LAB-KEEP" in rules, rules

    rc, out = run_playbook("reset.yml", "--limit", agent, "-e", "confirm=yes")
    assert rc == 0 and recap_changed(out)[agent] == 0, out[-3000:]


@ha_only
def test_the_removed_server_joins_again_with_a_run_limited_to_it(removal):
    """A host new to the cluster joins with site.yml limited to it (README: --limit HOST): K3s again, an etcd
    voter again (3 voting members), its Node Ready."""
    leaving = removal["leaving"]
    rc, out = run_playbook("site.yml", "--limit", leaving)
    assert rc == 0, out[-4000:]
    assert set(recap_changed(out)) == {leaving}
    members = host(FIRST).check_output(ETCDCTL + " member list -w simple").strip().splitlines()
    assert sorted(m.split(", ")[2].rsplit("-", 1)[0] for m in members) == SERVERS
    assert all(", started, " in m and m.endswith(", false") for m in members), members
    core = kubernetes.client.CoreV1Api(client_for())

    def ready():
        try:
            node = core.read_node(leaving)
        except kubernetes.client.ApiException as exc:  # not registered yet
            assert exc.status == 404, exc
            return False
        return [c.status for c in node.status.conditions if c.type == "Ready"] == ["True"]

    wait_for(ready, "Node %s Ready after joining again" % leaving)
