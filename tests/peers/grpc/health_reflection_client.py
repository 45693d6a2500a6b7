"""grpcio's standard health and reflection clients against h2proto.

python3 health_reflection_client.py --port P

Run by tests/tower_tonic_services.rs against tonic's health and reflection
services served by h2proto. Prints WATCHING once its Watch call has seen
NOT_SERVING for echo.Echo (the test then flips the status) and PASS last.
"""

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

DEADLINE = 10  # seconds; every call is bounded
S = health_pb2.HealthCheckResponse


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    res = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE)
    check(res.status == S.SERVING, f"overall status {res.status}")
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=DEADLINE)
        raise AssertionError("an unknown service must answer NOT_FOUND")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.NOT_FOUND, f"unknown service: {err.code()}")

    watch = stub.Watch(health_pb2.HealthCheckRequest(service="echo.Echo"), timeout=DEADLINE)
    first = next(watch)
    check(first.status == S.NOT_SERVING, f"first watched status {first.status}")
    print("WATCHING", flush=True)
    second = next(watch)
    check(second.status == S.SERVING, f"second watched status {second.status}")
    watch.cancel()


def reflection(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    services = db.get_services()
    check("grpc.health.v1.Health" in services, f"services listed: {services}")
    desc = db.FindFileContainingSymbol("grpc.health.v1.Health")
    check(desc.package == "grpc.health.v1", f"file package {desc.package!r}")
    check(any(s.name == "Health" for s in desc.service), "Health in the file")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with grpc.insecure_channel(f"127.0.0.1:{args.port}") as channel:
        health(channel)
        reflection(channel)
    print("PASS", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # noqa: BLE001 - the test prints whatever failed
        print(f"FAIL {type(err).__name__}: {err}", flush=True)
        sys.exit(1)
