//! Unit tests of the authorization request parser: every rule, without HTTP.

use super::parse::{self, MAX_QUERY_BYTES, ParsedRequest};
use crate::oauth::authorize_error::AuthorizeError;
use crate::oauth::form::FormParams;
use crate::pages::PageCode;
use crate::store::{Client, ClientKind, GrantTarget, Resource, Session};

const ISSUER: &str = "https://as.example/resources/res_t";
const CB: &str = "https://app.example/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(kind: ClientKind) -> Client {
    Client {
        id: "cl_1".into(),
        name: "App".into(),
        kind,
        secret_hash: None,
        secret_expires_at: 0,
        token_endpoint_auth_method: "none".into(),
        redirect_uris: vec![CB.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        resources: vec!["res_t".into()],
        bound_resource_id: None,
        scopes: Vec::new(),
        has_introspection: false,
        pkce: crate::store::PkceMode::Required,
        organization_id: None,
        settings: serde_json::json!({}),
        application_type: "web".into(),
        metadata: serde_json::Value::Null,
        created_at: 0,
    }
}

fn resource() -> Resource {
    Resource {
        id: "res_t".into(),
        name: "Tickets".into(),
        server_url: "http://127.0.0.1:8081/mcp".into(),
        access_token_ttl: 300,
        refresh_token_ttl: 86_400,
        is_dcr_enabled: true,
        is_cimd_enabled: false,
        token_issuer: crate::store::TokenIssuer::Resource,
        is_xaa_enabled: false,
        refresh_tokens: crate::store::RefreshPolicy::Always,
        cimd_allowlist: Vec::new(),
        scopes: Vec::new(),
    }
}

/// A valid request's query, with `extra` appended (`&`-joined).
fn query(extra: &str) -> String {
    let base = format!(
        "client_id=cl_1&redirect_uri={}&response_type=code&code_challenge={CHALLENGE}\
         &code_challenge_method=S256&state=xyz",
        urlencode(CB)
    );
    if extra.is_empty() {
        base
    } else {
        format!("{base}&{extra}")
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The query with `name` removed.
fn without(q: &str, name: &str) -> String {
    q.split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect::<Vec<_>>()
        .join("&")
}

fn parse_with(q: &str, client: &Client) -> Result<ParsedRequest, AuthorizeError> {
    let params = FormParams::parse(q.as_bytes());
    parse::parse(
        &params,
        client,
        Ok((&resource(), GrantTarget::Resource)),
        ISSUER,
    )
}

fn run(q: &str) -> Result<ParsedRequest, AuthorizeError> {
    parse_with(q, &client(ClientKind::Static))
}

fn page(r: Result<impl std::fmt::Debug, AuthorizeError>) -> (PageCode, String) {
    match r {
        Err(AuthorizeError::Page(p)) => (p.code, p.message),
        other => panic!("expected a page, got {other:?}"),
    }
}

fn redirect(r: Result<ParsedRequest, AuthorizeError>) -> (PageCode, String) {
    match r {
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state,
            issuer,
            error,
            description,
        }) => {
            assert_eq!(redirect_uri, CB);
            assert_eq!(state.as_deref(), Some("xyz"));
            assert_eq!(issuer, ISSUER);
            (error, description)
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
}

// ---- read: before the client is known, pages only ----

#[test]
fn read_accepts_a_request_and_names_its_client() {
    let r = parse::read(&query("")).expect("valid");
    assert_eq!(r.client_id, "cl_1");
    assert_eq!(r.params.get("state"), Some("xyz"));
}

#[test]
fn read_refuses_an_overlong_query() {
    let q = format!("client_id=cl_1&x={}", "a".repeat(MAX_QUERY_BYTES));
    let (code, msg) = page(parse::read(&q));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(
        msg,
        "The authorization request is too long (at most 8192 bytes)."
    );
}

#[test]
fn read_refuses_an_overlong_parameter() {
    let q = query(&format!("nonce={}", "n".repeat(513)));
    let (code, msg) = page(parse::read(&q));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(
        msg,
        "The parameter `nonce` is too long (at most 512 characters)."
    );
    // The cap counts characters, not bytes.
    assert!(parse::read(&query(&format!("nonce={}", urlencode(&"é".repeat(512))))).is_ok());
}

#[test]
fn read_refuses_a_repeated_client_id_or_redirect_uri() {
    for extra in [
        "client_id=cl_2",
        "redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
    ] {
        let (code, msg) = page(parse::read(&query(extra)));
        assert_eq!(code, PageCode::InvalidRequest);
        assert_eq!(msg, "client_id or redirect_uri is repeated.");
    }
}

#[test]
fn read_refuses_a_request_without_client_id() {
    let (code, msg) = page(parse::read(&without(&query(""), "client_id")));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(msg, "The request names no client (client_id).");
}

// ---- parse: the redirect URI decides where errors go ----

#[test]
fn parse_builds_the_request() {
    let q = query(
        "scope=openid%20tickets.read&nonce=n1&prompt=login%20consent&max_age=60\
         &login_hint=a%40b.example&organization_id=org_1&connection_id=conn_1&domain=b.example",
    );
    let parsed = run(&q).expect("valid");
    assert!(parsed.can_redirect);
    let r = parsed.request;
    assert_eq!(r.client_id, "cl_1");
    assert_eq!(r.redirect_uri, CB);
    assert_eq!(r.resource_id, "res_t");
    assert_eq!(r.issuer, ISSUER);
    assert_eq!(r.scopes, Some(vec!["tickets.read".to_string()]));
    assert_eq!(r.oidc_scopes, vec!["openid".to_string()]);
    assert_eq!(r.state.as_deref(), Some("xyz"));
    assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
    assert_eq!(r.nonce.as_deref(), Some("n1"));
    assert_eq!(r.prompt, vec!["login".to_string(), "consent".to_string()]);
    assert_eq!(r.max_age, Some(60));
    assert_eq!(r.login_hint.as_deref(), Some("a@b.example"));
    assert_eq!(r.organization_id.as_deref(), Some("org_1"));
    assert_eq!(r.connection_id.as_deref(), Some("conn_1"));
    assert_eq!(r.domain_hint.as_deref(), Some("b.example"));
}

#[test]
fn parse_defaults_omitted_parameters() {
    let r = run(&without(&query(""), "state")).expect("valid").request;
    assert_eq!(r.scopes, None);
    assert!(r.oidc_scopes.is_empty());
    assert_eq!(r.state, None);
    assert!(r.prompt.is_empty());
    assert_eq!(r.max_age, None);
}

#[test]
fn parse_prefers_domain_hint_over_domain() {
    let r = run(&query("domain_hint=a.example&domain=b.example"))
        .expect("valid")
        .request;
    assert_eq!(r.domain_hint.as_deref(), Some("a.example"));
}

#[test]
fn parse_uses_the_only_registered_redirect_uri_when_none_is_sent() {
    let r = run(&without(&query(""), "redirect_uri"))
        .expect("valid")
        .request;
    assert_eq!(r.redirect_uri, CB);
}

#[test]
fn parse_refuses_a_missing_redirect_uri_when_several_are_registered() {
    let mut c = client(ClientKind::Static);
    c.redirect_uris.push("https://app.example/other".into());
    let (code, msg) = page(parse_with(&without(&query(""), "redirect_uri"), &c));
    assert_eq!(code, PageCode::InvalidRedirectUri);
    assert_eq!(msg, "The request names no redirect URI.");
}

#[test]
fn parse_refuses_an_unregistered_redirect_uri_with_a_page() {
    let q = query("").replace(&urlencode(CB), &urlencode("https://evil.example/cb"));
    let (code, msg) = page(run(&q));
    assert_eq!(code, PageCode::InvalidRedirectUri);
    assert_eq!(
        msg,
        "The redirect URI is not registered for this application."
    );
}

#[test]
fn parse_accepts_any_loopback_port() {
    let mut c = client(ClientKind::Static);
    c.redirect_uris = vec!["http://127.0.0.1/cb".into()];
    let q = query("").replace(&urlencode(CB), &urlencode("http://127.0.0.1:5555/cb"));
    let r = parse_with(&q, &c).expect("valid").request;
    assert_eq!(r.redirect_uri, "http://127.0.0.1:5555/cb");
}

#[test]
fn parse_gives_dynamic_and_metadata_clients_pages_not_redirects() {
    for kind in [ClientKind::Dynamic, ClientKind::Metadata] {
        let (code, msg) = page(parse_with(
            &query("response_type=token").replace("response_type=code&", ""),
            &client(kind),
        ));
        assert_eq!(code, PageCode::UnsupportedResponseType);
        assert_eq!(msg, "only response_type=code is supported");
    }
    let parsed = parse_with(&query(""), &client(ClientKind::Dynamic)).expect("valid");
    assert!(!parsed.can_redirect);
}

// ---- parse: the rules after the redirect URI, as redirects for a static client ----

#[test]
fn parse_refuses_any_repeated_parameter() {
    let (code, msg) = redirect(run(&query("scope=a&scope=b")));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(msg, "parameter `scope` is repeated");
}

#[test]
fn parse_refuses_a_client_without_the_code_grant() {
    let mut c = client(ClientKind::Static);
    c.grant_types = vec!["client_credentials".into()];
    let (code, msg) = redirect(parse_with(&query(""), &c));
    assert_eq!(code, PageCode::UnauthorizedClient);
    assert_eq!(msg, "this client may not use the authorization code flow");
}

#[test]
fn parse_requires_response_type() {
    let (code, msg) = redirect(run(&without(&query(""), "response_type")));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(msg, "response_type is required");
}

#[test]
fn parse_accepts_only_response_type_code() {
    let q = query("").replace("response_type=code", "response_type=token");
    let (code, msg) = redirect(run(&q));
    assert_eq!(code, PageCode::UnsupportedResponseType);
    assert_eq!(msg, "only response_type=code is supported");
}

#[test]
fn parse_requires_a_code_challenge() {
    let (code, msg) = redirect(run(&without(&query(""), "code_challenge")));
    assert_eq!(code, PageCode::InvalidRequest);
    assert_eq!(msg, "PKCE is required: send code_challenge");
}

#[test]
fn parse_requires_s256() {
    for q in [
        without(&query(""), "code_challenge_method"),
        query("").replace("code_challenge_method=S256", "code_challenge_method=plain"),
    ] {
        let (code, msg) = redirect(run(&q));
        assert_eq!(code, PageCode::InvalidRequest);
        assert_eq!(msg, "code_challenge_method must be S256");
    }
}

#[test]
fn parse_refuses_a_challenge_that_is_not_a_sha256() {
    for bad in ["short", format!("{}!", &CHALLENGE[..42]).as_str()] {
        let q = query("").replace(CHALLENGE, &urlencode(bad));
        let (code, msg) = redirect(run(&q));
        assert_eq!(code, PageCode::InvalidRequest);
        assert_eq!(msg, "code_challenge is not a base64url SHA-256");
    }
}

#[test]
fn parse_reports_a_missing_resource_after_the_pkce_checks() {
    let params = FormParams::parse(query("").as_bytes());
    let c = client(ClientKind::Static);
    let (code, msg) = redirect(parse::parse(&params, &c, Err("unknown resource"), ISSUER));
    assert_eq!(code, PageCode::InvalidTarget);
    assert_eq!(msg, "unknown resource");
    let params = FormParams::parse(without(&query(""), "code_challenge").as_bytes());
    let (code, _) = redirect(parse::parse(&params, &c, Err("unknown resource"), ISSUER));
    assert_eq!(code, PageCode::InvalidRequest);
}

#[test]
fn parse_refuses_a_resource_the_client_may_not_use() {
    let mut c = client(ClientKind::Static);
    c.resources = vec!["res_other".into()];
    let (code, msg) = redirect(parse_with(&query(""), &c));
    assert_eq!(code, PageCode::InvalidTarget);
    assert_eq!(msg, "this client may not get tokens for that resource");
}

#[test]
fn parse_refuses_bad_scopes() {
    for (scope, why) in [
        (
            "portcullis%3Aadmin",
            "the admin scope cannot be requested here",
        ),
        ("openid%20email", "scope names no scope of the resource"),
        ("tick%22ets", "has characters RFC 6749 does not allow"),
    ] {
        let (code, msg) = redirect(run(&query(&format!("scope={scope}"))));
        assert_eq!(code, PageCode::InvalidScope);
        assert!(msg.contains(why), "{msg}");
    }
}

#[test]
fn parse_checks_prompt() {
    for ok in ["none", "login", "consent%20select_account"] {
        assert!(run(&query(&format!("prompt={ok}"))).is_ok(), "{ok}");
    }
    for bad in ["create", "none%20login"] {
        let (code, msg) = redirect(run(&query(&format!("prompt={bad}"))));
        assert_eq!(code, PageCode::InvalidRequest);
        assert_eq!(
            msg,
            "prompt must be none, or any of login, consent, select_account"
        );
    }
}

#[test]
fn parse_checks_max_age() {
    assert_eq!(
        run(&query("max_age=0")).expect("valid").request.max_age,
        Some(0)
    );
    for bad in ["-1", "soon", "1.5"] {
        let (code, msg) = redirect(run(&query(&format!("max_age={bad}"))));
        assert_eq!(code, PageCode::InvalidRequest);
        assert_eq!(msg, "max_age must be a number of seconds");
    }
}

#[test]
fn parse_keeps_the_rule_order() {
    // A repeated parameter is reported before a bad response_type, and that before PKCE.
    let q = without(
        &query("state=again").replace("response_type=code", "response_type=token"),
        "code_challenge",
    );
    assert_eq!(redirect_code(run(&q)), PageCode::InvalidRequest);
    let q = without(
        &query("").replace("response_type=code", "response_type=token"),
        "code_challenge",
    );
    assert_eq!(redirect_code(run(&q)), PageCode::UnsupportedResponseType);
}

fn redirect_code(r: Result<ParsedRequest, AuthorizeError>) -> PageCode {
    match r {
        Err(AuthorizeError::Redirect { error, .. }) => error,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

// ---- session_serves: may a signed-in session answer without a new login ----

fn session() -> Session {
    Session {
        id: "ses_1".into(),
        token_hash: "h".into(),
        user_id: "usr_1".into(),
        connection_id: "conn_1".into(),
        organization_id: "org_1".into(),
        auth_time: 1_000,
        expires_at: 100_000,
        ended_at: None,
    }
}

fn request(extra: &str) -> crate::store::AuthorizationRequest {
    run(&query(extra)).expect("valid").request
}

#[test]
fn a_session_serves_a_plain_request() {
    assert!(parse::session_serves(&request(""), &session(), 50_000));
    assert!(parse::session_serves(
        &request("prompt=consent"),
        &session(),
        50_000
    ));
    assert!(parse::session_serves(
        &request("prompt=none"),
        &session(),
        50_000
    ));
}

#[test]
fn prompt_login_or_select_account_asks_for_a_new_login() {
    for p in ["login", "select_account", "consent%20login"] {
        let r = request(&format!("prompt={p}"));
        assert!(!parse::session_serves(&r, &session(), 1_000), "{p}");
    }
}

#[test]
fn max_age_limits_how_old_the_login_may_be() {
    let r = request("max_age=60");
    assert!(parse::session_serves(&r, &session(), 1_060));
    assert!(!parse::session_serves(&r, &session(), 1_061));
    let r = request("max_age=0");
    assert!(parse::session_serves(&r, &session(), 1_000));
    assert!(!parse::session_serves(&r, &session(), 1_001));
}

#[test]
fn connection_and_organization_hints_must_match_the_session() {
    for (hint, serves) in [
        ("connection_id=conn_1", true),
        ("connection_id=conn_2", false),
        ("organization_id=org_1", true),
        ("organization_id=org_2", false),
        ("connection_id=conn_1&organization_id=org_2", false),
    ] {
        let r = request(hint);
        assert_eq!(
            parse::session_serves(&r, &session(), 1_000),
            serves,
            "{hint}"
        );
    }
}

#[test]
fn parse_refuses_a_dynamic_client_bound_to_another_resource_with_a_page() {
    let mut c = client(ClientKind::Dynamic);
    c.bound_resource_id = Some("res_other".into());
    let (code, msg) = page(parse_with(&query(""), &c));
    assert_eq!(code, PageCode::InvalidTarget);
    assert_eq!(msg, "this client may not get tokens for that resource");
}
