"""The official Python MCP client (PyPI `mcp`, pinned in requirements.txt) against a
portcullis-protected MCP server. The person at the browser is played by `redirect_handler`,
which drives portcullis's pages over HTTP with a `requests` session (cookie jar): the
work-email form, the IdP simulator, consent (approve), by their stable field names;
`callback_handler` hands the SDK the redirect's `code`, `state` and `iss`, which it checks
strictly (state, RFC 9207 `iss` against the metadata issuer, which must be the PRM's
authorization server; the PRM resource must match the server URL).

    python mcp_py_client.py --server http://127.0.0.1:PORT/mcp --email bob@example.com \
        [--groups eng] [--callback-port 33419] [--create] [--refresh]

Scenario: connect (401 → discovery → DCR → authorization → token), list tools, call
list_tickets; with --create, call create_ticket (a 403 insufficient_scope makes the SDK
re-authorize for the union of the granted and challenged scopes; the browser session is
reused). Prints one JSON summary on stdout; exit 0 when the scenario ran to its end.
"""

import argparse
import asyncio
import html
import importlib.metadata
import json
import re
import sys
import traceback
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
import requests
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


def log(*m):
    print("[mcp-py]", *m, file=sys.stderr, flush=True)


def hidden(page, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not m:
        raise RuntimeError(f"no field {name} in page: {page[:2000]}")
    return html.unescape(m.group(1))


def form_action(page, url):
    m = re.search(r'<form[^>]*method="post"[^>]*action="([^"]*)"', page, re.I)
    if not m:
        raise RuntimeError(f"no POST form in page {url}: {page[:2000]}")
    return urljoin(url, html.unescape(m.group(1)))


def drive_pages(browser, authorization_url, redirect_url, who):
    """Follows portcullis's pages until the redirect to `redirect_url`; returns its query."""
    seen = []
    url = authorization_url
    res = browser.get(url, allow_redirects=False)
    for _ in range(12):
        seen.append(f"{res.status_code} {urlparse(url).path}")
        if 300 <= res.status_code < 400:
            nxt = urljoin(url, res.headers["location"])
            if nxt.startswith(redirect_url):
                q = {k: v[0] for k, v in parse_qs(urlparse(nxt).query).items()}
                return q, seen
            url = nxt
            res = browser.get(url, allow_redirects=False)
            continue
        if res.status_code != 200:
            raise RuntimeError(f"page {url} answered {res.status_code}: {res.text[:2000]}")
        page = res.text
        path = urlparse(url).path
        action = form_action(page, url)
        if path == "/sso/v1/login":
            fields = {"request": hidden(page, "request"), "csrf": hidden(page, "csrf"), "email": who["email"]}
        elif path.startswith("/sso/v1/simulator/"):
            fields = {
                "request": hidden(page, "request"),
                "csrf": hidden(page, "csrf"),
                "email": who["email"],
                "name": who["name"],
                "groups": who["groups"],
            }
        elif path == "/oauth/consent":
            fields = {"request": hidden(page, "request"), "csrf": hidden(page, "csrf"), "decision": "approve"}
        else:
            raise RuntimeError(f"unexpected page {url}: {page[:2000]}")
        url = action
        res = browser.post(action, data=fields, allow_redirects=False)
    raise RuntimeError(f"too many pages: {' → '.join(seen)}")


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None
        self.token_history = []

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken):
        self.tokens = tokens
        self.token_history.append({"scope": tokens.scope, "has_refresh_token": tokens.refresh_token is not None})

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull):
        self.client_info = client_info


def describe(e):
    return {"name": type(e).__name__, "message": str(e)}


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--groups", default="")
    p.add_argument("--name", default="Test Person")
    p.add_argument("--callback-port", default="33419")
    p.add_argument("--create", action="store_true")
    p.add_argument("--refresh", action="store_true")
    args = p.parse_args()

    redirect_url = f"http://127.0.0.1:{args.callback_port}/callback"
    who = {"email": args.email, "name": args.name, "groups": args.groups}
    browser = requests.Session()
    storage = MemoryStorage()
    authorizations = []
    pending = {}

    async def redirect_handler(authorization_url: str) -> None:
        q = {k: v[0] for k, v in parse_qs(urlparse(authorization_url).query).items()}
        record = {
            "endpoint": authorization_url.split("?", 1)[0],
            "scope": q.get("scope"),
            "resource": q.get("resource"),
            "client_id": q.get("client_id"),
            "code_challenge_method": q.get("code_challenge_method"),
            "has_state": "state" in q,
        }
        authorizations.append(record)
        log("driving", authorization_url, "as", who["email"])
        callback, pages = drive_pages(browser, authorization_url, redirect_url, who)
        record["pages"] = pages
        record["callback"] = {
            "has_code": "code" in callback,
            "error": callback.get("error"),
            "iss": callback.get("iss"),
            "state_echoed": callback.get("state") == q.get("state"),
        }
        pending.clear()
        pending.update(callback)

    async def callback_handler() -> AuthorizationCodeResult:
        callback = dict(pending)
        pending.clear()
        if "code" not in callback:
            raise RuntimeError(
                f"authorization ended with error={callback.get('error')}: {callback.get('error_description')}"
            )
        return AuthorizationCodeResult(code=callback["code"], state=callback.get("state"), iss=callback.get("iss"))

    provider = OAuthClientProvider(
        server_url=args.server,
        client_metadata=OAuthClientMetadata(
            client_name="MCP Python SDK (portcullis e2e)",
            redirect_uris=[redirect_url],
            grant_types=["authorization_code", "refresh_token"] if args.refresh else ["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    summary = {"sdk_version": importlib.metadata.version("mcp"), "email": args.email, "groups": args.groups}
    code = 0
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=30.0) as http:
            async with Client(streamable_http_client(args.server, http_client=http)) as client:
                summary["protocol_version"] = client.session.protocol_version
                tools = await client.list_tools()
                summary["tools"] = sorted(t.name for t in tools.tools)

                listed = await client.call_tool("list_tickets", {})
                summary["list_tickets"] = {
                    "ok": not listed.is_error,
                    "ids": [t["id"] for t in (listed.structured_content or {}).get("tickets", [])],
                    "content": None if not listed.is_error else [c.model_dump() for c in listed.content],
                }

                if args.create:
                    before = len(authorizations)
                    try:
                        created = await client.call_tool(
                            "create_ticket",
                            {"title": f"Printer on fire ({args.email})", "description": "from the MCP Python SDK"},
                        )
                        summary["create_ticket"] = {
                            "ok": not created.is_error,
                            "ticket": created.structured_content,
                            "content": [c.model_dump() for c in created.content] if created.is_error else None,
                        }
                    except Exception as e:  # noqa: BLE001 - reported in the summary
                        summary["create_ticket"] = {"ok": False, "error": describe(e)}
                    summary["create_ticket"]["authorizations_started"] = len(authorizations) - before
    except BaseException as e:  # noqa: BLE001 - reported in the summary
        summary["fatal"] = describe(e)
        summary["fatal"]["traceback"] = traceback.format_exc()
        code = 1
    finally:
        summary["client_id"] = storage.client_info.client_id if storage.client_info else None
        summary["authorizations"] = authorizations
        summary["tokens"] = storage.token_history
    print(json.dumps(summary, default=str), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
