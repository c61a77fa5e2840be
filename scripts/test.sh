#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the end-to-end tests that drive the
# real terraform CLI against the provider binary and the emulator on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v terraform >/dev/null || { echo "test: Terraform (>= 1.10) must be on PATH" >&2; exit 1; }
terraform version 2>/dev/null | sed -n 1p

# e2e_install builds the real (portable, glibc 2.17) release: its tools come from PyPI into target/.
./scripts/release-tools.sh

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets

# The acceptance tests and the conformance probe, for real (TF_ACC=1), against a fresh emulator
# reached only through its public API; see docs/guides/testing-against-your-account.md.
./scripts/acceptance.sh
