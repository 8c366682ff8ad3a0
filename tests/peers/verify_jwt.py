"""Verify a JWT access token with PyJWT, an implementation independent of portcullis.

usage: JWT=<token> python verify_jwt.py <jwks_url> <issuer> <audience>
Prints the verified claims as JSON; exits 1 with PyJWT's error otherwise.
"""
import json
import os
import sys

import jwt

jwks_url, issuer, audience = sys.argv[1:4]
token = os.environ["JWT"]
try:
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256", "EdDSA"],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
        leeway=0,
    )
except Exception as e:  # noqa: BLE001 - report any verification failure
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"header": header, "claims": claims}))
