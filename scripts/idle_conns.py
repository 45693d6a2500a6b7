#!/usr/bin/env python3
"""Resident memory per idle HTTP/2 connection of a running server.

Opens N TCP connections to 127.0.0.1:PORT, each with the client preface and
an empty SETTINGS; reads until the server's SETTINGS (which it ACKs) and the
server's ACK of ours have arrived, so that every connection is fully
established and then idle. Prints the server process's VmRSS (from
/proc/PID/status) before and after, and (after - before) / N.

Connections open in batches (default 200: under the listen backlog), each
batch finishing its handshakes before the next starts. Standard library only.
With --tls each connection is HTTP/2 over TLS (ALPN h2; the certificate is
not verified): the TLS handshake first, then the same exchange.

    python3 scripts/idle_conns.py --port 8080 --pid 1234 [-n 5000] [--tls]

The last line is machine-readable for scripts/bench-peers.sh:
    RESULT n=5000 before_kib=... after_kib=... per_conn_bytes=... threads=...
"""

import argparse
import resource
import selectors
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, FLAG_ACK = 0x4, 0x1


def frame(kind, flags=0, payload=b"", stream=0):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def proc_status(pid):
    """VmRSS in KiB and the thread count of process `pid`."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


class Conn:
    """One connection's handshake: done once both SETTINGS are seen."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""
        self.got_settings = self.got_ack = False

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            kind, flags = self.buf[3], self.buf[4]
            self.buf = self.buf[9 + length:]
            if kind == SETTINGS and flags & FLAG_ACK:
                self.got_ack = True
            elif kind == SETTINGS:
                self.got_settings = True
                self.sock.sendall(frame(SETTINGS, FLAG_ACK))

    def done(self):
        return self.got_settings and self.got_ack


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    return ctx


def open_batch(port, count, timeout, tls=None):
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname="localhost")
            if s.selected_alpn_protocol() != "h2":
                raise SystemExit(f"idle_conns: ALPN {s.selected_alpn_protocol()!r}, not h2")
        s.sendall(PREFACE + frame(SETTINGS))
        s.setblocking(False)
        c = Conn(s)
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    pending, deadline = len(conns), time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"idle_conns: {pending} handshakes of a batch did not finish in {timeout}s")
        for key, _ in sel.select(left):
            c = key.data
            try:
                data = c.sock.recv(65536)
                # TLS: decrypted bytes may wait in the SSL object, not the socket.
                while tls is not None and c.sock.pending():
                    data += c.sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            if not data:
                raise SystemExit("idle_conns: the server closed a connection during its handshake")
            c.feed(data)
            if c.done():
                sel.unregister(c.sock)
                pending -= 1
    sel.close()
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server process")
    ap.add_argument("-n", type=int, default=5000, help="connections (default 5000)")
    ap.add_argument("--batch", type=int, default=200, help="connections per batch (default 200)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds idle before the reading")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per batch")
    ap.add_argument("--tls", action="store_true", help="HTTP/2 over TLS (ALPN h2)")
    args = ap.parse_args()
    tls = tls_context() if args.tls else None

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 100
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise SystemExit(f"idle_conns: ulimit -n hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    before, threads_before = proc_status(args.pid)
    conns, start = [], time.monotonic()
    while len(conns) < args.n:
        conns += open_batch(args.port, min(args.batch, args.n - len(conns)), args.timeout, tls)
    elapsed = time.monotonic() - start
    time.sleep(args.settle)
    after, threads = proc_status(args.pid)
    per_conn = (after - before) * 1024 / args.n
    print(f"{args.n} connections established in {elapsed:.1f}s")
    print(f"VmRSS before: {before} KiB ({threads_before} threads)")
    print(f"VmRSS after:  {after} KiB ({threads} threads)")
    print(f"per connection: {per_conn:.0f} bytes")
    print(f"RESULT n={args.n} before_kib={before} after_kib={after} "
          f"per_conn_bytes={per_conn:.0f} threads={threads}")
    sys.stdout.flush()
    for c in conns:
        c.sock.close()


if __name__ == "__main__":
    main()
