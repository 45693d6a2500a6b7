#!/usr/bin/env python3
"""Resident memory of an HTTP/2 server under uploads from a client that
does not read (issue #12's two scenarios), HTTP or gRPC.

One h2c connection to 127.0.0.1:PORT opens STREAMS concurrent uploads of
SIZE bytes each (HTTP: `POST PATH`; gRPC: a unary call to PATH whose
request message is SIZE bytes, `echo.EchoRequest`), sending DATA round-robin
over the streams as the server's windows allow, then:

  --mode never   the client keeps its receive windows at the RFC's 65,535
                 bytes and never gives credit back for responses; it still
                 reads the socket, so the server's WINDOW_UPDATEs for the
                 uploads arrive (it is the responses that stall);
  --mode slow    the client advertises 2^31-1 windows (flow control never
                 stops the server) and reads its socket at 64 KiB/s.

Before the first sample, WARMUP requests like those (default 1), from a
client that reads, on their own connection: code the server pages in on its
first requests is not counted as growth (the same for every server measured).
For WAIT seconds it samples the server's VmRSS (from /proc/PID/status)
every 100 ms; then it closes the connection, waits 2 s and samples again.
In --mode never it then repeats the uploads on a new connection that does
read, to check that every call completes (prints `completed N/N`).

    python3 scripts/slow_post.py --port 8080 --pid 1234 --mode never
    python3 scripts/slow_post.py --port 50051 --pid 1234 --grpc --mode slow

The last line is machine-readable for scripts/bench-peers.sh:
    RESULT before_kib=... peak_kib=... growth_kib=... after_close_kib=... completed=...
"""

import argparse
import socket
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError:
    raise SystemExit("slow_post: needs PyPI h2 (pip install h2)")

MAX_WINDOW = 2**31 - 1


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


def grpc_body(size):
    """A length-prefixed echo.EchoRequest whose `message` has `size` bytes."""
    msg = b"\x0a" + varint(size) + b"m" * size
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


class Uploader:
    def __init__(self, args, reading):
        self.args = args
        self.reading = reading
        self.sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, validate_inbound_headers=False)
        )
        big = args.mode == "slow" or reading
        if big:
            self.conn.local_settings = h2.settings.Settings(
                client=True,
                initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW},
            )
        self.conn.initiate_connection()
        if big:
            self.conn.increment_flow_control_window(MAX_WINDOW - 65535)
        self.sock.sendall(self.conn.data_to_send())
        self.body = grpc_body(args.size) if args.grpc else b"u" * args.size
        self.left = {}
        self.done = set()
        self.failed = set()

    def open_streams(self):
        a = self.args
        for _ in range(a.streams):
            sid = self.conn.get_next_available_stream_id()
            headers = [
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", f"127.0.0.1:{a.port}"),
                (":path", a.path),
            ]
            if a.grpc:
                headers += [("content-type", "application/grpc"), ("te", "trailers")]
            else:
                headers += [("content-length", str(len(self.body)))]
            self.conn.send_headers(sid, headers)
            self.left[sid] = 0  # offset into the body
        self.sock.sendall(self.conn.data_to_send())

    def pump(self):
        """Sends what the windows allow, round-robin, 16 KiB at a time."""
        sent = True
        while sent:
            sent = False
            for sid, off in list(self.left.items()):
                if off >= len(self.body):
                    continue
                try:
                    room = self.conn.local_flow_control_window(sid)
                except (h2.exceptions.StreamClosedError, KeyError):
                    self.left.pop(sid, None)
                    continue
                n = min(room, 16384, len(self.body) - off, self.conn.max_outbound_frame_size)
                if n <= 0:
                    continue
                end = off + n == len(self.body)
                self.conn.send_data(sid, self.body[off : off + n], end_stream=end)
                self.left[sid] = off + n
                sent = True
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self, max_bytes):
        self.sock.settimeout(0.01)
        try:
            data = self.sock.recv(max_bytes)
        except (socket.timeout, BlockingIOError):
            return
        if not data:
            raise ConnectionError("server closed the connection")
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and self.reading:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.done.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.failed.add(event.stream_id)
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server process")
    ap.add_argument("--grpc", action="store_true")
    ap.add_argument("--path", default=None)
    ap.add_argument("--mode", choices=["never", "slow"], default="never")
    ap.add_argument("--streams", type=int, default=None)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--wait", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=1, help="requests served before 'before'")
    args = ap.parse_args()
    if args.path is None:
        args.path = "/echo.Echo/UnaryEcho" if args.grpc else "/echo"
    if args.streams is None:
        args.streams = 50 if args.mode == "never" else 100

    if args.warmup > 0:
        warm = argparse.Namespace(**{**vars(args), "streams": args.warmup})
        w = Uploader(warm, reading=True)
        w.open_streams()
        deadline = time.monotonic() + 30
        while len(w.done) + len(w.failed) < warm.streams and time.monotonic() < deadline:
            w.pump()
            w.read(1 << 20)
        w.close()
        time.sleep(1)
    before = rss_kib(args.pid)
    up = Uploader(args, reading=False)
    up.open_streams()
    peak = before
    end = time.monotonic() + args.wait
    last_read = 0.0
    while time.monotonic() < end:
        up.pump()
        if args.mode == "never":
            up.read(65536)
        elif time.monotonic() - last_read >= 1.0:
            # 64 KiB a second, one read.
            last_read = time.monotonic()
            up.read(65536)
        else:
            time.sleep(0.01)
        peak = max(peak, rss_kib(args.pid))
    up.close()
    time.sleep(2)
    after_close = rss_kib(args.pid)

    completed = ""
    if args.mode == "never":
        # Every call completes for a client that reads.
        ok = Uploader(args, reading=True)
        ok.open_streams()
        deadline = time.monotonic() + 60
        while len(ok.done) + len(ok.failed) < args.streams and time.monotonic() < deadline:
            ok.pump()
            ok.read(1 << 20)
        ok.close()
        completed = f"{len(ok.done)}/{args.streams}"
        print(f"a reading client: {completed} completed, {len(ok.failed)} reset")

    kind = "gRPC unary" if args.grpc else "POST"
    print(f"{args.streams} x {kind} {args.path} of {args.size} bytes, mode {args.mode}, {args.wait:g} s, "
          f"after {args.warmup} warm-up request(s)")
    print(f"VmRSS before: {before} KiB, peak: {peak} KiB, 2 s after closing: {after_close} KiB")
    print(
        f"RESULT before_kib={before} peak_kib={peak} growth_kib={peak - before} "
        f"after_close_kib={after_close - before} completed={completed or '-'}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
