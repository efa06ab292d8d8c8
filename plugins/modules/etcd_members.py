#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_members
short_description: Members of K3s's embedded etcd, whether each is healthy and a voter; removes a node's member
description:
  - Asks etcd on a K3s server (its JSON gateway on the client port, with the client certificate K3s keeps under
    C(/var/lib/rancher/k3s/server/tls/etcd/)) for the member list, then every member for its status.
  - Needs no C(etcdctl) on the node.
  - The day-2 playbooks wait on it (C(until)) after a restore or a server restart; a server counts as back when its
    member is healthy and a voter.
  - With O(remove_node), removes the member K3s made for that node (C(<node>-<8 hex>)), refusing when it is the last
    member or when the members that remain would not hold a majority of healthy voters (quorum).
version_added: 0.2.0
author:
  - homelab.platform developers (@homelab)
options:
  endpoint:
    description: etcd client URL to ask for the member list.
    type: str
    default: https://127.0.0.1:2379
  ca_cert:
    description: CA of etcd's serving certificate.
    type: path
    default: /var/lib/rancher/k3s/server/tls/etcd/server-ca.crt
  client_cert:
    description: Client certificate etcd accepts.
    type: path
    default: /var/lib/rancher/k3s/server/tls/etcd/client.crt
  client_key:
    description: Key of O(client_cert).
    type: path
    default: /var/lib/rancher/k3s/server/tls/etcd/client.key
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 5
  node:
    description:
      - Name of a K3s node whose etcd member (C(<node>-<8 hex>)) is returned as RV(member), for example to wait until a
        restarted server's member is healthy and a voter again.
    type: str
  remove_node:
    description:
      - Name of a K3s server node whose etcd member is removed from the cluster (C(playbooks/remove_node.yml)).
      - Nothing changes when the node has no member. Ask a member that stays (O(endpoint)), and stop K3s on the node
        first, or its etcd keeps trying to rejoin.
    type: str
notes:
  - Without O(remove_node), fails only when the member list cannot be read (etcd down, no certificate); members that
    do not answer are reported unhealthy with the reason.
extends_documentation_fragment:
  - homelab.platform.check_mode_diff
seealso:
  - name: K3s etcd-snapshot
    description: Snapshots, restore and cluster reset of K3s's embedded etcd.
    link: https://docs.k3s.io/cli/etcd-snapshot
"""

EXAMPLES = r"""
- name: Wait until every server is a healthy, voting etcd member
  homelab.platform.etcd_members:
  register: etcd
  until: etcd.healthy and etcd.voters == groups['k3s_server'] | length
  retries: 60
  delay: 5
  become: true

- name: Wait until the etcd member of k3s-server-2 is healthy and a voter again
  homelab.platform.etcd_members:
    node: k3s-server-2
  register: etcd
  until: etcd.member is not none and etcd.member.healthy and not etcd.member.is_learner
  retries: 60
  delay: 5
  become: true

- name: Remove the etcd member of k3s-server-3, asking a server that stays
  homelab.platform.etcd_members:
    remove_node: k3s-server-3
  delegate_to: k3s-master
  become: true
"""

RETURN = r"""
members:
  description: One entry per member, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Member ID in hex, as etcdctl and K3s print it.
      type: str
      sample: 4179273edd2158ad
    name:
      description: Member name (K3s names members C(<node name>-<8 hex>)); empty while a member was added but never started.
      type: str
      sample: k3s-master-517d9659
    peer_urls:
      description: Peer URLs.
      type: list
      elements: str
    client_urls:
      description: Client URLs.
      type: list
      elements: str
    is_learner:
      description: Still a learner (not yet promoted to a voting member).
      type: bool
    started:
      description: The member has started (it has a name).
      type: bool
    healthy:
      description: The member answered and knows a leader.
      type: bool
    leader:
      description: This member is the leader.
      type: bool
    error:
      description: Why the member is not healthy, or null.
      type: str
voters:
  description: Number of voting members.
  returned: always
  type: int
  sample: 3
learners:
  description: Number of learners.
  returned: always
  type: int
  sample: 0
leader:
  description: Name of the leader, or null without one.
  returned: always
  type: str
healthy:
  description: Every member answers, there is a leader and no member is still a learner.
  returned: always
  type: bool
problems:
  description: One line per member that is not healthy or not yet a voter.
  returned: always
  type: list
  elements: str
member:
  description: The entry of RV(members) that belongs to O(node), or null when the node has no member.
  returned: when O(node) is set
  type: dict
  sample:
    id: 4179273edd2158ad
    name: k3s-server-2-517d9659
    is_learner: false
    healthy: true
removed:
  description: Name of the member removed (in check mode, that would be removed), or null.
  returned: when O(remove_node) is set
  type: str
  sample: k3s-server-3-1a2b3c4d
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.platform.plugins.module_utils import etcd


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", default=etcd.DEFAULT_ENDPOINT),
            ca_cert=dict(type="path", default=etcd.DEFAULT_CA),
            client_cert=dict(type="path", default=etcd.DEFAULT_CERT),
            client_key=dict(type="path", default=etcd.DEFAULT_KEY),
            timeout=dict(type="float", default=5.0),
            node=dict(type="str"),
            remove_node=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        client = etcd.GatewayClient(params["ca_cert"], params["client_cert"], params["client_key"], params["timeout"])
        result = etcd.inspect(client, params["endpoint"])
    except etcd.EtcdError as exc:
        module.fail_json(msg="cannot read the etcd member list: %s" % exc)

    def finish(**outcome):
        """Exit with RV(member) read from the member list as it is now (after a removal: the list after it)."""
        if params["node"]:
            try:
                result["member"] = etcd.node_member(result["members"], params["node"])
            except etcd.EtcdError as exc:
                module.fail_json(msg=str(exc), **result)
        module.exit_json(**dict(result, **outcome))

    if not params["remove_node"]:
        finish(changed=False)

    try:
        member = etcd.node_member(result["members"], params["remove_node"])
    except etcd.EtcdError as exc:
        module.fail_json(msg=str(exc), **result)
    if member is None:
        finish(changed=False, removed=None)
    refusal = etcd.removal_refusal(result, member)
    if refusal:
        module.fail_json(msg="refusing to remove the etcd member of %s: %s" % (params["remove_node"], refusal), **result)
    before = [m["name"] for m in result["members"]]
    diff = {"before": {"members": before}, "after": {"members": [n for n in before if n != member["name"]]}}
    if not module.check_mode:
        try:
            etcd.remove_member(client, params["endpoint"], member)
            result.update(etcd.inspect(client, params["endpoint"]))
        except etcd.EtcdError as exc:
            module.fail_json(msg="removing the etcd member %s failed: %s" % (member["name"], exc))
    finish(changed=True, removed=member["name"], diff=diff)


if __name__ == "__main__":
    main()
