#!/usr/bin/env bash
# Scale benchmark: many alloy_users behind a slow, rate-limited API, run by hand.
#
#   bench/scale.sh                  (sizes 100 and 1000, adoption 500; about 25 minutes)
#   BEFORE_BIN=... SIZES='100 1000 3000' ADOPT_SIZES=' ' bench/scale.sh
#                                   (the figures in bench/README.md; 61 minutes)
#   SIZES='100 1000 3000' ADOPT_SIZES='500 3000' bench/scale.sh
#
# The emulator answers every API request after LATENCY_MS (50) and admits RATE (10) requests per
# second, answering the rest 429 with Retry-After: the shape of a real SaaS API shared by many
# workspaces. For each size N, with the API calls counted exactly from the emulator's request log:
#   every peer applies (create N; each peer has its own usernames, so all live in one emulator);
#   PLAN_RUNS (5) rounds of no-change plans, the peers' order rotating each round (`before` plans
#   BEFORE_PLAN_RUNS (1) times: one of its plans costs N calls); per peer, a plan after 3 of its
#   users were deleted and 1 had its fullName changed outside Terraform (must say "3 to add,
#   1 to change", or the benchmark aborts); then every peer destroys.
# The report gives medians, and for the plans the median of each round's own after/floor ratio
# (the peers of a round ran seconds apart, so the machine's slow swings cancel).
# For adoption (ADOPT_SIZES): N existing users adopted by one apply with
# `data "alloy_users"` + `import { for_each }` (examples/adopt-existing-users), and a sample of
# IMPORT_SAMPLE separate `terraform import` commands (extrapolated to N, and said so).
#
# Peers: `after` (this checkout's release build), `before` (BEFORE_BIN, a release build of the
# provider at an older commit, built with its own --target-dir (sharing this checkout's target/
# makes cargo keep whichever binary it linked last) and copied aside; skipped when unset) and
# `floor` (Terraform's built-in terraform_data, no provider, no API, hence no drift plan). Every
# workspace uses an `http` state backend on loopback (the local backend rewrites the whole state
# file per instance, which would swamp everything else).
# The old provider cannot adopt with `alloy_users` (it has no such data source); its adoption
# figure uses the same import blocks over a literal list of the users' ids.
#
# Knobs (environment): SIZES, ADOPT_SIZES, IMPORT_SAMPLE (20), LATENCY_MS (50), RATE (10),
# PLAN_RUNS (5), BEFORE_PLAN_RUNS (1), PEERS ('after before floor'), BEFORE_BIN, TERRAFORM,
# KEEP_WORK=1, WORKFLOW_SIZES (none; the README's figures use 3000), DEACTIVATE (1000),
# WORKFLOW_SHARDS (1: one for_each over every tenant; 16: a module instance per last hex digit of
# the userId, the shape the workflows guide recommends for thousands of tenants),
# CREDENTIAL_SIZES (none; issue 24 asks for 500).
#   SIZES=' ' ADOPT_SIZES=' ' WORKFLOW_SIZES=3000 WORKFLOW_SHARDS=16 PEERS='after floor' PLAN_RUNS=3 bench/scale.sh
#                                   (the workflow figures alone; about 16 minutes sharded, an hour in one block)
#   SIZES=' ' ADOPT_SIZES=' ' CREDENTIAL_SIZES=500 PLAN_RUNS=2 PEERS=after bench/scale.sh
#                                   (onboarding tenants with one credential each; about 8 minutes)
# Results: target/bench/scale-<UTC timestamp>/results.tsv and report.md.

# HCL interpolation in single quotes is deliberate:
# shellcheck disable=SC2016,SC1090,SC1091
set -euo pipefail
case ${1:-} in -h | --help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;; esac

cd "$(dirname "$0")/.."
ROOT=$PWD
TF=${TERRAFORM:-terraform}
SIZES=${SIZES:-100 1000}
ADOPT_SIZES=${ADOPT_SIZES:-500}
IMPORT_SAMPLE=${IMPORT_SAMPLE:-20}
LATENCY_MS=${LATENCY_MS:-50}
RATE=${RATE:-10}
PEERS=${PEERS:-after before floor}
PLAN_RUNS=${PLAN_RUNS:-5}
WORKFLOW_SIZES=${WORKFLOW_SIZES:-}
DEACTIVATE=${DEACTIVATE:-1000}
WORKFLOW_SHARDS=${WORKFLOW_SHARDS:-1}
CREDENTIAL_SIZES=${CREDENTIAL_SIZES:-}
BEFORE_PLAN_RUNS=${BEFORE_PLAN_RUNS:-1}
DEV_KEY=bench-development-key-0123456789

REL="$ROOT/target/release"
if [ ! -x "$REL/terraform-provider-alloy" ] || [ ! -x "$REL/alloy-emulator" ]; then
  cargo build --release --bin terraform-provider-alloy --bin alloy-emulator
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$ROOT/target/bench/scale-$STAMP"
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
mirror after "$REL/terraform-provider-alloy"
if [[ " $PEERS " == *" before "* ]]; then
  if [ -z "${BEFORE_BIN:-}" ]; then
    echo "BEFORE_BIN is not set: skipping the 'before' peer" >&2
    PEERS=${PEERS//before/}
  else
    mirror before "$BEFORE_BIN"
  fi
fi
: >"$WORK/cli-floor.tfrc"

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
  --development-key "$DEV_KEY" --latency-ms "$LATENCY_MS" --rate-limit "$RATE"

admin() { curl -fsS "$@"; }
reset_emulator() { # forgets users and faults, then sets the slow API again
  admin -X POST "$EMU/_emulator/reset" >/dev/null
  admin -X PUT -H 'content-type: application/json' \
    -d "{\"latency_ms\": $LATENCY_MS, \"rate_limit\": $RATE}" "$EMU/_emulator/faults" >/dev/null
}
emulator_users() { admin "$EMU/_emulator/users?environment=development"; } # {"data": [...]}
clear_requests() { admin -X DELETE "$EMU/_emulator/requests" >/dev/null; }
# "total by_route" of the requests since the last clear (429s included: they are calls too).
calls() {
  admin "$EMU/_emulator/requests?tail=0" | python3 -c '
import json, sys
r = json.load(sys.stdin)
routes = ",".join(f"{k}={v}" for k, v in sorted(r["by_route"].items())) or "-"
refused = r["by_status"].get("429")
print(r["total"], routes + (f" (429: {refused})" if refused else ""), sep="\t")'
}
write_span() { # seconds from the first to the last API write since the last clear (request log)
  admin "$EMU/_emulator/requests?tail=100000" | python3 -c '
import json, sys
at = [e["at_ms"] for e in json.load(sys.stdin)["log"] if e["method"] in ("POST", "PUT", "PATCH", "DELETE")]
print(f"{(max(at) - min(at)) / 1000:.2f}" if at else "0")'
}
existing_users() { # existing_users N: tenant-0..N-1, with one POST /users/batch per 1000
  python3 - "$1" <<'EOF' | while read -r body; do
import json, sys
n = int(sys.argv[1])
users = [{"username": f"tenant-{i}@example.com", **({"fullName": f"Tenant {i}"} if i % 3 else {})} for i in range(n)]
for k in range(0, n, 1000):
    print(json.dumps({"users": users[k:k + 1000]}))
EOF
    admin -H "authorization: Bearer $DEV_KEY" -H 'content-type: application/json' -d "$body" \
      "$EMU/users/batch" >/dev/null
  done
}

# --- workspaces -------------------------------------------------------------------------------
WS_N=0
make_ws() { # make_ws PEER BODY: sets WS to a fresh initialised workspace
  WS_N=$((WS_N + 1))
  WS="$WORK/ws/$WS_N"
  mkdir -p "$WS"
  {
    echo "terraform {"
    [[ $1 != floor* ]] && echo '  required_providers { alloy = { source = "alloy-automation/alloy" } }'
    printf '  backend "http" {\n    address = "%s/state/%s"\n  }\n}\n\n' "$STATE_URL" "$WS_N"
    echo "$2"
  } >"$WS/main.tf"
  {
    echo "export TF_CLI_CONFIG_FILE='$WORK/cli-${1%%_*}.tfrc' CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1"
    echo "export ALLOY_BASE_URL='$EMU' ALLOY_ENVIRONMENT=development ALLOY_DEVELOPMENT_API_KEY='$DEV_KEY'"
  } >"$WS/.env"
  if [ -n "${WS_MODULE:-}" ]; then # a local module ./shard, for the sharded workflow shape
    mkdir -p "$WS/shard"
    {
      [[ $1 != floor* ]] && echo 'terraform {
  required_providers { alloy = { source = "alloy-automation/alloy" } }
}
'
      echo "$WS_MODULE"
    } >"$WS/shard/main.tf"
  fi
  tf 0 init -input=false >/dev/null
}
LAST_OUT="$WORK/last.out"
tf() { # tf EXPECTED_EXIT ARGS...: runs terraform in $WS; aborts on another exit code
  local want=$1 rc=0
  shift
  (source "$WS/.env" && cd "$WS" && "$TF" "$@" -no-color) >"$LAST_OUT" 2>&1 || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "terraform $* exited $rc (expected $want) in $WS:" >&2
    tail -n 30 "$LAST_OUT" >&2
    exit 1
  fi
}
record() { # record PEER N WHAT WALL [CHECK]: one result line (round $ROUND), calls since the clear
  local c
  if [[ $1 == floor* ]]; then c=$'0\t-'; else c=$(calls); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${ROUND:-1}" "$4" "$c" "${5:-}" | tee -a "$RES/results.tsv"
}
since() { # since T0: seconds from T0 (a `date +%s.%N`) until now, to the hundredth
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"
}
timed() { # timed EXPECTED_EXIT ARGS...: sets WALL (seconds)
  local t0
  t0=$(date +%s.%N)
  tf "$@"
  WALL=$(since "$t0")
}
summary() { grep -oE '(Plan|Resources): [^.]*|No changes' "$LAST_OUT" | tail -n 1 || true; }

users_of() { # users_of PEER: the userIds of that peer's users (its usernames start "PEER-tenant-")
  emulator_users | python3 -c '
import json, sys
prefix = sys.argv[1] + "-tenant-"
print(" ".join(u["userId"] for u in json.load(sys.stdin)["data"] if (u.get("username") or "").startswith(prefix)))' "$1"
}
rename_out_of_band() { # through the API, as another tool would (curl retries a 429 after Retry-After)
  admin --retry 10 -X PUT -H "authorization: Bearer $DEV_KEY" -H 'content-type: application/json' \
    -d '{"fullName": "Renamed elsewhere"}' "$EMU/users/$1" >/dev/null
}

printf 'peer\tN\tcommand\tround\twall_s\tapi_calls\tby_route\tterraform says\n' | tee "$RES/results.tsv"

# Per size: every peer applies into the same emulator (each with its own usernames, so they
# coexist and the list `after` downloads holds the other peers' users too), then PLAN_RUNS rounds
# of no-change plans with the peers' order rotating each round, then per peer the drift plan and
# destroy. `before` plans once (BEFORE_PLAN_RUNS): at 1,000 users one of its plans takes minutes.
declare -A WS_OF
read -r -a PEER_LIST <<<"$PEERS"
for n in $SIZES; do
  reset_emulator
  ROUND=1
  for peer in "${PEER_LIST[@]}"; do
    if [ "$peer" = floor ]; then
      make_ws floor "resource \"terraform_data\" \"u\" {
  count = $n
  input = \"floor-tenant-\${count.index}@example.com\"
}"
    else
      make_ws "$peer" "provider \"alloy\" {}

resource \"alloy_user\" \"u\" {
  count     = $n
  username  = \"$peer-tenant-\${count.index}@example.com\"
  full_name = \"Tenant \${count.index}\"
}"
    fi
    WS_OF[$peer]=$WS
    clear_requests
    timed 0 apply -auto-approve -input=false
    record "$peer" "$n" apply "$WALL" "$(summary)"
  done
  for ROUND in $(seq 1 "$PLAN_RUNS"); do
    for k in "${!PEER_LIST[@]}"; do
      peer=${PEER_LIST[(k + ROUND - 1) % ${#PEER_LIST[@]}]}
      [ "$peer" = before ] && [ "$ROUND" -gt "$BEFORE_PLAN_RUNS" ] && continue
      WS=${WS_OF[$peer]}
      clear_requests
      timed 0 plan -input=false -detailed-exitcode
      record "$peer" "$n" "no-change plan" "$WALL" "$(summary)"
    done
  done
  ROUND=1
  for peer in "${PEER_LIST[@]}"; do
    [ "$peer" = floor ] && continue
    WS=${WS_OF[$peer]}
    read -r -a ids <<<"$(users_of "$peer")"
    for id in "${ids[@]:0:3}"; do admin -X DELETE "$EMU/_emulator/users/development/$id" >/dev/null; done
    rename_out_of_band "${ids[3]}"
    clear_requests
    timed 2 plan -input=false -detailed-exitcode
    said=$(summary)
    record "$peer" "$n" "plan after 3 deletes and 1 fullName change" "$WALL" "$said"
    if [ "$said" != "Plan: 3 to add, 1 to change, 0 to destroy" ]; then
      echo "$peer at $n: the drift plan said '$said', not 3 to add and 1 to change" >&2
      exit 1
    fi
  done
  for peer in "${PEER_LIST[@]}"; do
    WS=${WS_OF[$peer]}
    clear_requests
    timed 0 destroy -auto-approve -input=false
    record "$peer" "$n" destroy "$WALL" "$(summary)"
  done
done

ADOPT_HCL=$(cat examples/adopt-existing-users/main.tf | sed '/^terraform {/,/^}/d')
for n in $ADOPT_SIZES; do
  for peer in $PEERS; do
    [ "$peer" = floor ] && continue
    reset_emulator
    existing_users "$n"
    if [ "$peer" = before ]; then
      # No alloy_users data source: the same import blocks over the ids, written out.
      ids=$(emulator_users |
        python3 -c 'import json, sys; print(json.dumps({u["userId"]: {"username": u["username"], "full_name": u.get("fullName")} for u in json.load(sys.stdin)["data"]}))')
      make_ws "$peer" "provider \"alloy\" {}
locals { existing = jsondecode(<<EOT
$ids
EOT
) }
import {
  for_each = local.existing
  to       = alloy_user.adopted[each.key]
  id       = each.key
}
resource \"alloy_user\" \"adopted\" {
  for_each  = local.existing
  username  = each.value.username
  full_name = each.value.full_name
}"
    else
      make_ws "$peer" "$ADOPT_HCL"
    fi
    clear_requests
    timed 0 apply -auto-approve -input=false
    record "$peer" "$n" "adopt: one apply, import for_each" "$WALL" "$(summary)"
    clear_requests
    timed 0 plan -input=false -detailed-exitcode
    record "$peer" "$n" "adopt: plan after" "$WALL" "$(summary)"

    # Separate `terraform import` commands, a sample of them.
    make_ws "$peer" "provider \"alloy\" {}

resource \"alloy_user\" \"u\" {
  count    = $n
  username = \"tenant-\${count.index}@example.com\"
}"
    mapfile -t sample < <(emulator_users |
      python3 -c 'import json, sys
for u in json.load(sys.stdin)["data"][:int(sys.argv[1])]:
    print(u["username"].split("-")[1].split("@")[0], u["userId"])' "$IMPORT_SAMPLE")
    clear_requests
    t0=$(date +%s.%N)
    for line in "${sample[@]}"; do
      read -r index id <<<"$line"
      tf 0 import -input=false "alloy_user.u[$index]" "$id"
    done
    WALL=$(since "$t0")
    record "$peer" "$n" "adopt: ${#sample[@]} separate terraform import (sample)" "$WALL" \
      "extrapolated to $n: $(python3 -c "import sys; print(f'{float(sys.argv[1]) * int(sys.argv[2]) / int(sys.argv[3]):.0f} s')" "$WALL" "$n" "${#sample[@]}")"
  done
done

# Workflows per tenant (WORKFLOW_SIZES): N tenants with one workflow installed (seeded at once),
# managed by `data "alloy_workflow_users"` + `for_each` over `alloy_user_workflow` with
# auto_upgrade. The adopting apply, PLAN_RUNS no-change plans beside terraform_data's at the same
# N, a rollout of a newly published version to every tenant, and deactivating DEACTIVATE of them.
for n in $WORKFLOW_SIZES; do
  reset_emulator
  seed() { # seed BODY: POST /_emulator/seed in the development environment
    admin -X POST -H 'content-type: application/json' -d "{\"environment\": \"development\", $1}" \
      "$EMU/_emulator/seed" >/dev/null
  }
  # A probe user tells the workflow's id (the first of the catalogue's first integration).
  seed '"count": 1, "prefix": "probe-"'
  probe=$(emulator_users | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["userId"])')
  WF=$(admin -H "authorization: Bearer $DEV_KEY" "$EMU/integrations?userId=$probe" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["workflows"][0]["workflowId"])')
  # The fleet, each tenant with the workflow installed (what the end user does in the modal).
  seed "\"count\": $n, \"prefix\": \"wf-tenant-\", \"suffix\": \"@example.com\", \"start\": 0, \"workflows\": [\"$WF\"]"
  ROUND=1
  make_ws floor "resource \"terraform_data\" \"w\" {
  count = $n
  input = \"wf-tenant-\${count.index}@example.com\"
}"
  WS_OF[floor]=$WS
  timed 0 apply -auto-approve -input=false
  record floor "$n" "workflows: apply" "$WALL" "$(summary)"
  # The same-shape floor: terraform_data under the configuration shape the guide recommends (a
  # for_each map of N objects keyed by user id, the same expression for `active`), still without a
  # provider. Terraform's own cost of that shape grows faster than N; this peer measures it, so
  # "after / floor_shape" is what the provider adds.
  # Each peer's resource block: one for_each over every tenant, or (WORKFLOW_SHARDS=16) a module
  # instance per last hex digit of the userId, each with its own for_each over its share.
  floor_active='tonumber(trimsuffix(trimprefix(each.value.username, "wf-tenant-"), "@example.com")) >= var.inactive_below'
  floor_block="resource \"terraform_data\" \"w\" {
  for_each = USERS
  input = {
    release = var.release
    active  = $floor_active
  }
}"
  after_block="resource \"alloy_user_workflow\" \"w\" {
  for_each     = USERS
  user_id      = each.key
  workflow_id  = var.workflow_id
  auto_upgrade = true
  active       = $floor_active
}"
  vars='variable "inactive_below" {
  type    = number
  default = 0
}

variable "release" {
  type    = number
  default = 1
}
'
  if [ "$WORKFLOW_SHARDS" = 16 ]; then
    shard_call() { # shard_call USERS_EXPR: the module block over the 16 shards
      printf '%s' "module \"shard\" {
  source         = \"./shard\"
  for_each       = toset(split(\"\", \"0123456789abcdef\"))
  users          = { for u in $1 : u.user_id => u if endswith(u.user_id, each.key) }
  inactive_below = var.inactive_below
  release        = var.release
  workflow_id    = \"$WF\"
}"
    }
    module_vars="$vars
variable \"users\" {
  type = map(object({ user_id = string, username = string }))
}

variable \"workflow_id\" {
  type = string
}
"
    floor_ws=$(shard_call local.users) floor_mod="$module_vars
${floor_block//USERS/var.users}"
    after_ws=$(shard_call data.alloy_workflow_users.w.users) after_mod="$module_vars
${after_block//USERS/var.users}"
  else
    floor_ws=${floor_block//USERS/\{ for u in local.users : u.user_id => u \}} floor_mod=
    after_ws="variable \"workflow_id\" {
  default = \"$WF\"
}

${after_block//USERS/\{ for u in data.alloy_workflow_users.w.users : u.user_id => u \}}" after_mod=
  fi
  WS_MODULE=$floor_mod make_ws floor_shape "$vars
locals {
  # range() yields at most 1,024 values: N users in chunks of 1,000; ids are 24 hex digits.
  users = flatten([for c in range(ceil($n / 1000)) : [
    for i in range(c * 1000, min($n, c * 1000 + 1000)) :
    { user_id = format(\"%024x\", i * 7919), username = \"wf-tenant-\${i}@example.com\" }
  ]])
}

$floor_ws"
  WS_OF[floor_shape]=$WS
  timed 0 apply -auto-approve -input=false
  record floor_shape "$n" "workflows: apply" "$WALL" "$(summary)"
  WS_MODULE=$after_mod make_ws after "provider \"alloy\" {}

$vars
data \"alloy_workflow_users\" \"w\" {
  workflow_id = \"$WF\"
}

$after_ws"
  WS_OF[after]=$WS
  clear_requests
  timed 0 apply -auto-approve -input=false
  record after "$n" "workflows: apply (adopt)" "$WALL" "$(summary)"
  for ROUND in $(seq 1 "$PLAN_RUNS"); do
    # Alternate the order so neither peer always runs on a warm or a cold machine.
    order="after floor floor_shape"
    ((ROUND % 2)) || order="floor_shape floor after"
    for peer in $order; do
      WS=${WS_OF[$peer]}
      clear_requests
      timed 0 plan -input=false -detailed-exitcode
      record "$peer" "$n" "workflows: no-change plan" "$WALL" "$(summary)"
    done
  done
  ROUND=1
  WS=${WS_OF[after]}
  admin -X POST -H 'content-type: application/json' -d '{"incompatible": false}' \
    "$EMU/_emulator/workflows/$WF/versions" >/dev/null
  clear_requests
  timed 0 apply -auto-approve -input=false
  record after "$n" "workflows: roll out a new version to all" "$WALL" "$(summary)"
  record after "$n" "workflows: roll out, first to last write" "$(write_span)" \
    "the writes alone, from the emulator's request log"
  WS=${WS_OF[floor_shape]}
  timed 0 apply -auto-approve -input=false -var release=2
  record floor_shape "$n" "workflows: roll out a new version to all" "$WALL" "$(summary)"
  WS=${WS_OF[after]}
  clear_requests
  timed 0 apply -auto-approve -input=false -var "inactive_below=$DEACTIVATE"
  record after "$n" "workflows: deactivate $DEACTIVATE" "$WALL" "$(summary)"
  record after "$n" "workflows: deactivate, first to last write" "$(write_span)" \
    "the writes alone, from the emulator's request log"
  WS=${WS_OF[floor_shape]}
  timed 0 apply -auto-approve -input=false -var release=2 -var "inactive_below=$DEACTIVATE"
  record floor_shape "$n" "workflows: deactivate $DEACTIVATE" "$WALL" "$(summary)"
done

# Credentials (CREDENTIAL_SIZES): N tenants onboarded by one apply, each an alloy_user with one
# alloy_credential whose write-only data comes from an ephemeral variable. The floor is the 2N
# writes (a user and a credential each) at RATE per second; then PLAN_RUNS no-change plans (the
# refresh reads one credential list per tenant) and the destroy.
for n in $CREDENTIAL_SIZES; do
  reset_emulator
  ROUND=1
  make_ws after "provider \"alloy\" {}

variable \"secret\" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource \"alloy_user\" \"t\" {
  count    = $n
  username = \"cred-tenant-\${count.index}@example.com\"
}

resource \"alloy_credential\" \"c\" {
  count   = $n
  user_id = alloy_user.t[count.index].id
  type    = \"httpHeaderAuth\"
  data = {
    fieldName = \"X-Api-Key\"
    value     = \"\${var.secret}-\${count.index}\"
  }
}"
  echo "export TF_VAR_secret=bench-secret-value" >>"$WS/.env"
  clear_requests
  timed 0 apply -auto-approve -input=false
  floor=$(python3 -c "import sys; print(f'{2 * int(sys.argv[1]) / int(sys.argv[2]):.0f}')" "$n" "$RATE")
  record after "$n" "credentials: onboard (a user + a credential each)" "$WALL" \
    "$(summary); floor: $((2 * n)) writes at $RATE/s = $floor s"
  for ROUND in $(seq 1 "$PLAN_RUNS"); do
    clear_requests
    timed 0 plan -input=false -detailed-exitcode
    record after "$n" "credentials: no-change plan" "$WALL" "$(summary)"
  done
  ROUND=1
  clear_requests
  timed 0 destroy -auto-approve -input=false
  record after "$n" "credentials: destroy" "$WALL" "$(summary)"
done

python3 - "$RES/results.tsv" >"$RES/report.md" <<'EOF'
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
sizes = sorted({int(r["N"]) for r in rows})
peers = list(dict.fromkeys(r["peer"] for r in rows))
commands = list(dict.fromkeys(r["command"] for r in rows))
cell = defaultdict(list)  # (N, command, peer) -> its rows, in round order
for r in rows:
    cell[int(r["N"]), r["command"], r["peer"]].append(r)
med = statistics.median

print("## Medians: wall seconds / API calls (runs in brackets when more than one)\n")
floors = [p for p in peers if p.startswith("floor")]
print("| N | command | " + " | ".join(peers) + "".join(f" | after / {f}" for f in floors) + " |")
print("|---|---|" + "---|" * (len(peers) + len(floors)))
for n in sizes:
    for c in commands:
        got = {p: cell[n, c, p] for p in peers if cell[n, c, p]}
        if not got:
            continue
        cols = []
        for p in peers:
            rs = got.get(p)
            if not rs:
                cols.append("")
                continue
            wall = med([float(r["wall_s"]) for r in rs])
            runs = f" ({len(rs)})" if len(rs) > 1 else ""
            if p.startswith("floor"):
                cols.append(f"{wall:.2f} s{runs}")
            else:
                calls = med([int(r["api_calls"]) for r in rs])
                cols.append(f"{wall:.2f} s / {calls:g}{runs}")
        # The median of each round's own ratio: the peers of a round ran side by side.
        after = {r["round"]: float(r["wall_s"]) for r in got.get("after", [])}
        for f in floors:
            floor = {r["round"]: float(r["wall_s"]) for r in got.get(f, [])}
            ratios = [after[k] / floor[k] for k in after if k in floor and floor[k] > 0]
            ratio = f"{med(ratios):.2f}" if ratios else ""
            if len(ratios) > 1:
                ratio += " (" + ", ".join(f"{x:.2f}" for x in ratios) + ")"
            cols.append(ratio)
        print(f"| {n} | {c} | " + " | ".join(cols) + " |")

print("\n## Every command\n")
head = list(rows[0].keys()) if rows else []
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    print("| " + " | ".join(r[h] for h in head) + " |")
EOF
echo
cat "$RES/report.md"
echo
echo "results: $RES"
