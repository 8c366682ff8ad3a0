#!/usr/bin/env bash
# bench/hostile.sh — hostile traffic against one portcullis (a measurement script, not a test).
#
# Starts portcullis (release build; BENCH_SKIP_BUILD=1 uses the existing binary) outside
# --dev on a fresh SQLite file seeded from bench/seed.toml, on 127.0.0.1 with a port picked
# at run time, then for BENCH_DURATION seconds (default 60) runs four wrk loads at once,
# each from 127.0.0.1 (one address, as one attacker):
#   token      POST /oauth/token, every request a new CIMD-looking client id of ~8 KB
#              (https://attacker-<n>.example/<padding>) and a 1 KB grant_type;
#   authorize  GET /resources/res_bench/oauth/authorize for a registered public client with
#              a 1,000-character state and a 500-character nonce (each opens a pending request);
#   oversized  GET authorize with a 12 KB state, and CIMD-looking client ids at authorize;
#   register   POST /oauth/register with oversized metadata (client_name of 50 KB).
# It samples the server's RSS every second, stops it with SIGTERM (a clean stop checkpoints
# the SQLite WAL into the main file), and prints RSS (start, peak, end), the database growth,
# the request counts, and the goals with PASS/FAIL:
#   peak RSS < 60 MB          database growth < 5 MB
#
# Exit status: 0 when the server started and stopped cleanly, whether or not the goals
# passed; non-zero when a tool is missing or the server fails.
#
# Environment: BENCH_DURATION (seconds, default 60), BENCH_PROFILE (release, default, or
# debug), BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=<path> (a copy of the database after the run),
# CARGO_TARGET_DIR.
# Usage: bash bench/hostile.sh   (from any directory; installs wrk with apt-get if missing)

set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'hostile: error: %s\n' "$*" >&2; exit 1; }

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${BENCH_DURATION:-60}"
RSS_GOAL_KB=$((60 * 1024))
DB_GOAL_BYTES=$((5 * 1024 * 1024))
CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")"
export CARGO_TARGET_DIR
PROFILE="${BENCH_PROFILE:-release}"
[[ "$PROFILE" == release || "$PROFILE" == debug ]] || die "BENCH_PROFILE is release or debug"
BIN="$CARGO_TARGET_DIR/$PROFILE/portcullis"


[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be a positive integer"
if ! command -v wrk >/dev/null; then
  [[ "$(id -u)" == 0 ]] || die "wrk is missing: apt-get install -y wrk"
  log "apt-get install wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null || die "curl is missing"
if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
  log "cargo build ($PROFILE) --bin portcullis"
  if [[ "$PROFILE" == release ]]; then
    (cd "$ROOT" && cargo build --release --locked --bin portcullis)
  else
    (cd "$ROOT" && cargo build --locked --bin portcullis)
  fi
fi
[[ -x "$BIN" ]] || die "$BIN is not built"

WORK="$(mktemp -d -t portcullis-hostile.XXXXXX)"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

DB="$WORK/hostile.db"
log "starting portcullis (SQLite $DB)"
: >"$WORK/stdout"
PORTCULLIS_LISTEN=127.0.0.1:0 \
PORTCULLIS_DATABASE_URL="sqlite://$DB?mode=rwc" \
PORTCULLIS_SECRET_KEY="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" \
RUST_LOG=warn \
  "$BIN" serve --seed "$BENCH_DIR/seed.toml" >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 300); do
  BASE="$(sed -n 's/^portcullis listening on //p' "$WORK/stdout" | head -1)"
  [[ -n "$BASE" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/stderr" >&2; die "the server exited"; }
  sleep 0.1
done
[[ -n "$BASE" ]] || die "the server did not start"
curl -fsS "$BASE/readyz" >/dev/null || die "not ready"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
db_bytes() { local t=0; for f in "$DB" "$DB-wal" "$DB-shm"; do [[ -f "$f" ]] && t=$((t + $(stat -c %s "$f"))); done; echo "$t"; }

# A public client for the authorize load (registered before the loads: the rate limit is
# per address).
CLIENT_ID="$(curl -fsS -H 'content-type: application/json' \
  -d '{"client_name":"hostile","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}' \
  "$BASE/resources/res_bench/oauth/register" | sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p')"
[[ -n "$CLIENT_ID" ]] || die "registration failed"

cat >"$WORK/token.lua" <<'EOF'
local n = 0
local pad = string.rep("p", 8000)
local grant = string.rep("g", 1000)
request = function()
  n = n + 1
  local body = "grant_type=" .. grant .. "&code=x&code_verifier=y&client_id=https%3A%2F%2Fattacker-"
    .. n .. "-" .. math.random(1, 1000000000) .. ".example%2F" .. pad
  return wrk.format("POST", "/oauth/token", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
EOF
cat >"$WORK/authorize.lua" <<EOF
local state = string.rep("s", 1000)
local nonce = string.rep("n", 500)
request = function()
  return wrk.format("GET", "/resources/res_bench/oauth/authorize?response_type=code&client_id=$CLIENT_ID"
    .. "&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    .. "&code_challenge_method=S256&scope=bench.read&state=" .. state .. "&nonce=" .. nonce)
end
EOF
cat >"$WORK/oversized.lua" <<'EOF'
local big = string.rep("s", 12000)
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/resources/res_bench/oauth/authorize?response_type=code&client_id=x&state=" .. big)
  end
  return wrk.format("GET", "/resources/res_bench/oauth/authorize?response_type=code&client_id=https%3A%2F%2Fattacker-"
    .. n .. "-" .. math.random(1, 1000000000) .. ".example%2Fc&redirect_uri=https%3A%2F%2Fx.example%2Fcb")
end
EOF
cat >"$WORK/register.lua" <<'EOF'
local name = string.rep("r", 50000)
request = function()
  return wrk.format("POST", "/oauth/register", { ["Content-Type"] = "application/json" },
    '{"client_name":"' .. name .. '","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}')
end
EOF

sleep 1
RSS_START="$(rss_kb)"
DB_START="$(db_bytes)"
log "hostile traffic for ${DURATION}s against $BASE"
for load in token authorize oversized register; do
  wrk -t1 -c8 -d"${DURATION}s" --timeout 10s -s "$WORK/$load.lua" "$BASE" >"$WORK/$load.out" 2>&1 &
done
RSS_PEAK="$RSS_START"
for _ in $(seq 1 "$DURATION"); do
  sleep 1
  r="$(rss_kb)"
  (( r > RSS_PEAK )) && RSS_PEAK="$r"
done
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null || true
sleep 1
RSS_END="$(rss_kb)"
(( RSS_END > RSS_PEAK )) && RSS_PEAK="$RSS_END"
curl -fsS "$BASE/readyz" >/dev/null || die "the server is not ready after the load"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || die "the server did not stop cleanly"
SERVER_PID=""
DB_END="$(db_bytes)"
if [[ -n "${BENCH_KEEP_DB:-}" ]]; then cp "$DB" "$BENCH_KEEP_DB"; log "database kept at $BENCH_KEEP_DB"; fi

printf '\n%-10s %12s %10s\n' load requests "req/s"
for load in token authorize oversized register; do
  reqs="$(awk '/requests in/ {print $1}' "$WORK/$load.out")"
  rate="$(awk '/Requests\/sec/ {print $2}' "$WORK/$load.out")"
  printf '%-10s %12s %10s\n' "$load" "${reqs:-?}" "${rate:-?}"
done
growth=$((DB_END - DB_START))
printf '\nRSS: start %d KB, peak %d KB, end %d KB\n' "$RSS_START" "$RSS_PEAK" "$RSS_END"
printf 'database: %d bytes before, %d bytes after a clean stop: growth %d bytes (%.2f MB)\n' \
  "$DB_START" "$DB_END" "$growth" "$(awk -v g="$growth" 'BEGIN { print g / 1048576 }')"
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
printf 'goal: peak RSS < 60 MB ........ %s\n' "$(verdict test "$RSS_PEAK" -lt "$RSS_GOAL_KB")"
printf 'goal: database growth < 5 MB .. %s\n' "$(verdict test "$growth" -lt "$DB_GOAL_BYTES")"
