#!/usr/bin/env bash
# Req/s and the server's user and system CPU time, tonic echo on h2proto
# against tonic's own transport, alternating: where a server's time goes
# (user space or the kernel) on the unary echo of scripts/bench-peers.sh.
#
#   bash scripts/cpu-split.sh            # 3 rounds, 200,000 requests each
#
# Environment: ROUNDS (3), REQUESTS (200000), PORT (18111), OUR_BIN
# (target/release/examples; build with `cargo build --release --examples`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${OUR_BIN:-$ROOT/target/release/examples}/tonic_echo_server
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
PORT=${PORT:-18111}
WORK=$(mktemp -d /tmp/cpu-split.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$WORK/req"
URL=http://127.0.0.1:$PORT/echo.Echo/UnaryEcho
LOAD=(-c 4 -m 10 -d "$WORK/req" -H 'content-type: application/grpc' -H 'te: trailers')
HZ=$(getconf CLK_TCK)
for ((round = 1; round <= ROUNDS; round++)); do
    for transport in h2proto tonic; do
        "$BIN" --addr "127.0.0.1:$PORT" --transport "$transport" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            h2load -n 1 "${LOAD[@]}" "$URL" 2>/dev/null | grep -q " 1 succeeded" && break
            sleep 0.1
        done
        h2load -n $((REQUESTS / 10)) "${LOAD[@]}" "$URL" >/dev/null 2>&1
        read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        rps=$(h2load -n "$REQUESTS" "${LOAD[@]}" "$URL" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
        read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        awk -v t="$transport" -v r="$round" -v rps="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" \
            'BEGIN { printf "round %d %-8s %10.0f req/s  user %5.0f ms  system %4.0f ms\n", r, t, rps, u * 1000 / hz, s * 1000 / hz }'
    done
done
