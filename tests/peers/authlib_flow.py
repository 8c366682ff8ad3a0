"""Drive portcullis's authorization code flow with Authlib, an OAuth client library
written independently of portcullis, the way an MCP client would:

  per-resource AS metadata (RFC 8414) -> dynamic registration (RFC 7591)
  -> authorization request with PKCE S256 and `resource` (RFC 8707)
  -> IdP simulator login and consent (the pages, by their stable field names)
  -> callback checked for `state` (Authlib) and `iss` (RFC 9207)
  -> token request (Authlib) -> refresh (Authlib) -> access token verified with PyJWT.

usage: python authlib_flow.py <base_url> <resource_id> <email> <groups>
Prints a JSON summary; exits 1 with the reason otherwise.
"""
import json
import re
import sys
from urllib.parse import parse_qs, urlparse

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

REDIRECT_URI = "http://127.0.0.1:9/callback"


def hidden(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    if not m:
        raise SystemExit(f"no hidden field {name} in page: {html[:500]}")
    return m.group(1)


def main():
    base, resource_id, email, groups = sys.argv[1:5]
    browser = requests.Session()
    meta = browser.get(f"{base}/.well-known/oauth-authorization-server/resources/{resource_id}").json()
    issuer = meta["issuer"]
    assert "S256" in meta["code_challenge_methods_supported"]

    reg = browser.post(meta["registration_endpoint"], json={
        "client_name": "Authlib test client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
    reg.raise_for_status()
    client_id = reg.json()["client_id"]

    client = OAuth2Session(client_id, redirect_uri=REDIRECT_URI, scope="tickets.read tickets.manage",
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                 login_hint=email)

    r = browser.get(url, allow_redirects=False)
    sim = r.headers["Location"]
    page = browser.get(base + sim).text
    r = browser.post(base + sim.split("?")[0], data={
        "request": hidden(page, "request"), "csrf": hidden(page, "csrf"),
        "email": email, "name": "Authlib User", "groups": groups,
    }, allow_redirects=False)
    consent_url = r.headers["Location"]
    page = browser.get(base + consent_url).text
    r = browser.post(base + "/oauth/consent", data={
        "request": hidden(page, "request"), "csrf": hidden(page, "csrf"), "decision": "approve",
    }, allow_redirects=False)
    callback = r.headers["Location"]
    params = parse_qs(urlparse(callback).query)
    if params.get("iss") != [issuer]:
        raise SystemExit(f"RFC 9207: iss {params.get('iss')} != metadata issuer {issuer}")

    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])

    jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False)
    claims = jwt.decode(token["access_token"], jwks.get_signing_key_from_jwt(token["access_token"]).key,
                        algorithms=["RS256", "ES256", "EdDSA"], issuer=issuer, audience=resource_id, leeway=0)
    print(json.dumps({
        "client_id": client_id, "state_checked": state is not None, "issuer": issuer,
        "scope": token.get("scope"), "claims": claims,
        "refreshed_scope": refreshed.get("scope"),
        "rotated": refreshed["refresh_token"] != token["refresh_token"],
    }))


if __name__ == "__main__":
    main()
