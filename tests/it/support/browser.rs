//! A scripted browser for the authorization code flow: a reqwest client with a cookie
//! jar and redirects off, driving the real pages over HTTP by their stable field names.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::Spawned;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

/// A PKCE pair (RFC 7636).
pub fn pkce() -> (String, String) {
    let verifier = portcullis::crypto::random_token();
    let challenge = portcullis::crypto::b64url(&portcullis::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// The value of a hidden form field.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub fn new(spawned: &Spawned) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            base: spawned.base.clone(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// A response as the tests read it: status, `Location`, headers and body.
    pub async fn page(res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Page {
            status,
            location,
            body: res.text().await.unwrap(),
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(self.url(path))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Registers a public client at a resource's registration endpoint.
    pub async fn register(&self, resource: &str) -> String {
        self.register_at(&format!("/resources/{resource}/oauth/register"))
            .await
    }

    /// Registers a public client (code and refresh grants) at a registration endpoint.
    pub async fn register_at(&self, path: &str) -> String {
        let res = self
            .http
            .post(self.url(path))
            .json(&serde_json::json!({
                "client_name": "Flow test client",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Signs in at the simulator page a redirect led to; returns the next response.
    pub async fn simulator_login(
        &self,
        simulator_location: &str,
        email: &str,
        groups: &str,
    ) -> Page {
        assert!(
            simulator_location.contains("/sso/v1/simulator/"),
            "expected the simulator: {simulator_location}"
        );
        let page = self.get(simulator_location).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let action = simulator_location.split('?').next().unwrap();
        self.post(
            action,
            &[
                ("request", &hidden(&page.body, "request")),
                ("csrf", &hidden(&page.body, "csrf")),
                ("email", email),
                ("name", "Test Person"),
                ("groups", groups),
            ],
        )
        .await
    }

    /// Approves (or denies) on the consent page a redirect led to.
    pub async fn consent(&self, consent_location: &str, decision: &str) -> Page {
        assert!(
            consent_location.starts_with("/oauth/consent"),
            "expected consent: {consent_location}"
        );
        let page = self.get(consent_location).await;
        assert_eq!(page.status, 200, "{}", page.body);
        self.post(
            "/oauth/consent",
            &[
                ("request", &hidden(&page.body, "request")),
                ("csrf", &hidden(&page.body, "csrf")),
                ("decision", decision),
            ],
        )
        .await
    }

    pub async fn token(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

/// Everything a test needs after a successful flow.
pub struct Flow {
    pub client_id: String,
    pub verifier: String,
    pub code: String,
    pub callback: std::collections::HashMap<String, String>,
}

impl Flow {
    /// The token request that redeems this flow's code: the client, its PKCE verifier and
    /// the redirect URI of the authorization request.
    pub fn code_form(&self) -> [(&'static str, &str); 5] {
        [
            ("grant_type", "authorization_code"),
            ("code", &self.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &self.verifier),
            ("client_id", &self.client_id),
        ]
    }
}

/// The whole flow for a user at an authorize path; returns the code and callback params.
pub async fn authorize_and_consent(
    b: &Browser,
    authorize_path: &str,
    client_id: &str,
    resource_param: Option<&str>,
    scope: &str,
    email: &str,
    groups: &str,
) -> Flow {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("scope", scope),
        ("login_hint", email),
    ];
    if let Some(r) = resource_param {
        params.push(("resource", r));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let start = b.get(&format!("{authorize_path}?{q}")).await;
    assert!(
        start.status.is_redirection(),
        "{} {}",
        start.status,
        start.body
    );
    let after_login = b
        .simulator_login(start.location.as_deref().unwrap(), email, groups)
        .await;
    assert!(
        after_login.status.is_redirection(),
        "{} {}",
        after_login.status,
        after_login.body
    );
    let done = b
        .consent(after_login.location.as_deref().unwrap(), "approve")
        .await;
    assert!(
        done.status.is_redirection(),
        "{} {}",
        done.status,
        done.body
    );
    let location = done.location.unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let callback = query(&location);
    Flow {
        client_id: client_id.to_string(),
        verifier,
        code: callback["code"].clone(),
        callback,
    }
}
