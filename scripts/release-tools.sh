#!/usr/bin/env bash
# Installs the tools `xtask release` needs for the portable linux_amd64 build: Zig and
# cargo-zigbuild, the versions pinned in scripts/release-tools.txt, from PyPI into a virtualenv
# in the target directory (<target dir>/release-tools), where xtask looks first. Nothing is
# installed system-wide; re-running is quick when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-target}/release-tools"
want="$(grep -v '^#' scripts/release-tools.txt | grep '==' | sort)"
if [ -x "$venv/bin/python3" ] &&
    [ "$("$venv/bin/python3" -m pip freeze 2>/dev/null | grep -iE '^(ziglang|cargo-zigbuild)==' | sort)" = "$want" ]; then
    echo "release-tools: $(echo $want) already in $venv"
    exit 0
fi
command -v python3 >/dev/null || { echo "release-tools: python3 (>= 3.8, with venv and pip) is needed" >&2; exit 1; }
python3 -m venv "$venv" || {
    echo "release-tools: python3 -m venv failed; install your distribution's python3-venv package" >&2
    exit 1
}
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r scripts/release-tools.txt
echo "release-tools: installed $(echo $want) into $venv"
