#!/usr/bin/env bash
# loadtest/bench.sh: Edgeway against nginx on this machine, in one run.
#
# Measures with wrk (HTTP/1.1 keep-alive, ~90-byte JSON answer), interleaved and repeated:
#   backend        bench-backend alone (loadtest/src/bin/bench-backend.rs)
#   nginx          nginx, 1 worker, plain reverse proxy to the backend (upstream keep-alive)
#   hyper-proxy    a bare hyper reverse proxy (loadtest/examples/hyper-proxy.rs --per-core): the
#                  floor of Edgeway's stack (a current-thread tokio runtime per core on SO_REUSEPORT,
#                  hyper server, hyper-util pooled client per thread), no gateway pipeline
#   edgeway-proxy  Edgeway, http_proxy route to the same backend
#   edgeway-mock   Edgeway, mock route (answered by the gateway, no backend)
#   edgeway-cached Edgeway, http_proxy route to the same backend with the stage cache on (hits)
#   edgeway-proxy-base  with --baseline-edgeway BIN only: another Edgeway binary (say, a build of
#                  the previous commit) on the same proxy route, for a before/after in one run
# and, before any load: Edgeway's time from process start to /ready answering 200, and idle RSS.
#
# Usage: loadtest/bench.sh [--no-build] [--reps N] [--duration 10s] [--warmup 3s]
#                          [--connections 64] [--threads 2] [--quiet-wait 60] [--out DIR]
#                          [--baseline-edgeway BIN] [--edgeway-workers N]
# --edgeway-workers N sets Edgeway's public.workers (default: one per core); 1 matches nginx's
# single worker process.
# Before each run it waits up to --quiet-wait seconds for other processes to use under 15% of the
# machine (it is shared), and records how much they used during every run.
# Writes DIR/results.md (the table) and DIR/raw/*.txt (every wrk output); DIR defaults to a new
# /tmp/edgeway-bench.XXXXXX. Only 127.0.0.1 is used; every process started here is stopped on exit.
set -euo pipefail
# The whole script is one block, so bash reads it completely before running it: editing this file
# during a run does not change the run.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=1
REPS=3
DURATION=10s
WARMUP=3s
CONNECTIONS=64
THREADS=2
QUIET_WAIT=60
OUT=""
BASE_EDGEWAY=""
EDGEWAY_WORKERS=""
while (($#)); do
    case "$1" in
        --no-build) BUILD=0 ;;
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --quiet-wait) QUIET_WAIT=$2; shift ;;
        --baseline-edgeway) BASE_EDGEWAY=$2; shift ;;
        --edgeway-workers) EDGEWAY_WORKERS=$2; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$OUT" ]] || OUT=$(mktemp -d /tmp/edgeway-bench.XXXXXX)
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)

source "$ROOT/loadtest/bench-lib.sh"
BENCH=bench

# --- tools -------------------------------------------------------------------------------------
need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
if ((${#need_install[@]})); then
    log "installing ${need_install[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    timeout 300 "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${need_install[@]}" >&2 \
        || die "could not install ${need_install[*]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v python3 >/dev/null || die "python3 is needed (free ports, summary)"
command -v curl >/dev/null || die "curl is needed"

if ((BUILD)); then
    log "building release binaries"
    (cd "$ROOT" && timeout 1800 cargo build --release -p edgeway -p edgeway-load \
        --bins --example hyper-proxy) >&2
fi
TARGET_DIR=$(target_dir)
EDGEWAY="$TARGET_DIR/release/edgeway"
BACKEND="$TARGET_DIR/release/bench-backend"
HYPER_PROXY="$TARGET_DIR/release/examples/hyper-proxy"
for bin in "$EDGEWAY" "$BACKEND" "$HYPER_PROXY"; do
    [[ -x "$bin" ]] || die "missing $bin (run without --no-build)"
done
[[ -z "$BASE_EDGEWAY" || -x "$BASE_EDGEWAY" ]] || die "--baseline-edgeway: $BASE_EDGEWAY is not executable"

read -r BACKEND_PORT NGINX_PORT PUBLIC_PORT ADMIN_PORT HYPER_PORT BASE_PUBLIC_PORT BASE_ADMIN_PORT \
    < <(free_ports 7)

# --- backend -----------------------------------------------------------------------------------
log "starting bench-backend on 127.0.0.1:$BACKEND_PORT"
"$BACKEND" --listen "127.0.0.1:$BACKEND_PORT" >"$OUT/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID"); NAMES[$BACKEND_PID]=bench-backend
wait_http_200 "$BACKEND_PORT" / 10 || die "bench-backend did not answer (see $OUT/backend.log)"

# --- nginx -------------------------------------------------------------------------------------
mkdir -p "$OUT/nginx"
cat >"$OUT/nginx/nginx.conf" <<EOF
# Plain reverse proxy, one worker, keep-alive on both sides.
worker_processes 1;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/client_body;
    proxy_temp_path $OUT/nginx/proxy;
    fastcgi_temp_path $OUT/nginx/fastcgi;
    uwsgi_temp_path $OUT/nginx/uwsgi;
    scgi_temp_path $OUT/nginx/scgi;
    # nginx closes a keep-alive connection after 1000 requests by default; Edgeway does not.
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -t -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" >"$OUT/nginx/check.log" 2>&1 \
    || die "nginx rejects its config: $(cat "$OUT/nginx/check.log")"
log "starting nginx (1 worker) on 127.0.0.1:$NGINX_PORT"
"$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" >"$OUT/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID"); NAMES[$NGINX_PID]=nginx
wait_http_200 "$NGINX_PORT" / 10 || die "nginx did not answer (see $OUT/nginx/error.log)"

# --- bare hyper proxy ----------------------------------------------------------------------------
log "starting hyper-proxy on 127.0.0.1:$HYPER_PORT"
"$HYPER_PROXY" "127.0.0.1:$HYPER_PORT" "http://127.0.0.1:$BACKEND_PORT" --per-core >"$OUT/hyper-proxy.log" 2>&1 &
HYPER_PID=$!
PIDS+=("$HYPER_PID"); NAMES[$HYPER_PID]=hyper-proxy
wait_http_200 "$HYPER_PORT" / 10 || die "hyper-proxy did not answer (see $OUT/hyper-proxy.log)"

# --- Edgeway -----------------------------------------------------------------------------------
API_HOST="bench.execute-api.localhost"
TOKEN="bench-token-$(date +%s%N)"
cat >"$OUT/bench-api.json" <<EOF
{
  "api": { "id": "bench", "name": "Benchmark API", "kind": "http" },
  "integrations": [
    { "id": "backend", "type": "http_proxy", "uri": "http://127.0.0.1:$BACKEND_PORT/proxy",
      "timeout_ms": 5000 },
    { "id": "canned", "type": "mock",
      "mock": { "status_code": 200, "headers": { "content-type": "application/json" },
                "body": "{\"ok\":true,\"service\":\"edgeway-mock\",\"message\":\"a small fixed answer for proxy benchmarks\"}" } }
  ],
  "routes": [
    { "method": "GET", "path": "/proxy", "integration_id": "backend" },
    { "method": "GET", "path": "/mock", "integration_id": "canned" },
    { "method": "GET", "path": "/cached", "integration_id": "backend" }
  ],
  "stages": [ { "name": "\$default", "auto_deploy": true,
                "cache": { "enabled": true, "ttl_seconds": 0,
                           "routes": { "GET /cached": { "ttl_seconds": 3600 } } } } ]
}
EOF
write_edgeway_config() {
    cat >"$OUT/edgeway.toml" <<EOF
[node]
id = "bench-node"
data_dir = "$1"
bootstrap = ["$OUT/bench-api.json"]

[public]
listen = "127.0.0.1:$PUBLIC_PORT"
${EDGEWAY_WORKERS:+workers = $EDGEWAY_WORKERS}

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token = "$TOKEN"
open_probes = true

[limits]
shutdown_grace_ms = 2000
# The node-wide limit (default 10,000 rps) would turn the excess into 429s: lift it, to measure
# the proxy itself.
node_rate = 1000000000.0
node_burst = 1000000000
EOF
}

# Three cold starts (empty data directory, the bootstrap document applied), then a restart on
# the last one's data; the last process serves the benchmark. Sets EDGEWAY_PID and READY_US.
start_edgeway() {
    local t0
    now_us
    t0=$NOW_US
    RUST_LOG=warn "$EDGEWAY" --config "$OUT/edgeway.toml" >>"$OUT/edgeway.log" 2>&1 &
    EDGEWAY_PID=$!
    PIDS+=("$EDGEWAY_PID"); NAMES[$EDGEWAY_PID]=edgeway
    wait_http_200 "$ADMIN_PORT" /ready 30 || die "Edgeway never became ready (see $OUT/edgeway.log)"
    now_us
    READY_US=$((NOW_US - t0))
}
COLD_US=()
# A busy machine delays a new process by tens to hundreds of milliseconds: start when it is quiet.
OURS="$BACKEND_PID $NGINX_PID $HYPER_PID"
wait_quiet
for i in 1 2 3; do
    write_edgeway_config "$OUT/edgeway-data-$i"
    start_edgeway
    COLD_US+=("$READY_US")
    stop_pid "$EDGEWAY_PID"
done
start_edgeway
WARM_US=$READY_US
log "Edgeway pid $EDGEWAY_PID: cold starts ${COLD_US[*]} us, restart $WARM_US us to /ready"
BASE_PID=""
if [[ -n "$BASE_EDGEWAY" ]]; then
    # The same configuration on its own ports and data directory.
    sed -e "s/:$PUBLIC_PORT\"/:$BASE_PUBLIC_PORT\"/" -e "s/:$ADMIN_PORT\"/:$BASE_ADMIN_PORT\"/" \
        -e "s|^data_dir = .*|data_dir = \"$OUT/edgeway-base-data\"|" \
        "$OUT/edgeway.toml" >"$OUT/edgeway-base.toml"
    RUST_LOG=warn "$BASE_EDGEWAY" --config "$OUT/edgeway-base.toml" >>"$OUT/edgeway-base.log" 2>&1 &
    BASE_PID=$!
    PIDS+=("$BASE_PID"); NAMES[$BASE_PID]=edgeway-base
    wait_http_200 "$BASE_ADMIN_PORT" /ready 30 \
        || die "the baseline Edgeway never became ready (see $OUT/edgeway-base.log)"
fi

check_answer() {
    local name=$1 url=$2
    shift 2
    curl -fsS --max-time 5 "$@" -o "$OUT/raw/check-$name.body" "$url" \
        || die "$name: $url does not answer 200"
}
check_answer backend "http://127.0.0.1:$BACKEND_PORT/"
check_answer nginx "http://127.0.0.1:$NGINX_PORT/"
check_answer hyper-proxy "http://127.0.0.1:$HYPER_PORT/proxy"
check_answer edgeway-proxy "http://127.0.0.1:$PUBLIC_PORT/proxy" -H "Host: $API_HOST"
check_answer edgeway-mock "http://127.0.0.1:$PUBLIC_PORT/mock" -H "Host: $API_HOST"
check_answer edgeway-cached "http://127.0.0.1:$PUBLIC_PORT/cached" -H "Host: $API_HOST"
cmp -s "$OUT/raw/check-backend.body" "$OUT/raw/check-edgeway-proxy.body" \
    || die "Edgeway's proxy route does not return the backend's body"
if [[ -n "$BASE_PID" ]]; then
    check_answer edgeway-proxy-base "http://127.0.0.1:$BASE_PUBLIC_PORT/proxy" -H "Host: $API_HOST"
fi

sleep 1
IDLE_EDGEWAY_RSS=$(rss_kib "$EDGEWAY_PID")
IDLE_BACKEND_RSS=$(rss_kib "$BACKEND_PID")
IDLE_NGINX_RSS=$(($(rss_kib "$NGINX_PID") + $(for p in $(pgrep -P "$NGINX_PID"); do rss_kib "$p"; done | awk '{s+=$1} END {print s+0}')))
log "idle RSS: edgeway ${IDLE_EDGEWAY_RSS} KiB, nginx (master+worker) ${IDLE_NGINX_RSS} KiB, backend ${IDLE_BACKEND_RSS} KiB"

# --- load --------------------------------------------------------------------------------------
TARGETS=(backend nginx hyper-proxy edgeway-proxy edgeway-mock edgeway-cached)
declare -A URL=(
    [backend]="http://127.0.0.1:$BACKEND_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_PORT/"
    [hyper-proxy]="http://127.0.0.1:$HYPER_PORT/proxy"
    [edgeway-proxy]="http://127.0.0.1:$PUBLIC_PORT/proxy"
    [edgeway-mock]="http://127.0.0.1:$PUBLIC_PORT/mock"
    [edgeway-cached]="http://127.0.0.1:$PUBLIC_PORT/cached"
    [edgeway-proxy-base]="http://127.0.0.1:$BASE_PUBLIC_PORT/proxy"
)
declare -A HOST=([edgeway-proxy]="$API_HOST" [edgeway-mock]="$API_HOST" [edgeway-cached]="$API_HOST"
                 [edgeway-proxy-base]="$API_HOST")
[[ -z "$BASE_PID" ]] || TARGETS+=(edgeway-proxy-base)
WRK_LIMIT=$(($(secs "$DURATION") + $(secs "$WARMUP") + 30))

NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
OURS="$BACKEND_PID $NGINX_PID $NGINX_WORKERS $HYPER_PID $EDGEWAY_PID $BASE_PID"
declare -A SERVER_PIDS=(
    [backend]=""
    [nginx]="$NGINX_PID $NGINX_WORKERS"
    [hyper-proxy]="$HYPER_PID"
    [edgeway-proxy]="$EDGEWAY_PID"
    [edgeway-mock]="$EDGEWAY_PID"
    [edgeway-cached]="$EDGEWAY_PID"
    [edgeway-proxy-base]="$BASE_PID"
)
run_wrk() {
    local target=$1 duration=$2 out=$3 args=()
    [[ -n "${HOST[$target]:-}" ]] && args=(-H "Host: ${HOST[$target]}")
    timeout "$WRK_LIMIT" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "${args[@]}" \
        "${URL[$target]}" >"$out" 2>&1 || die "wrk against $target failed (see $out)"
}

# What was measured: the checkout's commit, and whether node/ or shared/ had uncommitted changes.
REVISION=$(revision)
export REVISION
cat /proc/loadavg >"$OUT/loadavg-before"
log "load: ${REPS} x ${TARGETS[*]}, wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (warm-up $WARMUP)"
for rep in $(seq "$REPS"); do
    for target in "${TARGETS[@]}"; do
        wait_quiet
        run_wrk "$target" "$WARMUP" "$OUT/raw/warmup-$target-$rep.txt"
        # shellcheck disable=SC2086 # PID lists split on purpose
        read -r p0 b0 < <(echo "$(cpu_ticks ${SERVER_PIDS[$target]}) $(cpu_ticks "$BACKEND_PID")")
        o0=$(others_ticks)
        read -r st0 all0 < <(machine_ticks)
        run_wrk "$target" "$DURATION" "$OUT/raw/$target-$rep.txt"
        check_alive
        read -r st1 all1 < <(machine_ticks)
        o1=$(others_ticks)
        # shellcheck disable=SC2086
        read -r p1 b1 < <(echo "$(cpu_ticks ${SERVER_PIDS[$target]}) $(cpu_ticks "$BACKEND_PID")")
        # proxy, backend, then the share of all CPUs used by other processes and stolen (percent).
        echo "$((p1 - p0)) $((b1 - b0))" \
            "$(((o1 - o0) * 100 / (all1 - all0)))" \
            "$(((st1 - st0) * 100 / (all1 - all0)))" >"$OUT/raw/$target-$rep.cpu"
        log "rep $rep $target: $(awk '/^Requests\/sec/ {print $2}' "$OUT/raw/$target-$rep.txt") req/s" \
            "(CPU used by others $(cut -d' ' -f3 "$OUT/raw/$target-$rep.cpu")%," \
            "stolen $(cut -d' ' -f4 "$OUT/raw/$target-$rep.cpu")%)"
    done
done
cat /proc/loadavg >"$OUT/loadavg-after"
LOADED_EDGEWAY_RSS=$(rss_kib "$EDGEWAY_PID")
PEAK_EDGEWAY_RSS=$(hwm_kib "$EDGEWAY_PID")

# --- summary -----------------------------------------------------------------------------------
export OUT REPS DURATION WARMUP CONNECTIONS THREADS EDGEWAY_WORKERS IDLE_EDGEWAY_RSS IDLE_BACKEND_RSS IDLE_NGINX_RSS \
    LOADED_EDGEWAY_RSS PEAK_EDGEWAY_RSS WARM_US
export COLD_US_LIST="${COLD_US[*]}" TARGET_LIST="${TARGETS[*]}"
python3 - <<'EOF'
import os, re, statistics, sys

out = os.environ["OUT"]
targets = os.environ["TARGET_LIST"].split()
reps = int(os.environ["REPS"])
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

def parse(path):
    text = open(path).read()
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        lat[pct] = float(value) * UNIT[unit]
    errors = []
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors.append(f"{m.group(1)} non-2xx")
    m = re.search(r"Socket errors: (.*)", text)
    if m:
        errors.append("socket errors: " + m.group(1).strip())
    requests = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
    # CPU seconds the proxy (nginx or Edgeway) and the backend used during the run.
    proxy_ticks, backend_ticks, others, stolen = map(int, open(path[:-4] + ".cpu").read().split())
    tick = 1e6 / int(os.environ["CLK_TCK"])
    return (rps, lat["50"], lat["99"], errors, proxy_ticks * tick / requests,
            backend_ticks * tick / requests, max(others, 0), stolen)

runs = {t: [parse(f"{out}/raw/{t}-{r}.txt") for r in range(1, reps + 1)] for t in targets}
med = {}
for t, rs in runs.items():
    med[t] = tuple(statistics.median(r[i] for r in rs) for i in (0, 1, 2, 4, 5))

def fmt_ms(v):
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"

lines = [f"Edgeway revision: {os.environ['REVISION']}; public workers: "
         f"{os.environ.get('EDGEWAY_WORKERS') or 'one per core'} (nginx: 1 worker)", ""]
lines.append(f"wrk -t{os.environ['THREADS']} -c{os.environ['CONNECTIONS']} -d{os.environ['DURATION']} --latency, "
             f"keep-alive; warm-up {os.environ['WARMUP']} before each run; {reps} interleaved repetitions, medians.")
lines.append("")
lines.append("| target | RPS (median) | p50 ms | p99 ms | RPS per run | p99 ms per run | RPS vs nginx | p99 vs nginx | proxy CPU us/req | backend CPU us/req |")
lines.append("|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
n_rps, _, n_p99, _, _ = med["nginx"]
for t in targets:
    rps, p50, p99, proxy_cpu, backend_cpu = med[t]
    per_rps = " / ".join(f"{r[0]:.0f}" for r in runs[t])
    per_p99 = " / ".join(fmt_ms(r[2]) for r in runs[t])
    proxy_cpu = "-" if t == "backend" else f"{proxy_cpu:.1f}"
    backend_cpu = "-" if t in ("edgeway-mock", "edgeway-cached") else f"{backend_cpu:.1f}"
    lines.append(f"| {t} | {rps:.0f} | {fmt_ms(p50)} | {fmt_ms(p99)} | {per_rps} | {per_p99} | "
                 f"{rps / n_rps:.2f}x | {p99 / n_p99:.2f}x | {proxy_cpu} | {backend_cpu} |")
interference = [f"{t} {'/'.join(f'{r[6]}+{r[7]}' for r in runs[t])}" for t in targets]
lines.append("")
lines.append("CPU of the machine used by other processes + stolen by the hypervisor during each run, "
             "percent of all cores (runs 1/2/3...): " + "; ".join(interference) + ".")
lines.append("")
lines.append("CPU us/req: user+system CPU time of the process (all threads; nginx: master + worker) "
             "during the measured run, divided by the requests wrk completed (medians).")
errors = [f"{t} run {i + 1}: {', '.join(r[3])}" for t in targets for i, r in enumerate(runs[t]) if r[3]]
lines.append("")
if errors:
    lines.append("Errors reported by wrk: " + "; ".join(errors))
else:
    lines.append("wrk reported no errors and no non-2xx answers in any run.")

cold = [int(x) / 1000 for x in os.environ["COLD_US_LIST"].split()]
warm = int(os.environ["WARM_US"]) / 1000
lines.append("")
lines.append("| Edgeway process | value |")
lines.append("|---|---:|")
lines.append(f"| start -> /ready 200, cold (empty data dir, bootstrap applied), median of {len(cold)} | "
             f"{statistics.median(cold):.1f} ms ({', '.join(f'{c:.1f}' for c in cold)}) |")
lines.append(f"| start -> /ready 200, restart on existing data | {warm:.1f} ms |")
lines.append(f"| idle RSS (after ready, before load) | {int(os.environ['IDLE_EDGEWAY_RSS']) / 1024:.1f} MiB |")
lines.append(f"| RSS after the load / peak (VmHWM) | {int(os.environ['LOADED_EDGEWAY_RSS']) / 1024:.1f} / "
             f"{int(os.environ['PEAK_EDGEWAY_RSS']) / 1024:.1f} MiB |")
lines.append(f"| for comparison, idle RSS: nginx master+worker, bench-backend | "
             f"{int(os.environ['IDLE_NGINX_RSS']) / 1024:.1f} MiB, {int(os.environ['IDLE_BACKEND_RSS']) / 1024:.1f} MiB |")
lines.append("")
lines.append(f"Load average before / after: {open(out + '/loadavg-before').read().strip()} / "
             f"{open(out + '/loadavg-after').read().strip()}")

e_rps, _, e_p99, _, _ = med["edgeway-proxy"]
rps_ratio, p99_ratio = e_rps / n_rps, e_p99 / n_p99
verdict = (f"Edgeway proxy / nginx: RPS {rps_ratio:.3f}x (target >= 1.00x: "
           f"{'met' if rps_ratio >= 1.0 else 'NOT met'}), p99 {p99_ratio:.3f}x (target <= 1.50x: "
           f"{'met' if p99_ratio <= 1.5 else 'NOT met'})")
bad = [t for t in ("nginx", "edgeway-proxy", "edgeway-cached") if any(r[3] for r in runs[t])]
if bad:
    verdict = "INVALID: wrk saw errors or non-2xx answers from " + ", ".join(bad) + "; " + verdict
c_rps = med["edgeway-cached"][0]
lines.append("")
lines.append(f"Edgeway cache hits / Edgeway proxy: RPS {c_rps / e_rps:.2f}x (target >= 2.00x: "
             f"{'met' if c_rps >= 2 * e_rps else 'NOT met'})")
if "edgeway-proxy-base" in med:
    b_rps, _, b_p99, b_cpu, _ = med["edgeway-proxy-base"]
    lines.append("")
    lines.append(f"Edgeway proxy / baseline Edgeway proxy: RPS {e_rps / b_rps:.3f}x, p99 {e_p99 / b_p99:.3f}x, "
                 f"CPU per request {med['edgeway-proxy'][3]:.1f} vs {b_cpu:.1f} us")
lines.append("")
lines.append(verdict)
text = "\n".join(lines) + "\n"
open(out + "/results.md", "w").write(text)
sys.stdout.write(text)
EOF
log "raw outputs and results.md in $OUT"
exit 0
}
