"""One-shot driver for the official Python MCP SDK (PyPI `mcp`, pinned in requirements.txt) and
its enterprise OAuth providers:

  mode "xaa"              IdentityAssertionOAuthProvider (SEP-990: the ID-JAG, obtained here by
                          RFC 8693 token exchange of an ID token at the IdP, presented to the AS
                          with the RFC 7523 jwt-bearer grant; client_secret_post)
  mode "private_key_jwt"  PrivateKeyJWTOAuthProvider (client_credentials with an SDK-signed
                          RFC 7523 client assertion)

Reads ONE JSON object on stdin:
  {mode, mcp_url, as_issuer, tool, scope?,
   client_id, client_secret, idp_token_endpoint, idp_client_id, id_token   (xaa)
   client_id, private_key_pem, alg                                          (private_key_jwt)}
connects to mcp_url, lists the tools, calls `tool` with no arguments, closes, and prints ONE
JSON object on stdout:
  {"ok": true, "tools": [sorted names], "result": <CallToolResult>}  or  {"ok": false, "error": "..."}
Exit status 0 either way; 2 for unusable input (a harness bug). SDK logs and warnings go to
stderr.

    tests/peers/.venv/bin/python tests/peers/mcp_py_enterprise.py < input.json
"""

import json
import logging
import sys
import traceback

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.types import PaginatedRequestParams

TIMEOUT_S = 60

# stdout carries exactly one JSON object: anything else goes to stderr.
STDOUT = sys.stdout
sys.stdout = sys.stderr
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="[mcp-py-enterprise] %(name)s %(levelname)s %(message)s")


def log(*m):
    print("[mcp-py-enterprise]", *m, file=sys.stderr, flush=True)


class InputError(Exception):
    pass


class MemoryStorage:
    """In-memory TokenStorage."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull):
        self.client_info = client_info


def need(inp, *fields):
    for f in fields:
        if not isinstance(inp.get(f), str) or not inp[f]:
            raise InputError(f'input field "{f}" is missing')


def make_provider(inp):
    need(inp, "mode", "mcp_url", "as_issuer", "tool", "client_id")
    scope = inp.get("scope") or None
    if inp["mode"] == "xaa":
        need(inp, "client_secret", "idp_token_endpoint", "idp_client_id", "id_token")

        async def fetch_id_jag(audience: str, resource: str) -> str:
            # RFC 8693 token exchange at the IdP: ID token -> ID-JAG. The simulator IdP's client is
            # public: client_id only, no secret.
            log(f"ID-JAG request: audience={audience} resource={resource} scope={scope or ''}")
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "subject_token": inp["id_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                "audience": audience,
                "resource": resource,
                "client_id": inp["idp_client_id"],
            }
            if scope:
                form["scope"] = scope
            async with httpx2.AsyncClient(timeout=30.0) as idp:
                r = await idp.post(inp["idp_token_endpoint"], data=form)
            if r.status_code != 200:
                raise RuntimeError(f"IdP token exchange failed ({r.status_code}): {r.text}")
            body = r.json()
            if body.get("issued_token_type") != "urn:ietf:params:oauth:token-type:id-jag":
                raise RuntimeError(f"IdP token exchange: issued_token_type is {body.get('issued_token_type')!r}")
            return body["access_token"]

        return IdentityAssertionOAuthProvider(
            server_url=inp["mcp_url"],
            storage=MemoryStorage(),
            client_id=inp["client_id"],
            client_secret=inp["client_secret"],
            issuer=inp["as_issuer"],
            assertion_provider=fetch_id_jag,
            scope=scope,
            token_endpoint_auth_method="client_secret_post",
        )
    if inp["mode"] == "private_key_jwt":
        need(inp, "private_key_pem", "alg")
        return PrivateKeyJWTOAuthProvider(
            server_url=inp["mcp_url"],
            storage=MemoryStorage(),
            client_id=inp["client_id"],
            assertion_provider=SignedJWTParameters(
                issuer=inp["client_id"],
                subject=inp["client_id"],
                signing_key=inp["private_key_pem"],
                signing_algorithm=inp["alg"],
            ).create_assertion_provider(),
            scope=scope,
            issuer=inp["as_issuer"],
        )
    raise InputError(f'unknown mode {json.dumps(inp["mode"])} (expected "xaa" or "private_key_jwt")')


async def run(inp):
    provider = make_provider(inp)
    with anyio.fail_after(TIMEOUT_S):
        async with httpx2.AsyncClient(auth=provider, timeout=30.0) as http:
            async with streamable_http_client(inp["mcp_url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools, cursor = [], None
                    while True:
                        page = await session.list_tools(
                            params=None if cursor is None else PaginatedRequestParams(cursor=cursor)
                        )
                        tools += [t.name for t in page.tools]
                        cursor = page.next_cursor
                        if not cursor:
                            break
                    result = await session.call_tool(inp["tool"], {})
                    return {
                        "ok": True,
                        "tools": sorted(tools),
                        "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                    }


def leaves(e):
    """The innermost exceptions of (nested) exception groups, as anyio task groups raise them."""
    if isinstance(e, BaseExceptionGroup):
        return [x for sub in e.exceptions for x in leaves(sub)]
    return [e]


def describe(e):
    msgs = []
    for x in leaves(e):
        if isinstance(x, TimeoutError):
            m = f"timed out after {TIMEOUT_S} s"
        else:
            m = f"{type(x).__name__}: {x}"
            cause = x.__cause__
            if cause is not None and (type(cause).__name__, str(cause)) != (type(x).__name__, str(x)):
                m += f": caused by: {type(cause).__name__}: {cause}"
        if m not in msgs:
            msgs.append(m)
    return "; ".join(msgs)


def main():
    try:
        inp = json.loads(sys.stdin.read())
        if not isinstance(inp, dict):
            raise InputError("stdin is not a JSON object")
        out, code = anyio.run(run, inp), 0
    except BaseException as e:  # noqa: BLE001 - reported on stdout
        bad = [x for x in leaves(e) if isinstance(x, (InputError, json.JSONDecodeError))]
        if bad:
            out, code = {"ok": False, "error": f"bad input: {bad[0]}"}, 2
        elif isinstance(e, KeyboardInterrupt):
            raise
        else:
            traceback.print_exception(e, file=sys.stderr)
            out, code = {"ok": False, "error": describe(e)}, 0
    STDOUT.write(json.dumps(out) + "\n")
    STDOUT.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
