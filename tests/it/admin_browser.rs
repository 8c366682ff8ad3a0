//! The admin pages in headless Chromium, driven over the W3C WebDriver protocol
//! (chromedriver) with plain HTTP: sign in, create an organization and a rule granting
//! `tickets.manage:{org}` to group `jira-admins`, run the rule simulator and read its
//! explanation, and save full-page screenshots under `target/admin-screenshots/` for a
//! person to look at. Needs Debian's `chromium` and `chromium-driver` (CI installs them);
//! without them the test fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::peers::Peer;
use crate::support::{ADMIN_PASSWORD, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a port it picked, and one browser session; both end on drop.
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    _process: Peer,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "headless Chromium is needed: apt-get install chromium chromium-driver"
        );
        // Port 0: it picks a free port and names it.
        let mut cmd = tokio::process::Command::new(CHROMEDRIVER);
        cmd.arg("--port=0").stdin(Stdio::null());
        let (process, started) = Peer::start("chromedriver", cmd, |l| {
            l.starts_with("ChromeDriver was started successfully on port ")
        })
        .await;
        let port: u16 = started
            .trim_start_matches("ChromeDriver was started successfully on port ")
            .trim_end_matches('.')
            .parse()
            .unwrap_or_else(|_| panic!("no port in {started:?}"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // Element lookups wait for the page a click led to (the machine may be busy).
            "timeouts": { "implicit": 10000, "pageLoad": 30000 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_string();
        Driver {
            http,
            base,
            session,
            _process: process,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Waits (up to 10 s) until the current URL satisfies `is_there`, then returns it.
    async fn wait_url(&self, is_there: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if is_there(&url) {
                return url;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.url().await
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": cmd, "params": params })),
        )
        .await
    }

    /// A screenshot of the whole page, not only the window.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (w, h) = (
            size["width"].as_f64().unwrap_or(1280.0).ceil(),
            size["height"].as_f64().unwrap_or(900.0).ceil(),
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true,
                        "clip": { "x": 0, "y": 0, "width": w, "height": h, "scale": 1 } }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// `<target>/admin-screenshots`: the target dir is three levels above the test binary
/// (`<target>/debug/deps/it-…`), wherever CARGO_TARGET_DIR points.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("admin-screenshots"))
        .unwrap_or_else(|| PathBuf::from("target/admin-screenshots"))
}

#[tokio::test]
async fn an_admin_in_chromium_creates_an_organization_and_a_rule_and_simulates_it() {
    let s = TestApp::builder().spawn().await;
    let d = Driver::start().await;

    d.goto(&format!("{}/admin/rules", s.base)).await;
    assert!(
        d.url().await.ends_with("/admin/login"),
        "no session: the login page"
    );
    d.type_into("#username", "admin").await;
    d.type_into("#password", ADMIN_PASSWORD).await;
    d.click("#sign-in").await;
    let dashboard = format!("{}/admin", s.base);
    assert_eq!(d.wait_url(|u| u == dashboard).await, dashboard);
    assert_eq!(d.text("#admin-user").await, "admin");
    let shot = d.screenshot("dashboard").await;

    d.goto(&format!("{}/admin/organizations", s.base)).await;
    d.type_into("#display_name", "Initech").await;
    d.type_into("#domains", "initech.example").await;
    d.click("#new-organization button[type=submit]").await;
    assert_eq!(d.text("#flash").await, "Organization Initech created.");
    let org = d
        .wait_url(|u| u.contains("/admin/organizations/org_"))
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(org.starts_with("org_"), "{org}");

    d.goto(&format!("{}/admin/rules", s.base)).await;
    d.type_into("#name", "Initech Jira admins manage tickets")
        .await;
    d.click("#resource_id option[value=res_tickets]").await;
    d.click(&format!("#organization_id option[value={org}]"))
        .await;
    d.type_into("#group", "jira-admins").await;
    d.type_into("#grants", "tickets.manage:{org}").await;
    d.click("#create-rule").await;
    assert!(d.text("#flash").await.starts_with("Rule rule_"), "created");
    assert!(
        d.text("#rules")
            .await
            .contains("Initech Jira admins manage tickets")
    );
    d.screenshot("rules").await;

    d.goto(&format!("{}/admin/simulator", s.base)).await;
    d.click("#resource_id option[value=res_tickets]").await;
    d.click(&format!("#organization_id option[value={org}]"))
        .await;
    d.type_into("#email", "alice@initech.example").await;
    d.type_into("#groups", "jira-admins").await;
    d.type_into("#scope", "tickets.read tickets.manage").await;
    d.click("#simulate").await;
    let granted = d.text("#granted").await;
    assert!(
        granted.contains(&format!("tickets.manage:{org}")),
        "{granted}"
    );
    let why = d.text("#explanations").await;
    assert!(
        why.contains(&format!(
            "tickets.manage:{org} granted by rule “Initech Jira admins manage tickets”"
        )),
        "{why}"
    );
    assert!(
        why.contains("tickets.read granted by rule rule_readers"),
        "{why}"
    );
    d.screenshot("simulator").await;

    d.goto(&format!("{}/admin/clients", s.base)).await;
    d.screenshot("clients").await;
    d.goto(&format!("{}/admin/audit", s.base)).await;
    assert!(d.text("#events").await.contains("admin.rule.created"));
    d.screenshot("audit").await;

    // A phone-sized window: the pages still read (no horizontal overflow of the page).
    d.cmd(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({ "width": 390, "height": 844 })),
    )
    .await;
    d.goto(&format!("{}/admin/rules", s.base)).await;
    let metrics = d.cdp("Page.getLayoutMetrics", json!({})).await;
    let width = metrics["cssContentSize"]["width"].as_f64().unwrap();
    assert!(
        width <= 400.0,
        "the rules page fits a narrow screen: {width}"
    );
    d.screenshot("rules-narrow").await;
    assert!(shot.exists());
    let _ = d
        .http
        .delete(format!("{}/session/{}", d.base, d.session))
        .send()
        .await;
}
