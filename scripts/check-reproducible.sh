#!/usr/bin/env bash
# Proves the release is reproducible: builds it twice from this checkout, each time in a fresh
# target directory of its own (so every build path differs), then compares the two sets of
# artefacts byte for byte. Exit 0 only when the zips, manifest and SHA256SUMS are identical.
#
# Each build is a full release build with LTO (several minutes on two cores), which is why this
# is a script to run before publishing rather than part of every CI run.
# Needs cargo-zigbuild and Zig: ./scripts/release-tools.sh. KEEP=1 keeps the build directories.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="$target/reproducible"
rm -rf "$work"
mkdir -p "$work"
cargo build --quiet --bin xtask
for n in 1 2; do
    start=$(date +%s)
    "$target/debug/xtask" release --build-dir "$work/build-$n" --out "$work/dist-$n"
    echo "check-reproducible: build $n took $(($(date +%s) - start)) s"
done
status=0
for f in "$work"/dist-1/*; do
    name="$(basename "$f")"
    if cmp "$f" "$work/dist-2/$name"; then
        echo "identical: $name ($(wc -c <"$f") bytes)"
    else
        echo "DIFFERENT: $name" >&2
        status=1
    fi
done
[ "$(ls "$work/dist-1")" = "$(ls "$work/dist-2")" ] || { echo "DIFFERENT file lists" >&2; status=1; }
echo "SHA256SUMS of both builds:"
cat "$work"/dist-1/*_SHA256SUMS
if [ "$status" = 0 ] && [ -z "${KEEP:-}" ]; then
    rm -rf "$work/build-1" "$work/build-2"
fi
[ "$status" = 0 ] && echo "check-reproducible: the two builds are byte-identical"
exit "$status"
