"""A cluster availability probe for the day-2 tests (upgrade, reboot): not a test module itself."""

import threading
import uuid

import kubernetes
from conftest import client_for

PROBE_PERIOD = 0.1  # seconds between writes


class WriteProbe(threading.Thread):
    """Every PROBE_PERIOD: write a ConfigMap through some server's API and read it back from the same
    server, trying the servers in turn (the one that answered last first). A tick fails only when no
    server takes the write: what a user of the cluster would see as an outage."""

    def __init__(self, servers):
        super().__init__(daemon=True)
        self.apis = [(name, kubernetes.client.CoreV1Api(client_for(name))) for name in servers]
        self.name_ = "upgrade-probe-%s" % uuid.uuid4().hex[:6]
        self.stop_event = threading.Event()
        self.ticks = []  # (seq, server that took it or None, errors)

    def write(self, api, seq):
        body = {"metadata": {"name": self.name_}, "data": {"seq": str(seq)}}
        try:
            api.replace_namespaced_config_map(self.name_, "default", body, _request_timeout=(5, 20))
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            api.create_namespaced_config_map("default", body, _request_timeout=(5, 20))
        got = api.read_namespaced_config_map(self.name_, "default", _request_timeout=(5, 20)).data["seq"]
        assert got == str(seq), "wrote %s, read %s" % (seq, got)

    def run(self):
        order, seq = list(range(len(self.apis))), 0
        while not self.stop_event.is_set():
            seq += 1
            errors, taken = [], None
            for index in list(order):
                name, api = self.apis[index]
                try:
                    self.write(api, seq)
                except Exception as exc:  # noqa: BLE001 - any failure counts, the next server is tried
                    errors.append("%s: %s" % (name, str(exc).splitlines()[0][:200]))
                    continue
                taken = name
                order.remove(index)
                order.insert(0, index)
                break
            self.ticks.append((seq, taken, errors))
            self.stop_event.wait(PROBE_PERIOD)

    def stop(self):
        self.stop_event.set()
        self.join()

    def failed(self):
        """The ticks no server took."""
        return [t for t in self.ticks if t[1] is None]

    def detoured(self):
        """The ticks that met at least one server that did not answer."""
        return [t for t in self.ticks if t[2]]
