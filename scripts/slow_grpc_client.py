#!/usr/bin/env python3
"""Resident memory of a gRPC echo server whose client does not read.

Runs unary calls to /echo.Echo/UnaryEcho (examples/grpc_echo_server.rs) on
one h2c connection to 127.0.0.1:PORT, each carrying one EchoRequest of SIZE
bytes (default 1 MiB), all at once, in one of two scenarios:

  never-reads  (default: 50 calls) the client keeps the default 65,535-byte
               windows and never acknowledges the responses: the server can
               send 64 KiB in all, the rest of the responses waits in it.
  slow-reader  (default: 100 calls) the client opens its windows to
               2^31 - 1 and reads the socket at 64 KiB/s (with --burst:
               freely until its requests are sent, then at 64 KiB/s; the
               server's WINDOW_UPDATEs queue behind response bytes, so
               without it few requests get through in WAIT seconds).

Requests are sent as the server's flow control allows (the client keeps
reading the socket for WINDOW_UPDATEs in the first scenario). After WAIT
seconds (default 10) it prints the server's VmRSS growth (from
/proc/PID/status) and its peak, sampled every 100 ms; then it disconnects
and, after 2 s more, prints how far above the start the server stays.
With --then-read (never-reads only) it reads everything instead of
disconnecting and counts the calls that completed OK.

Needs PyPI `h2` (pip install h2).

    cargo build --release --example grpc_echo_server
    target/release/examples/grpc_echo_server --addr 127.0.0.1:50051 --runtime tokio &
    python3 scripts/slow_grpc_client.py --port 50051 --pid $! --scenario never-reads

The last line is machine-readable:
    RESULT scenario=... calls=... before_kib=... after_kib=... peak_kib=...
           growth_kib=... closed_kib=... closed_growth_kib=... completed=...
"""

import argparse
import select
import socket
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
except ImportError:
    raise SystemExit("slow_grpc_client: needs PyPI h2 (pip install h2)")

MAX_WINDOW = 2**31 - 1
PATH = "/echo.Echo/UnaryEcho"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def echo_request(size):
    """A gRPC frame (prefix + EchoRequest{message}) of about `size` bytes."""
    text = b"x" * size
    msg = b"\x0a" + varint(len(text)) + text
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


class Peer:
    def __init__(self, port, big_windows):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        if big_windows:
            self.conn.local_settings = h2.settings.Settings(
                client=True,
                initial_values={
                    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW,
                    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
                },
            )
        self.conn.initiate_connection()
        if big_windows:
            self.conn.increment_flow_control_window(MAX_WINDOW - 65535)
        self.out = bytearray(self.conn.data_to_send())
        self.pending = {}  # stream -> bytes left to send
        self.ok = 0
        self.ended = 0
        self.received = 0
        self.ack = False

    def start(self, calls, size, port):
        body = echo_request(size)
        for _ in range(calls):
            sid = self.conn.get_next_available_stream_id()
            self.conn.send_headers(
                sid,
                [(":method", "POST"), (":scheme", "http"),
                 (":path", PATH), (":authority", f"127.0.0.1:{port}"),
                 ("content-type", "application/grpc"), ("te", "trailers")],
            )
            self.pending[sid] = memoryview(body)

    def pump(self):
        """Sends request bytes as flow control allows."""
        for sid in list(self.pending):
            data = self.pending[sid]
            while data:
                n = min(self.conn.local_flow_control_window(sid),
                        self.conn.max_outbound_frame_size, len(data))
                if n <= 0:
                    break
                self.conn.send_data(sid, bytes(data[:n]))
                data = data[n:]
            if data:
                self.pending[sid] = data
            else:
                self.conn.end_stream(sid)
                del self.pending[sid]
        self.out += self.conn.data_to_send()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:n]

    def feed(self, data):
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                self.received += ev.flow_controlled_length
                if self.ack:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                self.ended += 1
                if dict(ev.headers).get("grpc-status") == "0":
                    self.ok += 1
            elif isinstance(ev, h2.events.StreamReset):
                self.ended += 1
                self.pending.pop(ev.stream_id, None)

    def turn(self, max_read, timeout=0.01):
        """One round: read up to max_read bytes, send what flow control allows."""
        self.pump()
        want_write = bool(self.out)
        r, w, _ = select.select([self.sock], [self.sock] if want_write else [], [], timeout)
        if w:
            self.flush()
        got = 0
        if r and max_read > 0:
            try:
                data = self.sock.recv(max_read)
            except BlockingIOError:
                return 0
            if not data:
                raise SystemExit("slow_grpc_client: the server closed the connection")
            got = len(data)
            self.feed(data)
        return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server process")
    ap.add_argument("--scenario", choices=["never-reads", "slow-reader"], default="never-reads")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--wait", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=64 * 1024, help="slow-reader: bytes read per second")
    ap.add_argument("--burst", action="store_true",
                    help="slow-reader: read freely until every request is sent, then at --rate")
    ap.add_argument("--then-read", action="store_true",
                    help="never-reads: then read everything and count the calls that end OK")
    args = ap.parse_args()
    slow = args.scenario == "slow-reader"
    calls = args.calls or (100 if slow else 50)

    before = rss_kib(args.pid)
    peer = Peer(args.port, big_windows=slow)
    peer.ack = slow
    peer.start(calls, args.size, args.port)

    peak, start = before, time.monotonic()
    end, next_sample = start + args.wait, start
    budget, last = 0.0, start
    while time.monotonic() < end:
        now = time.monotonic()
        if slow and args.burst and peer.pending:
            peer.turn(1 << 20)
            last = now
        elif slow:
            budget = min(budget + (now - last) * args.rate, args.rate)
            last = now
            got = peer.turn(int(budget) if budget >= 1024 else 0)
            budget -= got
        else:
            peer.turn(1 << 20)
        if now >= next_sample:
            peak = max(peak, rss_kib(args.pid))
            next_sample = now + 0.1
    after = rss_kib(args.pid)
    peak = max(peak, after)
    sent = calls - len(peer.pending)

    completed = -1
    if args.then_read and not slow:
        peer.ack = True
        # Open the windows and acknowledge what was held back.
        for sid in range(1, 2 * calls, 2):
            try:
                peer.conn.increment_flow_control_window(MAX_WINDOW - 65535, sid)
            except Exception:  # closed, or never opened
                pass
        peer.conn.increment_flow_control_window(MAX_WINDOW - 65535)
        until = time.monotonic() + max(30.0, args.wait)
        while peer.ended < calls and time.monotonic() < until:
            peer.turn(1 << 20)
        completed = peer.ok
    peer.sock.close()
    time.sleep(2.0)
    closed = rss_kib(args.pid)

    print(f"{args.scenario}: {calls} calls of {args.size} bytes, {sent} requests fully sent, "
          f"{peer.received} response bytes received in {args.wait:g} s")
    print(f"VmRSS before: {before} KiB, after: {after} KiB, peak: {peak} KiB, "
          f"2 s after closing: {closed} KiB")
    print(f"growth: {after - before} KiB; after the client left: {closed - before} KiB")
    print(f"RESULT scenario={args.scenario} calls={calls} before_kib={before} after_kib={after} "
          f"peak_kib={peak} growth_kib={after - before} closed_kib={closed} "
          f"closed_growth_kib={closed - before} completed={completed}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
