//! Enterprise-managed authorization (ID-JAG, Cross-App Access) and `private_key_jwt`, over
//! real HTTP: the simulator's IdP hands out an ID token and exchanges it (RFC 8693) for an
//! ID-JAG; the JWT-bearer grant turns it into an access token without a browser, with the
//! rules applied; each failed check is `invalid_grant` naming it. Machine clients that sign
//! their own assertions authenticate with them, once each.

use std::sync::Arc;

use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use portcullis::clock::{Clock, FixedClock};
use serde_json::{Value, json};

use crate::support::{Spawned, T0, TestApp, basic, decode_jwt};

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const AGENT_SECRET: &str = "agent-client-secret-0123456789abcd";
const TICKETS_URL: &str = "http://127.0.0.1:8081/mcp";

const SEED: &str = r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
xaa_enabled = true
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]

[[clients]]
id = "m2m_agent"
name = "An agent"
secret = "agent-client-secret-0123456789abcd"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
resources = ["res_tickets", "res_wiki"]

[[clients]]
id = "m2m_wiki_agent"
name = "An agent of the wiki only"
secret = "wiki-agent-secret-0123456789abcdef"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
resources = ["res_wiki"]

[[clients]]
id = "m2m_other_agent"
name = "Another agent"
secret = "other-agent-secret-0123456789abcd"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
resources = ["res_tickets"]
"#;

pub(super) struct Xaa {
    pub(super) s: Spawned,
    pub(super) clock: Arc<FixedClock>,
}

pub(super) async fn setup() -> Xaa {
    let clock = Arc::new(FixedClock::new(T0));
    let s = TestApp::builder().clock(clock.clone()).spawn().await;
    s.apply_seed(SEED).await;
    Xaa { s, clock }
}

impl Xaa {
    fn simulator(&self) -> String {
        format!("{}/sso/v1/simulator/conn_acme_sim", self.s.base)
    }

    pub(super) async fn post(
        &self,
        url: &str,
        form: &[(&str, &str)],
        auth: Option<String>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(url).form(form);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// An ID token of the simulator's IdP for `email` (signed in there).
    async fn id_token(&self, email: &str, groups: &str) -> String {
        let (status, body) = self
            .post(
                &format!("{}/id-token", self.simulator()),
                &[
                    ("email", email),
                    ("client_id", "m2m_agent"),
                    ("groups", groups),
                ],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["id_token"].as_str().unwrap().to_string()
    }

    /// The ID-JAG the IdP issues for `client_id`, `audience`, `resource` and `scope`.
    async fn id_jag(
        &self,
        email: &str,
        client_id: &str,
        audience: &str,
        resource: &str,
        scope: &str,
    ) -> String {
        let id_token = self.id_token(email, "jira-admins").await;
        let (status, body) = self
            .post(
                &format!("{}/token", self.simulator()),
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:id-jag",
                    ),
                    ("subject_token", &id_token),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                    ("audience", audience),
                    ("resource", resource),
                    ("scope", scope),
                    ("client_id", client_id),
                ],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["issued_token_type"],
            "urn:ietf:params:oauth:token-type:id-jag"
        );
        assert_eq!(body["token_type"], "N_A");
        body["access_token"].as_str().unwrap().to_string()
    }

    fn resource_issuer(&self) -> String {
        format!("{}/resources/res_tickets", self.s.base)
    }

    async fn grant(
        &self,
        path: &str,
        jag: &str,
        client: (&str, &str),
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut form = vec![("grant_type", JWT_BEARER), ("assertion", jag)];
        form.extend_from_slice(extra);
        self.post(
            &format!("{}{path}", self.s.base),
            &form,
            Some(basic(client.0, client.1)),
        )
        .await
    }

    async fn agent(&self, jag: &str) -> (u16, Value) {
        self.grant(
            "/resources/res_tickets/oauth/token",
            jag,
            ("m2m_agent", AGENT_SECRET),
            &[],
        )
        .await
    }
}

fn refused_by(result: &(u16, Value), check: &str) {
    assert_eq!(result.0, 400, "{}", result.1);
    assert_eq!(result.1["error"], "invalid_grant", "{}", result.1);
    let description = result.1["error_description"].as_str().unwrap();
    assert!(
        description.contains(&format!("({check})")),
        "{check}: {description}"
    );
}

#[tokio::test]
async fn an_id_jag_from_a_trusted_idp_gets_a_token_without_a_browser() {
    let x = setup().await;
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &x.resource_issuer(),
            TICKETS_URL,
            "tickets.read tickets.manage",
        )
        .await;
    let (header, claims) = decode_jwt(&jag);
    assert_eq!(header["typ"], "oauth-id-jag+jwt");
    assert_eq!(claims["aud"], x.resource_issuer());
    let result = x.agent(&jag).await;
    assert_eq!(result.0, 200, "{}", result.1);
    assert!(result.1.get("refresh_token").is_none(), "no refresh token");
    let (_, at) = decode_jwt(result.1["access_token"].as_str().unwrap());
    assert!(at["sub"].as_str().unwrap().starts_with("usr_"), "{at}");
    assert_eq!(at["oid"], "org_acme");
    assert_eq!(at["client_id"], "m2m_agent");
    assert_eq!(at["iss"], x.resource_issuer());
    // The rules decided: jira-admins manage their organization's tickets.
    assert_eq!(
        at["scopes"],
        json!(["tickets.read", "tickets.manage:org_acme"])
    );
    let issued = x.s.audit("token.issued").await;
    let last = issued.last().unwrap();
    assert_eq!(last.detail["grant_type"], "jwt-bearer");
    assert_eq!(last.detail["idp"], x.simulator());
    // Which rule granted what, as the rule simulator explains it.
    let explained: Vec<&str> = last.detail["explanations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule_id"].as_str().unwrap())
        .collect();
    assert!(explained.contains(&"rule_admins"), "{}", last.detail);
    // Replayed: refused.
    refused_by(&x.agent(&jag).await, "jti");

    // The metadata says so.
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server/resources/res_tickets",
        x.s.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER))
    );
    assert_eq!(
        meta["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    let wiki: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server/resources/res_wiki",
        x.s.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(wiki.get("authorization_grant_profiles_supported").is_none());
}

/// A JWS signed with a fresh key.
fn sign_fresh(typ: &str, claims: Value) -> String {
    let pair = ES256.generate_key_pair().unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id("k1");
    let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
    jwt::encode_with_signer(
        &JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap(),
        &header,
        &signer,
    )
    .unwrap()
}

#[tokio::test]
async fn every_failed_check_of_an_id_jag_is_invalid_grant_naming_it() {
    let x = setup().await;
    let iss = x.resource_issuer();
    // Not an ID-JAG: the IdP's ID token itself.
    let id_token = x.id_token("ann@example.com", "").await;
    refused_by(&x.agent(&id_token).await, "typ");
    // Unsigned.
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = T0;
    let claims = json!({ "iss": x.simulator(), "sub": "ann@example.com", "aud": iss, "client_id": "m2m_agent",
                         "resource": TICKETS_URL, "jti": "j-1", "iat": now, "exp": now + 300 });
    let unsigned = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "oauth-id-jag+jwt" })),
        b64(claims.clone())
    );
    refused_by(&x.agent(&unsigned).await, "signature");
    let hs = format!(
        "{}.{}.c2ln",
        b64(json!({ "alg": "HS256", "typ": "oauth-id-jag+jwt" })),
        b64(claims.clone())
    );
    refused_by(&x.agent(&hs).await, "signature");
    // Signed by a key the IdP's JWK Set does not have.
    let forged = sign_fresh("oauth-id-jag+jwt", claims.clone());
    refused_by(&x.agent(&forged).await, "signature");
    // An IdP nobody trusts for Cross-App Access.
    let mut untrusted = claims.clone();
    untrusted["iss"] = json!("https://idp.evil.example");
    let token = sign_fresh("oauth-id-jag+jwt", untrusted);
    refused_by(&x.agent(&token).await, "iss");

    // For another authorization server, another client, another resource.
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &x.s.base,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(&x.agent(&jag).await, "aud");
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(
        &x.grant(
            "/resources/res_tickets/oauth/token",
            &jag,
            ("m2m_other_agent", "other-agent-secret-0123456789abcd"),
            &[],
        )
        .await,
        "client_id",
    );
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &iss,
            "http://127.0.0.1:8082/mcp",
            "tickets.read",
        )
        .await;
    refused_by(&x.agent(&jag).await, "resource");
    // Scope beyond the assertion.
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(
        &x.grant(
            "/resources/res_tickets/oauth/token",
            &jag,
            ("m2m_agent", AGENT_SECRET),
            &[("scope", "tickets.manage")],
        )
        .await,
        "scope",
    );
    // A resource that does not take Cross-App Access.
    let wiki = format!("{}/resources/res_wiki", x.s.base);
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &wiki,
            "http://127.0.0.1:8082/mcp",
            "wiki.read",
        )
        .await;
    refused_by(
        &x.grant(
            "/resources/res_wiki/oauth/token",
            &jag,
            ("m2m_agent", AGENT_SECRET),
            &[],
        )
        .await,
        "xaa_enabled",
    );
    // Expired.
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    x.clock.advance(301);
    refused_by(&x.agent(&jag).await, "exp");
}

#[tokio::test]
async fn a_disabled_user_connection_or_organization_gets_nothing_and_the_idp_decides_the_organization()
 {
    let x = setup().await;
    let iss = x.resource_issuer();
    // An address of another organization's domain is still the IdP's organization's user.
    let jag = x
        .id_jag(
            "zed@elsewhere.example",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    let result = x.agent(&jag).await;
    assert_eq!(result.0, 200, "{}", result.1);
    let (_, at) = decode_jwt(result.1["access_token"].as_str().unwrap());
    assert_eq!(at["oid"], "org_acme");
    let user_id = at["sub"].as_str().unwrap().to_string();

    let store = &x.s.app.state.store;
    store
        .set_user_enabled(&user_id, false, x.clock.now())
        .await
        .unwrap();
    let jag = x
        .id_jag(
            "zed@elsewhere.example",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(&x.agent(&jag).await, "user");
    store
        .set_user_enabled(&user_id, true, x.clock.now())
        .await
        .unwrap();

    // A client not allowed for the resource.
    let jag = x
        .id_jag(
            "zed@elsewhere.example",
            "m2m_wiki_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(
        &x.grant(
            "/resources/res_tickets/oauth/token",
            &jag,
            ("m2m_wiki_agent", "wiki-agent-secret-0123456789abcdef"),
            &[],
        )
        .await,
        "client",
    );

    // The IdP's connection disabled (after the assertion was issued).
    let jag = x
        .id_jag(
            "zed@elsewhere.example",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    let api = crate::support::admin::bearer(&x.s).await;
    let (status, _) = api
        .post("/connections/conn_acme_sim/disable", json!({}))
        .await;
    assert_eq!(status, 200);
    refused_by(&x.agent(&jag).await, "connection");
    let (status, _) = api
        .post("/connections/conn_acme_sim/enable", json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, _) = api.post("/organizations/org_acme/disable", json!({})).await;
    assert_eq!(status, 200);
    let jag = x
        .id_jag(
            "zed@elsewhere.example",
            "m2m_agent",
            &iss,
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    refused_by(&x.agent(&jag).await, "organization");
}

#[tokio::test]
async fn an_enterprise_idp_is_trusted_through_its_discovery_document_or_its_jwks_uri() {
    let x = setup().await;
    let idp = crate::support::oidc_mock::MockIdp::start("unused", "unused-secret").await;
    let iss = x.resource_issuer();
    let claims = |jti: &str| {
        json!({ "iss": idp.issuer, "sub": "okta|42", "email": "ann@example.com", "aud": iss,
                "client_id": "m2m_agent", "resource": TICKETS_URL, "scope": "tickets.read",
                "jti": jti, "iat": T0, "exp": T0 + 300, "groups": ["jira-admins"] })
    };
    // Not trusted yet.
    refused_by(
        &x.agent(&idp.sign("oauth-id-jag+jwt", &claims("e-1"), false))
            .await,
        "iss",
    );
    for (n, jwks_line) in [
        (1, String::new()),
        (2, format!("xaa_jwks_uri = \"{}/jwks\"", idp.issuer)),
    ] {
        x.s.apply_seed(&format!(
            r#"
[[organizations]]
id = "org_acme"
display_name = "Acme"
domains = ["example.com"]

[[organizations.connections]]
id = "conn_acme_okta"
kind = "oidc"
issuer = "{idp}"
client_id = "portcullis"
client_secret = "okta-client-secret-0123456789"
xaa_issuer = "{idp}"
{jwks_line}
"#,
            idp = idp.issuer
        ))
        .await;
        let jag = idp.sign("oauth-id-jag+jwt", &claims(&format!("e-ok-{n}")), false);
        let result = x.agent(&jag).await;
        assert_eq!(result.0, 200, "{n}: {}", result.1);
        let (_, at) = decode_jwt(result.1["access_token"].as_str().unwrap());
        assert_eq!(at["scopes"], json!(["tickets.read"]), "{n}");
        assert_eq!(at["oid"], "org_acme");
        // A key the IdP does not publish.
        let rogue = idp.sign("oauth-id-jag+jwt", &claims(&format!("e-rogue-{n}")), true);
        refused_by(&x.agent(&rogue).await, "signature");
    }
    // The user is the connection's, known by the IdP's subject; the IdP said the address
    // was not verified, and it is not.
    let mut unverified = claims("e-unverified");
    unverified["email_verified"] = json!(false);
    unverified["sub"] = json!("okta|43");
    let result = x
        .agent(&idp.sign("oauth-id-jag+jwt", &unverified, false))
        .await;
    assert_eq!(result.0, 200, "{}", result.1);
    let users = x.s.app.state.store.list_users(100).await.unwrap();
    assert!(
        users
            .iter()
            .any(|u| u.connection_id == "conn_acme_okta" && u.subject == "okta|42"),
        "{users:?}"
    );
    let okta43 = users.iter().find(|u| u.subject == "okta|43").unwrap();
    assert!(!okta43.is_email_verified, "{okta43:?}");

    // A scope that is not a string, a `nbf` ahead.
    let mut odd = claims("e-scope");
    odd["scope"] = json!(["tickets.read", "tickets.manage"]);
    refused_by(
        &x.agent(&idp.sign("oauth-id-jag+jwt", &odd, false)).await,
        "scope",
    );
    let mut early = claims("e-nbf");
    early["nbf"] = json!(T0 + 200);
    refused_by(
        &x.agent(&idp.sign("oauth-id-jag+jwt", &early, false)).await,
        "nbf",
    );

    // The same IdP trusted on a second organization's connection: ambiguous, so neither.
    x.s.apply_seed(&format!(
        r#"
[[organizations]]
id = "org_other"
display_name = "Other"
domains = ["other.example"]

[[organizations.connections]]
id = "conn_other_okta"
kind = "oidc"
issuer = "{idp}"
client_id = "portcullis"
client_secret = "okta-client-secret-0123456789"
xaa_issuer = "{idp}"
"#,
        idp = idp.issuer
    ))
    .await;
    refused_by(
        &x.agent(&idp.sign("oauth-id-jag+jwt", &claims("e-dup"), false))
            .await,
        "iss",
    );
}

#[tokio::test]
async fn an_id_jag_is_used_once_across_two_processes_on_one_database() {
    use crate::support::{ServerProcess, TEST_SECRET_KEY_B64};
    // Replicas behind a load balancer: the same database, issuer and secret key (so the same
    // simulator keys), on the real clock.
    let now = portcullis::clock::SystemClock.now();
    let clock = Arc::new(FixedClock::new(now));
    let s = TestApp::builder().clock(clock.clone()).spawn().await;
    s.apply_seed(SEED).await;
    let replica = ServerProcess::start(&[
        ("PORTCULLIS_ISSUER", s.base.as_str()),
        ("PORTCULLIS_DATABASE_URL", s.app.db.url.as_str()),
        ("PORTCULLIS_SECRET_KEY", TEST_SECRET_KEY_B64),
        ("PORTCULLIS_ENABLE_IDP_SIMULATOR", "true"),
    ]);
    let x = Xaa { s, clock };
    // The replica takes such grants on its own (so the races below are between two servers).
    let jag = x
        .id_jag(
            "ann@example.com",
            "m2m_agent",
            &x.resource_issuer(),
            TICKETS_URL,
            "tickets.read",
        )
        .await;
    let alone = x
        .post(
            &format!("{}/resources/res_tickets/oauth/token", replica.base),
            &[("grant_type", JWT_BEARER), ("assertion", &jag)],
            Some(basic("m2m_agent", AGENT_SECRET)),
        )
        .await;
    assert_eq!(alone.0, 200, "{}", alone.1);
    for round in 0..3 {
        let jag = x
            .id_jag(
                "ann@example.com",
                "m2m_agent",
                &x.resource_issuer(),
                TICKETS_URL,
                "tickets.read",
            )
            .await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let base = if i % 2 == 0 {
                x.s.base.clone()
            } else {
                replica.base.clone()
            };
            let jag = jag.clone();
            tasks.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/resources/res_tickets/oauth/token"))
                    .header("authorization", basic("m2m_agent", AGENT_SECRET))
                    .form(&[("grant_type", JWT_BEARER), ("assertion", jag.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
    }
    replica.stop();
}
