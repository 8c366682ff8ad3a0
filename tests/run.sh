#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned test peers (PyJWT, PyYAML,
# Authlib, mcp in tests/peers/.venv; npm oidc-provider with Node 22 from npm (its supported
# runtime) in tests/peers/oidc-provider; npm saml-idp
# in tests/peers/saml-idp; npm
# @modelcontextprotocol/sdk in tests/peers/mcp-ts; npm @modelcontextprotocol/client (the v2 SDK:
# its Cross-App Access and private_key_jwt providers) in tests/peers/mcp-ts2, run on the Node in
# PATH; npm @modelcontextprotocol/conformance with
# Node 22 from npm in tests/peers/conformance; Scalekit's official SDKs, scalekit-sdk-python with
# fastmcp in tests/peers/scalekit/.venv and npm @scalekit-sdk/node in tests/peers/scalekit-node,
# run on the Node in PATH), builds the demo MCP server, runs every unit
# and integration test on SQLite, the store contract tests on PostgreSQL too, and the
# storage-touching integration tests (the `storage::` modules, listed in tests/it/main.rs)
# again on PostgreSQL.
#
# PostgreSQL: PORTCULLIS_TEST_POSTGRES_URL (a server where `postgres` may CREATE DATABASE);
# when unset, postgres://postgres@127.0.0.1:5432/postgres is used if it answers. Under CI
# (CI=true) a missing PostgreSQL is an error.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- test peers (pinned) -------------------------------------------------------------------
VENV="$ROOT/tests/peers/.venv"
STAMP="$VENV/.requirements"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$ROOT/tests/peers/requirements.txt" "$STAMP"; then
  echo "==> installing test peers into tests/peers/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tests/peers/requirements.txt"
  cp "$ROOT/tests/peers/requirements.txt" "$STAMP"
fi
export PORTCULLIS_TEST_PYTHON="$VENV/bin/python"

# --- oidc-provider and Node 22 (npm, pinned by its package-lock.json): the upstream OpenID provider
IDP="$ROOT/tests/peers/oidc-provider"
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "tests/run.sh: node and npm are needed (the upstream OIDC IdP is npm oidc-provider)" >&2; exit 1; }
if [[ ! -d "$IDP/node_modules/oidc-provider" ]] || ! cmp -s "$IDP/package-lock.json" "$IDP/node_modules/.lock-stamp"; then
  echo "==> installing oidc-provider into tests/peers/oidc-provider/node_modules"
  npm ci --prefix "$IDP" --no-audit --no-fund --loglevel=error
  cp "$IDP/package-lock.json" "$IDP/node_modules/.lock-stamp"
fi

# --- saml-idp (npm, pinned by its package-lock.json, with an `overrides` entry pinning `samlp`
# to 7.1.1: as published, a dependency points at a git host that may be unreachable):
# the upstream SAML IdP (tests/it/saml.rs)
SAMLIDP="$ROOT/tests/peers/saml-idp"
if [[ ! -d "$SAMLIDP/node_modules/saml-idp" ]] || ! cmp -s "$SAMLIDP/package-lock.json" "$SAMLIDP/node_modules/.lock-stamp"; then
  echo "==> installing saml-idp into tests/peers/saml-idp/node_modules"
  npm ci --prefix "$SAMLIDP" --no-audit --no-fund --loglevel=error
  cp "$SAMLIDP/package-lock.json" "$SAMLIDP/node_modules/.lock-stamp"
fi
command -v xmlsec1 >/dev/null && command -v openssl >/dev/null \
  || { echo "tests/run.sh: xmlsec1 and openssl are needed (they sign the SAML attack fixtures)" >&2; exit 1; }

# --- MCP TypeScript SDK (npm @modelcontextprotocol/sdk, pinned by its package-lock.json) ------
MCPTS="$ROOT/tests/peers/mcp-ts"
if [[ ! -d "$MCPTS/node_modules/@modelcontextprotocol/sdk" ]] || ! cmp -s "$MCPTS/package-lock.json" "$MCPTS/node_modules/.lock-stamp"; then
  echo "==> installing @modelcontextprotocol/sdk into tests/peers/mcp-ts/node_modules"
  npm ci --prefix "$MCPTS" --no-audit --no-fund --loglevel=error
  cp "$MCPTS/package-lock.json" "$MCPTS/node_modules/.lock-stamp"
fi

# --- MCP TypeScript SDK v2 client (npm @modelcontextprotocol/client, pinned by its
# package-lock.json): its enterprise providers (Cross-App Access / ID-JAG, private_key_jwt), driven
# one-shot through tests/peers/mcp-ts2/enterprise.mjs on the Node in PATH (the package needs >= 20)
MCPTS2="$ROOT/tests/peers/mcp-ts2"
if [[ ! -d "$MCPTS2/node_modules/@modelcontextprotocol/client" ]] || ! cmp -s "$MCPTS2/package-lock.json" "$MCPTS2/node_modules/.lock-stamp"; then
  echo "==> installing @modelcontextprotocol/client into tests/peers/mcp-ts2/node_modules"
  npm ci --prefix "$MCPTS2" --no-audit --no-fund --loglevel=error
  cp "$MCPTS2/package-lock.json" "$MCPTS2/node_modules/.lock-stamp"
fi

# --- MCP conformance suite (npm @modelcontextprotocol/conformance, a 0.2.0 alpha, and Node 22 from
# npm `node`; pinned by its package-lock.json): its authorization-server tests
# (tests/it/conformance.rs)
CONF="$ROOT/tests/peers/conformance"
if [[ ! -d "$CONF/node_modules/@modelcontextprotocol/conformance" ]] || ! cmp -s "$CONF/package-lock.json" "$CONF/node_modules/.lock-stamp"; then
  echo "==> installing @modelcontextprotocol/conformance and node 22 into tests/peers/conformance/node_modules"
  npm ci --prefix "$CONF" --no-audit --no-fund --loglevel=error
  cp "$CONF/package-lock.json" "$CONF/node_modules/.lock-stamp"
fi

# --- Scalekit's official SDKs, which the tests drive against portcullis standing in for Scalekit:
# scalekit-sdk-python and fastmcp (its ScalekitProvider) in their own venv, pinned by
# tests/peers/scalekit/requirements.txt, driven through tests/peers/scalekit/sdk.py; npm
# @scalekit-sdk/node, pinned by its package-lock.json, driven through
# tests/peers/scalekit-node/sdk.mjs on the Node in PATH, which must load ES modules with
# require() (Node >= 20.19 or >= 22.12: the SDK, CommonJS, requires jose 6, ES modules only)
SKVENV="$ROOT/tests/peers/scalekit/.venv"
SKSTAMP="$SKVENV/.requirements"
if [[ ! -x "$SKVENV/bin/python" ]] || ! cmp -s "$ROOT/tests/peers/scalekit/requirements.txt" "$SKSTAMP"; then
  echo "==> installing scalekit-sdk-python and fastmcp into tests/peers/scalekit/.venv"
  python3 -m venv "$SKVENV"
  "$SKVENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tests/peers/scalekit/requirements.txt"
  cp "$ROOT/tests/peers/scalekit/requirements.txt" "$SKSTAMP"
fi
export PORTCULLIS_TEST_SCALEKIT_PYTHON="$SKVENV/bin/python"
SKNODE="$ROOT/tests/peers/scalekit-node"
if [[ ! -d "$SKNODE/node_modules/@scalekit-sdk/node" ]] || ! cmp -s "$SKNODE/package-lock.json" "$SKNODE/node_modules/.lock-stamp"; then
  echo "==> installing @scalekit-sdk/node into tests/peers/scalekit-node/node_modules"
  npm ci --prefix "$SKNODE" --no-audit --no-fund --loglevel=error
  cp "$SKNODE/package-lock.json" "$SKNODE/node_modules/.lock-stamp"
fi
[[ "$(node -p 'process.features.require_module === true')" == "true" ]] \
  || { echo "tests/run.sh: the Node in PATH ($(node --version)) cannot require() ES modules, which @scalekit-sdk/node needs (Node >= 20.19 or >= 22.12)" >&2; exit 1; }

# --- the demo MCP server binary, for the end-to-end MCP client tests (tests/it/mcp_e2e.rs) ---
# `cargo test --workspace` builds it too; built here so that the PostgreSQL run below, or a
# `cargo test --test it` started after this script, never meets a missing or stale binary.
echo "==> cargo build -p tickets-mcp"
cargo build --locked -p tickets-mcp

# --- PostgreSQL ------------------------------------------------------------------------------
if [[ -z "${PORTCULLIS_TEST_POSTGRES_URL:-}" ]]; then
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    # Loopback: no TLS (sslmode=prefer would negotiate it for every connection the tests
    # open, which nearly doubles the PostgreSQL run).
    export PORTCULLIS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  elif [[ "${CI:-}" == "true" ]]; then
    echo "tests/run.sh: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
    exit 1
  else
    echo "==> WARNING: no PostgreSQL on 127.0.0.1:5432 and PORTCULLIS_TEST_POSTGRES_URL unset:" >&2
    echo "==>          the PostgreSQL variant of the tests is NOT run" >&2
  fi
fi

echo "==> cargo test --workspace (SQLite; store contract tests also on PostgreSQL when configured; the demo MCP server)"
cargo test --locked --workspace

if [[ -n "${PORTCULLIS_TEST_POSTGRES_URL:-}" ]]; then
  # Each test drops its database at its end (tests/it/support/db.rs).
  # --workspace: the features the run above resolved, so nothing is compiled again.
  echo "==> cargo test --test it -- storage:: (the storage-touching integration tests on PostgreSQL)"
  PORTCULLIS_TEST_BACKEND=postgres cargo test --locked --workspace --test it -- storage::
fi
