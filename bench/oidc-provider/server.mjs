// bench/oidc-provider/server.mjs — comparison token endpoint for bench/run.sh.
//
// Starts npm oidc-provider (version pinned in package.json) on 127.0.0.1:<port> with a
// single confidential client that may only use the client_credentials grant
// (client_secret_basic). With resource=http://127.0.0.1:9/mcp the token endpoint
// (POST /token) issues a JWT access token signed ES256 with an EC P-256 key generated
// at start-up, i.e. the same work portcullis does for its ES256 run.
//
// Usage:  NODE_ENV=production BENCH_CLIENT_SECRET=... node server.mjs <port>
//   BENCH_CLIENT_ID      client id (default m2m_bench)
//   BENCH_CLIENT_SECRET  client secret (required; run.sh reads it from bench/seed.toml)
//   BENCH_RESOURCE       resource indicator (default http://127.0.0.1:9/mcp)
//
// Nothing is logged per request. Prints "listening <issuer>" once ready.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}
const clientId = process.env.BENCH_CLIENT_ID || 'm2m_bench';
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientSecret) {
  console.error('BENCH_CLIENT_SECRET is required');
  process.exit(2);
}
const resource = process.env.BENCH_RESOURCE || 'http://127.0.0.1:9/mcp';
const scope = 'bench.read';

// Fresh EC P-256 signing key for every run.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `bench-${randomBytes(4).toString('hex')}`,
  alg: 'ES256',
  use: 'sig',
};

const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope,
    },
  ],
  clientDefaults: {
    // Only an ES256 key exists; keep every signed artefact on ES256.
    id_token_signed_response_alg: 'ES256',
  },
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: [scope],
  ttl: { ClientCredentials: 300 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No implicit resource: a request without `resource` gets an opaque token.
      defaultResource: () => undefined,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== resource) {
          throw new errors.InvalidTarget();
        }
        return {
          scope,
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

// Surface server-side errors (a broken comparison must not look fast), but nothing else.
provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
