"""One call of Scalekit's official Python SDK (scalekit-sdk-python, pinned in requirements.txt
beside this file), or of FastMCP's ScalekitProvider, against portcullis standing in for Scalekit.

Reads ONE JSON object on stdin and prints ONE JSON object on stdout:
  {"ok": true, "result": <json>}
  {"ok": false, "error_type": "<exception class name>", "error": "<str(e)>"}
An SDK error, the constructor's included, is an `ok: false` answer with exit code 0; a
non-zero exit code is a bug of this driver (or a malformed request).

Input: always `env_url`, `client_id`, `client_secret`, `op`, plus the op's arguments. Every op but
`fastmcp_verify` first constructs `ScalekitClient(env_url, client_id, client_secret)`, which
fetches a client-credentials token from {env_url}/oauth/token at once; the SDK then sends it as
`Authorization: Bearer` on every later REST call (the token endpoint and /keys included).

Ops (the SDK call each makes):
  construct                 -> null
  client_token              generate_client_token(id, secret, scopes=None|list) -> access token str
  validate                  validate_access_token(token, options=TokenValidationOptions|None) -> bool
  claims                    validate_access_token_and_get_claims(token, options=...) -> dict
  authorization_url         get_authorization_url(redirect_uri, AuthorizationUrlOptions) -> str
  authenticate_with_code    authenticate_with_code(code, redirect_uri, CodeAuthenticationOptions)
  refresh                   refresh_access_token(refresh_token)
  logout_url                get_logout_url(LogoutUrlOptions(id_token_hint, post_logout_redirect_uri, state))
  idp_initiated_claims      get_idp_initiated_login_claims(token, options=...) -> dict
  fastmcp_verify            ScalekitProvider(environment_url, resource_id, base_url=mcp_url)
                            .verify_token(token) -> null when refused, else the AccessToken's fields

`validate`, `claims` and `idp_initiated_claims` take optional `issuer` (str or list), `audience`
(list) and `required_scopes` (list); when none is given, options=None is passed, as an app that
sets none would. `authorization_url`'s `options` keys are AuthorizationUrlOptions attributes
(connection_id, organization_id, scopes, state, nonce, domain_hint, login_hint, provider,
prompt); any other key (the Python SDK has no PKCE parameters) is refused as UnsupportedBySdk.
"""

import asyncio
import dataclasses
import enum
import json
import sys

# FastMCP (and maybe others) may log or print: nothing but the one answer goes to stdout.
_STDOUT = sys.stdout
sys.stdout = sys.stderr


class UnsupportedBySdk(Exception):
    """A request this SDK version has no parameter for (reported as ok:false)."""


def to_json(value):
    """Any SDK return value as plain JSON data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "model_dump"):  # pydantic (FastMCP's AccessToken)
        return to_json(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if hasattr(value, "__dict__"):
        return {k: to_json(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def validation_options(req):
    from scalekit.common.scalekit import TokenValidationOptions

    if all(req.get(k) is None for k in ("issuer", "audience", "required_scopes")):
        return None
    return TokenValidationOptions(
        issuer=req.get("issuer"),
        audience=req.get("audience"),
        required_scopes=req.get("required_scopes"),
    )


def run(req):
    op = req["op"]

    if op == "fastmcp_verify":
        from fastmcp.server.auth.providers.scalekit import ScalekitProvider

        provider = ScalekitProvider(
            environment_url=req["env_url"],
            resource_id=req["resource_id"],
            base_url=req["mcp_url"],
            required_scopes=req.get("required_scopes"),
        )
        # RemoteAuthProvider.verify_token delegates to the JWTVerifier ScalekitProvider built:
        # jwks {env}/keys, RS256, issuer in [env, env/resources/<id>], audience resource_id.
        token = asyncio.run(provider.verify_token(req["token"]))
        return None if token is None else to_json(token)

    from scalekit import ScalekitClient
    from scalekit.common.scalekit import (
        AuthorizationUrlOptions,
        CodeAuthenticationOptions,
        LogoutUrlOptions,
    )

    client = ScalekitClient(req["env_url"], req["client_id"], req["client_secret"])

    if op == "construct":
        return None
    if op == "client_token":
        # generate_client_token(client_id, client_secret, scopes: Optional[list[str]] = None):
        # scopes are sent space-joined as `scope` when non-empty.
        return client.generate_client_token(req["id"], req["secret"], req.get("scopes"))
    if op == "validate":
        return client.validate_access_token(req["token"], options=validation_options(req))
    if op == "claims":
        return to_json(
            client.validate_access_token_and_get_claims(req["token"], options=validation_options(req))
        )
    if op == "authorization_url":
        options = AuthorizationUrlOptions()
        known = set(vars(options))
        for key, value in (req.get("options") or {}).items():
            if key not in known:
                raise UnsupportedBySdk(f"AuthorizationUrlOptions has no {key!r}")
            setattr(options, key, value)
        return client.get_authorization_url(req["redirect_uri"], options)
    if op == "authenticate_with_code":
        options = CodeAuthenticationOptions()
        options.code_verifier = req.get("code_verifier")
        return to_json(client.authenticate_with_code(req["code"], req["redirect_uri"], options))
    if op == "refresh":
        return to_json(client.refresh_access_token(req["refresh_token"]))
    if op == "logout_url":
        return client.get_logout_url(
            LogoutUrlOptions(
                id_token_hint=req.get("id_token_hint"),
                post_logout_redirect_uri=req.get("post_logout_redirect_uri"),
                state=req.get("state"),
            )
        )
    if op == "idp_initiated_claims":
        return to_json(
            client.get_idp_initiated_login_claims(req["token"], options=validation_options(req))
        )
    raise SystemExit(f"sdk.py: unknown op {op!r}")


def main():
    req = json.load(sys.stdin)
    if not isinstance(req, dict) or "op" not in req:
        raise SystemExit("sdk.py: stdin must be one JSON object with an `op`")
    try:
        answer = {"ok": True, "result": run(req)}
    except (SystemExit, KeyboardInterrupt):
        raise
    except KeyError as e:
        # A missing argument in the request is a caller/driver bug, not an SDK answer... unless
        # the SDK raised it (e.g. a response without refresh_token): tell them apart by origin.
        if _raised_in_driver(e):
            raise
        answer = _error(e)
    except Exception as e:  # noqa: BLE001 - every SDK error is an answer
        answer = _error(e)
    _STDOUT.write(json.dumps(answer) + "\n")
    _STDOUT.flush()


def _raised_in_driver(e):
    tb = e.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename == __file__


def _error(e):
    # No status field: the SDK's ScalekitServerException.http_status comes from the HTTP reason
    # phrase ("Bad Request".upper() is no key of its table, so a 400 reads 500); the exception
    # class (ScalekitBadRequestException, ScalekitUnauthorizedException, ...) follows the status
    # code, and str(e) carries the response body under "Error Details".
    return {"ok": False, "error_type": type(e).__name__, "error": str(e)}


if __name__ == "__main__":
    main()
