"""STAND-IN for tailscaled, for the container lab only (tests/standins).

Keeps a pid file so the tailscale stand-in can tell whether the daemon runs,
and restores tailscale0 at start when the node is logged in, as tailscaled does.
"""
import os
import signal
import subprocess
import sys
import time

PIDFILE = "/run/tailscale/tailscaled.pid"


def main():
    os.makedirs(os.path.dirname(PIDFILE), exist_ok=True)
    with open(PIDFILE, "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.update(now=True))
    # Re-create the interface of a logged-in node (`set` without flags only does that).
    subprocess.run(["/usr/bin/tailscale", "set"], check=False, capture_output=True)
    while not stop["now"]:
        time.sleep(0.5)
    os.unlink(PIDFILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
