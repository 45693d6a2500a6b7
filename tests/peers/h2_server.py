#!/usr/bin/env python3
"""A small HTTP/2 (h2c, prior knowledge) server on the python `h2` package,
used as an independent peer for h2proto's client (tests/interop_python.rs).

Listens on 127.0.0.1 on a free port, prints "PORT <n>" on stdout, then serves
connections one at a time until killed:
  /echo      the request body back, with a trailer x-echo-len
  /bytes/N   N bytes of 'y'
  otherwise  200 "hello from python h2"
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events


def respond(conn, sock, stream_id, method, path, body):
    trailers = None
    if path == "/echo":
        data = bytes(body)
        trailers = [("x-echo-len", str(len(data)))]
    elif path.startswith("/bytes/"):
        data = b"y" * int(path[len("/bytes/"):])
    else:
        data = b"hello from python h2\n"
    if method == "HEAD":
        data = b""
    headers = [(":status", "200"), ("content-length", str(len(data))), ("server", "python-h2")]
    conn.send_headers(stream_id, headers, end_stream=not data and not trailers)
    return [stream_id, data, trailers]


def pump(conn, pending):
    """Sends as much queued response data as flow control allows."""
    for item in list(pending):
        stream_id, data, trailers = item
        while data:
            window = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                break
            chunk, data = data[:window], data[window:]
            conn.send_data(stream_id, chunk, end_stream=not data and not trailers)
        item[1] = data
        if not data:
            if trailers:
                conn.send_headers(stream_id, trailers, end_stream=True)
            pending.remove(item)


def serve(sock):
    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}
    pending = []
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                h = dict(event.headers)
                requests[event.stream_id] = [h[":method"], h[":path"], bytearray()]
            elif isinstance(event, h2.events.DataReceived):
                requests[event.stream_id][2] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                method, path, body = requests.pop(event.stream_id)
                pending.append(respond(conn, sock, event.stream_id, method, path, body))
            elif isinstance(event, h2.events.StreamReset):
                requests.pop(event.stream_id, None)
                pending[:] = [p for p in pending if p[0] != event.stream_id]
            elif isinstance(event, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                return
        pump(conn, pending)
        sock.sendall(conn.data_to_send())


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print("PORT", listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        sock.settimeout(30)
        try:
            serve(sock)
        except (OSError, h2.exceptions.ProtocolError) as e:
            print("connection error:", e, file=sys.stderr, flush=True)
        finally:
            sock.close()


if __name__ == "__main__":
    main()
