//! Seed planning: what is accepted, what is refused (naming entry and key), and that
//! applying twice is idempotent.

use std::sync::Arc;

use super::plan::{Known, PlanContext};
use super::*;
use crate::store::{SqlStore, Store};

fn ctx(secret: &SecretBox) -> PlanContext<'_> {
    PlanContext {
        secret,
        env: &|name| (name == "SET_VAR").then(|| "value-from-env-0123456789".to_string()),
        now: 1,
    }
}

fn refused(text: &str) -> (String, String) {
    let secret = SecretBox::new([1; 32]);
    let file = match parse(text) {
        Ok(f) => f,
        Err(e) => return ("parse".into(), e.to_string()),
    };
    match plan(file, &ctx(&secret)) {
        Err(SeedError::Invalid { entry, key, .. } | SeedError::Conflict { entry, key, .. }) => {
            (entry, key)
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted: {text}"),
    }
}

const RES: &str = r#"
[[resources]]
id = "res_t"
name = "T"
server_url = "http://127.0.0.1:1/mcp"
scopes = [ { name = "t.read" }, { name = "t.manage" } ]
"#;

fn plan(
    file: file::SeedFile,
    ctx: &PlanContext<'_>,
) -> Result<(crate::store::SeedPlan, Vec<plan::PendingAdmin>), SeedError> {
    plan::plan(file, ctx, Known::default())
}

#[test]
fn dev_seed_and_example_seed_are_valid() {
    let secret = SecretBox::new([1; 32]);
    let (p, admins) = plan(
        parse(&dev::seed_text(
            "client-secret-0123456789",
            "pw\"with'quotes",
        ))
        .unwrap(),
        &ctx(&secret),
    )
    .unwrap();
    assert_eq!(p.organizations[0].domains, ["example.com", "example.org"]);
    assert_eq!(p.rules[0].grants, ["tickets.read", "tickets.manage:{org}"]);
    assert_eq!(p.clients[0].id, dev::CLIENT_ID);
    assert_eq!(admins[0].password.as_deref(), Some("pw\"with'quotes"));

    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.toml")).unwrap();
    let c = PlanContext {
        env: &|_| Some("example-secret-0123456789".into()),
        ..ctx(&secret)
    };
    let (p, _) = plan(parse(&example).unwrap(), &c).unwrap();
    let sealed = p.connections[0].settings["client_secret_sealed"]
        .as_str()
        .unwrap();
    assert!(
        !sealed.contains("example-secret"),
        "upstream secrets are sealed at rest"
    );
    assert_eq!(
        secret.open(sealed, &p.connections[0].id).unwrap(),
        b"example-secret-0123456789"
    );
}

#[test]
fn ids_without_explicit_values_are_stable() {
    let text = r#"
[[organizations]]
display_name = "Acme"
[[resources]]
name = "T"
server_url = "http://127.0.0.1:1/mcp"
scopes = [ { name = "t.read" } ]
"#;
    let secret = SecretBox::new([1; 32]);
    let first = plan(parse(text).unwrap(), &ctx(&secret)).unwrap().0;
    let again = plan(parse(text).unwrap(), &ctx(&secret)).unwrap().0;
    assert_eq!(first.organizations[0].id, again.organizations[0].id);
    assert_eq!(first.resources[0].id, again.resources[0].id);
    assert!(first.organizations[0].id.starts_with("org_"));
    assert!(first.resources[0].id.starts_with("res_"));
}

#[test]
fn bad_entries_are_named_with_their_key() {
    let cases: Vec<(String, (&str, &str))> = vec![
        ("[[resources]]\nname = \"X\"\nserver_urll = \"x\"\n".into(), ("parse", "")),
        (format!("{RES}\n[[rules]]\nresource = \"res_nope\"\nwhen = {{ any = true }}\ngrant = [\"t.read\"]\n"), ("rules[0]", "resource")),
        (format!("{RES}\n[[rules]]\nresource = \"res_t\"\nwhen = {{}}\ngrant = [\"t.read\"]\n"), ("rules[0]", "when")),
        (format!("{RES}\n[[rules]]\nresource = \"res_t\"\nwhen = {{ any = true }}\ngrant = [\"x.read\"]\n"), ("rules[0]", "grant")),
        (format!("{RES}\n[[rules]]\nresource = \"res_t\"\nwhen = {{ any = true }}\ngrant = [\"t.read\"]\neffect = \"maybe\"\n"), ("rules[0]", "effect")),
        (format!("{RES}\n[[rules]]\nresource = \"res_t\"\norganization = \"org_nope\"\nwhen = {{ any = true }}\ngrant = [\"t.read\"]\n"), ("rules[0]", "organization")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\ngrant_types = [\"client_credentials\"]\nresources = [\"res_t\"]\n"), ("clients[0]", "secret")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\nsecret = \"0123456789abcdef\"\nresources = [\"res_t\"]\nscopes = [\"other\"]\n"), ("clients[0]", "scopes")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\nsecret_env = \"UNSET_VAR\"\n"), ("clients[0]", "secret_env")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\nsecret = \"0123456789abcdef\"\nsecret_env = \"SET_VAR\"\n"), ("clients[0]", "secret")),
        (format!("{RES}\n[[clients]]\nid = \"usr_1\"\nname = \"c\"\n"), ("clients[0]", "id")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\nredirect_uris = [\"http://evil.example/cb\"]\n"), ("clients[0]", "redirect_uris")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\ngrant_types = [\"password\"]\n"), ("clients[0]", "grant_types")),
        ("[[resources]]\nname = \"X\"\nserver_url = \"not a url\"\n".into(), ("resources[0]", "server_url")),
        ("[[resources]]\nid = \"org_x\"\nname = \"X\"\nserver_url = \"http://127.0.0.1:1/mcp\"\n".into(), ("resources[0]", "id")),
        ("[[resources]]\nname = \"X\"\nserver_url = \"http://127.0.0.1:1/mcp\"\naccess_token_ttl = 0\n".into(), ("resources[0]", "access_token_ttl")),
        ("[[resources]]\nname = \"X\"\nserver_url = \"http://127.0.0.1:1/mcp\"\nscopes = [{ name = \"openid\" }]\n".into(), ("resources[0]", "scopes")),
        (format!("{RES}\n[[resources]]\nid = \"res_u\"\nname = \"U\"\nserver_url = \"http://127.0.0.1:1/mcp\"\n"), ("resources[1]", "server_url")),
        ("[[organizations]]\ndisplay_name = \"A\"\ndomains = [\"x.example\"]\n[[organizations]]\ndisplay_name = \"B\"\ndomains = [\"x.example\"]\n".into(), ("organizations[1]", "domains")),
        ("[[organizations]]\ndisplay_name = \"A\"\n[[organizations.connections]]\nkind = \"ldap\"\n".into(), ("organizations[0].connections[0]", "kind")),
        ("[[organizations]]\ndisplay_name = \"A\"\n[[organizations.connections]]\nkind = \"oidc\"\nclient_id = \"x\"\n".into(), ("organizations[0].connections[0]", "issuer")),
        ("[[organizations]]\ndisplay_name = \"A\"\n[[organizations.connections]]\nkind = \"oidc\"\nissuer = \"https://i.example\"\nclient_id = \"x\"\nidp_metadata_url = \"https://m.example\"\n".into(), ("organizations[0].connections[0]", "idp_metadata_url")),
        ("[[organizations]]\ndisplay_name = \"A\"\n[[organizations.connections]]\nkind = \"saml\"\n".into(), ("organizations[0].connections[0]", "idp_metadata_url")),
        ("[[organizations]]\ndisplay_name = \"A\"\n[[organizations.connections]]\nkind = \"idp_simulator\"\ninitiate_login_uri = \"javascript:alert(1)\"\n".into(), ("organizations[0].connections[0]", "initiate_login_uri")),
        (format!("{RES}\n[[clients]]\nname = \"c\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\ngrant_types = [\"authorization_code\"]\npkce = \"optional\"\n"), ("clients[0]", "pkce")),
        ("[[resources]]\nname = \"X\"\nserver_url = \"http://127.0.0.1:1/mcp\"\ntoken_issuer = \"env\"\n".into(), ("resources[0]", "token_issuer")),
        ("[[admins]]\nusername = \"a\"\npassword = \"short\"\n".into(), ("admins[0]", "password")),
        ("[[admins]]\nusername = \"a\"\npassword_hash = \"$2b$10$xyz\"\n".into(), ("admins[0]", "password_hash")),
        ("[[admins]]\nusername = \"a\"\n".into(), ("admins[0]", "password")),
    ];
    for (text, (entry, key)) in cases {
        let (got_entry, got_key) = refused(&text);
        assert_eq!(got_entry, entry, "{text}");
        if entry != "parse" {
            assert_eq!(got_key, key, "{text}");
        }
    }
}

#[tokio::test]
async fn applying_the_same_seed_twice_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
    let secret = SecretBox::new([1; 32]);
    let text = format!(
        "{RES}\n[[organizations]]\ndisplay_name = \"Acme\"\ndomains = [\"acme.example\"]\n\
         [[rules]]\nresource = \"res_t\"\nwhen = {{ group = \"g\" }}\ngrant = [\"t.manage:{{org}}\"]\n\
         [[clients]]\nname = \"svc\"\nsecret = \"0123456789abcdef\"\ngrant_types = [\"client_credentials\"]\nresources = [\"res_t\"]\nscopes = [\"t.read\"]\n"
    );
    let env = |_: &str| None;
    let first = apply(&store, &secret, &env, &text, 1).await.unwrap();
    let snapshot = |s: Arc<dyn Store>| async move {
        (
            s.list_organizations().await.unwrap(),
            s.list_resources().await.unwrap(),
            s.list_rules("res_t").await.unwrap(),
            s.list_clients()
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.id, c.secret_hash))
                .collect::<Vec<_>>(),
        )
    };
    let before = snapshot(store.clone()).await;
    let second = apply(&store, &secret, &env, &text, 2).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(
        snapshot(store.clone()).await,
        before,
        "nothing duplicated or changed"
    );

    // A changed seed updates what it names and leaves the rest alone.
    let changed = text.replace("name = \"T\"", "name = \"Tickets v2\"").replace(
        "[[clients]]\nname = \"svc\"\nsecret = \"0123456789abcdef\"\ngrant_types = [\"client_credentials\"]\nresources = [\"res_t\"]\nscopes = [\"t.read\"]\n",
        "",
    );
    apply(&store, &secret, &env, &changed, 3).await.unwrap();
    assert_eq!(
        store.find_resource("res_t").await.unwrap().unwrap().name,
        "Tickets v2"
    );
    assert_eq!(
        store.list_clients().await.unwrap().len(),
        1,
        "the client the new file does not name stays"
    );
}

#[test]
fn client_application_type_is_web_or_native() {
    // Found by fuzz_seed_plan: any string was stored as the client's application_type.
    let text = format!(
        "{RES}\n[[clients]]\nname = \"c\"\napplication_type = \"tv\"\n\
         grant_types = [\"authorization_code\"]\nredirect_uris = [\"https://a.example/cb\"]\n"
    );
    assert_eq!(
        refused(&text),
        ("clients[0]".into(), "application_type".into())
    );
}

#[test]
fn a_secret_file_is_read_up_to_a_cap() {
    let text = r#"
[[clients]]
id = "m2m_z"
name = "Z"
secret_file = "/dev/zero"
grant_types = ["client_credentials"]
"#;
    assert_eq!(
        refused(text),
        ("clients[0]".to_string(), "secret_file".to_string())
    );
}

#[tokio::test]
async fn a_conflict_with_what_is_stored_names_the_entry_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
    let secret = SecretBox::new([1; 32]);
    let env = |_: &str| None;
    let first = "[[organizations]]\nid = \"org_a\"\ndisplay_name = \"A\"\nexternal_id = \"a-1\"\ndomains = [\"a.example\"]\n";
    apply(&store, &secret, &env, first, 1).await.unwrap();
    for (text, key) in [
        (
            "[[organizations]]\nid = \"org_b\"\ndisplay_name = \"B\"\ndomains = [\"a.example\"]\n",
            "domains",
        ),
        (
            "[[organizations]]\nid = \"org_b\"\ndisplay_name = \"B\"\nexternal_id = \"a-1\"\n",
            "external_id",
        ),
    ] {
        match apply(&store, &secret, &env, text, 2).await {
            Err(SeedError::Conflict {
                entry, key: got, ..
            }) => {
                assert_eq!((entry.as_str(), got.as_str()), ("organizations[0]", key));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    // Giving the domain up first, in the same file, lets another organization take it.
    let moved = "[[organizations]]\nid = \"org_a\"\ndisplay_name = \"A\"\nexternal_id = \"a-1\"\n\
                 [[organizations]]\nid = \"org_b\"\ndisplay_name = \"B\"\ndomains = [\"a.example\"]\n";
    apply(&store, &secret, &env, moved, 3).await.unwrap();
}
