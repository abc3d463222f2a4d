#!/usr/bin/env bash
# loadtest/bench-h3.sh: HTTP/3 against HTTP/2 over TLS, Edgeway and Caddy, in one run.
#
# One TLS certificate (a CA made here, and a leaf for bench.execute-api.localhost) serves:
#   edgeway   Edgeway, public listener with TLS (ALPN h2) and HTTP/3 on the same port number:
#             a mock route (the ~90-byte JSON answer bench.sh uses) and a proxy route to
#             bench-backend
#   caddy     Caddy (Debian package, installed when missing) answering the same body itself
#             (`respond`) over h2 and h3: the external baseline
# edgeway-load drives each (target, protocol) in closed loop with the same workers and
# connections, interleaved and repeated; medians of RPS and p99 are reported, with each
# server's CPU time per request. The load generator shares the 2 cores with the server, and
# its own QUIC client costs more CPU than its TCP+TLS one: Caddy's h3/h2 ratio under the same
# client is the yardstick for Edgeway's.
#
# Usage: loadtest/bench-h3.sh [--no-build] [--reps N] [--duration 10s] [--warmup 3s]
#                             [--workers 64] [--connections 4] [--quiet-wait 60] [--out DIR]
# Writes DIR/results.md and DIR/raw/*.json (every edgeway-load report). Only 127.0.0.1 is used;
# every process started here is stopped on exit.
set -euo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=1
REPS=3
DURATION=10s
WARMUP=3s
WORKERS=64
CONNECTIONS=4
QUIET_WAIT=60
OUT=""
while (($#)); do
    case "$1" in
        --no-build) BUILD=0 ;;
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --quiet-wait) QUIET_WAIT=$2; shift ;;
        --out) OUT=$2; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "bench-h3.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$OUT" ]] || OUT=$(mktemp -d /tmp/edgeway-bench-h3.XXXXXX)
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)

source "$ROOT/loadtest/bench-lib.sh"
BENCH=bench-h3

# --- tools -------------------------------------------------------------------------------------
if ! command -v caddy >/dev/null; then
    log "installing caddy"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    timeout 300 "${sudo_cmd[@]}" apt-get install -y --no-install-recommends caddy >&2 \
        || die "could not install caddy"
fi
for tool in openssl python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if ((BUILD)); then
    log "building release binaries"
    (cd "$ROOT" && timeout 1800 cargo build --release -p edgeway -p edgeway-load --bins) >&2
fi
TARGET_DIR=$(target_dir)
EDGEWAY="$TARGET_DIR/release/edgeway"
LOAD="$TARGET_DIR/release/edgeway-load"
BACKEND="$TARGET_DIR/release/bench-backend"
for bin in "$EDGEWAY" "$LOAD" "$BACKEND"; do
    [[ -x "$bin" ]] || die "missing $bin (run without --no-build)"
done
read -r BACKEND_PORT PUBLIC_PORT ADMIN_PORT CADDY_PORT < <(free_ports 4)
API_HOST="bench.execute-api.localhost"

# --- certificates: a CA, and a leaf it signs (rustls refuses a self-signed end entity) --------
CERTS="$OUT/certs"
mkdir -p "$CERTS"
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=edgeway bench CA" -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$API_HOST" -keyout "$CERTS/key.pem" -out "$CERTS/leaf.csr"
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
        "$API_HOST" >"$CERTS/leaf.ext"
    openssl x509 -req -in "$CERTS/leaf.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
        -CAcreateserial -days 2 -extfile "$CERTS/leaf.ext" -out "$CERTS/cert.pem"
} >"$OUT/certs.log" 2>&1 || die "openssl could not make the certificates (see $OUT/certs.log)"

# --- backend -----------------------------------------------------------------------------------
"$BACKEND" --listen "127.0.0.1:$BACKEND_PORT" >"$OUT/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID"); NAMES[$BACKEND_PID]=bench-backend
wait_http_200 "$BACKEND_PORT" / 10 || die "bench-backend did not answer (see $OUT/backend.log)"
BODY=$(curl -fsS --max-time 5 "http://127.0.0.1:$BACKEND_PORT/")

# --- Edgeway -----------------------------------------------------------------------------------
python3 - "$OUT/bench-api.json" "$BACKEND_PORT" "$BODY" <<'PY'
import json, sys
path, port, body = sys.argv[1], sys.argv[2], sys.argv[3]
json.dump({
    "api": {"id": "bench", "name": "Benchmark API", "kind": "http"},
    "integrations": [
        {"id": "backend", "type": "http_proxy", "uri": f"http://127.0.0.1:{port}/proxy",
         "timeout_ms": 5000},
        {"id": "canned", "type": "mock",
         "mock": {"status_code": 200, "headers": {"content-type": "application/json"}, "body": body}},
    ],
    "routes": [
        {"method": "GET", "path": "/proxy", "integration_id": "backend"},
        {"method": "GET", "path": "/mock", "integration_id": "canned"},
    ],
    "stages": [{"name": "$default", "auto_deploy": True}],
}, open(path, "w"), indent=2)
PY
cat >"$OUT/edgeway.toml" <<EOF
[node]
id = "bench-node"
data_dir = "$OUT/edgeway-data"
bootstrap = ["$OUT/bench-api.json"]

[public]
listen = "127.0.0.1:$PUBLIC_PORT"
tls = { cert = "$CERTS/cert.pem", key = "$CERTS/key.pem" }

[public.http3]
enabled = true

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token = "bench-token-$(date +%s%N)"
open_probes = true

[limits]
shutdown_grace_ms = 2000
# Lift the node-wide limit (default 10,000 rps), to measure the ingress itself.
node_rate = 1000000000.0
node_burst = 1000000000
EOF
RUST_LOG=warn "$EDGEWAY" --config "$OUT/edgeway.toml" >"$OUT/edgeway.log" 2>&1 &
EDGEWAY_PID=$!
PIDS+=("$EDGEWAY_PID"); NAMES[$EDGEWAY_PID]=edgeway
wait_http_200 "$ADMIN_PORT" /ready 30 || die "Edgeway never became ready (see $OUT/edgeway.log)"

# --- Caddy -------------------------------------------------------------------------------------
mkdir -p "$OUT/caddy"
cat >"$OUT/caddy/Caddyfile" <<EOF
{
    admin off
    auto_https off
    storage file_system $OUT/caddy/data
    servers {
        protocols h1 h2 h3
    }
}
https://$API_HOST:$CADDY_PORT {
    bind 127.0.0.1
    tls $CERTS/cert.pem $CERTS/key.pem
    header Content-Type application/json
    respond \`$BODY\` 200
}
EOF
HOME="$OUT/caddy" XDG_DATA_HOME="$OUT/caddy" XDG_CONFIG_HOME="$OUT/caddy" \
    caddy run --adapter caddyfile --config "$OUT/caddy/Caddyfile" >"$OUT/caddy/caddy.log" 2>&1 &
CADDY_PID=$!
PIDS+=("$CADDY_PID"); NAMES[$CADDY_PID]=caddy

# --- every (target, protocol) answers 200 with the same body ----------------------------------
declare -A URL=(
    [edgeway-mock]="https://127.0.0.1:$PUBLIC_PORT/mock"
    [edgeway-proxy]="https://127.0.0.1:$PUBLIC_PORT/proxy"
    [caddy]="https://127.0.0.1:$CADDY_PORT/"
)
TARGETS=(edgeway-mock edgeway-proxy caddy)
PROTOCOLS=(2 3)
load() {
    local target=$1 http=$2 duration=$3 warmup=$4 report=$5
    timeout $(($(secs "$duration") + $(secs "$warmup") + 30)) \
        "$LOAD" "${URL[$target]}" -H "Host: $API_HOST" --ca "$CERTS/ca.pem" --http "$http" \
        --closed "$WORKERS" -c "$CONNECTIONS" -d "$duration" -w "$warmup" --report "$report" -q \
        >/dev/null 2>>"$OUT/load.log" || die "edgeway-load against $target over h$http failed (see $OUT/load.log)"
}
check() {
    local target=$1 http=$2 report="$OUT/raw/check-$1-h$2.json"
    for _ in $(seq 50); do
        load "$target" "$http" 500ms 0s "$report"
        python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["total"]; sys.exit(0 if s["admitted"] > 0 and s["admitted"] == s["sent"] else 1)' \
            "$report" && return 0
        nap 0.2
    done
    die "$target over h$http does not answer 200 to every request (see $report)"
}
for target in "${TARGETS[@]}"; do
    for http in "${PROTOCOLS[@]}"; do check "$target" "$http"; done
done
curl -fsS --max-time 5 --cacert "$CERTS/ca.pem" --resolve "$API_HOST:$CADDY_PORT:127.0.0.1" \
    "https://$API_HOST:$CADDY_PORT/" -o "$OUT/raw/check-caddy.body"
curl -fsS --max-time 5 --cacert "$CERTS/ca.pem" --resolve "$API_HOST:$PUBLIC_PORT:127.0.0.1" \
    "https://$API_HOST:$PUBLIC_PORT/mock" -o "$OUT/raw/check-edgeway.body"
cmp -s "$OUT/raw/check-caddy.body" "$OUT/raw/check-edgeway.body" \
    || die "Caddy and Edgeway do not answer the same body"

# --- load --------------------------------------------------------------------------------------
OURS="$BACKEND_PID $EDGEWAY_PID $CADDY_PID"
declare -A SERVER_PID=([edgeway-mock]=$EDGEWAY_PID [edgeway-proxy]=$EDGEWAY_PID [caddy]=$CADDY_PID)
REVISION=$(revision)
export REVISION
cat /proc/loadavg >"$OUT/loadavg-before"
log "load: $REPS x {${TARGETS[*]}} x h{${PROTOCOLS[*]}}, closed loop $WORKERS workers over $CONNECTIONS connections, $DURATION (warm-up $WARMUP)"
for rep in $(seq "$REPS"); do
    for target in "${TARGETS[@]}"; do
        for http in "${PROTOCOLS[@]}"; do
            wait_quiet
            run="$target-h$http-$rep"
            p0=$(cpu_ticks "${SERVER_PID[$target]}")
            o0=$(others_ticks)
            read -r _ all0 < <(machine_ticks)
            load "$target" "$http" "$DURATION" "$WARMUP" "$OUT/raw/$run.json"
            check_alive
            read -r _ all1 < <(machine_ticks)
            o1=$(others_ticks)
            p1=$(cpu_ticks "${SERVER_PID[$target]}")
            # Server CPU ticks (warm-up included: the report's window is shorter), and the share of
            # all CPUs other processes used, in percent.
            echo "$((p1 - p0)) $(((o1 - o0) * 100 / (all1 - all0)))" >"$OUT/raw/$run.cpu"
            log "rep $rep $target h$http: $(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["total"]["answered_rps"]))' "$OUT/raw/$run.json") req/s"
        done
    done
done
cat /proc/loadavg >"$OUT/loadavg-after"

# --- summary -----------------------------------------------------------------------------------
export OUT REPS DURATION WARMUP WORKERS CONNECTIONS TARGET_LIST="${TARGETS[*]}"
python3 "$ROOT/loadtest/bench-h3-summary.py" | tee "$OUT/results.md"
log "raw reports and results.md in $OUT"
exit 0
}
