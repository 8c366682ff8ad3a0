#!/usr/bin/env bash
# bench/fuzz.sh — long runs of the fuzz targets (property tests under src/fuzz/ and
# demo/src/verifier/fuzz.rs); not part of CI. Each target runs for FUZZ_SECONDS (default
# 60) on fresh random inputs, one after the other, and prints its iterations and time.
# A failure prints the shrunk input and the script exits non-zero.
#
#   bench/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=300 bench/fuzz.sh fuzz::saml   # targets whose test path contains this
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
filter="${1:-fuzz::}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
export PORTCULLIS_FUZZ_SECONDS="$seconds"
# Single-threaded: each target gets the whole budget in turn.
cargo test --lib -- "$filter" --test-threads=1 --nocapture 2>&1 | tee -a "$log" | grep -E "^(test |fuzz-result|thread|minimal)" || status=1
cargo test -p tickets-mcp --lib -- "$filter" --test-threads=1 --nocapture 2>&1 | tee -a "$log" | grep -E "^(test |fuzz-result|thread)" || status=1
grep -q "FAILED\|panicked" "$log" && status=1
echo
printf '%-20s %14s %9s\n' target iterations seconds
sed -n 's/.*fuzz-result target=\([^ ]*\) iterations=\([0-9]*\) seconds=\([0-9.]*\)$/\1 \2 \3/p' "$log" |
    while read -r t i s; do printf '%-20s %14s %9s\n' "$t" "$i" "$s"; done
exit "$status"
