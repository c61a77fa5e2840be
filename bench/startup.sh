#!/usr/bin/env bash
# Start-up and shutdown latency of the provider process (release build).
#
# Prints the median (and p90) over RUNS runs (default 50) of:
#   - process start -> handshake line on stdout, over the unix socket and over
#     loopback TCP (ALLOY_PROVIDER_TRANSPORT=tcp), with AutoMTLS and in plaintext;
#   - GRPCController.Shutdown sent -> process exited;
#   - the in-process cost of generating the TLS identity;
#   - the TCP/unix ratio of the start -> handshake medians (target: within 1.2x).
# The four modes take turns run by run, so load from other processes falls on all alike.
# Targets: start -> handshake < 5 ms, Shutdown -> exit < 20 ms.
#
# Note: by default aws-lc also seeds its random generator from CPU-jitter entropy
# on first use in each process (~30-90 ms, which dominated AutoMTLS start-up).
# .cargo/config.toml builds it with AWS_LC_SYS_NO_JITTER_ENTROPY=1 (seed from the
# OS only, as ring and BoringSSL do); to see the old cost, run with
# AWS_LC_SYS_NO_JITTER_ENTROPY=0 (that rebuilds aws-lc-sys once).
#
# The driver is an ignored test in tests/plugin_transport.rs, so no benchmark
# code ships in the provider binary. Building the release profile (LTO) takes
# a few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-50}"
cargo build --release --bin terraform-provider-alloy
BENCH_RUNS="$RUNS" cargo test --release --test plugin_transport -- \
    --ignored --exact bench_startup_and_shutdown --nocapture --test-threads=1
