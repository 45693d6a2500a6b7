#!/usr/bin/env bash
# Two builds of examples/h2_server (before and after a change) and nghttpd,
# under the load of scripts/bench-peers.sh's HTTP rows (h2load -n REQUESTS
# -c 4 -m 10 on GET /, after a warm-up of REQUESTS/10), in a rotating order
# within each round, each server freshly started. A benchmark, not a test.
#
#   cargo build --release --example h2_server && cp target/release/examples/h2_server /tmp/before
#   # ... change, rebuild ...
#   BEFORE=/tmp/before AFTER=target/release/examples/h2_server bash scripts/bench-before-after.sh
#
# Environment: BEFORE, AFTER (binaries; required), ROUNDS (9), REQUESTS
# (200000), RUNTIME (tokio; passed as --runtime), NGHTTPD_WORKERS (2).
#
# Prints, per server, the median req/s and the median server CPU time per
# request (user + system of the server process over the measured run, from
# /proc/PID/stat), and the after/before ratios of both. On a shared machine
# req/s swings with the neighbours' load; CPU per request much less.

set -euo pipefail

: "${BEFORE:?the binary before the change}" "${AFTER:?the binary after the change}"
ROUNDS=${ROUNDS:-9}
REQUESTS=${REQUESTS:-200000}
RUNTIME=${RUNTIME:-tokio}
NGHTTPD_WORKERS=${NGHTTPD_WORKERS:-2}
for tool in h2load nghttpd python3; do
    command -v "$tool" >/dev/null || { echo "bench-before-after: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/bench-before-after.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/docroot"
printf 'hello from nghttpd: GET /\n' >"$WORK/docroot/index.html" # 26 bytes, as ours
TICKS=$(getconf CLK_TCK)
PORT=$((20000 + RANDOM % 10000))

# run NAME: one measured run; prints "NAME<TAB>CPU-ns/request<TAB>req/s".
run() {
    local name=$1 cmd=() i
    PORT=$((PORT + 1))
    case $name in
        before) cmd=("$BEFORE" --addr "127.0.0.1:$PORT" --runtime "$RUNTIME") ;;
        after) cmd=("$AFTER" --addr "127.0.0.1:$PORT" --runtime "$RUNTIME") ;;
        nghttpd) cmd=(nghttpd --no-tls -a 127.0.0.1 -n "$NGHTTPD_WORKERS" -d "$WORK/docroot" "$PORT") ;;
    esac
    "${cmd[@]}" >/dev/null 2>&1 &
    local pid=$!
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    h2load -n $((REQUESTS / 10)) -c 4 -m 10 "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
    local t0 t1 out
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(h2load -n "$REQUESTS" -c 4 -m 10 "http://127.0.0.1:$PORT/" 2>&1) || true
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local rps twoxx
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    twoxx=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
    if [[ -z $rps || $twoxx != "$REQUESTS" ]]; then
        echo "bench-before-after: $name failed: $out" >&2
        return
    fi
    printf '%s\t%s\t%s\n' "$name" $(((t1 - t0) * 1000000000 / TICKS / REQUESTS)) "$rps"
}

names=(before after nghttpd)
for ((round = 0; round < ROUNDS; round++)); do
    for ((k = 0; k < 3; k++)); do
        run "${names[(k + round) % 3]}"
    done
done | tee "$WORK/results.tsv" >&2

python3 - "$WORK/results.tsv" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import statistics, sys
rps, cpu = {}, {}
for line in open(sys.argv[1]):
    name, ns, r = line.split("\t")
    rps.setdefault(name, []).append(float(r))
    cpu.setdefault(name, []).append(int(ns))
print(f"load average at the end: {sys.argv[2]}\n")
print("| server | median req/s | median server CPU per request | runs |")
print("|---|---:|---:|---:|")
for name in ("before", "after", "nghttpd"):
    if name in rps:
        print(f"| {name} | {statistics.median(rps[name]) / 1000:,.1f} k | "
              f"{statistics.median(cpu[name]):,} ns | {len(rps[name])} |")
if "before" in rps and "after" in rps:
    r = statistics.median(rps["after"]) / statistics.median(rps["before"])
    c = statistics.median(cpu["after"]) / statistics.median(cpu["before"])
    print(f"\nafter / before: req/s ×{r:.3f}, CPU per request ×{c:.3f}")
EOF
