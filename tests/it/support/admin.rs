//! Helpers of the admin tests: an admin signed in over HTTP (cookie jar, redirects off),
//! form posts that carry the page's CSRF token, a user's tokens through the simulator flow,
//! an admin bearer token from the admin client, and calls of the admin API with it.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::browser::{Browser, Page, hidden};
use crate::support::{ADMIN_CLIENT_SECRET, ADMIN_PASSWORD, Spawned, basic, decode_jwt};

pub const XSS: &str = "<script>alert(1)</script>";
pub const XSS_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

/// An admin's browser: signed in, cookie jar, redirects off.
pub struct Admin {
    pub b: Browser,
}

impl Admin {
    pub async fn login(s: &Spawned) -> Admin {
        let b = Browser::new(s);
        let page = b.get("/admin/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let res = b
            .post(
                "/admin/login",
                &[("username", "admin"), ("password", ADMIN_PASSWORD)],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location.as_deref(), Some("/admin"));
        Admin { b }
    }

    /// GETs a page and asserts it rendered.
    pub async fn page(&self, path: &str) -> Page {
        let page = self.b.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        page
    }

    /// The CSRF token of the session (from any page's logout form).
    pub async fn csrf(&self) -> String {
        hidden(&self.page("/admin").await.body, "csrf")
    }

    /// POSTs a form with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.b.post(path, &form).await
    }

    /// POSTs and follows the 303 of Post/Redirect/Get; returns the page and its flash.
    pub async fn post_ok(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let res = self.post(path, fields).await;
        assert_eq!(res.status, 303, "{path}: {}", res.body);
        let next = self.page(res.location.as_deref().unwrap()).await;
        assert!(next.body.contains("id=\"flash\""), "{}", next.body);
        next
    }
}

/// An access token with `portcullis:admin` for the seeded admin client.
pub async fn admin_token(s: &Spawned) -> String {
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic("m2m_admin", ADMIN_CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "portcullis:admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "portcullis:admin");
    let token = body["access_token"].as_str().unwrap().to_string();
    let (_, claims) = decode_jwt(&token);
    assert_eq!(
        claims["aud"][1],
        format!("{}/api/v1/admin", s.base),
        "admin tokens are for the admin API only"
    );
    token
}

/// Asserts the protective headers of an admin page.
pub fn assert_protected(page: &Page) {
    let h = |n: &str| {
        page.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(h("cache-control"), "no-store");
    assert_eq!(h("referrer-policy"), "no-referrer");
    assert_eq!(h("x-frame-options"), "DENY");
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
}

/// Calls of the admin API with one `Authorization` header; every answer must be no-store.
pub struct Api<'a> {
    pub s: &'a Spawned,
    pub auth: String,
}

impl Api<'_> {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/api/v1/admin{path}", self.s.base))
            .header("authorization", &self.auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        assert_eq!(res.headers()["cache-control"], "no-store");
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// The admin API with the admin client's bearer token.
pub async fn bearer(s: &Spawned) -> Api<'_> {
    Api {
        auth: format!("Bearer {}", admin_token(s).await),
        s,
    }
}
