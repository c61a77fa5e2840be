#!/usr/bin/env bash
# The main job: build the provider and the emulator, start the emulator on loopback, apply the
# demo configuration with the real terraform CLI, show the result, then destroy and clean up.
# Needs only Rust (cargo) and Terraform >= 1.10 on PATH; no network, no Alloy account.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

command -v terraform >/dev/null || { echo "demo: Terraform (>= 1.10) must be on PATH" >&2; exit 1; }

echo "==> Building terraform-provider-alloy and alloy-emulator"
cargo build --quiet --bin terraform-provider-alloy --bin alloy-emulator

work=$(mktemp -d)
emulator_pid=
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> Starting the Alloy emulator on loopback"
"$root/target/debug/alloy-emulator" --listen 127.0.0.1:0 >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/emulator.out" 2>/dev/null && break
  sleep 0.05
done
url=$(grep -m 1 '^alloy-emulator listening on ' "$work/emulator.out" | sed 's/^alloy-emulator listening on //')
[ -n "$url" ] || { echo "demo: the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }
dev_key=$(grep -m 1 'development key:' "$work/emulator.out" | sed 's/.*development key: *//')
echo "    $url"

# Our own CLI configuration: dev_overrides points Terraform at the binary just built.
cat >"$work/cli.tfrc" <<HCL
provider_installation {
  dev_overrides {
    "alloy-automation/alloy" = "$root/target/debug"
  }
  direct {}
}
HCL
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export ALLOY_BASE_URL="$url" ALLOY_ENVIRONMENT=development ALLOY_DEVELOPMENT_API_KEY="${dev_key:-dev-emulator-key-0000000000}"
unset ALLOY_API_KEY ALLOY_PRODUCTION_API_KEY TF_LOG TF_LOG_PROVIDER

mkdir "$work/demo"
cp "$root"/examples/demo/*.tf "$work/demo/"
cd "$work/demo"

echo "==> terraform apply (examples/demo)"
terraform apply -auto-approve -input=false -no-color -compact-warnings

echo "==> Result"
terraform output -no-color
cat token-expiry.txt
echo "==> A second plan is empty"
terraform plan -input=false -no-color -detailed-exitcode >/dev/null && echo "    no changes"

echo "==> terraform destroy"
terraform destroy -auto-approve -input=false -no-color -compact-warnings | tail -n 1
echo "==> Done"
