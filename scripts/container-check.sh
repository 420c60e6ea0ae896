#!/usr/bin/env bash
# Container check: the image users build (Dockerfile), run the way users run it.
#
# Builds the Dockerfile's `runtime` stage on a local Debian bookworm base (debootstrap, cached; no
# registry is contacted), adds the binaries `cargo build --workspace --bins` has just built
# (target/debug/gemini-gateway and gemini-sim; this script never builds them), then on a private
# docker network runs the simulator and the gateway configured by environment only, with a
# read-only root filesystem, a data volume on /data and the port published on 127.0.0.1 only, and
# checks: native generate and stream, OpenAI chat completion, 401 without a credential, non-root
# process, writes only under /data and /tmp, an arbitrary uid (Hugging Face Spaces), and a graceful
# `docker stop` with exit code 0. Traffic from the host goes to 127.0.0.1 only.
#
# Skips (exit 0, one printed reason) only when no Docker engine can be used: no docker client, no
# dockerd, or dockerd not up within 30 s. Any other failure is an error.
# Cache: the base image's tarball lives in $GG_CONTAINER_CACHE (default /var/cache/gemini-gateway);
# delete it (and `docker rmi gemini-gateway-ci-base:bookworm`) to rebuild the base.
set -euo pipefail
cd "$(dirname "$0")/.."

T_START=$SECONDS
CACHE_DIR=${GG_CONTAINER_CACHE:-/var/cache/gemini-gateway}
BASE_IMAGE=gemini-gateway-ci-base:bookworm
BASE_TAR=$CACHE_DIR/debian-bookworm-minbase.tar
RUNTIME_IMAGE=gemini-gateway-ci-runtime:latest
IMAGE=gemini-gateway-ci:check-$$
ID=gg-check-$$
NET=$ID-net
SIM=$ID-sim
GW=$ID-gw
GW_UID=$ID-anyuid
VOL=$ID-data
PW=container-check-password
KEYS=fake-key-one,fake-key-two
SIM_PORT=8090
STARTED_DOCKERD=
DOCKERD_PID=
WORK=
CHECKS=0

say() { echo "container: $*"; }
ok() { CHECKS=$((CHECKS + 1)); printf 'container: ok   %-58s %s\n' "$1" "${2:-}"; }
skip() { echo "== container check SKIPPED: $*"; exit 0; }
fail() {
  echo "container: FAIL $*" >&2
  for c in "$GW" "$GW_UID" "$SIM"; do
    if docker inspect "$c" >/dev/null 2>&1; then
      echo "---- docker logs $c (last 40 lines)" >&2
      timeout 20 docker logs --tail 40 "$c" >&2 2>&1 || true
    fi
  done
  exit 1
}
# the seconds since $1 (a `date +%s.%N` value), one decimal
since() { python3 -c 'import sys,time; print(f"{time.time()-float(sys.argv[1]):.1f}")' "$1"; }

cleanup() {
  local rc=$?
  set +e
  for c in "$GW" "$GW_UID" "$SIM"; do
    timeout 60 docker rm -fv "$c" >/dev/null 2>&1
  done
  timeout 30 docker network rm "$NET" >/dev/null 2>&1
  timeout 30 docker volume rm "$VOL" >/dev/null 2>&1
  timeout 60 docker rmi "$IMAGE" >/dev/null 2>&1
  [ -n "$WORK" ] && rm -rf "$WORK"
  if [ -n "$STARTED_DOCKERD" ]; then
    # this script started the engine: stop it again (bounded), leaving no half-running daemon
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null
  fi
  exit $rc
}

# ---------------------------------------------------------------------------------------------
# The engine: use a running one, or start dockerd (30 s at most); skip only when neither works.
command -v docker >/dev/null 2>&1 || skip "no docker client on PATH"
if ! timeout 20 docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null 2>&1 || skip "no Docker engine: dockerd is not installed (apt-get install docker.io)"
  [ "$(id -u)" = 0 ] || skip "no usable Docker engine (docker info fails) and starting dockerd needs root"
  DOCKERD_LOG=/var/log/gemini-gateway-dockerd.log
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  DOCKERD_PID=$!
  up=
  for _ in $(seq 30); do
    if timeout 5 docker info >/dev/null 2>&1; then up=1; break; fi
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  if [ -z "$up" ]; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    sleep 2
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    skip "dockerd failed to start or did not answer within 30 s: $(tail -n 1 "$DOCKERD_LOG" 2>/dev/null | cut -c1-200)"
  fi
  STARTED_DOCKERD=1
fi
trap cleanup EXIT
ok "docker engine $(docker version -f '{{.Server.Version}}' 2>/dev/null)" "($((SECONDS - T_START)) s)"

for b in target/debug/gemini-gateway target/debug/gemini-sim; do
  [ -x "$b" ] || fail "$b is missing: run cargo build --workspace --bins first"
done

# The builder: BuildKit when the buildx plugin is there, otherwise the legacy builder (the
# Dockerfile's stage order makes `--target runtime` independent of the Rust stage for both).
if timeout 20 docker buildx version >/dev/null 2>&1; then
  BUILDER="BuildKit (buildx)"
else
  export DOCKER_BUILDKIT=0
  BUILDER="legacy builder"
fi

WORK=$(mktemp -d /tmp/gg-container-check.XXXXXX)

# ---------------------------------------------------------------------------------------------
# The base image: Debian bookworm minbase + ca-certificates, from the mirror apt uses here.
t=$(date +%s.%N)
if timeout 20 docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  base_how="present in docker"
else
  if [ ! -s "$BASE_TAR" ]; then
    command -v debootstrap >/dev/null 2>&1 || fail "no $BASE_IMAGE and no debootstrap to make it (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || fail "debootstrap needs root to make $BASE_IMAGE"
    mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
                grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                  awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'
              } | grep -E '/debian/?$' | head -n 1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    mkdir -p "$CACHE_DIR"
    rootfs=$WORK/rootfs
    say "debootstrap bookworm minbase from $mirror (once; cached in $BASE_TAR)"
    if ! timeout 900 debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1; then
      tail -n 30 "$WORK/debootstrap.log" >&2
      fail "debootstrap failed"
    fi
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    # like Debian's own images: apt keeps no package caches in image layers
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$rootfs"
    base_how="debootstrapped"
  else
    base_how="imported from cache"
  fi
  timeout 300 docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null || fail "docker import of $BASE_TAR failed"
fi
ok "base image $BASE_IMAGE ($base_how)" "($(since "$t") s)"

# ---------------------------------------------------------------------------------------------
# The image: the Dockerfile's runtime stage on that base, plus the binaries CI has just built.
# Two small build contexts (the runtime stage needs only conf/; the binaries need only themselves)
# instead of the repository with its target/.
t=$(date +%s.%N)
mkdir -p "$WORK/ctx-runtime/conf" "$WORK/ctx-bin"
cp Dockerfile "$WORK/ctx-runtime/Dockerfile"
cp conf/gemini-gateway.yaml "$WORK/ctx-runtime/conf/"
for b in gemini-gateway gemini-sim; do
  ln "target/debug/$b" "$WORK/ctx-bin/$b" 2>/dev/null || cp "target/debug/$b" "$WORK/ctx-bin/$b"
done
printf 'FROM %s\nCOPY gemini-gateway gemini-sim /usr/local/bin/\n' "$RUNTIME_IMAGE" >"$WORK/ctx-bin/Dockerfile"
if ! timeout 600 docker build --target runtime --build-arg "RUNTIME_BASE=$BASE_IMAGE" -t "$RUNTIME_IMAGE" \
    "$WORK/ctx-runtime" >"$WORK/build-runtime.log" 2>&1; then
  tail -n 40 "$WORK/build-runtime.log" >&2
  fail "docker build --target runtime failed"
fi
if ! timeout 600 docker build -t "$IMAGE" "$WORK/ctx-bin" >"$WORK/build-bin.log" 2>&1; then
  tail -n 40 "$WORK/build-bin.log" >&2
  fail "docker build of the image with the prebuilt binaries failed"
fi
ok "image: Dockerfile runtime stage + target/debug binaries" "($(since "$t") s, $BUILDER)"

user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
case "$user" in
  "" | 0 | 0:* | root | root:*) fail "the image's USER is '${user}' (root)" ;;
esac

# ---------------------------------------------------------------------------------------------
# Run it as users would.
timeout 30 docker network create "$NET" >/dev/null || fail "docker network create failed"
timeout 30 docker volume create "$VOL" >/dev/null || fail "docker volume create failed"
timeout 60 docker run -d --name "$SIM" --network "$NET" --read-only \
  --entrypoint /usr/local/bin/gemini-sim "$IMAGE" --listen "0.0.0.0:$SIM_PORT" >/dev/null \
  || fail "could not start the simulator container"

# start_gateway NAME [docker run options...]: env-only configuration, port published on loopback
start_gateway() {
  local name=$1
  shift
  timeout 60 docker run -d --name "$name" --network "$NET" -p 127.0.0.1::7860 \
    --read-only --tmpfs /tmp \
    -e "GEMINI_API_KEYS=$KEYS" -e "PASSWORD=$PW" -e "GEMINI_BASE_URL=http://$SIM:$SIM_PORT" \
    "$@" "$IMAGE" >/dev/null || fail "could not start container $name"
}

# wait_ready NAME: prints the published host port once the gateway answers on it (30 s at most)
wait_ready() {
  local name=$1 port="" code
  for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
      || fail "container $name exited: $(docker inspect -f '{{.State.ExitCode}}' "$name" 2>/dev/null)"
    if [ -z "$port" ]; then
      port=$(docker port "$name" 7860/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:' | cut -d: -f2 || true)
    fi
    if [ -n "$port" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" || true)
      if [ -n "$code" ] && [ "$code" != 000 ]; then
        echo "$port"
        return 0
      fi
    fi
    sleep 0.5
  done
  fail "container $name did not answer on 127.0.0.1:${port:-?} within 30 s"
}

# post PORT PATH AUTH-HEADER BODY OUTFILE: prints the HTTP status
post() {
  local hdr=()
  [ -n "$3" ] && hdr=(-H "$3")
  curl -sS -o "$5" -w '%{http_code}' --max-time 30 -X POST "http://127.0.0.1:$1$2" \
    "${hdr[@]}" -H 'content-type: application/json' -d "$4" || echo 000
}

GEN_BODY='{"contents":[{"role":"user","parts":[{"text":"Hello from the container check"}]}]}'
GEN_PATH=/v1beta/models/gemini-2.5-flash:generateContent
check_generate() { # FILE: a native generateContent answer with text
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
parts = r["candidates"][0]["content"]["parts"]
assert any(isinstance(p.get("text"), str) and p["text"] for p in parts), r
assert "usageMetadata" in r, r
PY
}

t=$(date +%s.%N)
start_gateway "$GW" -v "$VOL:/data" -e CONTEXT_DB_PATH=/data/gemini-gateway.db
PORT=$(wait_ready "$GW")
ok "gateway up: --read-only, env config, 127.0.0.1:$PORT -> 7860" "($(since "$t") s)"

status=$(post "$PORT" "$GEN_PATH" "x-goog-api-key: $PW" "$GEN_BODY" "$WORK/gen.json")
[ "$status" = 200 ] || fail "native generate: HTTP $status: $(head -c 400 "$WORK/gen.json" 2>/dev/null)"
check_generate "$WORK/gen.json" || fail "native generate: unexpected body"
ok "native generateContent: 200, candidates[0] text"

status=$(post "$PORT" "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" "x-goog-api-key: $PW" \
  "$GEN_BODY" "$WORK/stream.txt")
[ "$status" = 200 ] || fail "native stream: HTTP $status: $(head -c 400 "$WORK/stream.txt" 2>/dev/null)"
events=$(python3 - "$WORK/stream.txt" <<'PY'
import json, sys
events = [json.loads(l[5:]) for l in open(sys.argv[1]).read().splitlines() if l.startswith("data:")]
assert len(events) >= 2, events
assert all("candidates" in e for e in events), events
assert any(c.get("finishReason") for e in events for c in e["candidates"]), events
print(len(events))
PY
) || fail "native stream: unexpected events: $(head -c 600 "$WORK/stream.txt")"
ok "native streamGenerateContent?alt=sse: 200, $events data: events, finishReason"

status=$(post "$PORT" /v1/chat/completions "Authorization: Bearer $PW" \
  '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hello from the container check"}]}' \
  "$WORK/chat.json")
[ "$status" = 200 ] || fail "OpenAI chat completion: HTTP $status: $(head -c 400 "$WORK/chat.json" 2>/dev/null)"
python3 - "$WORK/chat.json" <<'PY' || fail "OpenAI chat completion: unexpected body: $(head -c 400 "$WORK/chat.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["object"] == "chat.completion", r
m = r["choices"][0]["message"]
assert m["role"] == "assistant" and isinstance(m["content"], str) and m["content"], r
PY
ok "OpenAI /v1/chat/completions: 200, choices[0].message.content"

status=$(post "$PORT" "$GEN_PATH" "" "$GEN_BODY" "$WORK/unauth.json")
[ "$status" = 401 ] || fail "a request without a credential got HTTP $status, not 401"
ok "no credential: 401"

# the real uid of the container's process 1 (the gateway), from /proc/1/status
pid1_uid() { timeout 20 docker exec "$1" grep '^Uid:' /proc/1/status | awk '{print $2}'; }
uid=$(pid1_uid "$GW") || fail "docker exec failed"
if [ -z "$uid" ] || [ "$uid" = 0 ]; then fail "the gateway process runs as uid '$uid'"; fi
ok "process runs as non-root: uid $uid (USER $user)"

# Only /data (the volume) and /tmp (tmpfs) are writable; the store and the log files are on /data.
timeout 20 docker exec "$GW" sh -c 'touch /probe' 2>/dev/null && fail "the root filesystem is writable"
files=$(timeout 20 docker exec "$GW" sh -c 'ls /data /data/logs' 2>&1) || fail "no /data/logs: $files"
grep -qx gemini-gateway.db <<<"$files" || fail "no store file in /data: $files"
grep -qx gemini-gateway.log <<<"$files" || fail "no log file in /data/logs: $files"
diff_out=$(timeout 20 docker diff "$GW" | grep -vE '^[ACD] /(data|tmp)(/|$)' || true)
[ -z "$diff_out" ] || fail "the container changed files outside /data and /tmp: $diff_out"
ok "writes only /data (store, logs/) and /tmp: read-only root, empty docker diff"

# Hugging Face Spaces / OpenShift: an arbitrary uid in group 0, store on /data.
t=$(date +%s.%N)
start_gateway "$GW_UID" --user 54321:0 -e CONTEXT_DB_PATH=/data/gemini-gateway.db
PORT_UID=$(wait_ready "$GW_UID")
status=$(post "$PORT_UID" "$GEN_PATH" "x-goog-api-key: $PW" "$GEN_BODY" "$WORK/gen-uid.json")
[ "$status" = 200 ] || fail "arbitrary uid: generate got HTTP $status: $(head -c 400 "$WORK/gen-uid.json" 2>/dev/null)"
check_generate "$WORK/gen-uid.json" || fail "arbitrary uid: unexpected generate body"
files=$(timeout 20 docker exec "$GW_UID" sh -c 'ls /data /data/logs' 2>&1) || fail "arbitrary uid: no /data/logs: $files"
grep -qx gemini-gateway.db <<<"$files" || fail "arbitrary uid: no store file in /data: $files"
uid=$(pid1_uid "$GW_UID")
[ "$uid" = 54321 ] || fail "arbitrary uid: process runs as uid '$uid'"
timeout 60 docker rm -fv "$GW_UID" >/dev/null
ok "--user 54321:0: starts, generate 200, store and logs on /data" "($(since "$t") s)"

# Graceful stop: SIGTERM with nothing in flight ends the process promptly, exit code 0.
t=$(date +%s.%N)
timeout 60 docker stop -t 30 "$GW" >/dev/null || fail "docker stop failed"
took=$(since "$t")
code=$(docker inspect -f '{{.State.ExitCode}}' "$GW")
[ "$code" = 0 ] || fail "docker stop: exit code $code (expected 0) after $took s"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 25 else 1)' "$took" \
  || fail "docker stop took $took s: the gateway did not stop on SIGTERM within the grace period"
ok "docker stop -t 30: exit code 0" "($took s)"

echo "container check: $CHECKS checks passed in $((SECONDS - T_START)) s"
