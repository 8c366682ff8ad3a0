// tests/peers/oidc-provider/server.mjs — the real upstream OpenID provider for portcullis's
// OIDC federation tests (npm oidc-provider, version pinned in package.json / package-lock.json).
//
// Usage:
//   NODE_ENV=production tests/peers/oidc-provider/node_modules/.bin/node \
//        tests/peers/oidc-provider/server.mjs --port P --client-id ID --client-secret SECRET \
//        --redirect-uri URL [--redirect-uri URL2 …] [--require-pkce] [--default-user NAME]
//
//   Node.js 22 (oidc-provider 9's supported runtime) is pinned in package.json as npm `node`;
//   NODE_ENV=production is Koa's and oidc-provider's production mode (no stack traces in
//   error pages).
//
//   --port P            TCP port on 127.0.0.1; 0 (the default) picks a free one. The tests
//                       preload ../listen-stdin.cjs and pass a socket they bound as stdin: the
//                       server then listens on that socket (port P is the socket's).
//   --client-id ID      the one static client (confidential, client_secret_basic,
//   --client-secret S     grant_types [authorization_code], response_types [code]).
//   --redirect-uri URL  its redirect URI (our callback); repeatable, at least one.
//   --require-pkce      reject authorization requests without PKCE (default: PKCE allowed,
//                       S256 only, but optional for this confidential client).
//   --default-user NAME user logged in when the authorization request has no login_hint
//                       (default: none, such a request ends with access_denied).
//
// Output on stdout, once listening (nothing else is printed on stdout; no request logging):
//   KID <kid>                       the kid of this run's signing key
//   READY http://127.0.0.1:<port>   the issuer, exactly (no trailing slash)
// Server-side errors go to stderr.
//
// Keys: a fresh RSA-2048 key (RS256) is generated at every start, so restarting on the same
// port is a key rotation (the old kid disappears from /jwks). Storage is in memory: codes,
// sessions and grants do not survive a restart.
//
// Users (account id = `sub`; login_hint may be the account id or the email):
//   alice       alice@example.com      email_verified true   name "Alice"      groups [jira-admins, eng]
//   bob         bob@example.com        email_verified true   name "Bob"        groups [eng]
//   unverified  unverified@example.com email_verified false  name "Unverified" groups [eng]
//   outsider    outsider@other.example email_verified true   name "Outsider"   groups [eng]
// Scopes: openid offline_access email profile groups; claims per scope:
//   openid [sub], email [email, email_verified], profile [name], groups [groups].
// conformIdTokenClaims is false, so the claims of the granted scopes are in the ID token too.
//
// Interactions without a person: devInteractions is off and interactions.url is
// /interaction/:uid. A GET of that URL is answered by a middleware below that
//   - for the `login` prompt logs in the user named by the original request's login_hint
//     (or --default-user); login_hint=cancel ends the request with
//     error=access_denied&error_description=user+cancelled at the redirect URI (even when a
//     user is already logged in at the IdP in that cookie jar); an unknown
//     login_hint ends it with access_denied too ("unknown test user");
//   - for the `consent` prompt grants every missing scope / claim (/ resource scope);
//   - then 303-redirects back to /auth/:uid (provider.interactionResult, i.e. what
//     interactionFinished does, written for Koa).
// prompt=login therefore still completes without a person, and so does max_age. A login_hint
// that does not name the user logged in at the IdP (same cookie jar) always re-prompts the
// login: another user replaces the session (without the provider's "log out first?" HTML
// form), `cancel` or an unknown user ends with access_denied.
//
// The client has to keep cookies: the interaction cookie `_interaction` is scoped to
// /interaction/<uid>, `_interaction_resume` to /auth/<uid>, `_session` to /.
// Authorization responses (success and error) carry `iss` (RFC 9207; always on in 9.x).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

// ---- options ---------------------------------------------------------------------------------
const usage = 'usage: node server.mjs --port P --client-id ID --client-secret SECRET '
  + '--redirect-uri URL [--redirect-uri URL …] [--require-pkce] [--default-user NAME]';
let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'require-pkce': { type: 'boolean', default: false },
      'default-user': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535
  || !opts['client-id'] || !opts['client-secret'] || !opts['redirect-uri']?.length) {
  console.error(usage);
  process.exit(2);
}

// ---- users -----------------------------------------------------------------------------------
const USERS = {
  alice: {
    email: 'alice@example.com', email_verified: true, name: 'Alice', groups: ['jira-admins', 'eng'],
  },
  bob: {
    email: 'bob@example.com', email_verified: true, name: 'Bob', groups: ['eng'],
  },
  unverified: {
    email: 'unverified@example.com', email_verified: false, name: 'Unverified', groups: ['eng'],
  },
  outsider: {
    email: 'outsider@other.example', email_verified: true, name: 'Outsider', groups: ['eng'],
  },
};

/** login_hint (account id or email) → account id, or undefined. */
function resolveUser(hint) {
  if (typeof hint !== 'string') return undefined;
  if (Object.hasOwn(USERS, hint)) return hint;
  return Object.keys(USERS).find((id) => USERS[id].email === hint);
}

if (opts['default-user'] !== undefined && !resolveUser(opts['default-user'])) {
  console.error(`--default-user: no such test user ${opts['default-user']}`);
  process.exit(2);
}

// ---- listen first (port 0 → the issuer is only known afterwards) -----------------------------
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// ---- provider --------------------------------------------------------------------------------
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = `idp-${randomBytes(6).toString('hex')}`;
const jwk = {
  ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig',
};

// login: also prompt whenever a login_hint is given that does not name the user logged in at
// the IdP (another user, an unknown one, or "cancel"), so login_hint always decides.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'login_hint_other_user',
  'login_hint does not name the user logged in',
  'login_required',
  (ctx) => {
    const { oidc } = ctx;
    const hint = oidc.params.login_hint;
    return Boolean(oidc.session.accountId && hint !== undefined
      && resolveUser(hint) !== oidc.session.accountId);
  },
));

const provider = new Provider(issuer, {
  clients: [{
    client_id: opts['client-id'],
    client_secret: opts['client-secret'],
    redirect_uris: opts['redirect-uri'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    const user = Object.hasOwn(USERS, id) ? USERS[id] : undefined;
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...user, groups: [...user.groups] };
      },
    };
  },
  pkce: {
    required: () => opts['require-pkce'],
  },
  interactions: {
    policy,
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
  },
});

provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

// ---- interactions without a person -----------------------------------------------------------
const INTERACTION = /^\/interaction\/([^/]+)$/;

async function finishInteraction(ctx) {
  const interaction = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = interaction;
  let result;

  if (prompt.name === 'login') {
    const hint = params.login_hint ?? opts['default-user'];
    const accountId = resolveUser(hint);
    if (hint === 'cancel') {
      result = { error: 'access_denied', error_description: 'user cancelled' };
    } else if (!accountId) {
      result = {
        error: 'access_denied',
        error_description: hint === undefined ? 'no login_hint' : `unknown test user ${hint}`,
      };
    } else {
      if (interaction.session?.uid && interaction.session.accountId !== accountId) {
        // Someone else is logged in at the IdP: drop that session now instead of letting the
        // provider answer the resume with its "log out first" auto-submit form.
        const { uid } = interaction.session;
        delete interaction.session.uid;
        await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
        const old = await provider.Session.findByUid(uid);
        if (old) await old.destroy();
      }
      result = { login: { accountId } };
    }
  } else if (prompt.name === 'consent') {
    const { details } = prompt;
    const accountId = interaction.session.accountId;
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    result = { consent: interaction.grantId ? {} : { grantId } };
  } else {
    result = { error: 'access_denied', error_description: `unexpected prompt ${prompt.name}` };
  }

  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: true,
  });
  ctx.redirect(returnTo);
  ctx.status = 303;
}

provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !INTERACTION.test(ctx.path)) {
    await next();
    return;
  }
  try {
    await finishInteraction(ctx);
  } catch (err) {
    // e.g. the interaction cookie is missing (no cookie jar) or the interaction expired.
    console.error('interaction failed:', err.name, err.message);
    ctx.status = 400;
    ctx.type = 'text/plain';
    ctx.body = `interaction failed: ${err.name}: ${err.error_description ?? err.message}\n`;
  }
});

handler = provider.callback();

console.log(`KID ${kid}`);
console.log(`READY ${issuer}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
