"""grpc interop client (grpcio) for h2proto's interop tests.

python3 interop_client.py --server_host H --server_port P --test_case CASE
Exit status 0: the case passed; otherwise the failure is printed.
"""

import argparse
import sys
import time

import grpc

import protos

empty_pb2, messages_pb2, test_pb2_grpc = protos.load()
M = messages_pb2

REQ_SIZES = [27182, 8, 1828, 45904]
RESP_SIZES = [31415, 9, 2653, 58979]
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
DEADLINE = 10  # seconds; every call is bounded


def payload(n):
    return M.Payload(type=M.COMPRESSABLE, body=b"\0" * n)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_code(err, code, message=None):
    check(err.code() == code, f"expected {code}, got {err.code()} {err.details()!r}")
    if message is not None:
        check(err.details() == message, f"expected message {message!r}, got {err.details()!r}")


def empty_unary(stub):
    check(stub.EmptyCall(empty_pb2.Empty(), timeout=DEADLINE) == empty_pb2.Empty(), "non-empty reply")


def large_unary(stub):
    req = M.SimpleRequest(response_size=314159, payload=payload(271828))
    resp = stub.UnaryCall(req, timeout=DEADLINE)
    check(resp.payload.body == b"\0" * 314159, "wrong payload")


def client_streaming(stub):
    reqs = (M.StreamingInputCallRequest(payload=payload(n)) for n in REQ_SIZES)
    resp = stub.StreamingInputCall(reqs, timeout=DEADLINE)
    check(resp.aggregated_payload_size == 74922, f"aggregated {resp.aggregated_payload_size}")


def server_streaming(stub):
    req = M.StreamingOutputCallRequest(
        response_parameters=[M.ResponseParameters(size=n) for n in RESP_SIZES]
    )
    sizes = [len(r.payload.body) for r in stub.StreamingOutputCall(req, timeout=DEADLINE)]
    check(sizes == RESP_SIZES, f"sizes {sizes}")


class Requests:
    """A request iterator the test feeds one at a time."""

    def __init__(self):
        import queue

        self.q = queue.Queue()

    def push(self, item):
        self.q.put(item)

    def close(self):
        self.q.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get(timeout=DEADLINE)
        if item is None:
            raise StopIteration
        return item


def ping_pong(stub):
    reqs = Requests()
    responses = stub.FullDuplexCall(reqs, timeout=DEADLINE)
    for req_size, resp_size in zip(REQ_SIZES, RESP_SIZES):
        reqs.push(
            M.StreamingOutputCallRequest(
                response_parameters=[M.ResponseParameters(size=resp_size)], payload=payload(req_size)
            )
        )
        resp = next(responses)
        check(len(resp.payload.body) == resp_size, f"size {len(resp.payload.body)}")
    reqs.close()
    check(next(responses, None) is None, "extra response")


def empty_stream(stub):
    responses = list(stub.FullDuplexCall(iter([]), timeout=DEADLINE))
    check(responses == [], "responses to an empty stream")


def custom_metadata(stub):
    md = ((ECHO_INITIAL, "test_initial_metadata_value"), (ECHO_TRAILING, b"\xab\xab\xab"))

    def check_md(initial, trailing):
        check((ECHO_INITIAL, "test_initial_metadata_value") in initial, f"initial {initial}")
        check((ECHO_TRAILING, b"\xab\xab\xab") in trailing, f"trailing {trailing}")

    req = M.SimpleRequest(response_size=314159, payload=payload(271828))
    resp, call = stub.UnaryCall.with_call(req, metadata=md, timeout=DEADLINE)
    check(len(resp.payload.body) == 314159, "unary payload")
    check_md(call.initial_metadata(), call.trailing_metadata())
    req = M.StreamingOutputCallRequest(
        response_parameters=[M.ResponseParameters(size=314159)], payload=payload(271828)
    )
    call = stub.FullDuplexCall(iter([req]), metadata=md, timeout=DEADLINE)
    sizes = [len(r.payload.body) for r in call]
    check(sizes == [314159], f"duplex sizes {sizes}")
    check_md(call.initial_metadata(), call.trailing_metadata())


def status_with(stub, message):
    status = M.EchoStatus(code=2, message=message)
    try:
        stub.UnaryCall(M.SimpleRequest(response_status=status), timeout=DEADLINE)
        raise AssertionError("unary call succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNKNOWN, message)
    call = stub.FullDuplexCall(iter([M.StreamingOutputCallRequest(response_status=status)]), timeout=DEADLINE)
    try:
        list(call)
        raise AssertionError("duplex call succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNKNOWN, message)


def status_code_and_message(stub):
    status_with(stub, "test status message")


def special_status_message(stub):
    status_with(stub, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n")


def unimplemented_method(stub):
    try:
        stub.UnimplementedCall(empty_pb2.Empty(), timeout=DEADLINE)
        raise AssertionError("call succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(stub, channel):
    other = test_pb2_grpc.UnimplementedServiceStub(channel)
    try:
        other.UnimplementedCall(empty_pb2.Empty(), timeout=DEADLINE)
        raise AssertionError("call succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNIMPLEMENTED)


def cancel_after_begin(stub):
    reqs = Requests()
    future = stub.StreamingInputCall.future(reqs, timeout=DEADLINE)
    time.sleep(0.1)
    future.cancel()
    reqs.close()
    check(future.cancelled(), "not cancelled")


def cancel_after_first_response(stub):
    reqs = Requests()
    responses = stub.FullDuplexCall(reqs, timeout=DEADLINE)
    reqs.push(
        M.StreamingOutputCallRequest(response_parameters=[M.ResponseParameters(size=31415)], payload=payload(27182))
    )
    check(len(next(responses).payload.body) == 31415, "first response")
    responses.cancel()
    reqs.close()
    try:
        next(responses)
        raise AssertionError("a response after cancel")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.CANCELLED)


def timeout_on_sleeping_server(stub):
    reqs = Requests()
    responses = stub.FullDuplexCall(reqs, timeout=0.001)
    reqs.push(M.StreamingOutputCallRequest(payload=payload(27182)))
    try:
        next(responses)
        raise AssertionError("a response")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.DEADLINE_EXCEEDED)
    reqs.close()


def client_compressed_unary(stub):
    probe = M.SimpleRequest(response_size=314159, payload=payload(271828), expect_compressed=M.BoolValue(value=True))
    try:
        stub.UnaryCall(probe, timeout=DEADLINE)
        raise AssertionError("the probe succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.INVALID_ARGUMENT)
    for compressed in (True, False):
        req = M.SimpleRequest(
            response_size=314159, payload=payload(271828), expect_compressed=M.BoolValue(value=compressed)
        )
        comp = grpc.Compression.Gzip if compressed else grpc.Compression.NoCompression
        resp = stub.UnaryCall(req, compression=comp, timeout=DEADLINE)
        check(len(resp.payload.body) == 314159, "payload")


def server_compressed_unary(stub):
    for compressed in (True, False):
        req = M.SimpleRequest(
            response_size=314159, payload=payload(271828), response_compressed=M.BoolValue(value=compressed)
        )
        resp = stub.UnaryCall(req, timeout=DEADLINE)
        check(len(resp.payload.body) == 314159, "payload")


def client_compressed_streaming(stub):
    probe = M.StreamingInputCallRequest(payload=payload(27182), expect_compressed=M.BoolValue(value=True))
    try:
        stub.StreamingInputCall(iter([probe]), timeout=DEADLINE)
        raise AssertionError("the probe succeeded")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.INVALID_ARGUMENT)
    # grpcio cannot turn compression off for one message: the second goes
    # compressed too, which expect_compressed=false allows.
    reqs = [
        M.StreamingInputCallRequest(payload=payload(27182), expect_compressed=M.BoolValue(value=True)),
        M.StreamingInputCallRequest(payload=payload(45904), expect_compressed=M.BoolValue(value=False)),
    ]
    resp = stub.StreamingInputCall(iter(reqs), compression=grpc.Compression.Gzip, timeout=DEADLINE)
    check(resp.aggregated_payload_size == 73086, f"aggregated {resp.aggregated_payload_size}")


def server_compressed_streaming(stub):
    req = M.StreamingOutputCallRequest(
        response_parameters=[
            M.ResponseParameters(size=31415, compressed=M.BoolValue(value=True)),
            M.ResponseParameters(size=92653, compressed=M.BoolValue(value=False)),
        ]
    )
    sizes = [len(r.payload.body) for r in stub.StreamingOutputCall(req, timeout=DEADLINE)]
    check(sizes == [31415, 92653], f"sizes {sizes}")


CASES = {
    name: fn
    for name, fn in globals().items()
    if callable(fn)
    and name
    in (
        "empty_unary large_unary client_streaming server_streaming ping_pong empty_stream custom_metadata "
        "status_code_and_message special_status_message unimplemented_method unimplemented_service "
        "cancel_after_begin cancel_after_first_response timeout_on_sleeping_server client_compressed_unary "
        "server_compressed_unary client_compressed_streaming server_compressed_streaming"
    ).split()
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server_host", default="127.0.0.1")
    p.add_argument("--server_port", type=int, required=True)
    p.add_argument("--test_case", required=True, help="a case, or all")
    p.add_argument("--use_tls", action="store_true")
    p.add_argument("--ca_file")
    p.add_argument("--server_host_override")
    a = p.parse_args()
    names = list(CASES) if a.test_case == "all" else [a.test_case]
    if any(n not in CASES for n in names):
        print(f"unknown test case {a.test_case}")
        return 2
    target = f"{a.server_host}:{a.server_port}"
    if a.use_tls:
        roots = open(a.ca_file, "rb").read() if a.ca_file else None
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        options = []
        if a.server_host_override:
            options.append(("grpc.ssl_target_name_override", a.server_host_override))
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target)
    failed = 0
    with channel:
        grpc.channel_ready_future(channel).result(timeout=DEADLINE)
        stub = test_pb2_grpc.TestServiceStub(channel)
        for name in names:
            fn = CASES[name]
            try:
                fn(stub, channel) if name == "unimplemented_service" else fn(stub)
            except (AssertionError, grpc.RpcError) as e:
                print(f"FAIL {name}: {e!r}", flush=True)
                failed += 1
                continue
            print(f"PASS {name}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
