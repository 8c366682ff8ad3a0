// One call of Scalekit's official Node SDK (npm @scalekit-sdk/node, pinned by package-lock.json
// beside this file) against portcullis standing in for Scalekit: the Node twin of
// tests/peers/scalekit/sdk.py, with the same protocol.
//
// Reads ONE JSON object on stdin and prints ONE JSON object on stdout:
//   {"ok": true, "result": <json>}
//   {"ok": false, "error_type": "<error class name>", "error": "<message>"[, "details": <json>]}
// `details` is the HTTP response body when the SDK has it (a ScalekitServerException's
// errDetails, or an AxiosError's response.data: authenticateWithCode lets axios errors through).
// An SDK error is an `ok: false` answer with exit code 0; a non-zero exit code is a bug of this
// driver (or a malformed request).
//
// Input: always `env_url`, `client_id`, `client_secret`, `op`, plus the op's arguments. Every op
// constructs `new ScalekitClient(env_url, client_id, client_secret)`; the constructor makes no
// request (the SDK fetches its own client token only when a gRPC call needs one, so no request of
// these ops carries an Authorization header: the token endpoint is called with skipAuth).
//
// Ops (the SDK call each makes):
//   construct               the constructor, then getClientAccessToken() to force a token fetch
//                           with its own credentials -> null
//   client_token            generateClientToken(id, secret) -> access token string (the Node SDK
//                           has no scopes parameter: non-empty `scopes` is refused as
//                           UnsupportedBySdk)
//   validate                validateToken(token, {issuer, audience, requiredScopes}) -> true; a
//                           refusal answers ok:true, result false, with `validation_error` (its
//                           message) and `validation_error_type` beside it
//   claims                  validateToken(token, options) -> the payload
//   authorization_url       getAuthorizationUrl(redirect_uri, options) -> string; `options` keys in
//                           snake_case (as for sdk.py) or camelCase: connection_id, organization_id,
//                           scopes, state, nonce, domain_hint, login_hint, code_challenge,
//                           code_challenge_method, provider, prompt; any other is UnsupportedBySdk
//   authenticate_with_code  authenticateWithCode(code, redirect_uri, {codeVerifier}?) ->
//                           {user, idToken, accessToken, expiresIn, refreshToken}
//   refresh                 refreshAccessToken(refresh_token) -> {accessToken, refreshToken}
//   logout_url              getLogoutUrl({idTokenHint, postLogoutRedirectUri, state}) -> string
//   idp_initiated_claims    getIdpInitiatedLoginClaims(token, options) -> the payload
// `validate`, `claims` and `idp_initiated_claims` take optional `issuer` (string), `audience`
// (array) and `required_scopes` (array); when none is given, no options object is passed.

import sdk from '@scalekit-sdk/node';

const { ScalekitClient } = sdk;

// Nothing but the one answer goes to stdout.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

class UnsupportedBySdk extends Error {}
class DriverError extends Error {}

const AUTH_URL_OPTIONS = [
  'connectionId',
  'organizationId',
  'scopes',
  'state',
  'nonce',
  'domainHint',
  'loginHint',
  'codeChallenge',
  'codeChallengeMethod',
  'provider',
  'prompt',
];

const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function need(req, key) {
  if (req[key] === undefined || req[key] === null) throw new DriverError(`missing argument ${key}`);
  return req[key];
}

function validationOptions(req) {
  const options = {};
  if (req.issuer != null) options.issuer = req.issuer;
  if (req.audience != null) options.audience = req.audience;
  if (req.required_scopes != null) options.requiredScopes = req.required_scopes;
  return Object.keys(options).length ? options : undefined;
}

function toJson(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value ?? null));
}

async function run(req) {
  const client = new ScalekitClient(need(req, 'env_url'), need(req, 'client_id'), need(req, 'client_secret'));
  switch (req.op) {
    case 'construct':
      await client.getClientAccessToken();
      return null;
    case 'client_token':
      if (Array.isArray(req.scopes) && req.scopes.length) {
        throw new UnsupportedBySdk('generateClientToken(clientId, clientSecret) takes no scopes');
      }
      return client.generateClientToken(need(req, 'id'), need(req, 'secret'));
    case 'validate':
      try {
        await client.validateToken(need(req, 'token'), validationOptions(req));
        return true;
      } catch (err) {
        return { __validate_refused: err };
      }
    case 'claims':
      return toJson(await client.validateToken(need(req, 'token'), validationOptions(req)));
    case 'authorization_url': {
      const options = {};
      for (const [key, value] of Object.entries(req.options ?? {})) {
        const name = camel(key);
        if (!AUTH_URL_OPTIONS.includes(name)) throw new UnsupportedBySdk(`AuthorizationUrlOptions has no ${key}`);
        options[name] = value;
      }
      return client.getAuthorizationUrl(need(req, 'redirect_uri'), options);
    }
    case 'authenticate_with_code':
      return toJson(
        await client.authenticateWithCode(
          need(req, 'code'),
          need(req, 'redirect_uri'),
          req.code_verifier != null ? { codeVerifier: req.code_verifier } : undefined,
        ),
      );
    case 'refresh':
      return toJson(await client.refreshAccessToken(need(req, 'refresh_token')));
    case 'logout_url': {
      const options = {};
      if (req.id_token_hint != null) options.idTokenHint = req.id_token_hint;
      if (req.post_logout_redirect_uri != null) options.postLogoutRedirectUri = req.post_logout_redirect_uri;
      if (req.state != null) options.state = req.state;
      return client.getLogoutUrl(options);
    }
    case 'idp_initiated_claims':
      return toJson(await client.getIdpInitiatedLoginClaims(need(req, 'token'), validationOptions(req)));
    default:
      throw new DriverError(`unknown op ${JSON.stringify(req.op)}`);
  }
}

function errorAnswer(err) {
  const answer = {
    ok: false,
    error_type: err?.constructor?.name ?? typeof err,
    error: String(err?.message ?? err),
  };
  // A ScalekitServerException's toString() prints errDetails as [object Object] and its
  // httpStatus comes from the reason phrase (a 400 "Bad Request" reads 500): give the body.
  const details = err?.errDetails ?? err?.response?.data;
  if (details !== undefined) {
    try {
      answer.details = toJson(details);
    } catch {
      answer.details = String(details);
    }
  }
  return answer;
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input);
  if (req === null || typeof req !== 'object' || !('op' in req)) {
    throw new DriverError('stdin must be one JSON object with an `op`');
  }
  let answer;
  try {
    const result = await run(req);
    if (result && typeof result === 'object' && '__validate_refused' in result) {
      const err = result.__validate_refused;
      answer = {
        ok: true,
        result: false,
        validation_error: String(err?.message ?? err),
        validation_error_type: err?.constructor?.name ?? typeof err,
      };
    } else {
      answer = { ok: true, result: result ?? null };
    }
  } catch (err) {
    if (err instanceof DriverError) throw err;
    answer = errorAnswer(err);
  }
  process.stdout.write(JSON.stringify(answer) + '\n', () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`sdk.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
