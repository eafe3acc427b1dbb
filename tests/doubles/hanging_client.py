"""A client that hangs: it connects, sends C0+C1 (or nothing with --silent) and then sleeps for an
hour ignoring SIGINT and SIGTERM, so only a SIGKILL by PID ends it (tests/clients/test_hang.py)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time


def main() -> int:
    url = sys.argv[-1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hostport = url[len("rtmp://"):].split("/")[0]
    host, port = hostport.split(":")
    sock = socket.create_connection((host, int(port)))
    if "--silent" not in sys.argv:
        sock.sendall(b"\x03" + os.urandom(1536))  # C0 + C1, then nothing more
    time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
