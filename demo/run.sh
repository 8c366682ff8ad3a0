#!/usr/bin/env bash
# Starts portcullis (dev mode: SQLite, dev seed, IdP simulator) and the demo tickets MCP
# server together, for a person to try with an MCP client. Ctrl-C stops both.
#   portcullis   http://127.0.0.1:8080   (credentials printed below)
#   tickets-mcp  http://127.0.0.1:8081/mcp
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build -p portcullis -p tickets-mcp
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
"$BIN/portcullis" serve --dev &
AS=$!
trap 'kill $AS $MCP 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN/tickets-mcp" --issuer http://127.0.0.1:8080/resources/res_tickets --resource http://127.0.0.1:8081/mcp --listen 127.0.0.1:8081 &
MCP=$!
echo
echo "MCP server: http://127.0.0.1:8081/mcp  (sign in through the IdP simulator as you@example.com;"
echo "            add group jira-admins to be allowed create/update/close)"
wait
