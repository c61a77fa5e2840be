#!/usr/bin/env bash
# List-resource benchmark: `terraform query` over BENCH_USERS (3000) users, played by the harness
# of tests/tf_harness.rs (no Terraform >= 1.14 can be installed here), run by hand.
#
#   bench/list.sh                   (about a minute after the release build)
#   BENCH_USERS=10000 bench/list.sh
#
# The release build of the provider is driven over gRPC with AutoMTLS, as Terraform drives it, in
# a fresh process per measurement, against the in-process emulator on loopback (no latency, no
# rate limit: the figures are the provider's own cost). For each of: a list without objects, a
# list with objects (what `-generate-config-out` asks for), and for comparison a no-change plan
# of the same users (ReadResource then PlanResourceChange per user, one at a time), it prints
# the API calls (from the emulator's request log), the provider's wall time for the work, and the
# provider's peak RSS (VmHWM from /proc, read before it exits; it includes start-up).
# Results: target/bench/list-<UTC timestamp>/report.txt.
set -euo pipefail
case ${1:-} in -h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;; esac

cd "$(dirname "$0")/.."
ROOT=$PWD
cargo build --release --bin terraform-provider-alloy
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$ROOT/target/bench/list-$STAMP"
mkdir -p "$RES"
HARNESS_PROVIDER_BIN="$ROOT/target/release/terraform-provider-alloy" \
  BENCH_USERS=${BENCH_USERS:-3000} \
  cargo test --test tf_harness -- --ignored --exact bench_list --nocapture 2>&1 | tee "$RES/report.txt"
echo "report: $RES/report.txt"
