# loadtest/bench-lib.sh: what the benchmark scripts share. Sourced, never run:
#   source "$ROOT/loadtest/bench-lib.sh"
# The caller sets BENCH (the log prefix), OUT (its output directory) and QUIET_WAIT (seconds), and
# fills PIDS (stopped on exit), NAMES (pid -> name, for errors) and OURS (the pids it measures:
# wait_quiet counts everything else as "others").

log() { printf '[%s %s] %s\n' "${BENCH:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- processes: everything started here is remembered and stopped on exit ----------------------
PIDS=()
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
declare -A NAMES=()

# Stops the run when a process it measures has gone (someone else's cleanup, a crash).
check_alive() {
    local pid state name status
    for pid in $OURS; do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [[ -n "$state" && "$state" != Z ]] && continue
        name=${NAMES[$pid]:-"a process"}
        status=0
        wait "$pid" 2>/dev/null || status=$?
        ((status > 128)) && status="$status, signal $((status - 128))"
        die "$name (pid $pid) exited during the run (status $status); see the logs in $OUT"
    done
}

# --- CPU accounting ----------------------------------------------------------------------------
# CPU time (user + system, clock ticks) of processes and their threads.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
export CLK_TCK
# Everything this script runs under load, to tell its CPU use from the rest of the machine's
# (filled in once they are started).
OURS=""
# Machine-wide clock ticks: stolen by the hypervisor, and all (idle included; /proc/stat).
machine_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# CPU ticks used so far by every process except this script (with all it waited for: wrk) and
# OURS: utime+stime+cutime+cstime, so processes that start and end inside a window count too
# (their time moves into their parent's cutime).
others_ticks() {
    # shellcheck disable=SC2086
    python3 - "$$" $OURS <<'EOF'
import os, sys
skip = set(sys.argv[1:]) | {str(os.getpid()), str(os.getppid())}
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid in skip:
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    total += sum(int(x) for x in stat[stat.rindex(")") + 2:].split()[11:15])
print(total)
EOF
}

# Waits (up to QUIET_WAIT seconds) until, over one second, processes other than ours use less than
# 15% of all cores.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) next_log=$SECONDS all0 o0 all1 o1 others
    while :; do
        check_alive
        o0=$(others_ticks)
        read -r _ all0 < <(machine_ticks)
        sleep 1
        o1=$(others_ticks)
        read -r _ all1 < <(machine_ticks)
        others=$(((o1 - o0) * 100 / (all1 - all0)))
        ((others < 15)) && return 0
        if ((SECONDS >= deadline)); then
            log "machine still busy (others use ${others}%); measuring anyway"
            return 0
        fi
        if ((SECONDS >= next_log)); then
            log "waiting up to $((deadline - SECONDS)) s for a quieter machine (others use ${others}%)"
            next_log=$((SECONDS + 30))
        fi
        sleep 4
    done
}


# Microseconds since the epoch, without starting a process.
now_us() { NOW_US=${EPOCHREALTIME//[.,]/}; }
# A pipe nobody writes to: `read -t` on it is a sleep that starts no process.
exec {SLEEP_FD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }

# Polls http://127.0.0.1:$1$2 until it answers 200, for at most $3 seconds. Only bash builtins
# (/dev/tcp, read -t, EPOCHREALTIME), so a poll starts no process even on a loaded machine and
# start->ready is measured to about a millisecond.
wait_http_200() {
    local port=$1 path=$2 limit=$3 deadline status
    now_us
    deadline=$((NOW_US + limit * 1000000))
    while now_us && ((NOW_US < deadline)); do
        # The braces keep the 2>/dev/null from sticking to the shell itself.
        if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
            status=""
            read -r -t 2 _ status _ <&3 || true
            exec 3<&- 3>&-
            [[ "$status" == 200 ]] && return 0
        fi
        nap 0.001
    done
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# N free TCP ports on 127.0.0.1, on one line.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
}

# Seconds in a duration like 10s, 2m or 500ms (at least 1).
secs() { local d=$1; case "$d" in *ms) echo 1 ;; *s) echo "${d%s}" ;; *m) echo $((${d%m} * 60)) ;; *) echo "$d" ;; esac; }

# The checkout's commit, and how many files under node/ or shared/ had uncommitted changes.
revision() {
    local rev dirty
    rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(cd "$ROOT" && git status --porcelain -- node shared 2>/dev/null | wc -l)
    ((dirty == 0)) || rev="$rev + $dirty uncommitted file(s) in node/ shared/"
    echo "$rev"
}

# The cargo target directory of the checkout (CARGO_TARGET_DIR honoured).
target_dir() {
    (cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') \
        || echo "$ROOT/target"
}
