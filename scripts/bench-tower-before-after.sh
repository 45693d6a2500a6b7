#!/usr/bin/env bash
# Two builds of the tower examples (axum_server, tonic_echo_server) on
# h2proto, before and after a change, and the same examples on their own
# transports (hyper, tonic), under bench-peers.sh's tower rows: h2load -n
# REQUESTS -c 4 -m 10 (axum: GET /; tonic: unary echo), after a warm-up of
# REQUESTS/10, servers in a rotating order within each round, each freshly
# started. A benchmark, not a test.
#
#   cargo build --release --example axum_server --example tonic_echo_server
#   mkdir -p /tmp/before && cp target/release/examples/{axum_server,tonic_echo_server} /tmp/before/
#   # ... change, rebuild ...
#   BEFORE=/tmp/before AFTER=target/release/examples bash scripts/bench-tower-before-after.sh
#
# Environment: BEFORE, AFTER (directories holding both binaries; required),
# ROUNDS (5), REQUESTS (200000). Prints per server the median req/s and the
# median server CPU time per request (user + system, /proc/PID/stat), which
# the neighbours' load disturbs much less than req/s.

set -euo pipefail

: "${BEFORE:?directory of the binaries before the change}" "${AFTER:?directory of the binaries after}"
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-200000}
command -v h2load >/dev/null || { echo "bench-tower-before-after: h2load not found" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-tower.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$WORK/echo.bin"
TICKS=$(getconf CLK_TCK)
PORT=$((20000 + RANDOM % 10000))

# run NAME: one measured run; prints "NAME<TAB>CPU-ns/request<TAB>req/s".
run() {
    local name=$1 cmd=() url extra=() i
    PORT=$((PORT + 1))
    case $name in
        axum-before) cmd=("$BEFORE/axum_server" --transport h2proto) ;;
        axum-after) cmd=("$AFTER/axum_server" --transport h2proto) ;;
        axum-hyper) cmd=("$AFTER/axum_server" --transport hyper) ;;
        tonic-before) cmd=("$BEFORE/tonic_echo_server" --transport h2proto) ;;
        tonic-after) cmd=("$AFTER/tonic_echo_server" --transport h2proto) ;;
        tonic-tonic) cmd=("$AFTER/tonic_echo_server" --transport tonic) ;;
    esac
    url=http://127.0.0.1:$PORT/
    if [[ $name == tonic-* ]]; then
        url=http://127.0.0.1:$PORT/echo.Echo/UnaryEcho
        extra=(-d "$WORK/echo.bin" -H 'content-type: application/grpc' -H 'te: trailers')
    fi
    "${cmd[@]}" --addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
    local pid=$!
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    h2load -n $((REQUESTS / 10)) -c 4 -m 10 "${extra[@]}" "$url" >/dev/null 2>&1 || true
    local t0 t1 out
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(h2load -n "$REQUESTS" -c 4 -m 10 "${extra[@]}" "$url" 2>&1) || true
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local rps twoxx
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    twoxx=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
    if [[ -z $rps || $twoxx != "$REQUESTS" ]]; then
        echo "bench-tower-before-after: $name failed: $out" >&2
        return
    fi
    printf '%s\t%s\t%s\n' "$name" $(((t1 - t0) * 1000000000 / TICKS / REQUESTS)) "$rps"
}

SERVERS=(axum-before axum-after axum-hyper tonic-before tonic-after tonic-tonic)
for ((round = 0; round < ROUNDS; round++)); do
    for ((i = 0; i < ${#SERVERS[@]}; i++)); do
        run "${SERVERS[(i + round) % ${#SERVERS[@]}]}" | tee -a "$WORK/results.tsv" >&2
    done
done

python3 - "$WORK/results.tsv" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, ns, rps = line.split()
    rows.setdefault(name, []).append((int(ns), float(rps)))
med = {n: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), len(v)) for n, v in rows.items()}
print("| server | runs | median req/s | median CPU µs/request |")
print("|---|---|---|---|")
for n, (ns, rps, k) in med.items():
    print(f"| {n} | {k} | {rps:,.0f} | {ns / 1000:.2f} |")
def ratio(a, b):
    if a in med and b in med:
        print(f"{a} vs {b}: req/s {med[a][1] / med[b][1]:.2f}x, CPU per request {med[b][0] / med[a][0]:.2f}x (higher: {a} cheaper)")
for a, b in [("axum-after", "axum-before"), ("axum-after", "axum-hyper"), ("axum-before", "axum-hyper"),
             ("tonic-after", "tonic-before"), ("tonic-after", "tonic-tonic"), ("tonic-before", "tonic-tonic")]:
    ratio(a, b)
PY
