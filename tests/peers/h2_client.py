#!/usr/bin/env python3
"""A small HTTP/2 (h2c, prior knowledge) client on the python `h2` package,
used as an independent peer for h2proto's server (tests/interop_python.rs).

Usage: h2_client.py PORT [CA_PEM]
With CA_PEM: over TLS (Python's ssl, ALPN "h2", SNI "localhost", the
server's certificate verified against CA_PEM), with :scheme https.
On one connection: GET /, POST 1 MiB to /echo (compared byte for byte),
and 20 concurrent GET /bytes/1000. Prints "OK <summary>" and exits 0 when
every response is right; otherwise prints why and exits 1.
"""
import os
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events


def main():
    port = int(sys.argv[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    scheme = "http"
    if len(sys.argv) > 2:
        ctx = ssl.create_default_context(cafile=sys.argv[2])
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        if sock.selected_alpn_protocol() != "h2":
            print("FAIL: ALPN %r" % sock.selected_alpn_protocol())
            return 1
        scheme = "https"
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def request(method, path, body=b""):
        sid = conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", scheme),
                   (":authority", "127.0.0.1:%d" % port), (":path", path)]
        conn.send_headers(sid, headers, end_stream=not body)
        return sid

    upload = os.urandom(1 << 20)
    expect = {}
    expect[request("GET", "/")] = ("get", None)
    echo = request("POST", "/echo", upload)
    expect[echo] = ("echo", upload)
    for _ in range(20):
        expect[request("GET", "/bytes/1000")] = ("bytes", b"x" * 1000)
    to_upload = {echo: upload}

    def pump():
        for sid, data in list(to_upload.items()):
            while data:
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk, data = data[:window], data[window:]
                conn.send_data(sid, chunk, end_stream=not data)
            to_upload[sid] = data
            if not data:
                del to_upload[sid]

    responses = {sid: [None, bytearray()] for sid in expect}
    done = set()
    pump()
    sock.sendall(conn.data_to_send())
    while len(done) < len(expect):
        data = sock.recv(65536)
        if not data:
            print("FAIL: connection closed early; done %d of %d" % (len(done), len(expect)))
            return 1
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                responses[event.stream_id][0] = dict(event.headers)[":status"]
            elif isinstance(event, h2.events.DataReceived):
                responses[event.stream_id][1] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                print("FAIL: stream %d reset with %r" % (event.stream_id, event.error_code))
                return 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                print("FAIL: GOAWAY %r" % (event.error_code,))
                return 1
        pump()
        sock.sendall(conn.data_to_send())

    for sid, (kind, body) in expect.items():
        status, got = responses[sid]
        if status != "200":
            print("FAIL: %s on stream %d: status %s" % (kind, sid, status))
            return 1
        if body is not None and bytes(got) != body:
            print("FAIL: %s on stream %d: %d bytes, expected %d" % (kind, sid, len(got), len(body)))
            return 1
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print("OK %d streams, echo %d bytes" % (len(expect), len(upload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
