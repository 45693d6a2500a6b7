#!/usr/bin/env bash
# User-space instructions per request of a server, under callgrind: a
# figure that does not move with the load on a shared, noisy machine (the
# kernel's part is not counted; compare syscall counts with `strace -c -f`).
#
#   bash scripts/ir-per-request.sh axum_server --transport h2proto
#   bash scripts/ir-per-request.sh tonic_echo_server --transport tonic
#
# The first argument is an example in target/release/examples (or OUR_BIN),
# the rest its flags; `--addr HOST:PORT` is added. gRPC servers (name with
# "grpc" or "tonic") get the unary echo of scripts/bench-peers.sh.
# Environment: REQUESTS (20000), PORT (18090), OUR_BIN.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${OUR_BIN:-$ROOT/target/release/examples}/$1
shift
REQUESTS=${REQUESTS:-20000}
PORT=${PORT:-18090}
WORK=$(mktemp -d /tmp/ir.XXXXXX)
URL=http://127.0.0.1:$PORT/
LOAD=()
case $(basename "$BIN") in
*grpc* | *tonic*)
    printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$WORK/req"
    URL=http://127.0.0.1:$PORT/echo.Echo/UnaryEcho
    LOAD=(-d "$WORK/req" -H 'content-type: application/grpc' -H 'te: trailers')
    ;;
esac
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$BIN" "$@" --addr "127.0.0.1:$PORT" >/dev/null 2>"$WORK/vg.err" &
VG=$!
for _ in $(seq 50); do
    h2load -n 1 "${LOAD[@]}" "$URL" 2>/dev/null | grep -q " 1 succeeded" && break
    sleep 0.2
done
h2load -n "$REQUESTS" -c 4 -m 10 "${LOAD[@]}" "$URL" | grep -E "^requests:"
kill -INT $VG
sleep 3
kill $VG 2>/dev/null || true
wait $VG 2>/dev/null || true
total=$(grep -oE "Collected : [0-9]+" "$WORK/vg.err" | grep -oE "[0-9]+$" | tail -1)
echo "instructions per request: $((total / (REQUESTS + 1))) (callgrind total $total; profile $WORK/cg.out:"
echo "  callgrind_annotate --inclusive=yes $WORK/cg.out | head -60)"
