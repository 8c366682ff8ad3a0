//! `private_key_jwt` (RFC 7523 §2.2, SEP-1046) over real HTTP: machine clients that sign
//! their own assertions authenticate with them, once each, for this server only, briefly;
//! their id alone is nothing; a key rotates without downtime; the admin API makes such a
//! client (with no secret) and turns Cross-App Access on for a resource.

use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

use super::xaa::setup;
use crate::support::{T0, basic, decode_jwt, toml_inline};

/// A client's key pair: signs its assertions; its public JWK Set goes in the seed.
struct ClientKey {
    private: josekit::jwk::Jwk,
    jwks: Value,
}

impl ClientKey {
    fn new() -> ClientKey {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id("k1");
        let jwk: Value = serde_json::from_str(&public.to_string()).unwrap();
        ClientKey {
            private: pair.to_jwk_private_key(),
            jwks: json!({ "keys": [jwk] }),
        }
    }

    /// A client assertion as the SDKs make it (no `kid`, `typ: JWT`).
    fn assertion(&self, client_id: &str, aud: &str, exp: i64, jti: &str) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let claims = json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": T0, "exp": exp, "jti": jti });
        let signer = ES256.signer_from_jwk(&self.private).unwrap();
        jwt::encode_with_signer(
            &JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap(),
            &header,
            &signer,
        )
        .unwrap()
    }
}

#[tokio::test]
async fn private_key_jwt_authenticates_a_client_with_its_own_keys_once_per_assertion() {
    let x = setup().await;
    let issuer = x.s.base.clone();
    let key = ClientKey::new();
    x.s.apply_seed(&format!(
        r#"
[[clients]]
id = "m2m_signed"
name = "Signed service"
token_endpoint_auth_method = "private_key_jwt"
jwks = {jwks}
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
"#,
        jwks = toml_inline(&key.jwks)
    ))
    .await;
    let x = &x;
    let token = |assertion: String| {
        let url = format!("{}/oauth/token", x.s.base);
        async move {
            x.post(
                &url,
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "res_tickets"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                None,
            )
            .await
        }
    };
    let first = key.assertion("m2m_signed", &issuer, T0 + 120, "a-1");
    let ok = token(first.clone()).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(
        decode_jwt(ok.1["access_token"].as_str().unwrap()).1["sub"],
        "m2m_signed"
    );
    // Replayed.
    let replay = token(first).await;
    assert_eq!(
        (replay.0, replay.1["error"].as_str()),
        (401, Some("invalid_client")),
        "{}",
        replay.1
    );
    // The token endpoint URL and a resource's issuer are this server too.
    for (aud, jti) in [
        (format!("{issuer}/oauth/token"), "a-2"),
        (format!("{issuer}/resources/res_tickets"), "a-3"),
    ] {
        let r = token(key.assertion("m2m_signed", &aud, T0 + 120, jti)).await;
        assert_eq!(r.0, 200, "{aud}: {}", r.1);
    }
    // Wrong audience, expired, too long-lived, another client's name, a key not in its set.
    for (what, assertion) in [
        (
            "another audience",
            key.assertion("m2m_signed", "https://elsewhere.example", T0 + 120, "b-1"),
        ),
        (
            "expired",
            key.assertion("m2m_signed", &issuer, T0 - 1, "b-2"),
        ),
        (
            "too long-lived",
            key.assertion("m2m_signed", &issuer, T0 + 3600, "b-3"),
        ),
        (
            "another client",
            key.assertion("m2m_service", &issuer, T0 + 120, "b-4"),
        ),
        (
            "a key not in its set",
            ClientKey::new().assertion("m2m_signed", &issuer, T0 + 120, "b-5"),
        ),
    ] {
        let r = token(assertion).await;
        assert_eq!(r.0, 401, "{what}: {}", r.1);
        assert_eq!(r.1["error"], "invalid_client", "{what}");
    }
    // Its id alone (no assertion, no secret) is nothing, nor a made-up secret.
    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "m2m_signed"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "m2m_signed"),
            ("client_secret", "guessed-secret-0123456789"),
        ],
    ] {
        let r = x
            .post(&format!("{}/oauth/token", x.s.base), &form, None)
            .await;
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (401, Some("invalid_client")),
            "{}",
            r.1
        );
    }
    let r = x
        .post(
            &format!("{}/oauth/introspect", x.s.base),
            &[("token", "x"), ("client_id", "m2m_signed")],
            None,
        )
        .await;
    assert_eq!(r.0, 401, "introspection: {}", r.1);
    // One method only.
    let r = x
        .post(
            &format!("{}/oauth/token", x.s.base),
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                (
                    "client_assertion",
                    &key.assertion("m2m_signed", &issuer, T0 + 120, "c-1"),
                ),
            ],
            Some(basic("m2m_signed", "anything-0123456789")),
        )
        .await;
    assert_eq!(
        (r.0, r.1["error"].as_str()),
        (400, Some("invalid_request")),
        "{}",
        r.1
    );
}

#[tokio::test]
async fn the_admin_api_makes_a_private_key_jwt_client_and_turns_cross_app_access_on() {
    let x = setup().await;
    let api = crate::support::admin::bearer(&x.s).await;
    let key = ClientKey::new();
    let (status, created) = api
        .post(
            "/clients",
            json!({ "name": "Signed job", "is_confidential": true,
                    "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks,
                    "grant_types": ["client_credentials"], "resources": ["res_wiki"],
                    "scopes": ["wiki.read"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["client_secret"].is_null(),
        "no secret for a client that signs: {created}"
    );
    let id = created["client"]["id"].as_str().unwrap().to_string();
    let r = x
        .post(
            &format!("{}/oauth/token", x.s.base),
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                (
                    "client_assertion",
                    &key.assertion(&id, &x.s.base, T0 + 60, "api-1"),
                ),
            ],
            None,
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    // A private key in the set is refused.
    let pair = ES256.generate_key_pair().unwrap();
    let private: Value = serde_json::from_str(&pair.to_jwk_private_key().to_string()).unwrap();
    let (status, body) = api
        .post(
            "/clients",
            json!({ "name": "Leaky", "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": { "keys": [private] }, "grant_types": ["client_credentials"],
                    "resources": ["res_wiki"], "scopes": ["wiki.read"] }),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("jwks")),
        "{body}"
    );

    // Cross-App Access on a resource through the API.
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "/resources/res_wiki",
            Some(
                json!({ "name": "Wiki", "server_url": "http://127.0.0.1:8082/mcp",
                         "scopes": [ { "name": "wiki.read" } ], "xaa_enabled": true }),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.get("/resources/res_wiki").await["xaa_enabled"], true);
}

#[tokio::test]
async fn a_private_key_jwt_client_rotates_its_key_without_downtime() {
    let x = setup().await;
    let (old, new) = (ClientKey::new(), ClientKey::new());
    // Two keys under one kid would be ambiguous for a verifier that goes by kid: apart.
    let mut both = json!({ "keys": [old.jwks["keys"][0], new.jwks["keys"][0]] });
    both["keys"][1]["kid"] = json!("k2");
    let seed = |jwks: &Value| {
        format!(
            r#"
[[clients]]
id = "m2m_rotating"
name = "Rotating service"
token_endpoint_auth_method = "private_key_jwt"
jwks = {}
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
"#,
            toml_inline(jwks)
        )
    };
    let token = |assertion: String| {
        let url = format!("{}/oauth/token", x.s.base);
        let x = &x;
        async move {
            x.post(
                &url,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                None,
            )
            .await
            .0
        }
    };
    x.s.apply_seed(&seed(&old.jwks)).await;
    assert_eq!(
        token(old.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-1")).await,
        200
    );
    assert_eq!(
        token(new.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-2")).await,
        401
    );
    // Both published: either signs (the SDKs send no kid).
    x.s.apply_seed(&seed(&both)).await;
    assert_eq!(
        token(old.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-3")).await,
        200
    );
    assert_eq!(
        token(new.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-4")).await,
        200
    );
    // The old one withdrawn.
    let mut only_new = new.jwks.clone();
    only_new["keys"][0]["kid"] = json!("k2");
    x.s.apply_seed(&seed(&only_new)).await;
    assert_eq!(
        token(old.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-5")).await,
        401
    );
    assert_eq!(
        token(new.assertion("m2m_rotating", &x.s.base, T0 + 60, "r-6")).await,
        200
    );
}
