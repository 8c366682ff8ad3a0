// The official MCP TypeScript SDK client (npm @modelcontextprotocol/sdk, pinned in
// package.json / package-lock.json) against a portcullis-protected MCP server, with the person
// at the browser played by this script: `redirectToAuthorization(url)` drives portcullis's
// pages over plain HTTP with a cookie jar (home-realm email form, IdP simulator, consent),
// like tests/it/support/browser.rs, by their stable field names. Nothing in the SDK's URLs is changed.
//
//   node client.mjs --server http://127.0.0.1:PORT/mcp --email alice@example.com \
//        [--groups jira-admins] [--name Alice] [--refresh] [--client-id ID] \
//        [--client-metadata-url https://HOST/client.json] \
//        [--callback-port 33418] [--step-up same|none|fresh:EMAIL:GROUPS] \
//        [--expired-access-token JWT] [--no-create] [--print-refresh-tokens]
//
// Scenario: connect (401 → RFC 9728 / RFC 8414 discovery → DCR unless --client-id → authorize
// → pages → finishAuth → reconnect), list tools, call list_tickets, get_ticket (the first
// ticket listed) and create_ticket. When the SDK starts a step-up authorization on a 403
// insufficient_scope, the pages are driven again (`--step-up`: `same` browser session; `fresh`,
// a new cookie jar signing in as someone else; `none`, left unanswered) and the call is retried
// once after finishAuth. When create_ticket succeeded: get_ticket of the new ticket and
// list_tickets again, with the new token.
//
// `--expired-access-token JWT`: after list_tickets, the saved access token is replaced by JWT
// (keeping the refresh token), as if the client's token had expired meanwhile; the test gives a
// real access token that expired long ago. The SDK 1.32 never refreshes ahead of `expires_in`: it
// refreshes on the server's 401 (when it holds a refresh token) and retries, which get_ticket
// then shows (`tokens_saved`). `--no-create` skips create_ticket. `--print-refresh-tokens` adds
// every refresh token saved, in order (`refresh_tokens`), so the test can present a rotated one
// again.
//
// `--client-metadata-url URL` sets the provider's `clientMetadataUrl`: when the authorization
// server advertises `client_id_metadata_document_supported`, the SDK uses URL as its client_id
// (a Client ID Metadata Document, which the authorization server fetches) instead of DCR. The
// document must list this script's redirect URL, http://127.0.0.1:<callback-port>/callback.
//
// The summary also lists every request the SDK made (`sdk_requests`: method, origin and path,
// through the transport's `fetch`), and the `client_id` claim of each access token it saved
// (`token_client_ids`; null when a token is not a JWT).
//
// Prints one JSON summary on stdout (the Rust test asserts on it); diagnostics on stderr.
// Exit code 0 when the scenario ran to its end (whatever the calls answered), 1 otherwise.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

// The package's `exports` map does not expose its package.json; read the installed one.
const SDK_VERSION = JSON.parse(
    readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8')
).version;

// --- arguments -------------------------------------------------------------------------------
function parseArgs(argv) {
    const out = { groups: '', name: 'Test Person', refresh: false, callbackPort: '33418', stepUp: 'same' };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
            case '--server': out.server = val(); break;
            case '--email': out.email = val(); break;
            case '--groups': out.groups = val(); break;
            case '--name': out.name = val(); break;
            case '--refresh': out.refresh = true; break;
            case '--client-id': out.clientId = val(); break;
            case '--client-metadata-url': out.clientMetadataUrl = val(); break;
            case '--callback-port': out.callbackPort = val(); break;
            case '--step-up': out.stepUp = val(); break;
            case '--expired-access-token': out.expiredAccessToken = val(); break;
            case '--no-create': out.noCreate = true; break;
            case '--print-refresh-tokens': out.printRefreshTokens = true; break;
            default: throw new Error(`unknown argument ${a}`);
        }
    }
    if (!out.server || !out.email) throw new Error('--server and --email are required');
    if (out.clientId && out.clientMetadataUrl) throw new Error('--client-id and --client-metadata-url exclude each other');
    return out;
}

const args = parseArgs(process.argv.slice(2));
const log = (...m) => console.error('[mcp-ts]', ...m);

// --- a scripted browser ----------------------------------------------------------------------
/** A cookie jar for one origin (enough for portcullis's host-only cookies). */
class Browser {
    constructor(label) {
        this.label = label;
        this.cookies = new Map();
    }
    cookieHeader() {
        return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    remember(res) {
        for (const line of res.headers.getSetCookie()) {
            const [pair, ...attrs] = line.split(';');
            const eq = pair.indexOf('=');
            const name = pair.slice(0, eq).trim();
            const value = pair.slice(eq + 1).trim();
            const expired = attrs.some(a => /^\s*max-age\s*=\s*0\s*$/i.test(a));
            if (expired || value === '') this.cookies.delete(name);
            else this.cookies.set(name, value);
        }
    }
    async request(url, init = {}) {
        const headers = new Headers(init.headers ?? {});
        if (this.cookies.size) headers.set('cookie', this.cookieHeader());
        const res = await fetch(url, { ...init, headers, redirect: 'manual' });
        this.remember(res);
        return res;
    }
    get(url) {
        return this.request(url);
    }
    post(url, fields) {
        return this.request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(fields).toString()
        });
    }
}

function decodeEntities(s) {
    return s
        .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
}

function hidden(html, name) {
    const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
    if (!m) throw new Error(`no field ${name} in page: ${html.slice(0, 2000)}`);
    return decodeEntities(m[1]);
}

function formAction(html, pageUrl) {
    const m = html.match(/<form[^>]*method="post"[^>]*action="([^"]*)"/i);
    if (!m) throw new Error(`no POST form in page ${pageUrl}: ${html.slice(0, 2000)}`);
    return new URL(decodeEntities(m[1]), pageUrl);
}

/**
 * Follows portcullis's pages from `authorizationUrl` until a redirect to `redirectUrl`, as the
 * person `who` ({email, name, groups}) would: the work-email form, the IdP simulator, consent
 * (approve). Returns the callback's query parameters and the pages seen on the way.
 */
async function drivePages(browser, authorizationUrl, redirectUrl, who) {
    const seen = [];
    let url = new URL(authorizationUrl);
    let res = await browser.get(url);
    for (let step = 0; step < 12; step++) {
        seen.push(`${res.status} ${url.pathname}`);
        if (res.status >= 300 && res.status < 400) {
            const next = new URL(res.headers.get('location'), url);
            await res.body?.cancel();
            if (next.href.startsWith(redirectUrl)) {
                return { callback: Object.fromEntries(next.searchParams), pages: seen };
            }
            url = next;
            res = await browser.get(url);
            continue;
        }
        const html = await res.text();
        if (res.status !== 200) {
            throw new Error(`page ${url.href} answered ${res.status}: ${html.slice(0, 2000)}`);
        }
        const action = formAction(html, url);
        let fields;
        if (url.pathname === '/sso/v1/login') {
            fields = { request: hidden(html, 'request'), csrf: hidden(html, 'csrf'), email: who.email };
        } else if (url.pathname.startsWith('/sso/v1/simulator/')) {
            fields = {
                request: hidden(html, 'request'),
                csrf: hidden(html, 'csrf'),
                email: who.email,
                name: who.name,
                groups: who.groups
            };
        } else if (url.pathname === '/oauth/consent') {
            fields = { request: hidden(html, 'request'), csrf: hidden(html, 'csrf'), decision: 'approve' };
        } else {
            throw new Error(`unexpected page ${url.href}: ${html.slice(0, 2000)}`);
        }
        url = action;
        res = await browser.post(action, fields);
    }
    throw new Error(`too many pages: ${seen.join(' → ')}`);
}

// --- the OAuthClientProvider (in-memory storage) ---------------------------------------------
const redirectUrl = `http://127.0.0.1:${args.callbackPort}/callback`;
const person = { email: args.email, name: args.name, groups: args.groups };

const authorizations = []; // every redirectToAuthorization, in order
let pendingCallback; // the last callback not yet handed to finishAuth
let browser = new Browser('first');

const store = {
    clientInformation: args.clientId ? { client_id: args.clientId } : undefined,
    tokens: undefined,
    codeVerifier: undefined,
    discovery: undefined,
    state: undefined,
    tokenHistory: [],
    tokenExpiresIn: [],
    refreshTokens: [],
    tokenClientIds: [],
    registered: undefined
};

/** The `client_id` claim of a JWT access token, or null. */
function clientIdClaim(accessToken) {
    try {
        const payload = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8'));
        return payload.client_id ?? null;
    } catch {
        return null;
    }
}

// Every request the SDK makes through the transport (MCP, discovery, registration, token).
const sdkRequests = [];
async function recordingFetch(input, init) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    sdkRequests.push(`${method} ${url.origin}${url.pathname}`);
    return fetch(input, init);
}

function stepUpPerson() {
    if (args.stepUp.startsWith('fresh:')) {
        const [, email, groups = ''] = args.stepUp.split(':');
        return { email, name: 'Step-up Person', groups };
    }
    return person;
}

const provider = {
    get redirectUrl() {
        return redirectUrl;
    },
    // A Client ID Metadata Document URL, used instead of DCR when the server supports it.
    ...(args.clientMetadataUrl ? { clientMetadataUrl: args.clientMetadataUrl } : {}),
    get clientMetadata() {
        return {
            client_name: 'MCP TypeScript SDK (portcullis e2e)',
            redirect_uris: [redirectUrl],
            grant_types: args.refresh ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none'
        };
    },
    state() {
        store.state = randomBytes(16).toString('base64url');
        return store.state;
    },
    clientInformation() {
        return store.clientInformation;
    },
    // A pre-registered client cannot be registered again: no saveClientInformation then.
    ...(args.clientId
        ? {}
        : {
              saveClientInformation(info) {
                  store.clientInformation = info;
                  // With a metadata document the SDK saves {client_id: URL} without registering.
                  if (info.client_id !== args.clientMetadataUrl) store.registered = info;
              }
          }),
    tokens() {
        return store.tokens;
    },
    saveTokens(tokens) {
        store.tokens = tokens;
        store.tokenHistory.push({ scope: tokens.scope, has_refresh_token: !!tokens.refresh_token, issuer: tokens.issuer });
        store.tokenClientIds.push(clientIdClaim(tokens.access_token));
        store.tokenExpiresIn.push(tokens.expires_in ?? null);
        store.refreshTokens.push(tokens.refresh_token ?? null);
    },
    saveCodeVerifier(v) {
        store.codeVerifier = v;
    },
    codeVerifier() {
        if (!store.codeVerifier) throw new Error('no code verifier saved');
        return store.codeVerifier;
    },
    saveDiscoveryState(state) {
        store.discovery = state;
    },
    discoveryState() {
        return store.discovery;
    },
    invalidateCredentials(scope) {
        log('invalidateCredentials', scope);
        if (scope === 'all' || scope === 'client') store.clientInformation = args.clientId ? store.clientInformation : undefined;
        if (scope === 'all' || scope === 'tokens') store.tokens = undefined;
        if (scope === 'all' || scope === 'verifier') store.codeVerifier = undefined;
        if (scope === 'all' || scope === 'discovery') store.discovery = undefined;
    },
    async redirectToAuthorization(url) {
        const n = authorizations.length;
        const q = Object.fromEntries(url.searchParams);
        const record = {
            endpoint: `${url.origin}${url.pathname}`,
            scope: q.scope ?? null,
            resource: q.resource ?? null,
            client_id: q.client_id,
            redirect_uri: q.redirect_uri,
            code_challenge_method: q.code_challenge_method ?? null,
            has_state: 'state' in q,
            prompt: q.prompt ?? null,
            login_hint: q.login_hint ?? null
        };
        authorizations.push(record);
        let who = person;
        if (n > 0) {
            if (args.stepUp === 'none') {
                record.driven = false;
                log('step-up authorization left unanswered', url.href);
                return;
            }
            if (args.stepUp.startsWith('fresh:')) {
                browser = new Browser('fresh'); // a new browser: no session of the first person
                who = stepUpPerson();
            }
        }
        record.as = who.email;
        log('driving', url.href, 'as', who.email);
        const { callback, pages } = await drivePages(browser, url, redirectUrl, who);
        record.pages = pages;
        record.callback = {
            has_code: 'code' in callback,
            error: callback.error ?? null,
            error_description: callback.error_description ?? null,
            state_matches: callback.state === store.state,
            iss: callback.iss ?? null
        };
        if (callback.state !== store.state) throw new Error(`state mismatch: ${callback.state} != ${store.state}`);
        pendingCallback = callback.code ? { code: callback.code } : undefined;
    }
};

// --- the MCP session -------------------------------------------------------------------------
function describe(e) {
    return {
        name: e?.constructor?.name ?? typeof e,
        code: e?.code ?? null,
        message: String(e?.message ?? e),
        is_unauthorized_error: e instanceof UnauthorizedError,
        is_streamable_http_error: e instanceof StreamableHTTPError
    };
}

const serverUrl = new URL(args.server);
let transport;
const client = new Client({ name: 'portcullis-e2e-ts', version: '0.0.0' });

function newTransport() {
    return new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch });
}

async function connect() {
    transport = newTransport();
    try {
        await client.connect(transport);
        return { first_attempt: 'connected' };
    } catch (e) {
        if (!(e instanceof UnauthorizedError)) throw e;
        if (!pendingCallback) throw new Error(`authorization ended without a code: ${JSON.stringify(authorizations.at(-1))}`);
        const { code } = pendingCallback;
        pendingCallback = undefined;
        await transport.finishAuth(code);
        await transport.close().catch(() => {});
        transport = newTransport();
        await client.connect(transport);
        return { first_attempt: describe(e) };
    }
}

/** A tool call; on the SDK's UnauthorizedError after a completed step-up, finishAuth and retry. */
async function call(name, toolArgs) {
    const tokensBefore = store.tokenHistory.length;
    const authsBefore = authorizations.length;
    const out = { tool: name };
    try {
        out.result = await client.callTool({ name, arguments: toolArgs });
    } catch (e) {
        out.error = describe(e);
        if (e instanceof UnauthorizedError && pendingCallback) {
            const { code } = pendingCallback;
            pendingCallback = undefined;
            await transport.finishAuth(code);
            out.stepped_up = true;
            delete out.error;
            out.first_error = describe(e);
            try {
                out.result = await client.callTool({ name, arguments: toolArgs });
            } catch (e2) {
                out.error = describe(e2);
            }
        }
    }
    out.ok = !!out.result && !out.result.isError;
    out.authorizations_started = authorizations.length - authsBefore;
    out.tokens_saved = store.tokenHistory.length - tokensBefore;
    return out;
}

function structured(r) {
    return r?.result?.structuredContent ?? null;
}

const summary = { sdk_version: SDK_VERSION, email: args.email, groups: args.groups };
let exitCode = 0;
try {
    summary.connect = await connect();
    const tools = await client.listTools();
    summary.tools = tools.tools.map(t => t.name).sort();

    const list = await call('list_tickets', {});
    summary.list_tickets = { ok: list.ok, error: list.error ?? null, ids: (structured(list)?.tickets ?? []).map(t => t.id) };

    if (args.expiredAccessToken) {
        if (!store.tokens) throw new Error('no tokens saved to expire');
        store.tokens = { ...store.tokens, access_token: args.expiredAccessToken };
        log('the saved access token is now an expired one');
    }

    const first = summary.list_tickets.ids[0];
    const got = await call('get_ticket', { id: first });
    summary.get_ticket = {
        ok: got.ok,
        error: got.error ?? null,
        id: structured(got)?.id ?? null,
        tokens_saved: got.tokens_saved,
        authorizations_started: got.authorizations_started
    };

    if (args.noCreate) {
        summary.create_ticket = null;
    } else {
        const created = await call('create_ticket', { title: `Printer on fire (${args.email})`, description: 'from the MCP TypeScript SDK' });
        summary.create_ticket = {
            ok: created.ok,
            stepped_up: !!created.stepped_up,
            first_error: created.first_error ?? null,
            error: created.error ?? null,
            tool_error: created.result?.isError ? created.result.content : null,
            authorizations_started: created.authorizations_started,
            tokens_saved: created.tokens_saved,
            ticket: structured(created)
        };

        if (created.ok) {
            const id = structured(created)?.id;
            const got = await call('get_ticket', { id });
            summary.get_ticket_after = { ok: got.ok, error: got.error ?? null, ticket: structured(got) };
            const again = await call('list_tickets', {});
            summary.list_tickets_after = { ok: again.ok, ids: (structured(again)?.tickets ?? []).map(t => t.id) };
        }
    }
} catch (e) {
    summary.fatal = describe(e);
    summary.fatal.stack = e?.stack ?? null;
    exitCode = 1;
} finally {
    summary.client_id = store.clientInformation?.client_id ?? null;
    summary.registered = store.registered
        ? {
              client_id: store.registered.client_id,
              token_endpoint_auth_method: store.registered.token_endpoint_auth_method ?? null,
              grant_types: store.registered.grant_types ?? null,
              has_client_secret: !!store.registered.client_secret
          }
        : null;
    summary.discovery = store.discovery
        ? {
              authorization_server_url: store.discovery.authorizationServerUrl,
              metadata_issuer: store.discovery.authorizationServerMetadata?.issuer ?? null,
              registration_endpoint: store.discovery.authorizationServerMetadata?.registration_endpoint ?? null,
              resource: store.discovery.resourceMetadata?.resource ?? null
          }
        : null;
    summary.authorizations = authorizations;
    summary.tokens = store.tokenHistory;
    summary.token_client_ids = store.tokenClientIds;
    summary.token_expires_in = store.tokenExpiresIn;
    if (args.printRefreshTokens) summary.refresh_tokens = store.refreshTokens;
    summary.sdk_requests = sdkRequests;
    try {
        await transport?.close();
    } catch {
        // closing is best effort
    }
}
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(exitCode);
