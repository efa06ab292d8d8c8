"""etcd member report, on responses recorded from a real etcd 3.4 (tests/unit/fixtures/etcd/README.md)."""

import json
import os
import datetime

import pytest

from ansible_collections.homelab.platform.plugins.module_utils import etcd

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "etcd")
A, B = "http://127.0.0.1:12379", "http://127.0.0.1:22379"


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


class FakeGateway:
    """Answers like the recorded etcd: a member list, and one status per client URL (or an error)."""

    def __init__(self, member_list, statuses):
        self.member_list = member_list
        self.statuses = statuses
        self.asked = []

    def post(self, endpoint, path, body=None):
        self.asked.append((endpoint, path))
        if path == "/v3/cluster/member/list":
            return self.member_list
        answer = self.statuses[endpoint]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_two_voters_with_a_leader_are_healthy():
    gateway = FakeGateway(load("member_list_voters.json"), {A: load("status_leader.json"), B: load("status_follower.json")})
    result = etcd.inspect(gateway, A)
    assert result["healthy"] is True and result["problems"] == []
    assert (result["voters"], result["learners"], result["leader"]) == (2, 0, "a")
    assert [(m["name"], m["id"], m["leader"], m["is_learner"]) for m in result["members"]] == [
        ("a", "ddd67b312462fd7b", True, False),
        ("b", "5a93d7aa716ae213", False, False),  # the ID etcdctl printed at `member add`
    ]
    assert ("http://127.0.0.1:22379", "/v3/maintenance/status") in gateway.asked


def test_a_learner_is_not_yet_back():
    gateway = FakeGateway(load("member_list_learner.json"), {A: load("status_leader.json"), B: load("status_learner.json")})
    result = etcd.inspect(gateway, A)
    assert result["healthy"] is False
    assert (result["voters"], result["learners"]) == (1, 1)
    assert result["problems"] == ["b: still a learner (not yet promoted to a voting member)"]
    assert all(m["healthy"] for m in result["members"])  # both answer; b only lacks its vote


def test_a_member_that_does_not_answer_is_reported_with_the_reason():
    down = etcd.EtcdError("http://127.0.0.1:22379/v3/maintenance/status: [Errno 111] Connection refused")
    gateway = FakeGateway(load("member_list_voters.json"), {A: load("status_leader.json"), B: down})
    result = etcd.inspect(gateway, A)
    assert result["healthy"] is False and result["leader"] == "a"
    assert result["problems"] == ["b: http://127.0.0.1:22379/v3/maintenance/status: [Errno 111] Connection refused"]


def test_lost_quorum_has_no_leader():
    down = etcd.EtcdError("connection refused")
    gateway = FakeGateway(load("member_list_voters.json"), {A: load("status_no_leader.json"), B: down})
    result = etcd.inspect(gateway, A)
    assert result["healthy"] is False and result["leader"] is None
    assert "a: etcdserver: no leader" in result["problems"]


def test_a_member_added_but_never_started():
    listing = load("member_list_voters.json")
    listing["members"].append({"ID": "42", "peerURLs": ["https://10.0.0.9:2380"], "isLearner": True})
    gateway = FakeGateway(listing, {A: load("status_leader.json"), B: load("status_follower.json")})
    result = etcd.inspect(gateway, A)
    unstarted = [m for m in result["members"] if not m["started"]]
    assert [(m["id"], m["error"]) for m in unstarted] == [("2a", "added to the cluster but never started")]
    assert result["healthy"] is False and result["learners"] == 1


def test_member_ids_are_hex_like_etcdctl():
    assert etcd.member_id("6526797412037222931") == "5a93d7aa716ae213"


def test_missing_certificates_say_where_k3s_keeps_them(tmp_path):
    with pytest.raises(etcd.EtcdError, match="server/tls/etcd"):
        etcd.GatewayClient(str(tmp_path / "ca.crt"), str(tmp_path / "client.crt"), str(tmp_path / "client.key"))


def self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd-client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_path, crt_path = tmp_path / "client.key", tmp_path / "client.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(crt_path)


def test_unreachable_endpoint_names_it(tmp_path):
    """A real TLS client (a self-signed certificate) against a port nobody listens on."""
    key, crt = self_signed(tmp_path)
    client = etcd.GatewayClient(crt, crt, key, timeout=2)
    with pytest.raises(etcd.EtcdError, match=r"https://127\.0\.0\.1:9/v3/cluster/member/list"):
        etcd.inspect(client, "https://127.0.0.1:9")


def member(name, healthy=True, learner=False, mid=None):
    return {"name": name, "id": mid or "%x" % (abs(hash(name)) % (1 << 60)), "healthy": healthy, "is_learner": learner}


def cluster(*members):
    return {"members": list(members),
            "problems": ["%s: down" % m["name"] for m in members if not m["healthy"]]}


def test_node_member_matches_k3s_member_names_only():
    members = [member("s1-0a1b2c3d"), member("s10-00000000"), member("s1-extra")]
    assert etcd.node_member(members, "s1")["name"] == "s1-0a1b2c3d"
    assert etcd.node_member(members, "s2") is None
    with pytest.raises(etcd.EtcdError, match="several etcd members"):
        etcd.node_member(members + [member("s1-ffffffff")], "s1")


def test_removing_one_of_three_healthy_members_keeps_quorum():
    a, b, c = member("a-00000001"), member("b-00000002"), member("c-00000003")
    assert etcd.removal_refusal(cluster(a, b, c), c) is None


def test_removing_the_last_member_is_refused():
    a = member("a-00000001")
    assert "last etcd member" in etcd.removal_refusal(cluster(a), a)


def test_removal_refused_when_the_others_lack_a_majority():
    a, b, c = member("a-00000001"), member("b-00000002", healthy=False), member("c-00000003")
    refusal = etcd.removal_refusal(cluster(a, b, c), c)  # leaves a (healthy) and b (down): quorum of 2 needs 2
    assert "1 of the 2 remaining voting members" in refusal and "quorum needs 2" in refusal and "b-00000002: down" in refusal
    # Removing the member that is down is what brings the cluster back to health.
    assert etcd.removal_refusal(cluster(a, b, c), b) is None


def test_remove_member_sends_the_decimal_id():
    class Recorder:
        def post(self, endpoint, path, body=None):
            self.call = (endpoint, path, body)
            return {}
    gateway = Recorder()
    etcd.remove_member(gateway, A, {"id": "5a93d7aa716ae213", "name": "b"})
    assert gateway.call == (A, "/v3/cluster/member/remove", {"ID": str(0x5a93d7aa716ae213)})
