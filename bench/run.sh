#!/usr/bin/env bash
# bench/run.sh — benchmarks for portcullis (a measurement script, not a test).
#
# Two parts, chosen with BENCH_MODE (all of this on 127.0.0.1 with ports picked at run time):
#
# token — the token endpoint:
#   1. installs wrk (apt-get) and the oidc-provider comparison (npm ci) when missing;
#   2. builds `portcullis` in release mode (skip with BENCH_SKIP_BUILD=1);
#   3. measures single-core `openssl speed` RSA-2048 and ECDSA P-256 sign/s;
#   4. for ALG in RS256 ES256: starts portcullis on a fresh SQLite file seeded from
#      bench/seed.toml, checks one token, warms up 2 s, then runs
#      `wrk -t2 -c2 -d${BENCH_DURATION}s --latency -s bench/cc.lua .../oauth/token`
#      (client_credentials, client_secret_basic) and reads the server's peak RSS (VmHWM);
#   5. does the same against npm oidc-provider (bench/oidc-provider/server.mjs, ES256 JWT
#      access tokens, POST /token);
#   6. prints a summary table and the goals with PASS/FAIL:
#        ES256 req/s >= 1.5 x oidc-provider req/s
#        RS256 req/s >= 0.8 x openssl rsa2048 single-core sign/s
#        peak RSS <= 40 MB for each portcullis run
#
# flow — complete authorization-code flows over HTTP:
#   7. builds the load generator bench/flow (its own cargo package, same CARGO_TARGET_DIR);
#   8. starts portcullis (default signing alg, RS256) with PORTCULLIS_ENABLE_IDP_SIMULATOR=true
#      and bench/seed.toml on a fresh SQLite file, then on a fresh PostgreSQL database
#      (created in BENCH_PG_URL's server and dropped afterwards; skipped with a message when
#      that server does not answer), and runs the generator against each: one DCR public
#      client, BENCH_FLOW_CONCURRENCY browsers (own cookie jars) each looping
#      authorize -> simulator page -> simulator POST -> [consent page -> approve, only the
#      first time per browser: consent is remembered] -> token (authorization_code + PKCE)
#      for 2 s of warm-up plus BENCH_DURATION seconds (see bench/flow/src/main.rs);
#   9. prints flows/s, p50/p99 flow latency, errors and peak RSS per database, and the goal
#        SQLite flows/s >= 300
#
# Exit status: 0 when every server started and every request succeeded, whether or not the
# goals passed; non-zero when a server fails to start, a request or flow fails, or a tool is
# missing.
#
# Environment:
#   BENCH_MODE              all (default), token or flow
#   BENCH_DURATION          measured seconds per run, wrk and flows (default 10)
#   BENCH_FLOW_CONCURRENCY  concurrent browsers in flow mode (default 4)
#   BENCH_PG_URL            PostgreSQL maintenance database for flow mode
#                           (default postgres://postgres@127.0.0.1:5432/postgres)
#   BENCH_SKIP_BUILD=1      do not run cargo; use the existing binaries
#   CARGO_TARGET_DIR        cargo target dir (default <repo>/target); binaries at
#                           $CARGO_TARGET_DIR/release/{portcullis,portcullis-bench-flow}
#
# Usage: bash bench/run.sh   (from any directory)

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${BENCH_DURATION:-10}"
WARMUP=2
CONNECTIONS=2
THREADS=2
READY_TIMEOUT=30
CLIENT_ID="m2m_bench"
RESOURCE_ID="res_bench"                  # portcullis resource id (bench/seed.toml)
RESOURCE_URL="http://127.0.0.1:9/mcp"    # its server_url; oidc-provider's resource indicator
SEED="$BENCH_DIR/seed.toml"
LUA="$BENCH_DIR/cc.lua"
OP_DIR="$BENCH_DIR/oidc-provider"
MODE="${BENCH_MODE:-all}"
FLOW_CONCURRENCY="${BENCH_FLOW_CONCURRENCY:-4}"
FLOW_GOAL=300                            # SQLite flows/s (issue 3)
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# Resolve CARGO_TARGET_DIR against the caller's cwd (as cargo would), then make it absolute.
CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")"
export CARGO_TARGET_DIR
BIN="$CARGO_TARGET_DIR/release/portcullis"
FLOW_BIN="$CARGO_TARGET_DIR/release/portcullis-bench-flow"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be a positive integer (got '$DURATION')"
[[ "$FLOW_CONCURRENCY" =~ ^[1-9][0-9]*$ ]] \
  || die "BENCH_FLOW_CONCURRENCY must be a positive integer (got '$FLOW_CONCURRENCY')"
case "$MODE" in
  all | token | flow) ;;
  *) die "BENCH_MODE must be all, token or flow (got '$MODE')" ;;
esac
want() { [[ "$MODE" == all || "$MODE" == "$1" ]]; }

# --- cleanup -------------------------------------------------------------------------------
TMP="$(mktemp -d -t portcullis-bench.XXXXXX)"
PIDS=()
PG_DB=""                                 # the flow run's PostgreSQL database, dropped at exit
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      # give it 5 s, then SIGKILL
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n "$PG_DB" ]]; then
    timeout 30 psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || printf 'bench: warning: could not drop database %s\n' "$PG_DB" >&2
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_server PID: stop one server now (frees the CPU for the next run).
stop_server() {
  local pid="$1"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# --- helpers -------------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http_200 URL PID LOGFILE: wait up to READY_TIMEOUT s for URL to answer 200 while PID lives.
wait_http_200() {
  local url="$1" pid="$2" logfile="$3" deadline=$((SECONDS + READY_TIMEOUT)) code
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$logfile" >&2 || true
      die "server (pid $pid) exited before $url was ready; log above"
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
    [[ "$code" == 200 ]] && return 0
    sleep 0.2
  done
  tail -n 40 "$logfile" >&2 || true
  die "$url did not return 200 within ${READY_TIMEOUT}s (last status: ${code:-none}); log above"
}

# check_token URL BODY ALG: one request must return 200 with a JWT access token signed ALG.
check_token() {
  local url="$1" body="$2" alg="$3" out code
  out="$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    -H "Authorization: $AUTHORIZATION" --data "$body" "$url")" || die "request to $url failed"
  code="${out##*$'\n'}"
  out="${out%$'\n'*}"
  [[ "$code" == 200 ]] || die "POST $url returned $code: $out"
  python3 - "$alg" "$out" <<'PY' || die "token from $url is not a JWT signed $alg: $out"
import base64, json, sys
alg, body = sys.argv[1], json.loads(sys.argv[2])
token = body["access_token"]
head = token.split(".")[0]
header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
assert token.count(".") == 2, "not a compact JWS"
assert header.get("alg") == alg, f"header alg is {header.get('alg')!r}"
print(f"    token ok: header {json.dumps(header, separators=(',', ':'))}, token_type {body.get('token_type')}", file=sys.stderr)
PY
}

# run_wrk URL BODY OUTFILE: 2 s warm-up then the measured run; fails on any bad response.
run_wrk() {
  local url="$1" body="$2" outfile="$3"
  local -a cmd=(wrk "-t$THREADS" "-c$CONNECTIONS" --latency -s "$LUA")
  log "warm-up ${WARMUP}s: ${cmd[*]} -d${WARMUP}s $url"
  if ! BENCH_BODY="$body" BENCH_AUTHORIZATION="$AUTHORIZATION" \
      timeout $((WARMUP + 30)) "${cmd[@]}" "-d${WARMUP}s" "$url" >"$outfile.warmup" 2>&1; then
    cat "$outfile.warmup" >&2
    die "warm-up against $url failed"
  fi
  log "measure ${DURATION}s: ${cmd[*]} -d${DURATION}s $url"
  if ! BENCH_BODY="$body" BENCH_AUTHORIZATION="$AUTHORIZATION" \
      timeout $((DURATION + 30)) "${cmd[@]}" "-d${DURATION}s" "$url" >"$outfile" 2>&1; then
    cat "$outfile" >&2
    die "wrk run against $url failed (bad responses or socket errors)"
  fi
  sed 's/^/    /' "$outfile" >&2
}

# parse_wrk FILE -> "req_per_s p50_ms p99_ms"
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    /Latency Distribution/ { dist = 1; next }
    dist && $1 == "50%" { p50 = ms($2) }
    dist && $1 == "99%" { p99 = ms($2) }
    END {
      if (rps == "" || p50 == "" || p99 == "") exit 1
      printf "%.1f %.3f %.3f\n", rps, p50, p99
    }' "$1" || die "could not parse wrk output $1"
}

# peak_rss_mb PID -> VmHWM in MiB
peak_rss_mb() {
  awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024; found = 1 } END { if (!found) exit 1 }' "/proc/$1/status" \
    || die "could not read VmHWM of pid $1"
}

# openssl_sign_rate ALG PATTERN -> sign/s (single core: no -multi)
openssl_sign_rate() {
  local out
  out="$(timeout 60 openssl speed -seconds 3 "$1" 2>/dev/null)" || die "openssl speed $1 failed"
  awk -v pat="$2" '$0 ~ pat { print $(NF - 1); found = 1; exit } END { if (!found) exit 1 }' <<<"$out" \
    || die "could not parse openssl speed $1 output"
}

# ge A B FACTOR: true when A >= FACTOR * B
ge() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { exit !(a >= f * b) }'; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }

# --- 1. tools ------------------------------------------------------------------------------
for tool in curl python3 awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if want token; then
  for tool in openssl node npm; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  if ! command -v wrk >/dev/null; then
    log "installing wrk"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y wrk \
      || { timeout 600 apt-get update && timeout 600 apt-get install -y wrk; } \
      || die "could not install wrk"
  fi
  if [[ ! -d "$OP_DIR/node_modules" ]]; then
    log "installing oidc-provider (npm)"
    if [[ -f "$OP_DIR/package-lock.json" ]]; then
      (cd "$OP_DIR" && timeout 600 npm ci --no-audit --no-fund) || die "npm ci failed"
    else
      (cd "$OP_DIR" && timeout 600 npm install --no-audit --no-fund) || die "npm install failed"
    fi
  fi
fi

# --- 2. build ------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
  log "cargo build --release --bin portcullis (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && timeout 3600 cargo build --release --bin portcullis) || die "cargo build failed"
  if want flow; then
    log "cargo build --release --manifest-path bench/flow/Cargo.toml (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$ROOT" && timeout 3600 cargo build --release --manifest-path "$BENCH_DIR/flow/Cargo.toml") \
      || die "cargo build of the flow load generator failed"
  fi
fi
[[ -x "$BIN" ]] || die "portcullis binary not found at $BIN"
if want flow; then
  [[ -x "$FLOW_BIN" ]] || die "flow load generator not found at $FLOW_BIN"
fi

CLIENT_SECRET="$(sed -n 's/^secret[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$SEED" | head -n 1)"
[[ -n "$CLIENT_SECRET" ]] || die "no client secret in $SEED"
AUTHORIZATION="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"

declare -A RPS P50 P99 RSS               # token runs, by server
declare -A FLOWS FP50 FP99 FRSS          # flow runs, by database

# --- 3-5. token endpoint: openssl baseline, portcullis, oidc-provider ----------------------
bench_token() {
  # --- 3. openssl baseline -------------------------------------------------------------------
  log "openssl speed -seconds 3 rsa2048 / ecdsap256 (single core)"
  RSA_SIGN="$(openssl_sign_rate rsa2048 '^rsa 2048 bits')"
  EC_SIGN="$(openssl_sign_rate ecdsap256 'ecdsa \\(nistp256\\)')"
  printf '    openssl rsa2048   sign/s: %s\n    openssl ecdsap256 sign/s: %s\n' "$RSA_SIGN" "$EC_SIGN" >&2

  # --- 4. portcullis -------------------------------------------------------------------------
  for ALG in RS256 ES256; do
    PORT="$(free_port)"
    LOGFILE="$TMP/portcullis-$ALG.log"
    SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    log "portcullis $ALG on 127.0.0.1:$PORT"
    PORTCULLIS_LISTEN="127.0.0.1:$PORT" \
    PORTCULLIS_DATABASE_URL="sqlite://$TMP/bench-$ALG.db?mode=rwc" \
    PORTCULLIS_SECRET_KEY="$SECRET_KEY" \
    PORTCULLIS_SIGNING_ALG="$ALG" \
    RUST_LOG=warn \
      "$BIN" serve --seed "$SEED" >"$LOGFILE" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    wait_http_200 "http://127.0.0.1:$PORT/readyz" "$PID" "$LOGFILE"
    URL="http://127.0.0.1:$PORT/oauth/token"
    BODY="grant_type=client_credentials&resource=$RESOURCE_ID"
    check_token "$URL" "$BODY" "$ALG"
    run_wrk "$URL" "$BODY" "$TMP/wrk-portcullis-$ALG.txt"
    kill -0 "$PID" 2>/dev/null || die "portcullis $ALG exited during the run"
    RSS[portcullis-$ALG]="$(peak_rss_mb "$PID")"
    STATS="$(parse_wrk "$TMP/wrk-portcullis-$ALG.txt")"
    read -r "RPS[portcullis-$ALG]" "P50[portcullis-$ALG]" "P99[portcullis-$ALG]" <<<"$STATS"
    stop_server "$PID"
  done

  # --- 5. oidc-provider ----------------------------------------------------------------------
  PORT="$(free_port)"
  LOGFILE="$TMP/oidc-provider.log"
  log "oidc-provider $(node -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json") (node $(node --version)) on 127.0.0.1:$PORT"
  (cd "$OP_DIR" && NODE_ENV=production BENCH_CLIENT_ID="$CLIENT_ID" BENCH_CLIENT_SECRET="$CLIENT_SECRET" \
    BENCH_RESOURCE="$RESOURCE_URL" exec node server.mjs "$PORT") >"$LOGFILE" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http_200 "http://127.0.0.1:$PORT/.well-known/openid-configuration" "$PID" "$LOGFILE"
  TOKEN_URL="$(curl -s --max-time 5 "http://127.0.0.1:$PORT/.well-known/openid-configuration" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token_endpoint"])')" \
    || die "could not read oidc-provider discovery"
  # scope=bench.read so its JWT carries the scope claim, as portcullis's does for the client's scopes.
  OP_BODY="grant_type=client_credentials&resource=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RESOURCE_URL")&scope=bench.read"
  check_token "$TOKEN_URL" "$OP_BODY" ES256
  run_wrk "$TOKEN_URL" "$OP_BODY" "$TMP/wrk-oidc-provider.txt"
  kill -0 "$PID" 2>/dev/null || die "oidc-provider exited during the run"
  RSS[oidc-provider]="$(peak_rss_mb "$PID")"
  STATS="$(parse_wrk "$TMP/wrk-oidc-provider.txt")"
  read -r "RPS[oidc-provider]" "P50[oidc-provider]" "P99[oidc-provider]" <<<"$STATS"
  stop_server "$PID"

}

# --- 6. token summary ----------------------------------------------------------------------
summary_token() {
  echo
  echo "Token endpoint, client_credentials, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s warm-up), $(nproc) cores"
  printf '%-22s %12s %10s %10s %14s\n' server req/s "p50 ms" "p99 ms" "peak RSS MB"
  for key in portcullis-RS256 portcullis-ES256 oidc-provider; do
    label="$key"
    [[ "$key" == oidc-provider ]] && label="oidc-provider-ES256"
    printf '%-22s %12s %10s %10s %14s\n' "$label" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${RSS[$key]}"
  done
  printf '%-22s %12s\n' "openssl rsa2048 sign/s" "$RSA_SIGN"
  printf '%-22s %12s\n' "openssl p256 sign/s" "$EC_SIGN"

  echo
  echo "Goals (token endpoint)"
  ES_TARGET="$(awk -v b="${RPS[oidc-provider]}" 'BEGIN { printf "%.1f", 1.5 * b }')"
  RS_TARGET="$(awk -v b="$RSA_SIGN" 'BEGIN { printf "%.1f", 0.8 * b }')"
  printf '  %-4s ES256 req/s %s >= 1.5 x oidc-provider %s = %s\n' \
    "$(verdict ge "${RPS[portcullis-ES256]}" "${RPS[oidc-provider]}" 1.5)" \
    "${RPS[portcullis-ES256]}" "${RPS[oidc-provider]}" "$ES_TARGET"
  printf '  %-4s RS256 req/s %s >= 0.8 x openssl rsa2048 sign/s %s = %s\n' \
    "$(verdict ge "${RPS[portcullis-RS256]}" "$RSA_SIGN" 0.8)" "${RPS[portcullis-RS256]}" "$RSA_SIGN" "$RS_TARGET"
  for ALG in RS256 ES256; do
    printf '  %-4s peak RSS portcullis %s %s MB <= 40 MB\n' \
      "$(verdict ge 40 "${RSS[portcullis-$ALG]}" 1)" "$ALG" "${RSS[portcullis-$ALG]}"
  done
}

# --- 7-8. full flows -----------------------------------------------------------------------
# run_flow LABEL DATABASE_URL: portcullis with the simulator on DATABASE_URL, then the
# load generator; fills FLOWS/FP50/FP99/FRSS[LABEL].
run_flow() {
  local label="$1" db_url="$2" port logfile pid out result
  port="$(free_port)"
  logfile="$TMP/portcullis-flow-$label.log"
  log "portcullis (flow, $label) on 127.0.0.1:$port"
  PORTCULLIS_LISTEN="127.0.0.1:$port" \
  PORTCULLIS_DATABASE_URL="$db_url" \
  PORTCULLIS_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" \
  PORTCULLIS_ENABLE_IDP_SIMULATOR=true \
  RUST_LOG=warn \
    "$BIN" serve --seed "$SEED" >"$logfile" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http_200 "http://127.0.0.1:$port/readyz" "$pid" "$logfile"
  out="$TMP/flow-$label.txt"
  log "flows ($label): ${FLOW_CONCURRENCY} browsers, ${WARMUP}s warm-up + ${DURATION}s: $FLOW_BIN http://127.0.0.1:$port"
  if ! BENCH_DURATION="$DURATION" BENCH_WARMUP="$WARMUP" BENCH_CONCURRENCY="$FLOW_CONCURRENCY" \
      timeout $((WARMUP + DURATION + 60)) "$FLOW_BIN" "http://127.0.0.1:$port" >"$out" 2>"$out.log"; then
    sed 's/^/    /' "$out.log" >&2
    tail -n 20 "$logfile" >&2 || true
    die "flow run on $label failed (server log tail above)"
  fi
  sed 's/^/    /' "$out.log" >&2
  kill -0 "$pid" 2>/dev/null || die "portcullis (flow, $label) exited during the run"
  FRSS[$label]="$(peak_rss_mb "$pid")"
  result="$(grep '^RESULT ' "$out")" || die "no RESULT line from the flow generator ($label)"
  FLOWS[$label]="$(sed -n 's/.* flows_per_s=\([^ ]*\).*/\1/p' <<<"$result")"
  FP50[$label]="$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<<"$result")"
  FP99[$label]="$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$result")"
  stop_server "$pid"
}

bench_flow() {
  run_flow sqlite "sqlite://$TMP/bench-flow.db?mode=rwc"
  if ! command -v psql >/dev/null; then
    log "psql not found: skipping the PostgreSQL flow run"
  elif ! timeout 10 psql -q "$PG_URL" -Atc 'SELECT 1' >/dev/null 2>&1; then
    log "PostgreSQL not reachable at $PG_URL: skipping the PostgreSQL flow run"
  else
    PG_DB="portcullis_bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
    log "CREATE DATABASE $PG_DB"
    timeout 30 psql -q "$PG_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null \
      || die "could not create database $PG_DB"
    run_flow postgres "$(python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))' "$PG_URL" "$PG_DB")"
    log "DROP DATABASE $PG_DB"
    timeout 30 psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null \
      || die "could not drop database $PG_DB"
    PG_DB=""
  fi
}

# --- 9. flow summary -----------------------------------------------------------------------
summary_flow() {
  local label
  echo
  echo "Full authorization-code flows (authorize -> simulator -> [consent] -> token), ${FLOW_CONCURRENCY} browsers, ${DURATION}s (after ${WARMUP}s warm-up), $(nproc) cores"
  printf '%-22s %12s %10s %10s %14s\n' database flows/s "p50 ms" "p99 ms" "peak RSS MB"
  for label in sqlite postgres; do
    if [[ -n "${FLOWS[$label]:-}" ]]; then
      printf '%-22s %12s %10s %10s %14s\n' "$label" "${FLOWS[$label]}" "${FP50[$label]}" "${FP99[$label]}" "${FRSS[$label]}"
    else
      printf '%-22s %12s\n' "$label" "skipped"
    fi
  done
  echo
  echo "Goals (full flows)"
  printf '  %-4s SQLite flows/s %s >= %s\n' "$(verdict ge "${FLOWS[sqlite]}" "$FLOW_GOAL" 1)" "${FLOWS[sqlite]}" "$FLOW_GOAL"
}

# --- run -----------------------------------------------------------------------------------
if want token; then bench_token; fi
if want flow; then bench_flow; fi
if want token; then summary_token; fi
if want flow; then summary_flow; fi
