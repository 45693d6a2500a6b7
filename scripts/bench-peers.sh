#!/usr/bin/env bash
# Load comparison of issue 7 (a benchmark, not a test): our HTTP/2 and gRPC
# servers against nghttpd, hyper, the h2 crate and tonic, on loopback.
#
#   bash scripts/bench-peers.sh                 # 3 rounds
#   ROUNDS=1 bash scripts/bench-peers.sh        # quicker
#
# Environment: ROUNDS (3), REQUESTS (200000, h2load -n), IDLE_N (5000 idle
# connections per server), IDLE_N_FALLBACK (1000, used for a server that
# fails at IDLE_N), NGHTTPD_WORKERS (2), OUR_RUNTIME (tokio; `blocking` for the
# std::net adapter: passed as `--runtime $OUR_RUNTIME`), SKIP_MEMORY=1,
# SKIP_LOAD=1 (memory only), UPLOAD_WAIT (10 s per upload scenario),
# UPLOAD_RUNS (1: each upload scenario this many times, each server freshly
# started; the tables give medians), UPLOAD_SERVERS="ours-grpc-tokio tonic"
# (the upload scenarios of only these), MEMORY_PARTS ("idle slow uploads":
# which memory measurements to run).
# TLS_ONLY=1 (only the TLS rows: ours vs nghttpd over TLS; no peer builds).
# TOWER_ONLY=1 (only the tower rows below; no peer builds).
# LOAD_SERVERS="ours-grpc tonic" (load-test only these servers, by the names
# of start_server; the others' rows stay empty). OUR_BIN (our examples'
# directory; default target/release/examples: set it to compare two builds).
# SKIP_BUILD=1 (use the binaries as they are).
#
# The tower rows (issue #16): the same axum Router (examples/axum_server) on
# h2proto vs on hyper's HTTP/2 server (GET /, a 16-byte body), and the same
# tonic generated echo service (examples/tonic_echo_server) on h2proto vs on
# tonic's own transport (unary echo); both pairs with the same runtime
# layout (a current_thread runtime per core), memory per idle connection and
# slow_post.py's uploads for each.
#
# The TLS rows (issue #17): our h2_server with --tls-cert/--tls-key against
# nghttpd with the same key and certificate (ECDSA P-256, made with openssl
# at start), h2load over https (ALPN h2), and memory per idle TLS connection
# (scripts/idle_conns.py --tls).
#
# What it does (docs/benchmarks.md, "Peers on loopback", says more):
# 1. installs what is missing: h2load/nghttp/nghttpd (Debian nghttp2-client,
#    nghttp2-server), protoc (protobuf-compiler, for tonic_echo's build),
#    PyPI h2 (for slow_reader.py);
# 2. builds in release: our examples h2_server and grpc_echo_server, and the
#    peers under benches/peers/ (one shared target dir there);
# 3. checks every server once: GET / answers a 26-byte body everywhere, and
#    both gRPC servers answer the echo with grpc-status 0 (nghttp -v);
# 4. for ROUNDS rounds, the servers in a rotating order, each freshly
#    started: a warm-up of REQUESTS/10, then
#    `h2load -n REQUESTS -c 4 -m 10` (HTTP GET /, then gRPC unary POSTs);
#    a run with any failed request or non-2xx status counts as failed, and
#    is reported, never averaged in; the server's CPU time (user + system,
#    /proc/PID/stat) over the run, per request, is reported next to req/s:
#    it depends less on what else runs on the machine;
# 5. memory, each server freshly started: scripts/idle_conns.py (RSS per
#    idle connection), scripts/slow_reader.py (RSS of a server whose
#    client stops reading) and scripts/slow_post.py (issue #12's uploads:
#    50 x 1 MiB POSTs or unary calls from a client that never reads, 100
#    from one that reads 64 KiB/s; both runtimes of ours);
# 6. prints Markdown tables: medians and the ratios against the targets.
#
# Servers run as binaries (not under `cargo run`), so the measured PID is
# the server's. nghttpd gets NGHTTPD_WORKERS=2 worker threads: the machine
# has 2 cores, and the tokio peers run their default of one worker per core.

set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
IDLE_N=${IDLE_N:-5000}
IDLE_N_FALLBACK=${IDLE_N_FALLBACK:-1000}
NGHTTPD_WORKERS=${NGHTTPD_WORKERS:-2}
OUR_RUNTIME=${OUR_RUNTIME:-tokio}
SKIP_MEMORY=${SKIP_MEMORY:-}
SKIP_LOAD=${SKIP_LOAD:-}
UPLOAD_WAIT=${UPLOAD_WAIT:-10}
UPLOAD_RUNS=${UPLOAD_RUNS:-1}
UPLOAD_SERVERS=${UPLOAD_SERVERS:-}
MEMORY_PARTS=${MEMORY_PARTS:-idle slow uploads}
TLS_ONLY=${TLS_ONLY:-}
TOWER_ONLY=${TOWER_ONLY:-}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=$ROOT/benches/peers
PEER_BIN=$PEERS/target/release
OUR_BIN=${OUR_BIN:-$ROOT/target/release/examples}
LOAD_SERVERS=${LOAD_SERVERS:-}
WORK=$(mktemp -d /tmp/bench-peers.XXXXXX)
RESULTS=$WORK/results.tsv
SERVER_PID=
# Below the ephemeral range (32768-60999 here): 5,000 idle client sockets
# must not take the port of the next server.
NEXT_PORT=$((10000 + RANDOM % 10000))

die() { echo "bench-peers: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. tools ---------------------------------------------------------------

apt_install() {
    command -v apt-get >/dev/null || die "missing $*, and no apt-get to install them"
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null; } ||
        die "apt-get install $* failed"
}

command -v h2load >/dev/null && command -v nghttp >/dev/null || apt_install nghttp2-client
command -v nghttpd >/dev/null || apt_install nghttp2-server
[[ -n $TLS_ONLY || -n $TOWER_ONLY ]] || command -v protoc >/dev/null || [[ -n ${PROTOC:-} ]] || apt_install protobuf-compiler
for tool in cargo python3 h2load nghttp nghttpd openssl; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
python3 -c 'import h2' 2>/dev/null || {
    log "installing PyPI h2"
    python3 -m pip install -q h2 || die "pip install h2 failed"
}

# --- 2. build ---------------------------------------------------------------

[[ -n ${SKIP_BUILD:-} ]] || log "building our examples (release)"
[[ -n ${SKIP_BUILD:-} ]] || (cd "$ROOT" && nice cargo build --release --example h2_server --example grpc_echo_server \
    --example axum_server --example tonic_echo_server) ||
    die "building our examples failed"
for peer in hyper_server h2_server tonic_echo; do
    [[ -n $TLS_ONLY || -n $TOWER_ONLY || -n ${SKIP_BUILD:-} ]] && break
    log "building benches/peers/$peer (release)"
    (cd "$PEERS/$peer" && CARGO_TARGET_DIR=$PEERS/target nice cargo build --release) ||
        die "building $peer failed"
done

# --- servers ----------------------------------------------------------------

DOCROOT=$WORK/docroot
mkdir -p "$DOCROOT/bytes"
printf 'hello from nghttpd: GET /\n' >"$DOCROOT/index.html" # 26 bytes, as ours
head -c 16777216 /dev/zero | tr '\0' x >"$DOCROOT/bytes/16777216"

# One key and certificate for both TLS servers.
TLS_KEY=$WORK/key.pem
TLS_CERT=$WORK/cert.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TLS_KEY" -out "$TLS_CERT" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1 ||
    die "openssl could not make a certificate"

RUNTIME_ARGS=()
[[ -n $OUR_RUNTIME ]] && RUNTIME_ARGS=(--runtime "$OUR_RUNTIME")

# start_server NAME: starts it on a fresh port; sets SERVER_PID and PORT.
start_server() {
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
    local addr=127.0.0.1:$PORT cmd=()
    case $1 in
        ours) cmd=("$OUR_BIN/h2_server" --addr "$addr" "${RUNTIME_ARGS[@]}") ;;
        ours-grpc) cmd=("$OUR_BIN/grpc_echo_server" --addr "$addr" "${RUNTIME_ARGS[@]}") ;;
        ours-tokio) cmd=("$OUR_BIN/h2_server" --addr "$addr" --runtime tokio) ;;
        ours-blocking) cmd=("$OUR_BIN/h2_server" --addr "$addr" --runtime blocking) ;;
        ours-grpc-tokio) cmd=("$OUR_BIN/grpc_echo_server" --addr "$addr" --runtime tokio) ;;
        ours-grpc-blocking) cmd=("$OUR_BIN/grpc_echo_server" --addr "$addr" --runtime blocking) ;;
        nghttpd) cmd=(nghttpd --no-tls -a 127.0.0.1 -n "$NGHTTPD_WORKERS" -d "$DOCROOT" "$PORT") ;;
        ours-tls) cmd=("$OUR_BIN/h2_server" --addr "$addr" "${RUNTIME_ARGS[@]}" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY") ;;
        nghttpd-tls) cmd=(nghttpd -a 127.0.0.1 -n "$NGHTTPD_WORKERS" -d "$DOCROOT" "$PORT" "$TLS_KEY" "$TLS_CERT") ;;
        hyper) cmd=("$PEER_BIN/hyper_server" --addr "$addr") ;;
        h2) cmd=("$PEER_BIN/h2_server" --addr "$addr") ;;
        tonic) cmd=("$PEER_BIN/tonic_echo" --addr "$addr") ;;
        axum-h2proto) cmd=("$OUR_BIN/axum_server" --addr "$addr" --transport h2proto) ;;
        axum-hyper) cmd=("$OUR_BIN/axum_server" --addr "$addr" --transport hyper) ;;
        tonic-h2proto) cmd=("$OUR_BIN/tonic_echo_server" --addr "$addr" --transport h2proto) ;;
        tonic-tonic) cmd=("$OUR_BIN/tonic_echo_server" --addr "$addr" --transport tonic) ;;
        *) die "unknown server $1" ;;
    esac
    # Started directly (no subshell) so that $! is the server's own PID.
    "${cmd[@]}" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null ||
            die "server $1 exited at start: $(cat "$WORK/server.log")"
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "server $1 did not open port $PORT within 10 s"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# The gRPC request: 5-byte prefix (uncompressed, length 7) + EchoRequest
# { message: "hello" } (field 1, length-delimited: 0x0a 0x05 "hello").
GRPC_BODY=$WORK/echo.bin
printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$GRPC_BODY"
GRPC_PATH=/echo.Echo/UnaryEcho
GRPC_ARGS=(-d "$GRPC_BODY" -H 'content-type: application/grpc' -H 'te: trailers')

# wanted NAME: NAME is load-tested (and checked): LOAD_SERVERS is unset or lists it.
wanted() { [[ -z $LOAD_SERVERS || " $LOAD_SERVERS " == *" $1 "* ]]; }

# --- 3. checks --------------------------------------------------------------

log "checking responses"
HTTP_SERVERS=(ours nghttpd hyper h2)
GRPC_SERVERS=(ours-grpc tonic tonic-h2proto tonic-tonic)
AXUM_SERVERS=(axum-h2proto axum-hyper)
TLS_SERVERS=(ours-tls nghttpd-tls)
[[ -n $TLS_ONLY ]] && HTTP_SERVERS=() && GRPC_SERVERS=() && AXUM_SERVERS=()
[[ -n $TOWER_ONLY ]] && HTTP_SERVERS=() && GRPC_SERVERS=(tonic-h2proto tonic-tonic) && TLS_SERVERS=()
for s in "${HTTP_SERVERS[@]}"; do
    wanted "$s" || continue
    start_server "$s"
    len=$(nghttp "http://127.0.0.1:$PORT/" | wc -c)
    [[ $len == 26 ]] || die "$s answers GET / with $len bytes, not 26"
    stop_server
done
for s in "${AXUM_SERVERS[@]}"; do
    wanted "$s" || continue
    start_server "$s"
    body=$(nghttp "http://127.0.0.1:$PORT/")
    [[ $body == "hello from axum" ]] || die "$s answers GET / with $body"
    stop_server
done
for s in "${TLS_SERVERS[@]}"; do
    wanted "$s" || continue
    start_server "$s"
    nghttp -v "https://127.0.0.1:$PORT/" >"$WORK/check.txt" 2>&1 || true
    grep -q 'The negotiated protocol: h2' "$WORK/check.txt" || die "$s: no ALPN h2: $(cat "$WORK/check.txt")"
    len=$(nghttp "https://127.0.0.1:$PORT/" | wc -c)
    [[ $len == 26 ]] || die "$s answers GET / over TLS with $len bytes, not 26"
    stop_server
done
for s in "${GRPC_SERVERS[@]}"; do
    wanted "$s" || continue
    start_server "$s"
    nghttp -v "${GRPC_ARGS[@]}" "http://127.0.0.1:$PORT$GRPC_PATH" >"$WORK/check.txt" 2>&1 || true
    grep -aq 'grpc-status: 0' "$WORK/check.txt" || die "$s: no grpc-status 0: $(cat -v "$WORK/check.txt")"
    body=$(nghttp "${GRPC_ARGS[@]}" "http://127.0.0.1:$PORT$GRPC_PATH" | od -An -tx1 | tr -d ' \n')
    [[ $body == $(od -An -tx1 "$GRPC_BODY" | tr -d ' \n') ]] || die "$s: echo body $body"
    stop_server
done
log "checks passed: 26-byte GET / bodies (TLS: ALPN h2; axum: its text); the gRPC servers echo with grpc-status 0"

# --- 4. load ----------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)
# utime + stime of the server, in clock ticks.
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

# run_load KIND NAME ROUND: appends "load KIND NAME ROUND REQ/S OK|FAILED(...) CPU_US".
run_load() {
    local kind=$1 name=$2 round=$3 url extra=()
    wanted "$name" || return 0
    start_server "$name"
    url=http://127.0.0.1:$PORT/
    [[ $kind == tls ]] && url=https://127.0.0.1:$PORT/
    if [[ $kind == grpc || $kind == tgrpc ]]; then
        url=http://127.0.0.1:$PORT$GRPC_PATH
        extra=("${GRPC_ARGS[@]}")
    fi
    h2load -n $((REQUESTS / 10)) -c 4 -m 10 "${extra[@]}" "$url" >/dev/null 2>&1 || true
    local out=$WORK/h2load.txt rc=0 cpu0 cpu1
    cpu0=$(server_cpu_ticks)
    h2load -n "$REQUESTS" -c 4 -m 10 "${extra[@]}" "$url" >"$out" 2>&1 || rc=$?
    cpu1=$(server_cpu_ticks)
    stop_server
    local rps ok twoxx status=OK
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
    ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
    twoxx=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$out")
    if [[ $rc != 0 || -z $rps || $ok != "$REQUESTS" || $twoxx != "$REQUESTS" ]]; then
        status="FAILED(rc=$rc,succeeded=${ok:-?},2xx=${twoxx:-?})"
        echo "---- h2load output, $kind $name round $round:" >&2
        cat "$out" >&2
    fi
    # The server's CPU time (user + system) per request: less sensitive to
    # other load on the machine than req/s.
    local cpu_us
    cpu_us=$(awk -v d=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$REQUESTS" 'BEGIN { printf "%.2f", d / hz / n * 1e6 }')
    printf 'load\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$name" "$round" "${rps:-0}" "$status" "$cpu_us" >>"$RESULTS"
    log "$kind $name round $round: ${rps:-?} req/s $status, ${cpu_us} µs CPU per request"
}

rotate() { # rotate N WORDS...: the words shifted left by N
    local n=$1; shift
    local words=("$@") i
    for ((i = 0; i < ${#words[@]}; i++)); do
        printf '%s ' "${words[(i + n) % ${#words[@]}]}"
    done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -n $SKIP_LOAD ]] && ROUNDS=0
for ((round = 1; round <= ROUNDS; round++)); do
    if [[ -z $TLS_ONLY && -z $TOWER_ONLY ]]; then
        for s in $(rotate $((round - 1)) ours nghttpd hyper h2); do
            run_load http "$s" "$round"
        done
        for s in $(rotate $((round - 1)) ours-grpc tonic); do
            run_load grpc "$s" "$round"
        done
    fi
    if [[ -z $TLS_ONLY ]]; then
        for s in $(rotate $((round - 1)) axum-h2proto axum-hyper); do
            run_load axum "$s" "$round"
        done
        for s in $(rotate $((round - 1)) tonic-h2proto tonic-tonic); do
            run_load tgrpc "$s" "$round"
        done
    fi
    if [[ -z $TOWER_ONLY ]]; then
        for s in $(rotate $((round - 1)) ours-tls nghttpd-tls); do
            run_load tls "$s" "$round"
        done
    fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 5. memory --------------------------------------------------------------

if [[ -z $SKIP_MEMORY ]]; then
    TOWER_SERVERS=(axum-h2proto axum-hyper tonic-h2proto tonic-tonic)
    IDLE_SERVERS=(ours nghttpd hyper h2 ours-grpc tonic ours-tls nghttpd-tls "${TOWER_SERVERS[@]}")
    [[ -n $TLS_ONLY ]] && IDLE_SERVERS=(ours-tls nghttpd-tls)
    [[ -n $TOWER_ONLY ]] && IDLE_SERVERS=("${TOWER_SERVERS[@]}")
    [[ " $MEMORY_PARTS " == *" idle "* ]] || IDLE_SERVERS=()
    for s in "${IDLE_SERVERS[@]}"; do
        n=$IDLE_N
        tls_flag=()
        [[ $s == *-tls ]] && tls_flag=(--tls)
        start_server "$s"
        log "idle: $n connections to $s"
        if ! python3 "$ROOT/scripts/idle_conns.py" --port "$PORT" --pid "$SERVER_PID" -n "$n" "${tls_flag[@]}" >"$WORK/idle.txt" 2>&1; then
            log "idle: $s failed at $n connections: $(tail -1 "$WORK/idle.txt"); retrying with $IDLE_N_FALLBACK"
            printf 'idle-failed\t%s\t%s\t%s\n' "$s" "$n" "$(tail -1 "$WORK/idle.txt")" >>"$RESULTS"
            stop_server
            n=$IDLE_N_FALLBACK
            start_server "$s"
            python3 "$ROOT/scripts/idle_conns.py" --port "$PORT" --pid "$SERVER_PID" -n "$n" "${tls_flag[@]}" >"$WORK/idle.txt" 2>&1 ||
                { log "idle: $s failed at $n too"; cat "$WORK/idle.txt" >&2; }
        fi
        stop_server
        line=$(grep '^RESULT' "$WORK/idle.txt" || true)
        [[ -n $line ]] && printf 'idle\t%s\t%s\n' "$s" "$line" >>"$RESULTS"
        log "idle $s: ${line:-failed}"
    done
    SLOW_SERVERS=(ours nghttpd hyper h2)
    [[ -n $TLS_ONLY || -n $TOWER_ONLY ]] && SLOW_SERVERS=()
    [[ " $MEMORY_PARTS " == *" slow "* ]] || SLOW_SERVERS=()
    for s in "${SLOW_SERVERS[@]}"; do
        start_server "$s"
        log "slow reader: $s"
        python3 "$ROOT/scripts/slow_reader.py" --port "$PORT" --pid "$SERVER_PID" >"$WORK/slow.txt" 2>&1 ||
            { log "slow reader: $s failed"; cat "$WORK/slow.txt" >&2; }
        kill -0 "$SERVER_PID" 2>/dev/null || printf 'slow-died\t%s\n' "$s" >>"$RESULTS"
        stop_server
        line=$(grep '^RESULT' "$WORK/slow.txt" || true)
        [[ -n $line ]] && printf 'slow\t%s\t%s\n' "$s" "$line" >>"$RESULTS"
        log "slow $s: ${line:-failed}"
    done
    # Uploads from a client that does not read (issue #12).
    POST_SPECS=(ours-tokio:http ours-blocking:http nghttpd:http hyper:http h2:http
        ours-grpc-tokio:grpc ours-grpc-blocking:grpc tonic:grpc)
    TOWER_SPECS=(axum-h2proto:http axum-hyper:http tonic-h2proto:grpc tonic-tonic:grpc)
    [[ -n $TLS_ONLY ]] && POST_SPECS=() && TOWER_SPECS=()
    [[ -n $TOWER_ONLY ]] && POST_SPECS=()
    [[ " $MEMORY_PARTS " == *" uploads "* ]] || { POST_SPECS=(); TOWER_SPECS=(); }
    for spec in "${POST_SPECS[@]}" "${TOWER_SPECS[@]}"; do
        s=${spec%%:*}
        kind=${spec##*:}
        [[ -z $UPLOAD_SERVERS || " $UPLOAD_SERVERS " == *" $s "* ]] || continue
        flags=()
        [[ $kind == grpc ]] && flags=(--grpc)
        for ((run = 1; run <= UPLOAD_RUNS; run++)); do
        for mode in never slow; do
            start_server "$s"
            log "uploads ($mode): $s"
            python3 "$ROOT/scripts/slow_post.py" --port "$PORT" --pid "$SERVER_PID" \
                --mode "$mode" --wait "$UPLOAD_WAIT" "${flags[@]}" >"$WORK/post.txt" 2>&1 ||
                { log "uploads: $s failed"; cat "$WORK/post.txt" >&2; }
            stop_server
            line=$(grep '^RESULT' "$WORK/post.txt" || true)
            [[ -n $line ]] && printf 'post-%s\t%s\t%s\n' "$mode" "$s" "$line" >>"$RESULTS"
            log "uploads $mode $s: ${line:-failed}"
        done
        done
    done
fi

# --- 6. report --------------------------------------------------------------

echo
python3 - "$RESULTS" "$ROUNDS" "$REQUESTS" "$LOAD_START" "$LOAD_END" "$OUR_RUNTIME" "$NGHTTPD_WORKERS" <<'EOF'
import statistics, sys
from collections import defaultdict

path, rounds, requests, load_start, load_end, runtime, workers = sys.argv[1:]
load = defaultdict(list)  # (kind, name) -> [(rps, status)]
cpu = defaultdict(list)  # (kind, name) -> [server CPU µs per request]
idle, idle_failed, slow, slow_died = {}, {}, {}, set()
posts = defaultdict(lambda: defaultdict(list))  # mode -> name -> [kv, one a run]
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] == "load":
        load[(f[1], f[2])].append((float(f[4]), f[5]))
        if len(f) > 6 and f[5] == "OK":
            cpu[(f[1], f[2])].append(float(f[6]))
    elif f[0] in ("idle", "slow"):
        kv = dict(x.split("=") for x in f[2].split()[1:])
        (idle if f[0] == "idle" else slow)[f[1]] = kv
    elif f[0].startswith("post-"):
        posts[f[0][5:]][f[1]].append(dict(x.split("=", 1) for x in f[2].split()[1:]))
    elif f[0] == "idle-failed":
        idle_failed[f[1]] = (f[2], f[3])
    elif f[0] == "slow-died":
        slow_died.add(f[1])

def median(kind, name):
    ok = [r for r, s in load.get((kind, name), []) if s == "OK"]
    return statistics.median(ok) if ok else None

def fmt(x):
    return "—" if x is None else f"{x / 1000:,.1f} k"

def ratio(a, b, target, at_least=True):
    if a is None or b is None or b == 0:
        return "—", "—", "—"
    r = a / b
    met = "yes" if (r >= target if at_least else r <= target) else "no"
    return f"{r:.2f}×", ("≥ " if at_least else "≤ ") + f"{target:.1f}×", met

print(f"Our runtime: {runtime}. nghttpd workers: {workers}. "
      f"h2load -n {requests} -c 4 -m 10, {rounds} round(s); "
      f"load average {load_start} at the start, {load_end} at the end of the load runs.\n")
labels = {"ours": "ours (h2_server)", "ours-grpc": "ours (grpc_echo_server)",
          "ours-tls": "ours (h2_server, TLS)", "nghttpd-tls": f"nghttpd -n {workers}, TLS",
          "nghttpd": f"nghttpd -n {workers}", "hyper": "hyper", "h2": "h2", "tonic": "tonic",
          "axum-h2proto": "axum Router on h2proto", "axum-hyper": "axum Router on hyper",
          "tonic-h2proto": "tonic service on h2proto", "tonic-tonic": "tonic service on tonic's transport"}
for kind, title, names in (("http", "HTTP/2 GET /, 26-byte body", ["ours", "nghttpd", "hyper", "h2"]),
                           ("grpc", "gRPC unary echo.Echo/UnaryEcho", ["ours-grpc", "tonic"]),
                           ("tls", "HTTP/2 over TLS (ALPN h2, ECDSA P-256), GET /, 26-byte body",
                            ["ours-tls", "nghttpd-tls"]),
                           ("axum", "axum Router (examples/axum_server), GET /, 16-byte body",
                            ["axum-h2proto", "axum-hyper"]),
                           ("tgrpc", "tonic echo.Echo service (examples/tonic_echo_server), unary",
                            ["tonic-h2proto", "tonic-tonic"])):
    if not any((kind, n) in load for n in names):
        continue
    print(f"#### {title}\n")
    print("| server | median req/s | every run (req/s) | failed runs | server CPU per request (median) |")
    print("|---|---:|---|---:|---:|")
    for n in names:
        runs = load.get((kind, n), [])
        every = ", ".join(f"{r / 1000:.1f} k" if s == "OK" else f"{s}" for r, s in runs)
        failed = sum(1 for _, s in runs if s != "OK")
        c = cpu.get((kind, n))
        c = f"{statistics.median(c):.2f} µs" if c else "—"
        print(f"| {labels[n]} | {fmt(median(kind, n))} | {every} | {failed} | {c} |")
    print()

print("#### Ratios (medians of the same run)\n")
print("| ratio | value | target | met |")
print("|---|---:|---:|:--:|")
ours = median("http", "ours")
if any(k[0] in ("http", "grpc") for k in load):  # neither TLS_ONLY nor TOWER_ONLY
    for label, other, target in (("ours / nghttpd", "nghttpd", 1.0), ("ours / hyper", "hyper", 1.6),
                                 ("ours / h2", "h2", None)):
        v, t, m = ratio(ours, median("http", other), target or 0)
        print(f"| {label} | {v} | {t if target else '—'} | {m if target else '—'} |")
    v, t, m = ratio(median("grpc", "ours-grpc"), median("grpc", "tonic"), 2.0)
    print(f"| gRPC ours / tonic | {v} | {t} | {m} |")
if any(k[0] == "tls" for k in load):
    v, t, m = ratio(median("tls", "ours-tls"), median("tls", "nghttpd-tls"), 1.0)
    print(f"| TLS ours / nghttpd | {v} | — | — |")
if any(k[0] in ("axum", "tgrpc") for k in load):
    v, t, m = ratio(median("axum", "axum-h2proto"), median("axum", "axum-hyper"), 1.5)
    print(f"| axum on h2proto / on hyper | {v} | {t} | {m} |")
    v, t, m = ratio(median("tgrpc", "tonic-h2proto"), median("tgrpc", "tonic-tonic"), 2.0)
    print(f"| tonic service on h2proto / on tonic | {v} | {t} | {m} |")
    def cpu_ratio(kind, slow, fast):
        a, b = cpu.get((kind, slow)), cpu.get((kind, fast))
        return f"{statistics.median(a) / statistics.median(b):.2f}×" if a and b else "—"
    print(f"| server CPU per request, axum: hyper / h2proto | {cpu_ratio('axum', 'axum-hyper', 'axum-h2proto')} | — | — |")
    print(f"| server CPU per request, tonic: tonic / h2proto | {cpu_ratio('tgrpc', 'tonic-tonic', 'tonic-h2proto')} | — | — |")

if idle or idle_failed:
    print("\n#### Resident memory per idle connection\n")
    print("| server | connections | VmRSS before | VmRSS after | per connection | threads after |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in ["ours", "nghttpd", "hyper", "h2", "ours-grpc", "tonic", "ours-tls", "nghttpd-tls",
              "axum-h2proto", "axum-hyper", "tonic-h2proto", "tonic-tonic"]:
        if n in idle_failed:
            print(f"| {labels[n]} | {idle_failed[n][0]}: failed ({idle_failed[n][1]}) | | | | |")
        if n in idle:
            d = idle[n]
            print(f"| {labels[n]} | {int(d['n']):,} | {int(d['before_kib']):,} KiB | "
                  f"{int(d['after_kib']):,} KiB | {int(d['per_conn_bytes']):,} B | {d['threads']} |")
    if "ours" in idle and "hyper" in idle:
        a, b = float(idle["ours"]["per_conn_bytes"]), float(idle["hyper"]["per_conn_bytes"])
        v, t, m = ratio(a, b, 0.5, at_least=False)
        print(f"\nours / hyper per idle connection: {v} (target {t}: {m})")

if slow:
    print("\n#### A client that stops reading (50 × GET /bytes/16777216, windows 2^31−1, 5 s)\n")
    print("| server | VmRSS before | after 5 s | peak | growth |")
    print("|---|---:|---:|---:|---:|")
    for n in ["ours", "nghttpd", "hyper", "h2"]:
        if n in slow:
            d = slow[n]
            died = " (server died)" if n in slow_died else ""
            print(f"| {labels[n]}{died} | {int(d['before_kib']):,} KiB | {int(d['after_kib']):,} KiB | "
                  f"{int(d['peak_kib']):,} KiB | {int(d['growth_kib']) / 1024:,.1f} MiB |")

if posts:
    labels.update({"ours-tokio": "ours h2_server (tokio)", "ours-blocking": "ours h2_server (blocking)",
                   "ours-grpc-tokio": "ours grpc_echo_server (tokio)",
                   "ours-grpc-blocking": "ours grpc_echo_server (blocking)"})
    print("\n#### Uploads from a client that does not read (issue #12; scripts/slow_post.py)\n")
    print("never: 50 × 1 MiB POST /echo (gRPC: unary echo), client windows 65,535, never gives credit back;")
    print("slow: 100 × 1 MiB, client windows 2^31−1, reads 64 KiB/s. Peak RSS growth over the run, and")
    print("RSS 2 s after the client left, above the start. Medians of the runs (each server")
    print("freshly started), every run in brackets.\n")
    print("| server | never: growth | never: after close | never: a reading client completes | slow: growth | slow: after close |")
    print("|---|---:|---:|---:|---:|---:|")

    def mib(runs, k):
        xs = [int(d[k]) / 1024 for d in runs or [] if k in d]
        if not xs:
            return "—"
        each = f" ({', '.join(f'{x:.1f}' for x in xs)})" if len(xs) > 1 else ""
        return f"{statistics.median(xs):,.1f} MiB{each}"
    for n in ["ours-tokio", "ours-blocking", "nghttpd", "hyper", "h2",
              "ours-grpc-tokio", "ours-grpc-blocking", "tonic",
              "axum-h2proto", "axum-hyper", "tonic-h2proto", "tonic-tonic"]:
        a, b = posts.get("never", {}).get(n), posts.get("slow", {}).get(n)
        if a or b:
            done = ", ".join(d.get("completed", "—") for d in a) if a else "—"
            print(f"| {labels.get(n, n)} | {mib(a, 'growth_kib')} | {mib(a, 'after_close_kib')} | {done} | "
                  f"{mib(b, 'growth_kib')} | {mib(b, 'after_close_kib')} |")
EOF
