"""grpc interop server (grpcio) for h2proto's interop tests.

python3 interop_server.py --port P [--server_id ID]
  (prints "READY <port>" once serving; --port 0 picks one; UnaryCall fills
  SimpleResponse.server_id with ID when the request sets fill_server_id)
    [--use_tls --tls_cert_file PEM --tls_key_file PEM]   (grpc's interop flag names)
"""

import argparse
import sys
import time
from concurrent import futures

import grpc

import protos

empty_pb2, messages_pb2, test_pb2_grpc = protos.load()
M = messages_pb2
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


def payload(n):
    return M.Payload(type=M.COMPRESSABLE, body=b"\0" * n)


def echo_metadata(context):
    md = dict(context.invocation_metadata())
    if ECHO_INITIAL in md:
        context.send_initial_metadata(((ECHO_INITIAL, md[ECHO_INITIAL]),))
    if ECHO_TRAILING in md:
        context.set_trailing_metadata(((ECHO_TRAILING, md[ECHO_TRAILING]),))


def check_compressed(expect, context):
    """expect_compressed cannot be checked here: grpcio hides both the
    message's compressed flag and the request's grpc-encoding from servicers,
    so this server accepts either (it lacks grpc's CompressedRequest feature;
    clients run the client_compressed_* cases without the feature probe)."""
    del expect, context


def abort_with(status, context):
    if status.code != 0:
        code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
        context.abort(code, status.message)


def respond(request, context):
    abort_with(request.response_status, context)
    for p in request.response_parameters:
        if p.interval_us > 0:
            time.sleep(p.interval_us / 1e6)
        if p.compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        else:
            context.disable_next_message_compression()
        yield M.StreamingOutputCallResponse(payload=payload(p.size))


class TestService(test_pb2_grpc.TestServiceServicer):
    server_id = ""

    def EmptyCall(self, request, context):
        echo_metadata(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        check_compressed(request.expect_compressed, context)
        abort_with(request.response_status, context)
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        server_id = self.server_id if request.fill_server_id else ""
        return M.SimpleResponse(payload=payload(request.response_size), server_id=server_id)

    def StreamingOutputCall(self, request, context):
        echo_metadata(context)
        yield from respond(request, context)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context)
        total = 0
        for req in request_iterator:
            check_compressed(req.expect_compressed, context)
            total += len(req.payload.body)
        return M.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for req in request_iterator:
            yield from respond(req, context)

    def HalfDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for req in list(request_iterator):
            yield from respond(req, context)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--server_id", default="")
    p.add_argument("--use_tls", action="store_true")
    p.add_argument("--tls_cert_file")
    p.add_argument("--tls_key_file")
    a = p.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    service = TestService()
    service.server_id = a.server_id
    test_pb2_grpc.add_TestServiceServicer_to_server(service, server)
    if a.use_tls:
        with open(a.tls_key_file, "rb") as k, open(a.tls_cert_file, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(f"127.0.0.1:{a.port}", creds)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{a.port}")
    server.start()
    print(f"READY {port}", flush=True)
    # Serve until stdin closes (the test harness holds it open) or a signal.
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.stop(grace=1)


if __name__ == "__main__":
    main()
