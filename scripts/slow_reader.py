#!/usr/bin/env python3
"""Resident memory of an HTTP/2 server whose client stops reading.

Opens one h2c connection to 127.0.0.1:PORT with the largest windows
(INITIAL_WINDOW_SIZE 2^31 - 1 and the connection window raised to match),
finishes the SETTINGS exchange, requests PATH (default /bytes/16777216) on
STREAMS (default 50) streams, then never reads again. After WAIT seconds
(default 5) prints the server's VmRSS growth (from /proc/PID/status) and
its peak over the wait, sampled every 100 ms.

Flow control allows the server to send everything (50 x 16 MiB = 800 MiB),
so whatever TCP cannot take stays in the server: this shows how much a
server holds (bodies, copies of them in send buffers) for a stalled peer.

Needs PyPI `h2` (pip install h2).

    python3 scripts/slow_reader.py --port 8080 --pid 1234

The last line is machine-readable for scripts/bench-peers.sh:
    RESULT before_kib=... after_kib=... peak_kib=... growth_kib=...
"""

import argparse
import socket
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
except ImportError:
    raise SystemExit("slow_reader: needs PyPI h2 (pip install h2)")

MAX_WINDOW = 2**31 - 1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server process")
    ap.add_argument("--path", default="/bytes/16777216")
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--wait", type=float, default=5.0)
    args = ap.parse_args()

    before = rss_kib(args.pid)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
        },
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(MAX_WINDOW - 65535)
    sock.sendall(conn.data_to_send())

    # Finish the SETTINGS exchange both ways, as a real client would.
    got_settings = got_ack = False
    deadline = time.monotonic() + 10
    while not (got_settings and got_ack):
        if time.monotonic() > deadline:
            raise SystemExit("slow_reader: no SETTINGS exchange within 10 s")
        data = sock.recv(65536)
        if not data:
            raise SystemExit("slow_reader: the server closed the connection")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                got_settings = True
            elif isinstance(event, h2.events.SettingsAcknowledged):
                got_ack = True
        sock.sendall(conn.data_to_send())

    for _ in range(args.streams):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(
            sid,
            [(":method", "GET"), (":scheme", "http"),
             (":authority", f"127.0.0.1:{args.port}"), (":path", args.path)],
            end_stream=True,
        )
    sock.sendall(conn.data_to_send())

    # Never read again.
    peak, end = before, time.monotonic() + args.wait
    while time.monotonic() < end:
        time.sleep(0.1)
        peak = max(peak, rss_kib(args.pid))
    after = rss_kib(args.pid)
    peak = max(peak, after)
    print(f"{args.streams} x {args.path}, not reading for {args.wait:g} s")
    print(f"VmRSS before: {before} KiB, after: {after} KiB, peak: {peak} KiB")
    print(f"growth: {after - before} KiB")
    print(f"RESULT before_kib={before} after_kib={after} peak_kib={peak} growth_kib={after - before}")
    sys.stdout.flush()
    sock.close()


if __name__ == "__main__":
    main()
