//! Targets for the OAuth request parsers: redirect URIs (RFC 8252 §7, OAuth 2.1 §2.3.1),
//! DCR metadata (RFC 7591 §2), CIMD URLs and documents, form bodies (RFC 6749 §3.2),
//! Basic credentials (RFC 6749 §2.3.1) and scope strings (RFC 6749 §3.3).

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use url::Url;

use super::run;
use super::text::{insert_at, mostly_plain_text, nasty_piece, nasty_text};
use crate::oauth::client_metadata::{self, RegistrationRequest};
use crate::oauth::{cimd, client_text, form, redirect_uri, scope};

/// A URI-shaped string: scheme, separator, userinfo, host, port, path, query, fragment,
/// each picked from what parsers disagree about, sometimes with a nasty piece inserted.
fn uri() -> impl Strategy<Value = String> + Clone {
    let scheme = select(
        &[
            "https",
            "http",
            "HTTP",
            "com.example.app",
            "io.github.tool",
            "ms-msdt",
            "javascript",
            "data",
            "file",
            "",
            "com.example.",
            "h\ttp",
        ][..],
    );
    let sep = select(&["://", ":", ":/", ":///", "//", ":\\\\", "://\t"][..]);
    let userinfo = select(&["", "", "", "u@", ":p@", "u:p@", "@", ":@", "%40@"][..]);
    let host = select(
        &[
            "127.0.0.1",
            "localhost",
            "[::1]",
            "app.example.com",
            "LOCALHOST",
            "127.1",
            "0x7f.1",
            "127.0.0.1.evil.example",
            "xn--nxasmq6b.example",
            "Ex\u{00e4}mple.com",
            "",
            "%31",
            "[::ffff:127.0.0.1]",
            "a.example.",
            "127.0.0.1\u{3002}example",
        ][..],
    );
    let port = select(
        &[
            "", "", ":", ":0", ":80", ":443", ":5000", ":65535", ":65536", ":+1",
        ][..],
    );
    let segment = prop_oneof![
        4 => select(&["cb", "callback", "a", "..", ".", "%2e", "%2E%2e", "x y", "", "\u{e9}"][..])
            .prop_map(str::to_string),
        1 => nasty_piece(),
    ];
    let path = prop::collection::vec(segment, 0..4)
        .prop_map(|s| s.iter().map(|p| format!("/{p}")).collect::<String>());
    let query = select(&["", "", "?", "?a=b", "?a=b&c", "?%zz", "?#"][..]);
    let fragment = select(&["", "", "", "#", "#x"][..]);
    let parts = (scheme, sep, userinfo, host, port, path, query, fragment);
    let assembled =
        parts.prop_map(|(s, sep, u, h, p, path, q, f)| format!("{s}{sep}{u}{h}{p}{path}{q}{f}"));
    prop_oneof![
        6 => assembled.clone(),
        2 => (assembled, any::<usize>(), nasty_piece())
            .prop_map(|(u, at, piece)| insert_at(&u, at, &piece)),
        1 => nasty_text(12),
    ]
}

/// A presented URI derived from a registered one: the same, another port, or mutated.
fn presented_for(registered: String) -> impl Strategy<Value = String> {
    let with_port = registered.clone();
    let mutated = registered.clone();
    prop_oneof![
        1 => Just(registered),
        3 => select(&[None, Some(1u16), Some(80), Some(5000), Some(65535)][..]).prop_map(move |port| {
            match Url::parse(&with_port) {
                Ok(mut u) => {
                    let _ = u.set_port(port);
                    u.to_string()
                }
                Err(_) => with_port.clone(),
            }
        }),
        3 => (any::<usize>(), nasty_piece()).prop_map(move |(at, piece)| insert_at(&mutated, at, &piece)),
        2 => uri(),
    ]
}

/// `u` without its port, for comparing loopback redirects.
fn without_port(u: &str) -> Option<String> {
    let mut url = Url::parse(u).ok()?;
    url.set_port(None).ok()?;
    Some(url.to_string())
}

#[test]
fn fuzz_redirect_uri() {
    let cases = (uri(), any::<bool>()).prop_flat_map(|(registered, is_native)| {
        (
            Just(registered.clone()),
            presented_for(registered),
            Just(is_native),
        )
    });
    run(
        "redirect_uri",
        cases,
        |(registered, presented, is_native)| {
            let accepted = redirect_uri::validate(&registered, is_native);
            if let Ok(()) = accepted {
                let url =
                    Url::parse(&registered).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    url.as_str() == registered || url.as_str() == format!("{registered}/"),
                    "accepted a URI not in normal form: {registered:?} → {}",
                    url.as_str()
                );
                prop_assert!(url.fragment().is_none() && !registered.contains('#'));
                prop_assert!(url.username().is_empty() && url.password().is_none());
                match url.scheme() {
                    "https" => prop_assert!(url.host_str().is_some_and(|h| !h.is_empty())),
                    "http" => {
                        prop_assert!(url.host_str().is_some_and(redirect_uri::is_loopback_host))
                    }
                    s => prop_assert!(
                        is_native && s.contains('.') && !s.split('.').any(str::is_empty)
                    ),
                }
                prop_assert!(
                    redirect_uri::validate(&registered, true).is_ok(),
                    "native accepts what web does"
                );
                prop_assert!(
                    redirect_uri::matches(&registered, &registered),
                    "a registered URI matches itself"
                );
            }
            if redirect_uri::matches(&registered, &presented) {
                // What matches is what the browser will be sent to: normal form, and the
                // registered URI itself except for a loopback port.
                let p = Url::parse(&presented).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    p.as_str() == presented || p.as_str() == format!("{presented}/"),
                    "matched a URI not in normal form: {presented:?}"
                );
                if presented != registered {
                    prop_assert_eq!(p.scheme(), "http");
                    prop_assert!(p.host_str().is_some_and(redirect_uri::is_loopback_host));
                    prop_assert_eq!(
                        without_port(&presented),
                        without_port(&registered),
                        "{:?} matched {:?} but differs beyond the port",
                        presented,
                        registered
                    );
                }
            }
            Ok(())
        },
    );
}

fn json_text() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        6 => mostly_plain_text().prop_map(Value::from),
        2 => uri().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!(["x"])),
        1 => Just(json!({"a": 1})),
    ]
}

fn json_list(
    items: impl Strategy<Value = Value> + Clone + 'static,
) -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        6 => prop::collection::vec(items, 0..4).prop_map(Value::from),
        1 => Just(json!("not-a-list")),
        1 => Just(Value::Null),
        1 => prop::collection::vec(Just(json!("https://a.example/cb")), 18..24).prop_map(Value::from),
    ]
}

/// A registration request or metadata document: known members with values that are
/// often right, sometimes wrong in kind or content.
fn metadata_object() -> impl Strategy<Value = Map<String, Value>> {
    let uris = json_list(prop_oneof![
        3 => select(&["https://a.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb",
            "http://localhost:3000/x", "http://[::1]/"][..]).prop_map(Value::from),
        2 => uri().prop_map(Value::from),
    ]);
    let grants = json_list(
        select(
            &[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "implicit",
                "",
            ][..],
        )
        .prop_map(Value::from),
    );
    let responses = json_list(select(&["code", "token", ""][..]).prop_map(Value::from));
    let method = prop_oneof![
        select(
            &[
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "NONE"
            ][..]
        )
        .prop_map(Value::from),
        json_text(),
    ];
    let app_type = prop_oneof![
        select(&["web", "native", "tv", "Web", ""][..]).prop_map(Value::from),
        json_text(),
    ];
    let scope = prop_oneof![
        select(
            &[
                "tickets.read",
                "a b a",
                "portcullis:admin",
                "x\"y",
                "openid"
            ][..]
        )
        .prop_map(Value::from),
        json_text(),
    ];
    let contacts = json_list(json_text());
    let fields = (
        (uris.clone(), grants, responses, method, app_type),
        (json_text(), json_text(), json_text(), scope, contacts),
        (json_text(), json_text(), uris),
        prop::collection::vec(any::<bool>(), 13),
    );
    fields.prop_map(
        |((r, g, rt, m, at), (name, curi, logo, scope, contacts), (sid, sver, plo), keep)| {
            let all = [
                ("redirect_uris", r),
                ("grant_types", g),
                ("response_types", rt),
                ("token_endpoint_auth_method", m),
                ("application_type", at),
                ("client_name", name),
                ("client_uri", curi),
                ("logo_uri", logo),
                ("scope", scope),
                ("contacts", contacts),
                ("software_id", sid),
                ("software_version", sver),
                ("post_logout_redirect_uris", plo),
            ];
            all.into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|((k, v), _)| (k.to_string(), v))
                .collect()
        },
    )
}

fn is_safe_text(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || client_text::is_bidi_control(c))
}

#[test]
fn fuzz_client_metadata() {
    run("client_metadata", metadata_object(), |obj| {
        let Ok(req) = serde_json::from_value::<RegistrationRequest>(Value::Object(obj.clone()))
        else {
            return Ok(());
        };
        let Ok(m) = client_metadata::validate(req) else {
            return Ok(());
        };
        if let Some(name) = &m.client_name {
            prop_assert!(is_safe_text(name), "accepted client_name {name:?}");
            prop_assert!(name.chars().count() <= client_metadata::MAX_CLIENT_NAME_CHARS);
        }
        prop_assert!(matches!(m.application_type.as_str(), "web" | "native"));
        prop_assert!(matches!(
            m.token_endpoint_auth_method.as_str(),
            "none" | "client_secret_basic" | "client_secret_post"
        ));
        prop_assert!(!m.grant_types.is_empty());
        prop_assert!(
            m.grant_types
                .iter()
                .all(|g| g == "authorization_code" || g == "refresh_token")
        );
        prop_assert!(
            !m.redirect_uris.is_empty() || !m.grant_types.iter().any(|g| g == "authorization_code")
        );
        for u in &m.redirect_uris {
            prop_assert!(redirect_uri::validate(u, m.application_type == "native").is_ok());
        }
        for key in ["contacts", "software_id", "software_version"] {
            for text in texts(&m.document[key]) {
                prop_assert!(is_safe_text(text), "accepted {key} {text:?}");
            }
        }
        if let Some(s) = m.document["scope"].as_str() {
            let scopes = scope::parse(s).map_err(TestCaseError::fail)?;
            prop_assert!(!scopes.iter().any(|x| x == scope::ADMIN_SCOPE));
        }
        Ok(())
    });
}

fn texts(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn cimd_url() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (select(&["https://app.example", "https://APP.example", "https://app.example:443",
                "https://app.example:8443", "http://app.example", "https://u@app.example",
                "https://127.0.0.1", "https://[::1]", "https://"][..]),
              prop::collection::vec(select(&["client.json", "..", ".", "%2e", "%2e%2e", "",
                "a b", "x?y", "#f", "\u{e9}"][..]), 0..4))
            .prop_map(|(base, segs)| format!("{base}{}", segs.iter().map(|s| format!("/{s}")).collect::<String>())),
        2 => (Just("https://app.example/client.json"), any::<usize>(), nasty_piece())
            .prop_map(|(u, at, piece)| insert_at(u, at, &piece)),
        1 => uri(),
    ]
}

#[test]
fn fuzz_cimd() {
    let cases = (
        cimd_url(),
        metadata_object(),
        select(&[0u8, 1, 2][..]),
        any::<bool>(),
    );
    run("cimd", cases, |(client_id, mut doc, id_mode, secret)| {
        if let Ok(url) = cimd::validate_url(&client_id) {
            prop_assert_eq!(url.as_str(), client_id.as_str());
            prop_assert_eq!(url.scheme(), "https");
            prop_assert!(url.host_str().is_some_and(|h| !h.is_empty()));
            prop_assert!(url.username().is_empty() && url.password().is_none());
            prop_assert!(url.fragment().is_none());
            prop_assert!(
                url.path() != "/"
                    && url
                        .path_segments()
                        .is_some_and(|mut s| !s
                            .any(|x| x == "." || x == ".." || x.eq_ignore_ascii_case("%2e")))
            );
        }
        match id_mode {
            0 => {
                doc.insert("client_id".into(), json!(client_id));
            }
            1 => {
                doc.insert("client_id".into(), json!("https://other.example/c"));
            }
            _ => {}
        }
        if secret {
            doc.insert("client_secret".into(), json!("s"));
        }
        // The flow validates the URL before it fetches the document.
        let is_fetched = cimd::validate_url(&client_id).is_ok();
        let checked =
            is_fetched.then(|| cimd::validate_document(&client_id, &Value::Object(doc.clone())));
        if let Some(Ok(client)) = checked {
            prop_assert_eq!(&client.id, &client_id);
            prop_assert!(id_mode == 0 && !secret);
            prop_assert!(
                is_safe_text(&client.name),
                "accepted name {:?}",
                client.name
            );
            prop_assert!(
                matches!(client.application_type.as_str(), "web" | "native"),
                "accepted application_type {:?}",
                client.application_type
            );
            prop_assert!(!client.redirect_uris.is_empty());
            for u in &client.redirect_uris {
                prop_assert!(
                    redirect_uri::validate(u, client.application_type == "native").is_ok()
                );
            }
            prop_assert!(
                client
                    .grant_types
                    .iter()
                    .all(|g| g == "authorization_code" || g == "refresh_token")
            );
        }
        Ok(())
    });
}

/// A form body: name=value pairs from a small alphabet (so names repeat), joined by `&`
/// or `;`, sometimes with raw bytes.
fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let name = select(&["a", "b", "code", "scope", "a%62", "", "%", "+"][..]);
    let value = prop_oneof![
        select(&["", "1", "x+y", "%20", "%zz", "%", "=", "%C3%A9", "%ff"][..])
            .prop_map(str::to_string),
        nasty_text(3)
    ];
    let pair = (name, value, any::<bool>()).prop_map(|(n, v, eq)| {
        if eq {
            format!("{n}={v}")
        } else {
            n.to_string()
        }
    });
    prop_oneof![
        4 => prop::collection::vec(pair, 0..8).prop_map(|p| p.join("&").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn fuzz_form_params() {
    run("form_params", form_body(), |body| {
        let params = form::FormParams::parse(&body);
        // Oracle: the same decoder, counted by hand.
        let mut counts = std::collections::HashMap::<String, usize>::new();
        let mut last = std::collections::HashMap::<String, String>::new();
        for (k, v) in form_urlencoded::parse(&body) {
            if v.is_empty() {
                continue;
            }
            *counts.entry(k.to_string()).or_default() += 1;
            last.insert(k.to_string(), v.to_string());
        }
        for (k, n) in &counts {
            prop_assert_eq!(params.get(k), last.get(k).map(String::as_str));
            prop_assert_eq!(params.repeated().contains(k), *n > 1, "{}", k);
        }
        for k in params.repeated() {
            prop_assert!(counts.get(k).is_some_and(|n| *n > 1));
        }
        Ok(())
    });
}

#[test]
fn fuzz_basic_credentials() {
    let text = prop_oneof![nasty_text(10), "[%+0-9a-fA-Fgz]{0,12}"];
    run("basic_credentials", text, |text| {
        let decoded = form::url_decode(&text);
        // Oracle: RFC 3986 §2.1 percent-encoding is exactly `%` and two hex digits.
        let bytes = text.as_bytes();
        let is_well_formed = bytes.iter().enumerate().all(|(i, b)| {
            *b != b'%'
                || bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
        if !is_well_formed {
            prop_assert_eq!(decoded, None, "accepted malformed escapes in {:?}", text);
        } else if let Some(d) = decoded {
            prop_assert!(d.len() <= text.len());
            prop_assert_eq!(
                d.contains(' '),
                text.contains(['+', ' ']) || text.contains("%20")
            );
        }
        Ok(())
    });
}

fn scope_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => select(&["tickets.read", "tickets.manage", "tickets.manage:org_1", "openid", "email",
            "offline_access", "portcullis:admin", "a", "x:y:z", ":", "tickets.manage:"][..]).prop_map(str::to_string),
        1 => nasty_text(3),
    ];
    prop::collection::vec((token, select(&[" ", "  ", "\t", ""][..])), 0..6)
        .prop_map(|v| v.into_iter().map(|(t, s)| format!("{t}{s}")).collect())
}

#[test]
fn fuzz_scope() {
    let cases = (scope_text(), scope_text(), any::<bool>());
    run("scope", cases, |(text, allowed_text, omitted)| {
        match scope::parse(&text) {
            Ok(scopes) => {
                prop_assert!(scopes.iter().all(|s| !s.is_empty() && !s.contains(' ')));
                let is_allowed = |b: u8| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\';
                prop_assert!(
                    scopes.iter().all(|s| s.bytes().all(is_allowed)),
                    "{:?}",
                    scopes
                );
                let mut unique = scopes.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(unique.len(), scopes.len());
                prop_assert_eq!(scope::parse(&scopes.join(" ")).ok(), Some(scopes.clone()));
            }
            Err(_) => {
                let is_refused = |b: u8| !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'\\';
                let has_bad = text.split(' ').any(|t| t.bytes().any(is_refused));
                prop_assert!(has_bad, "refused {:?}", text);
            }
        }
        if let Ok(req) = scope::split_request((!omitted).then_some(text.as_str())) {
            let all: Vec<&String> = req.resource.iter().flatten().chain(&req.oidc).collect();
            prop_assert!(!all.iter().any(|s| *s == scope::ADMIN_SCOPE));
            prop_assert!(
                req.oidc
                    .iter()
                    .all(|s| scope::OIDC_SCOPES.contains(&s.as_str()))
            );
            if let (Some(requested), Ok(allowed)) = (&req.resource, scope::parse(&allowed_text)) {
                for g in scope::intersect(requested, &allowed) {
                    prop_assert!(allowed.contains(&g));
                    prop_assert!(
                        requested.contains(&g)
                            || (g.contains(':') && requested.iter().any(|r| r == scope::base(&g)))
                    );
                }
            }
        }
        Ok(())
    });
}
