#!/usr/bin/env bash
# Write bursts at the rate limit: create and destroy N alloy_users, run by hand.
#
#   bench/burst.sh                              (N=100, 3 runs of each peer; about 3 minutes)
#   BEFORE_BIN=... bench/burst.sh               (the figures in bench/README.md)
#
# The emulator answers every API request after LATENCY_MS (50) and admits RATE (10) requests per
# second (a fixed one-second window; 429 with Retry-After: 1 beyond it). Per run and peer, in a
# fresh emulator: `apply` creates N users (N POSTs), then `destroy` deletes them (a refresh in one
# provider process, then N DELETEs in another). Every request of a burst is a write, so the ideal
# is N / RATE seconds plus Terraform's own time; the target is 1.2 x N / RATE.
# Peers: `after` (this checkout's release build) and `before` (BEFORE_BIN, a release build of an
# older commit built with its own --target-dir; skipped when unset), taking turns within each run.
# API calls come from the emulator's request log (429s included: they are calls too).
#
# Knobs (environment): N, RATE, LATENCY_MS, RUNS (3), BEFORE_BIN, TERRAFORM, KEEP_WORK=1.
# Results: target/bench/burst-<UTC timestamp>/results.tsv and report.md.

# HCL interpolation in single quotes is deliberate:
# shellcheck disable=SC2016
set -euo pipefail
case ${1:-} in -h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;; esac

cd "$(dirname "$0")/.."
ROOT=$PWD
TF=${TERRAFORM:-terraform}
N=${N:-100}
RATE=${RATE:-10}
LATENCY_MS=${LATENCY_MS:-50}
RUNS=${RUNS:-3}
DEV_KEY=bench-development-key-0123456789

REL="$ROOT/target/release"
if [ ! -x "$REL/terraform-provider-alloy" ] || [ ! -x "$REL/alloy-emulator" ]; then
  cargo build --release --bin terraform-provider-alloy --bin alloy-emulator
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$ROOT/target/bench/burst-$STAMP"
WORK=$(mktemp -d)
mkdir -p "$RES"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] && echo "work kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

# --- providers in filesystem mirrors (the registry host name is assembled at run time) --------
HOST=$(printf '%s.%s.%s' registry terraform io)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
mirror() { # mirror PEER BINARY
  local dir="$WORK/mirror-$1/$HOST/alloy-automation/alloy/$VERSION/linux_amd64"
  mkdir -p "$dir"
  cp "$2" "$dir/terraform-provider-alloy_v$VERSION"
  printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$WORK/mirror-$1" >"$WORK/cli-$1.tfrc"
}
PEERS=(after)
mirror after "$REL/terraform-provider-alloy"
if [ -n "${BEFORE_BIN:-}" ]; then
  mirror before "$BEFORE_BIN"
  PEERS+=(before)
else
  echo "BEFORE_BIN is not set: measuring this checkout only" >&2
fi

# --- loopback services ------------------------------------------------------------------------
start_bg() { # start_bg NAME PREFIX CMD...: sets NAME to the URL printed after PREFIX
  local name=$1 prefix=$2 out="$WORK/$1.out" line="" i
  shift 2
  "$@" >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for i in $(seq 1 200); do
    line=$(head -n 1 "$out" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.05
  done
  case $line in
    "$prefix"*) printf -v "$name" '%s' "${line#"$prefix"}" ;;
    *) echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1 ;;
  esac
}
start_bg STATE_URL "state server listening on " python3 "$ROOT/bench/benchlib.py" state-server
start_bg EMU "alloy-emulator listening on " "$REL/alloy-emulator" --listen 127.0.0.1:0 \
  --development-key "$DEV_KEY"

admin() { curl -fsS "$@"; }
reset_emulator() { # forgets users, the request log and faults, then sets the slow API again
  admin -X POST "$EMU/_emulator/reset" >/dev/null
  admin -X DELETE "$EMU/_emulator/requests" >/dev/null
  admin -X PUT -H 'content-type: application/json' \
    -d "{\"latency_ms\": $LATENCY_MS, \"rate_limit\": $RATE}" "$EMU/_emulator/faults" >/dev/null
}
clear_requests() { admin -X DELETE "$EMU/_emulator/requests" >/dev/null; }
calls() { # "total 429s" since the last clear
  admin "$EMU/_emulator/requests?tail=0" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["total"], r["by_status"].get("429", 0), sep="\t")'
}

WS_N=0
make_ws() { # make_ws PEER: sets WS to a fresh initialised workspace
  WS_N=$((WS_N + 1))
  WS="$WORK/ws/$WS_N"
  mkdir -p "$WS"
  cat >"$WS/main.tf" <<EOF
terraform {
  required_providers { alloy = { source = "alloy-automation/alloy" } }
  backend "http" {
    address = "$STATE_URL/state/$WS_N"
  }
}

provider "alloy" {}

resource "alloy_user" "u" {
  count    = $N
  username = "$1-tenant-\${count.index}@example.com"
}
EOF
  (cd "$WS" && TF_CLI_CONFIG_FILE="$WORK/cli-$1.tfrc" CHECKPOINT_DISABLE=1 "$TF" init -input=false >/dev/null)
}
timed() { # timed PEER ARGS...: runs terraform in $WS; sets WALL (seconds)
  local peer=$1 t0 rc=0
  shift
  t0=$(date +%s.%N)
  (cd "$WS" && TF_CLI_CONFIG_FILE="$WORK/cli-$peer.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 \
    ALLOY_BASE_URL="$EMU" ALLOY_ENVIRONMENT=development ALLOY_DEVELOPMENT_API_KEY="$DEV_KEY" \
    "$TF" "$@" -no-color) >"$WORK/last.out" 2>&1 || rc=$?
  WALL=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
  if [ "$rc" != 0 ]; then
    echo "terraform $* exited $rc in $WS:" >&2
    tail -n 30 "$WORK/last.out" >&2
    exit 1
  fi
}

printf 'peer\tcommand\trun\twall_s\tapi_calls\t429s\n' | tee "$RES/results.tsv"
for run in $(seq 1 "$RUNS"); do
  for k in "${!PEERS[@]}"; do
    peer=${PEERS[(k + run - 1) % ${#PEERS[@]}]}
    reset_emulator
    make_ws "$peer"
    for cmd in apply destroy; do
      clear_requests
      timed "$peer" "$cmd" -auto-approve -input=false
      printf '%s\t%s\t%s\t%s\t%s\n' "$peer" "$cmd" "$run" "$WALL" "$(calls)" | tee -a "$RES/results.tsv"
    done
  done
done

python3 - "$RES/results.tsv" "$N" "$RATE" >"$RES/report.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
n, rate = int(sys.argv[2]), float(sys.argv[3])
ideal = n / rate
med = statistics.median
print(f"## {n} users at {rate:g} requests/s: medians of {len({r['run'] for r in rows})} runs (ideal {ideal:g} s, target {1.2 * ideal:g} s)\n")
print("| peer | command | wall s (runs) | / ideal | API calls | of which 429 |")
print("|---|---|---|---|---|---|")
for peer in dict.fromkeys(r["peer"] for r in rows):
    for cmd in ("apply", "destroy"):
        rs = [r for r in rows if r["peer"] == peer and r["command"] == cmd]
        walls = [float(r["wall_s"]) for r in rs]
        print(f"| {peer} | {cmd} | {med(walls):.2f} ({', '.join(f'{w:.2f}' for w in walls)}) | "
              f"{med(walls) / ideal:.2f} | {med([int(r['api_calls']) for r in rs]):g} | "
              f"{med([int(r['429s']) for r in rs]):g} |")
EOF
echo
cat "$RES/report.md"
echo
echo "results: $RES"
