"""Generates the interop protos' Python modules into a temporary directory
(python3 -m grpc_tools.protoc) and puts it on sys.path."""

import atexit
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    from grpc_tools import protoc  # noqa: imported here so a missing grpcio is one clear error

    out = tempfile.mkdtemp(prefix="h2proto-grpc-")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"]
    args += [os.path.join(HERE, p) for p in ("empty.proto", "messages.proto", "test.proto")]
    if protoc.main(args) != 0:
        shutil.rmtree(out, ignore_errors=True)
        raise SystemExit("protoc failed")
    atexit.register(shutil.rmtree, out, True)
    sys.path.insert(0, out)
    import empty_pb2
    import messages_pb2
    import test_pb2_grpc

    return empty_pb2, messages_pb2, test_pb2_grpc
