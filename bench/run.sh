#!/usr/bin/env bash
# gemini-gateway benchmark: the gateway in front of gemini-sim vs gemini-sim directly, in one run.
#
#   bash bench/run.sh                 # default: LOG_LEVEL=warn (no access log), ~5 minutes
#   bash bench/run.sh --access-log    # LOG_LEVEL=info: one access line per request, to a file
#   bash bench/run.sh --build         # run `cargo build --release --bins --workspace` even if binaries exist
#   bash bench/run.sh --perf          # also profile the gateway with `perf record` (JSON and SSE)
#   bash bench/run.sh --nginx         # also measure a plain nginx hop (reference), same harness
#   bash bench/run.sh --floor         # also measure the smallest Pingora proxy (examples/pingora_floor.rs)
#   bash bench/run.sh --wait-quiet 600  # first wait (up to 600 s) until the machine is idle
#   bash bench/run.sh --duration 5 --ttfe-streams 50   # shorter run
#   bash bench/run.sh --no-openai     # skip the OpenAI /v1/chat/completions scenarios
#
# Layout (2-core machine): gateway pinned to core 0 with one worker thread; the simulator, wrk and
# the TTFE client share core 1. Raw results go to bench/results/<timestamp>/ (gitignored); the
# markdown table is printed at the end and saved as table.md there. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

DURATION=10          # seconds per wrk run
CONNS=8              # wrk connections for the throughput/CPU runs
TTFE_STREAMS=100     # measured streams per path for time to first event
TTFE_INTERVAL_MS=20  # gap between SSE events in the TTFE run
SSE_EVENTS=20
ACCESS_LOG=0
FORCE_BUILD=0
PERF=0
NGINX=0
FLOOR=0
OPENAI=1
WAIT_QUIET=0         # seconds to wait for other work on the machine to stop before starting
REPEATS=3            # extra JSON runs for the RSS flatness check
RETRIES=${RETRIES:-2}      # repeats of a wrk run during which other processes were busy
NOISY_PCT=${NOISY_PCT:-7}  # "busy": other processes took more than this % of the machine
NGX_PORT=${NGX_PORT:-18193}
FLOOR_PORT=${FLOOR_PORT:-18194}
SIM_PORT=${SIM_PORT:-18190}
GW_PORT=${GW_PORT:-18191}
ADMIN_PORT=${ADMIN_PORT:-18192}
GW_CORE=${GW_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}

while [ $# -gt 0 ]; do
  case "$1" in
    --access-log) ACCESS_LOG=1 ;;
    --build) FORCE_BUILD=1 ;;
    --perf) PERF=1 ;;
    --nginx) NGINX=1 ;;
    --floor) FLOOR=1 ;;
    --no-openai) OPENAI=0 ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --repeats) REPEATS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --ttfe-streams) TTFE_STREAMS=$2; shift ;;
    --ttfe-interval-ms) TTFE_INTERVAL_MS=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in wrk taskset python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

# GATEWAY_BIN / SIM_BIN: measure binaries built elsewhere (e.g. from a clean checkout of a commit).
GW_BIN=${GATEWAY_BIN:-$ROOT/target/release/gemini-gateway}
SIM_BIN=${SIM_BIN:-$ROOT/target/release/gemini-sim}
if [ "$FORCE_BUILD" = 1 ] || [ ! -x "$GW_BIN" ] || [ ! -x "$SIM_BIN" ]; then
  # --workspace: the root package's --bins alone does not build gemini-sim
  echo "== cargo build --release --bins --workspace"
  cargo build --release --bins --workspace
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ "$ACCESS_LOG" = 1 ] && STAMP=$STAMP-accesslog
OUT=$BENCH/results/$STAMP
mkdir -p "$OUT"
ln -sfn "$STAMP" "$BENCH/results/latest"
METRICS=$OUT/metrics.jsonl
: > "$METRICS"
echo "== results in $OUT"

SIM_PID=
GW_PID=
PERF_PID=
NGX_PID=
FLOOR_PID=
cleanup() {
  local pid
  for pid in $PERF_PID $NGX_PID $FLOOR_PID $GW_PID $SIM_PID; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in $PERF_PID $NGX_PID $FLOOR_PID $GW_PID $SIM_PID; do
    if [ -n "$pid" ]; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap 'cleanup; rm -f "$TIMES_TMP"' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid name
  for _ in $(seq 100); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "bench: $3 exited during startup" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench: $3 did not open port $1 within 10 s" >&2; exit 1
}
# utime+stime of a whole process (all threads), in clock ticks
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
user_ticks() { awk '{ sub(/^.*\) /, ""); print $12 }' "/proc/$1/stat"; }
# busy ticks of the whole machine (all cores): user, nice, system, irq, softirq (not idle, iowait, steal)
machine_ticks() { awk '/^cpu /{ print $2+$3+$4+$7+$8 }' /proc/stat; }
# CPU of this shell's finished children (wrk, the TTFE client), in µs: the `times` builtin
TIMES_TMP=$(mktemp)
children_us() { # sets CHILD_US (must run in this shell, not in $(...): a subshell has its own counters)
  times >"$TIMES_TMP"
  CHILD_US=$(awk 'NR==2 { s=0; for (i=1; i<=2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1]*60 + a[2] }
                          printf "%d\n", s*1e6 }' "$TIMES_TMP")
}
status_kb() { awk -v f="$2:" '$1==f { print $2 }' "/proc/$1/status"; }

JSON_BODY='{"contents":[{"role":"user","parts":[{"text":"Say hello to the benchmark in one line."}]}]}'
JSON_MODEL=gemini-2.5-flash
SSE_MODEL=gemini-2.5-flash     # sim default shape: $SSE_EVENTS events, no gap
TTFE_MODEL=gemini-2.0-flash    # a sim fault rule gives this model a gap of $TTFE_INTERVAL_MS ms
DIRECT_KEY=k1
GW_KEY=pw

path_for() { # target kind model  (kind: json | sse | openai-json | openai-sse)
  local prefix method
  case "$2" in openai-*) if [ "$1" = gateway ]; then echo /v1/chat/completions; return; fi ;; esac
  case "$1" in gateway|floor) prefix=/v2 ;; *) prefix=/v1beta ;; esac
  case "$2" in *json) method=generateContent ;; *) method='streamGenerateContent?alt=sse' ;; esac
  echo "$prefix/models/$3:$method"
}
# body_for target kind model: the OpenAI body through the gateway; the same prompt as a native body direct
OPENAI_PROMPT='Say hello to the benchmark in one line.'
body_for() {
  case "$2" in
    openai-json) [ "$1" = gateway ] && { echo "{\"model\":\"$3\",\"messages\":[{\"role\":\"user\",\"content\":\"$OPENAI_PROMPT\"}]}"; return; } ;;
    openai-sse) [ "$1" = gateway ] && { echo "{\"model\":\"$3\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$OPENAI_PROMPT\"}]}"; return; } ;;
  esac
  echo "$JSON_BODY"
}
port_for() { case "$1" in direct) echo "$SIM_PORT" ;; nginx) echo "$NGX_PORT" ;; floor) echo "$FLOOR_PORT" ;; *) echo "$GW_PORT" ;; esac; }
key_for() { case "$1" in gateway|floor) echo "$GW_KEY" ;; *) echo "$DIRECT_KEY" ;; esac; }
# the proxy process whose CPU is measured ("gw_*" fields): the gateway, or nginx for the reference hop
hop_pid_for() { case "$1" in nginx) echo "$NGX_PID" ;; floor) echo "$FLOOR_PID" ;; *) echo "$GW_PID" ;; esac; }

# record NAME TARGET JSON-FRAGMENT... : one line of metrics.jsonl, with the gateway's memory now
record() {
  local name=$1 target=$2; shift 2
  python3 - "$name" "$target" "$(status_kb "$GW_PID" VmRSS)" "$(status_kb "$GW_PID" VmHWM)" \
    "$(status_kb "$GW_PID" RssAnon)" "$@" >>"$METRICS" <<'PY'
import json, sys
name, target, rss, hwm, anon, *frags = sys.argv[1:]
d = {"scenario": name, "target": target, "gw_rss_kb": int(rss), "gw_hwm_kb": int(hwm), "gw_anon_kb": int(anon)}
for f in frags:
    d.update(json.loads(f))
print(json.dumps(d))
PY
}

# cpu_fragment GW0 SIM0 M0 GWU0 GW1 SIM1 M1 GWU1 N LOADGEN_US WINDOW_US IDLE_GW_US :
# CPU deltas as JSON (µs total and per request), and the share of the machine used by anything else
cpu_fragment() {
  python3 - "$@" <<PY
import json, sys
g0, s0, m0, u0, g1, s1, m1, u1, n, lg, win, other = map(int, sys.argv[1:])
hz = $(getconf CLK_TCK)
us = lambda t: t * 1e6 / hz
n = max(n, 1)
foreign = max(0.0, us(m1 - m0) - us(g1 - g0) - us(s1 - s0) - lg - other) / ($(nproc) * max(win, 1)) * 100
print(json.dumps({
    "gw_cpu_us": round(us(g1 - g0)), "sim_cpu_us": round(us(s1 - s0)), "machine_cpu_us": round(us(m1 - m0)),
    "gw_cpu_us_per_req": round(us(g1 - g0) / n, 2), "sim_cpu_us_per_req": round(us(s1 - s0) / n, 2),
    "machine_cpu_us_per_req": round(us(m1 - m0) / n, 2),
    "gw_user_us_per_req": round(us(u1 - u0) / n, 2), "gw_sys_us_per_req": round(us((g1 - g0) - (u1 - u0)) / n, 2),
    "loadgen_cpu_us": lg, "window_us": win, "foreign_cpu_pct": round(foreign, 1)}))
PY
}

# wait_quiet SECONDS : wait (bounded) until the machine is < 5% busy over 2 s; our own processes idle then
wait_quiet() {
  local deadline q0 q1
  deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    q0=$(machine_ticks); sleep 2; q1=$(machine_ticks)
    [ $(( (q1 - q0) * 100 / ($(getconf CLK_TCK) * 2 * $(nproc)) )) -lt 5 ] && return 0
  done
  return 1
}

# retry_if_noisy FRAG TRY RETRIES : succeeds (the caller repeats its run) when other processes took
# more than NOISY_PCT of the machine during it and retries are left; with --wait-quiet, waits first
retry_if_noisy() {
  local foreign
  foreign=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["foreign_cpu_pct"]))' "$1")
  if [ "$foreign" -le "$NOISY_PCT" ] || [ "$2" -ge "$3" ]; then return 1; fi
  echo "      ${foreign}% of the machine went to other processes or kernel threads: repeating this run"
  [ "$WAIT_QUIET" -gt 0 ] && { wait_quiet 60 || true; }
  return 0
}

# run_wrk NAME TARGET KIND MODEL CONNS SECONDS
# One wrk run; the CPU of the proxy under test, the sim, the load generator and the machine are read
# around it. If other processes took more than NOISY_PCT of the machine meanwhile, the run is repeated
# (at most RETRIES times; with --wait-quiet, after waiting up to 60 s for quiet). The last try is kept.
run_wrk() {
  local name=$1 target=$2 kind=$3 model=$4 conns=$5 secs=$6
  local port path key raw g0 s0 m0 u0 g1 s1 m1 u1 line n hop c0 c1 t0 t1 o0 o1 frag try
  port=$(port_for "$target"); path=$(path_for "$target" "$kind" "$model"); key=$(key_for "$target")
  hop=$(hop_pid_for "$target")
  printf '   %-14s %-8s c=%-2s %2ss %s\n' "$name" "$target" "$conns" "$secs" "$path"
  local retries=$RETRIES
  [ "$name" = warmup ] && retries=0
  for try in $(seq 0 "$retries"); do
    raw=$OUT/$name-$target.wrk.txt
    [ "$try" -gt 0 ] && raw=$OUT/$name-$target.retry$try.wrk.txt
    o0=0; [ "$hop" != "$GW_PID" ] && o0=$(cpu_ticks "$GW_PID")
    children_us; c0=$CHILD_US; t0=$(date +%s%N)
    g0=$(cpu_ticks "$hop"); s0=$(cpu_ticks "$SIM_PID"); m0=$(machine_ticks); u0=$(user_ticks "$hop")
    BENCH_PATH=$path BENCH_KEY=$key BENCH_BODY=$(body_for "$target" "$kind" "$model") \
      timeout $((secs + 20)) taskset -c "$LOAD_CORE" \
      wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency -s "$BENCH/post.lua" \
      "http://127.0.0.1:$port" >"$raw" 2>&1
    g1=$(cpu_ticks "$hop"); s1=$(cpu_ticks "$SIM_PID"); m1=$(machine_ticks); u1=$(user_ticks "$hop")
    t1=$(date +%s%N); children_us; c1=$CHILD_US
    o1=0; [ "$hop" != "$GW_PID" ] && o1=$(cpu_ticks "$GW_PID")
    line=$(sed -n 's/^BENCH //p' "$raw")
    [ -n "$line" ] || { echo "bench: wrk gave no summary, see $raw" >&2; cat "$raw" >&2; exit 1; }
    n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line")
    frag=$(cpu_fragment "$g0" "$s0" "$m0" "$u0" "$g1" "$s1" "$m1" "$u1" "$n" \
      $((c1 - c0)) $(((t1 - t0) / 1000)) $(((o1 - o0) * 1000000 / $(getconf CLK_TCK))))
    retry_if_noisy "$frag" "$try" "$retries" || break
  done
  record "$name" "$target" "$line" "$frag" "{\"conns\": $conns, \"seconds\": $secs, \"retries\": $try}"
  python3 - "$line" "$frag" <<'PY'
import json, sys
d, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
errs = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]
print(f'      {d["requests"]} req, {d["rps"]:.0f}/s, p50 {d["lat_p50_us"]} us, p99 {d["lat_p99_us"]} us, '
      f'errors {errs}; proxy {f["gw_cpu_us_per_req"]:.1f} us/req; others {f["foreign_cpu_pct"]:.0f}%')
PY
}

# run_ttfe NAME TARGET MODEL [KIND] : time to first event and inter-event gaps; repeated like run_wrk
# when other processes were busy
run_ttfe() {
  local name=$1 target=$2 model=$3 kind=${4:-sse} port path key raw line g0 s0 m0 u0 g1 s1 m1 u1 c0 c1 t0 t1 frag try
  port=$(port_for "$target"); path=$(path_for "$target" "$kind" "$model"); key=$(key_for "$target")
  printf '   %-14s %-8s %s streams, %s\n' "$name" "$target" "$TTFE_STREAMS" "$path"
  for try in $(seq 0 "$RETRIES"); do
    raw=$OUT/$name-$target.txt
    [ "$try" -gt 0 ] && raw=$OUT/$name-$target.retry$try.txt
    children_us; c0=$CHILD_US; t0=$(date +%s%N)
    g0=$(cpu_ticks "$GW_PID"); s0=$(cpu_ticks "$SIM_PID"); m0=$(machine_ticks); u0=$(user_ticks "$GW_PID")
    timeout 120 taskset -c "$LOAD_CORE" python3 "$BENCH/sse_ttfe.py" --port "$port" --path "$path" \
      --key "$key" --body "$(body_for "$target" "$kind" "$model")" --streams "$TTFE_STREAMS" --max-seconds 90 >"$raw" 2>&1 || true
    g1=$(cpu_ticks "$GW_PID"); s1=$(cpu_ticks "$SIM_PID"); m1=$(machine_ticks); u1=$(user_ticks "$GW_PID")
    t1=$(date +%s%N); children_us; c1=$CHILD_US
    line=$(sed -n 's/^BENCH //p' "$raw")
    [ -n "$line" ] || { echo "bench: TTFE client failed, see $raw" >&2; cat "$raw" >&2; exit 1; }
    frag=$(cpu_fragment "$g0" "$s0" "$m0" "$u0" "$g1" "$s1" "$m1" "$u1" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["streams"])' "$line")" \
      $((c1 - c0)) $(((t1 - t0) / 1000)) 0)
    retry_if_noisy "$frag" "$try" "$RETRIES" || break
  done
  record "$name" "$target" "$line" "$frag" "{\"retries\": $try}"
  python3 - "$line" "$frag" <<'PY'
import json, sys
d, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f'      {d["streams"]} streams, events {d["events_min"]}..{d["events_max"]}, '
      f'TTFE p50 {d["ttfe_p50_us"]:.0f} us, p99 {d["ttfe_p99_us"]:.0f} us, errors {d["errors"] + d["bad_status"]}; '
      f'others {f["foreign_cpu_pct"]:.0f}%')
PY
}

# reference_runs TARGET : the JSON (c=8, c=1) and SSE scenarios through a reference hop
reference_runs() {
  run_wrk warmup "$1" json "$JSON_MODEL" "$CONNS" 2
  run_wrk json "$1" json "$JSON_MODEL" "$CONNS" "$DURATION"
  run_wrk json-c1 "$1" json "$JSON_MODEL" 1 "$DURATION"
  run_wrk sse "$1" sse "$SSE_MODEL" "$CONNS" "$DURATION"
}

# idle_rss LABEL : settle a moment, then record the gateway's resident memory
idle_rss() {
  sleep 1
  record "$1" gateway '{}'
  printf '   %-22s VmRSS %6s kB  VmHWM %6s kB  RssAnon %6s kB\n' "$1" "$(status_kb "$GW_PID" VmRSS)" \
    "$(status_kb "$GW_PID" VmHWM)" "$(status_kb "$GW_PID" RssAnon)"
}

# ---------------------------------------------------------------- machine
# Other work on the machine skews every number: optionally wait for quiet, then measure how busy it is.
if [ "$WAIT_QUIET" -gt 0 ]; then
  echo "== waiting up to ${WAIT_QUIET}s for the machine to be idle"
  wait_quiet "$WAIT_QUIET" || echo "bench: the machine did not become idle" >&2
fi
b0=$(machine_ticks); sleep 2; b1=$(machine_ticks)
BUSY_PCT=$(( (b1 - b0) * 100 / ($(getconf CLK_TCK) * 2 * $(nproc)) )); [ "$BUSY_PCT" -gt 100 ] && BUSY_PCT=100
if [ "$BUSY_PCT" -gt 10 ]; then
  echo "bench: WARNING: the machine was ${BUSY_PCT}% busy before the run (other processes): results will be noisy" >&2
fi
python3 - "$OUT/machine.json" "$ACCESS_LOG" "$DURATION" "$CONNS" "$TTFE_STREAMS" "$TTFE_INTERVAL_MS" "$BUSY_PCT" "$GW_BIN" <<'PY'
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
out, access, dur, conns, streams, gap, busy, gw_bin = sys.argv[1:]
m = {
    "cpu_model": sh("lscpu | sed -n 's/^Model name: *//p'"),
    "cpus": os.cpu_count(),
    "hypervisor": sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'"),
    "kernel": platform.release(),
    "mem_total": sh("awk '/MemTotal/{printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"),
    "wrk": sh("wrk -v 2>&1 | head -1 | cut -d' ' -f1-2"),
    "rustc": sh("rustc -V"),
    # BENCH_SOURCE: what the binaries were built from, when not this checkout (free text)
    "git": os.environ.get("BENCH_SOURCE")
    or sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
    "gateway_bin": gw_bin,
    "gateway_bin_mtime": sh(f"date -u -r {gw_bin} +%Y-%m-%dT%H:%M:%SZ"),
    "busy_before_pct": int(busy),
    "access_log": access == "1",
    "duration_s": int(dur), "conns": int(conns),
    "ttfe_streams": int(streams), "ttfe_interval_ms": int(gap),
}
json.dump(m, open(out, "w"), indent=1)
print(f"== {m['cpu_model']}, {m['cpus']} CPUs ({m['hypervisor'] or 'bare metal'}), kernel {m['kernel']}, {m['mem_total']}")
PY

# ---------------------------------------------------------------- start
for p in "$SIM_PORT" "$GW_PORT" "$ADMIN_PORT"; do
  if port_busy "$p"; then echo "bench: port $p is in use (set SIM_PORT/GW_PORT/ADMIN_PORT)" >&2; exit 1; fi
done

echo "== start gemini-sim on core $LOAD_CORE, gateway on core $GW_CORE (--threads 1)"
taskset -c "$LOAD_CORE" "$SIM_BIN" --listen "127.0.0.1:$SIM_PORT" --no-record --threads 1 \
  --stream-events "$SSE_EVENTS" --stream-interval-ms 0 >"$OUT/sim.log" 2>&1 &
SIM_PID=$!
wait_port "$SIM_PORT" "$SIM_PID" gemini-sim
curl -sS -m 5 -o /dev/null -X POST "http://127.0.0.1:$SIM_PORT/_sim/faults" \
  -d "{\"model\":\"$TTFE_MODEL\",\"action\":{\"type\":\"stream\",\"events\":$SSE_EVENTS,\"interval_ms\":$TTFE_INTERVAL_MS}}"

if [ "$ACCESS_LOG" = 1 ]; then LOG_LEVEL=info; else LOG_LEVEL=warn; fi
# ENFORCE_MODEL_LIMITS=false: the built-in free-tier table would refuse most of the load (the sim has
# no quota here); the scheduler still runs and scores keys. No store path: usage counts in memory.
env -u RUST_LOG -u GEMINI_GATEWAY_CONFIG -u CONTEXT_DB_PATH -u MODEL_LIMITS_PATH \
  GEMINI_API_KEYS=k1,k2 PASSWORD=pw GEMINI_BASE_URL="http://127.0.0.1:$SIM_PORT" \
  HOST=127.0.0.1 PORT="$GW_PORT" ADMIN_PORT="$ADMIN_PORT" LOG_LEVEL=$LOG_LEVEL LOG_DIR=off ENFORCE_MODEL_LIMITS=false MAX_REQUESTS_PER_MINUTE=0 MAX_REQUESTS_PER_DAY_PER_IP=0 ENABLE_CONTEXT_COMPLETION=false \
  taskset -c "$GW_CORE" "$GW_BIN" --threads 1 >"$OUT/gateway.log" 2>&1 &
GW_PID=$!
wait_port "$GW_PORT" "$GW_PID" gemini-gateway
idle_rss idle-start

# ---------------------------------------------------------------- sanity
for target in direct gateway; do
  for kind in json sse; do
    code=$(curl -sS -m 10 -o "$OUT/sanity-$target-$kind.txt" -w '%{http_code}' -X POST \
      -H "x-goog-api-key: $(key_for $target)" -H 'Content-Type: application/json' \
      -d "$JSON_BODY" "http://127.0.0.1:$(port_for $target)$(path_for $target $kind $JSON_MODEL)")
    if [ "$code" != 200 ]; then
      echo "bench: sanity request $target/$kind answered $code:" >&2; head -c 600 "$OUT/sanity-$target-$kind.txt" >&2; exit 1
    fi
  done
done
ev_direct=$(grep -c '^data:' "$OUT/sanity-direct-sse.txt" || true)
ev_gw=$(grep -c '^data:' "$OUT/sanity-gateway-sse.txt" || true)
echo "== sanity: JSON $(wc -c <"$OUT/sanity-direct-json.txt") B direct / $(wc -c <"$OUT/sanity-gateway-json.txt") B gateway; SSE events $ev_direct direct / $ev_gw gateway"
if [ "$ev_direct" != "$SSE_EVENTS" ] || [ "$ev_gw" != "$SSE_EVENTS" ]; then
  echo "bench: expected $SSE_EVENTS SSE events on both paths" >&2; exit 1
fi

# ---------------------------------------------------------------- scenarios
echo "== warm-up"
run_wrk warmup direct json "$JSON_MODEL" "$CONNS" 2
run_wrk warmup gateway json "$JSON_MODEL" "$CONNS" 2
idle_rss idle-after-warmup

echo "== 1. JSON generateContent, throughput and CPU (c=$CONNS)"
run_wrk json direct json "$JSON_MODEL" "$CONNS" "$DURATION"
run_wrk json gateway json "$JSON_MODEL" "$CONNS" "$DURATION"
idle_rss idle-after-json

echo "== 2. JSON latency at concurrency 1"
run_wrk json-c1 direct json "$JSON_MODEL" 1 "$DURATION"
run_wrk json-c1 gateway json "$JSON_MODEL" 1 "$DURATION"

echo "== 3. SSE streamGenerateContent, $SSE_EVENTS events, no gap: throughput and CPU (c=$CONNS)"
run_wrk sse direct sse "$SSE_MODEL" "$CONNS" "$DURATION"
run_wrk sse gateway sse "$SSE_MODEL" "$CONNS" "$DURATION"
idle_rss idle-after-sse

echo "== 3b. SSE time to first event, one stream at a time: $SSE_EVENTS events $TTFE_INTERVAL_MS ms apart"
run_ttfe ttfe direct "$TTFE_MODEL"
run_ttfe ttfe gateway "$TTFE_MODEL"
echo "== 3c. SSE time to first event, one stream at a time: $SSE_EVENTS events back to back (no idle gaps)"
run_ttfe ttfe-b2b direct "$SSE_MODEL"
run_ttfe ttfe-b2b gateway "$SSE_MODEL"

if [ "$OPENAI" = 1 ]; then
  echo "== 5. OpenAI /v1/chat/completions through the gateway vs the native call direct (c=$CONNS)"
  run_wrk oai-json direct openai-json "$JSON_MODEL" "$CONNS" "$DURATION"
  run_wrk oai-json gateway openai-json "$JSON_MODEL" "$CONNS" "$DURATION"
  echo "== 6. OpenAI streaming, $SSE_EVENTS Gemini events translated chunk by chunk (c=$CONNS)"
  run_wrk oai-sse direct openai-sse "$SSE_MODEL" "$CONNS" "$DURATION"
  run_wrk oai-sse gateway openai-sse "$SSE_MODEL" "$CONNS" "$DURATION"
  echo "== 6b. OpenAI streaming: time to first event and inter-event gaps, events $TTFE_INTERVAL_MS ms apart"
  run_ttfe oai-ttfe direct "$TTFE_MODEL" openai-sse
  run_ttfe oai-ttfe gateway "$TTFE_MODEL" openai-sse
  idle_rss idle-after-openai
fi

echo "== 4. RSS flatness: the JSON scenario against the gateway $REPEATS more times in a row"
for i in $(seq "$REPEATS"); do
  run_wrk json-repeat-$i gateway json "$JSON_MODEL" "$CONNS" "$DURATION"
  idle_rss idle-after-repeat-$i
done

if [ "$NGINX" = 1 ]; then
  if command -v nginx >/dev/null; then
    # Reference: a plain nginx reverse proxy hop (one process, pinned like the gateway, keep-alive
    # upstream, no buffering, no access log) measured by the same harness.
    echo "== reference: plain nginx hop on core $GW_CORE ($(nginx -v 2>&1 | cut -d/ -f2))"
    mkdir -p "$OUT/nginx"
    cat >"$OUT/nginx/nginx.conf" <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGX
    taskset -c "$GW_CORE" nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" \
      >"$OUT/nginx/stdout.log" 2>&1 &
    NGX_PID=$!
    wait_port "$NGX_PORT" "$NGX_PID" nginx
    reference_runs nginx
    # nginx stays up (idle) for the --perf system-call counts; the exit trap stops it
  else
    echo "== nginx not installed (apt-get install nginx): no reference hop"
  fi
fi

if [ "$FLOOR" = 1 ]; then
  # Reference: the smallest Pingora proxy doing the same rewrite (path, credential -> key), no
  # pipeline: what Pingora itself costs here, the floor under the gateway.
  FLOOR_BIN=${FLOOR_BIN:-$ROOT/target/release/examples/pingora_floor}
  if [ ! -x "$FLOOR_BIN" ] || [ "$FORCE_BUILD" = 1 ]; then
    echo "== cargo build --release --example pingora_floor"
    cargo build --release --example pingora_floor
  fi
  echo "== reference: the smallest Pingora proxy on core $GW_CORE (one worker thread)"
  taskset -c "$GW_CORE" "$FLOOR_BIN" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$SIM_PORT" "$DIRECT_KEY" \
    >"$OUT/floor.log" 2>&1 &
  FLOOR_PID=$!
  wait_port "$FLOOR_PORT" "$FLOOR_PID" pingora_floor
  reference_runs floor
fi

if [ "$PERF" = 1 ]; then
  # Where the CPU goes, on extra runs that are not in the table: a sampled profile of the gateway
  # (perf record) and system calls per request (perf stat on syscall tracepoints, cheap enough not to
  # change the timing) of the sim serving directly, the gateway and, with --nginx, nginx.
  echo "== profile (perf record, perf stat syscalls): extra runs, not in the table"
  if command -v perf >/dev/null; then
    SYSCALLS=sendto,sendmsg,writev,write,recvfrom,recvmsg,readv,read,epoll_wait,epoll_ctl,getpeername,setsockopt
    EV=$(echo "$SYSCALLS" | tr ',' '\n' | sed 's/^/syscalls:sys_enter_/' | paste -sd,)
    for kind in json sse; do
      perf record -F 2999 -p "$GW_PID" -o "$OUT/perf-$kind.data" >"$OUT/perf-$kind.log" 2>&1 &
      PERF_PID=$!
      sleep 0.5
      run_wrk perf-$kind gateway "$kind" "$JSON_MODEL" "$CONNS" 5
      kill -INT "$PERF_PID" 2>/dev/null || true
      wait "$PERF_PID" 2>/dev/null || true
      PERF_PID=
      perf report -i "$OUT/perf-$kind.data" --stdio --no-children --sort dso,symbol \
        >"$OUT/perf-$kind.txt" 2>/dev/null || true
      for target in direct gateway nginx floor; do
        case $target in direct) tpid=$SIM_PID ;; gateway) tpid=$GW_PID ;; nginx) tpid=$NGX_PID ;; floor) tpid=$FLOOR_PID ;; esac
        [ -n "$tpid" ] || continue
        perf stat -e "$EV" -p "$tpid" -o "$OUT/syscalls-$kind-$target.txt" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.5
        run_wrk syscalls-$kind "$target" "$kind" "$JSON_MODEL" "$CONNS" 3
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=
      done
    done
    python3 "$BENCH/profile_summary.py" "$OUT" | tee "$OUT/profile.md"
  else
    echo "   perf not installed (apt-get install linux-perf): no profile"
  fi
fi

grep -c ' INFO ' "$OUT/gateway.log" >"$OUT/gateway-log-lines.txt" 2>/dev/null || true
# the access log of a run is a few hundred MB: keep it compressed
[ "$ACCESS_LOG" = 1 ] && gzip -f "$OUT/gateway.log"

# ---------------------------------------------------------------- report
echo
python3 "$BENCH/report.py" "$OUT" | tee "$OUT/table.md"
