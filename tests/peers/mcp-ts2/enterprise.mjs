// One-shot driver for the official MCP TypeScript SDK v2 client (npm @modelcontextprotocol/client,
// pinned in package.json) and its enterprise OAuth providers:
//   mode "xaa"             CrossAppAccessProvider (SEP-990 Cross-App Access: ID token -> ID-JAG at
//                          the IdP by RFC 8693 token exchange, then RFC 7523 jwt-bearer at the AS)
//   mode "private_key_jwt" PrivateKeyJwtProvider (client_credentials, RFC 7523 client assertion)
//
// Reads ONE JSON object on stdin:
//   {mode, mcp_url, as_issuer, tool, scope?,
//    client_id, client_secret, idp_token_endpoint, idp_client_id, id_token   (xaa)
//    client_id, private_key_pem, alg                                          (private_key_jwt)}
// connects to mcp_url, lists the tools, calls `tool` with no arguments, closes, and prints ONE JSON
// object on stdout:
//   {"ok": true, "tools": [sorted names], "result": <CallToolResult>}  or  {"ok": false, "error": "..."}
// Exit status 0 either way; 2 for unusable input (a harness bug). SDK logs go to stderr.
//
//   node tests/peers/mcp-ts2/enterprise.mjs < input.json
import {
  Client,
  CrossAppAccessProvider,
  PrivateKeyJwtProvider,
  StreamableHTTPClientTransport,
  requestJwtAuthorizationGrant,
} from '@modelcontextprotocol/client';

const TIMEOUT_MS = 60_000;

// stdout carries exactly one JSON object: anything else the SDK prints goes to stderr.
const rawStdoutWrite = process.stdout.write.bind(process.stdout);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

let done = false;
function finish(obj, code = 0) {
  if (done) return;
  done = true;
  rawStdoutWrite(JSON.stringify(obj) + '\n', () => process.exit(code));
}

// The message of an error and of its causes (fetch's "fetch failed" hides ECONNREFUSED in `cause`).
function describe(err) {
  const parts = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause, depth++) {
    const msg = e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(e);
    if (!parts.includes(msg)) parts.push(msg);
  }
  return parts.join(': caused by: ');
}

async function readStdin() {
  let s = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) s += chunk;
  return s;
}

function need(input, ...fields) {
  for (const f of fields) {
    if (typeof input[f] !== 'string' || input[f] === '') throw new InputError(`input field "${f}" is missing`);
  }
}
class InputError extends Error {}

function makeProvider(input) {
  need(input, 'mode', 'mcp_url', 'as_issuer', 'tool', 'client_id');
  const scope = input.scope || undefined;
  if (input.mode === 'xaa') {
    need(input, 'client_secret', 'idp_token_endpoint', 'idp_client_id', 'id_token');
    // CrossAppAccessProvider has no `scope` option: the SDK asks for the scope of the server's
    // WWW-Authenticate challenge, else the PRM's scopes_supported, else clientMetadata.scope, so
    // the input scope is offered as clientMetadata.scope (the last resort).
    class Provider extends CrossAppAccessProvider {
      get clientMetadata() {
        return scope === undefined ? super.clientMetadata : { ...super.clientMetadata, scope };
      }
    }
    return new Provider({
      clientId: input.client_id,
      clientSecret: input.client_secret,
      expectedIssuer: input.as_issuer,
      assertion: async (ctx) => {
        console.error(
          `[enterprise.mjs] ID-JAG request: audience=${ctx.authorizationServerUrl} resource=${ctx.resourceUrl} scope=${ctx.scope ?? ''}`,
        );
        // The simulator IdP's client is public: no clientSecret.
        const grant = await requestJwtAuthorizationGrant({
          tokenEndpoint: input.idp_token_endpoint,
          audience: ctx.authorizationServerUrl,
          resource: ctx.resourceUrl,
          idToken: input.id_token,
          clientId: input.idp_client_id,
          scope: ctx.scope,
          fetchFn: ctx.fetchFn,
        });
        return grant.jwtAuthGrant;
      },
    });
  }
  if (input.mode === 'private_key_jwt') {
    need(input, 'private_key_pem', 'alg');
    return new PrivateKeyJwtProvider({
      clientId: input.client_id,
      privateKey: input.private_key_pem,
      algorithm: input.alg,
      expectedIssuer: input.as_issuer,
      scope,
    });
  }
  throw new InputError(`unknown mode ${JSON.stringify(input.mode)} (expected "xaa" or "private_key_jwt")`);
}

async function run(input) {
  const authProvider = makeProvider(input);
  const client = new Client({ name: 'portcullis-enterprise-test', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(input.mcp_url), { authProvider });
  await client.connect(transport);
  try {
    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      for (const t of page.tools) tools.push(t.name);
      cursor = page.nextCursor;
    } while (cursor);
    tools.sort();
    const result = await client.callTool({ name: input.tool, arguments: {} });
    return { ok: true, tools, result };
  } finally {
    await client.close().catch((e) => console.error('[enterprise.mjs] close:', e));
  }
}

const timer = setTimeout(() => finish({ ok: false, error: `timed out after ${TIMEOUT_MS / 1000} s` }), TIMEOUT_MS);

let input;
try {
  input = JSON.parse(await readStdin());
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InputError('stdin is not a JSON object');
} catch (e) {
  clearTimeout(timer);
  finish({ ok: false, error: `bad input: ${describe(e)}` }, 2);
}
if (!done) {
  try {
    const out = await run(input);
    clearTimeout(timer);
    finish(out);
  } catch (e) {
    clearTimeout(timer);
    if (e instanceof InputError) finish({ ok: false, error: `bad input: ${e.message}` }, 2);
    else {
      console.error('[enterprise.mjs] failed:', e);
      finish({ ok: false, error: describe(e) });
    }
  }
}
