#!/usr/bin/env bash
# Load test of alloy-emulator on loopback: how many requests per second it answers, and how fast.
#
# Builds the emulator in release mode, starts it on a free loopback port and drives it with wrk.
# Scenarios: GET /users/{id}, POST /users (in memory), and POST /users with --state (every answered
# write fsynced to disk first), from CONNECTIONS clients and from a single one. Each scenario runs RUNS times for DURATION seconds, with a reset of
# the emulator between runs; the script prints the median requests/s and the latency percentiles
# of the median run, plus the status codes the emulator counted (to show no run was all errors).
#
# Why wrk: a C event-loop client whose own cost per request is small and well known, with latency
# percentiles built in and a Lua hook to give every POST a unique username. A load generator of our
# own would have to prove the same before its figures meant anything.
#
# Knobs (environment): DURATION (s, default 5), RUNS (3), CONNECTIONS (32), THREADS (1: wrk and the
# emulator share a small machine, and one wrk thread is enough to saturate it).
set -euo pipefail

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
KEY=dev-emulator-key-0000000000

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing wrk..." >&2
    apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is not installed (apt-get install wrk)" >&2
    exit 1
  fi
fi

echo "building alloy-emulator (release)..." >&2
cargo build --release --quiet --bin alloy-emulator
BIN=target/release/alloy-emulator

work=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# start_emulator ARGS...: sets PID and URL once the first stdout line has appeared.
start_emulator() {
  "$BIN" --listen 127.0.0.1:0 "$@" >"$work/stdout" 2>"$work/stderr" &
  PID=$!
  for _ in $(seq 1 100); do
    if line=$(head -n 1 "$work/stdout" 2>/dev/null) && [ -n "$line" ]; then
      URL=${line#alloy-emulator listening on }
      return 0
    fi
    sleep 0.05
  done
  echo "the emulator did not start:" >&2
  cat "$work/stderr" >&2
  exit 1
}

stop_emulator() {
  kill "$PID"
  wait "$PID" || true
  PID=
}

# Every POST gets a unique username: a per-thread prefix and a counter.
cat >"$work/post.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "/users", nil,
    '{"username":"bench-' .. tid .. '-' .. n .. '","fullName":"Bench User"}')
end
LUA

# status_counts: the emulator's by_status counters, e.g. {"200":123456}.
status_counts() {
  curl -fsS "$URL/_emulator/requests?tail=0" | sed -n 's/.*"by_status":\({[^}]*}\).*/\1/p'
}

# scenario NAME EMULATOR_ARGS -- WRK_ARGS...
scenario() {
  local name=$1
  shift
  local emu_args=()
  while [ "$1" != "--" ]; do emu_args+=("$1"); shift; done
  shift
  start_emulator "${emu_args[@]}"
  curl -fsS -X POST "$URL/_emulator/reset" >/dev/null
  local id
  id=$(curl -fsS -X POST "$URL/users" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"username":"bench-target","fullName":"Target"}' |
    sed -n 's/.*"userId":"\([0-9a-f]*\)".*/\1/p')
  local rates=()
  for run in $(seq 1 "$RUNS"); do
    curl -fsS -X DELETE "$URL/_emulator/requests" >/dev/null
    local args=("$@")
    args=("${args[@]//@ID@/$id}")
    args=("${args[@]//@URL@/$URL}")
    wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" \
      -H "Authorization: Bearer $KEY" -H "x-api-version: 2025-09" \
      -H "Content-Type: application/json" "${args[@]}" >"$work/run-$run.txt"
    local rate
    rate=$(awk '/^Requests\/sec:/ {print $2}' "$work/run-$run.txt")
    rates+=("$rate")
    printf '%s\n' "$(status_counts)" >"$work/status-$run.txt"
    # Start the next run from the same store size (POST scenarios grow it).
    curl -fsS -X POST "$URL/_emulator/reset" >/dev/null
    curl -fsS -X POST "$URL/users" -H "Authorization: Bearer $KEY" \
      -d "{\"username\":\"bench-target\"}" >/dev/null
    id=$(curl -fsS "$URL/users/bench-target" -H "Authorization: Bearer $KEY" |
      sed -n 's/.*"userId":"\([0-9a-f]*\)".*/\1/p')
  done
  stop_emulator
  # The median run: sort the runs by rate and take the middle one.
  local median_run
  median_run=$(for i in "${!rates[@]}"; do echo "${rates[$i]} $((i + 1))"; done |
    sort -n | awk -v n="$RUNS" 'NR == int((n + 1) / 2) {print $2}')
  echo "== $name"
  echo "   requests/s per run: ${rates[*]}"
  echo "   median requests/s:  ${rates[$((median_run - 1))]}"
  echo "   latency (median run):"
  sed -n '/Latency Distribution/,/99%/p' "$work/run-$median_run.txt" | tail -n +2 | sed 's/^/   /'
  echo "   statuses counted by the emulator (median run): $(cat "$work/status-$median_run.txt")"
}

echo "alloy-emulator load test: $RUNS runs x ${DURATION}s, $CONNECTIONS connections, $THREADS wrk thread(s), $(nproc) cores"
scenario "GET /users/{id}" -- "@URL@/users/@ID@"
scenario "POST /users (in memory)" -- -s "$work/post.lua" "@URL@"
scenario "POST /users (--state, fsync before each answer)" --state "$work/state.json" -- -s "$work/post.lua" "@URL@"
# One client writing sequentially: no concurrent writes to share an fsync with.
scenario "POST /users (--state, 1 connection)" --state "$work/state.json" -- -c 1 -s "$work/post.lua" "@URL@"
