#!/usr/bin/env bash
# The acceptance tests (TF_ACC), the conformance probe and a final sweep against a freshly
# started emulator that they reach only through its public API: `xtask tap` is the only address
# they are given; it refuses and counts emulator admin calls and checks its count of forwarded
# requests against the emulator's own request log. Fails if anything fails, if any admin call was
# attempted, or if a tfacc- user is left behind. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)

cargo build --quiet --bin terraform-provider-alloy --bin alloy-emulator --bin xtask

work=$(mktemp -d)
emulator_pid=
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Keys of this run only; the emulator never prints keys it was given.
dev_key="acc-development-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
prod_key="acc-production-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$root/target/debug/alloy-emulator" --listen 127.0.0.1:0 \
  --development-key "$dev_key" --production-key "$prod_key" \
  >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$work/emulator.out" 2>/dev/null && break
  sleep 0.05
done
url=$(grep -m 1 '^alloy-emulator listening on ' "$work/emulator.out" | sed 's/^alloy-emulator listening on //')
[ -n "$url" ] || { echo "acceptance: the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }

# One test tenant with a workflow installed, as its end user would install it in the modal: the
# only admin call of the run, made before the tap. The acceptance tests (ALLOY_ACC_WORKFLOW) and
# the conformance probe (ALLOY_CONFORMANCE_WORKFLOW) manage that installation.
tenant_workflow=$(python3 - "$url" "$dev_key" <<'PY'
import json, sys, urllib.request
url, key = sys.argv[1], sys.argv[2]
def call(method, path, body=None, auth=True):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if auth:
        req.add_header("authorization", "Bearer " + key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
user = call("POST", "/users", {"username": "acc-tenant@example.com"})["userId"]
integrations = call("GET", "/integrations?userId=" + user)["data"]
workflow = integrations[0]["workflows"][0]["workflowId"]
call("POST", "/_emulator/installs",
     {"environment": "development", "userId": user, "workflowId": workflow}, auth=False)
print(user + "/" + workflow)
PY
)
export ALLOY_ACC_WORKFLOW="$tenant_workflow" ALLOY_CONFORMANCE_WORKFLOW="$tenant_workflow"

unset ALLOY_API_KEY ALLOY_REGION ALLOY_BASE_URL ALLOY_API_VERSION TF_ACC_LOG_PATH
export TF_ACC=1 ALLOY_ENVIRONMENT=development \
  ALLOY_DEVELOPMENT_API_KEY="$dev_key" ALLOY_PRODUCTION_API_KEY="$prod_key"

# Inside the tap, ALLOY_BASE_URL is the tap's address.
"$root/target/debug/xtask" tap --upstream "$url" -- bash -c '
  set -euo pipefail
  t0=$(date +%s)
  cargo test --quiet --test acceptance
  echo "acceptance: the acceptance suite took $(( $(date +%s) - t0 )) s"
  "$1/target/debug/xtask" conformance
  "$1/target/debug/xtask" sweep --prefix tfacc- | tee "$2/sweep.out"
  grep -q "^sweep: no users" "$2/sweep.out" || { echo "acceptance: tfacc- users were left behind" >&2; exit 1; }
' tap "$root" "$work"

echo "acceptance: passed against a fresh emulator through its public API only, in $(( $(date +%s) - started )) s"
