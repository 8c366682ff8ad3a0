//! Targets for seed files (TOML, docs/seed-file.md): any text parses or is refused
//! without a panic, an accepted plan holds only valid values, and a refused file changes
//! nothing in the store.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::select;

use super::run;
use super::text::{insert_at, nasty_piece};
use crate::crypto::SecretBox;
use crate::oauth::redirect_uri;
use crate::seed::{self, dev, plan};
use crate::store::{SqlStore, Store};

const EXAMPLE: &str = include_str!("../../seed.example.toml");

/// Values a mutated `key = value` line may take.
const VALUES: &[&str] = &[
    "\"\"",
    "\"x\"",
    "0",
    "-1",
    "9223372036854775807",
    "1e400",
    "true",
    "[]",
    "[\"a\", 1]",
    "{}",
    "{ group = \"g\" }",
    "\"https://a.example/cb\"",
    "\"http://evil.example/cb\"",
    "\"org_1\"",
    "\"res_x\"",
    "\"m2m_\"",
    "\"skc_1\"",
    "\"tickets.read:{org}\"",
    "\"\\u0000\"",
    "\"/nonexistent\"",
    "\"/dev/null\"",
    "\"/dev/zero\"",
    "\"EX\u{e9}mple.COM\"",
    "\"a@b.c\"",
    "\"tv\"",
    "\"native\"",
    "\"saml\"",
    "\"oidc\"",
    "\"ldap\"",
    "\"<!DOCTYPE x>\"",
    "'''\nx'''",
    "\"portcullis:admin\"",
    "\"client_credentials\"",
    "\"implicit\"",
    "\"$argon2id$v=19$m=1\"",
];

/// Lines a mutation may insert (sections, known keys).
const LINES: &[&str] = &[
    "[[organizations]]",
    "[[organizations.connections]]",
    "[[resources]]",
    "[[rules]]",
    "[[clients]]",
    "[[admins]]",
    "[organizations]",
    "display_name = \"O\"",
    "domains = [\"a.example\"]",
    "kind = \"oidc\"",
    "issuer = \"https://i.example\"",
    "client_id = \"c\"",
    "name = \"N\"",
    "server_url = \"http://127.0.0.1:1/mcp\"",
    "scopes = [ { name = \"t.read\" } ]",
    "resource = \"res_t\"",
    "grant = [\"t.read\"]",
    "when = { any = true }",
    "secret_file = \"/dev/zero\"",
    "client_secret_file = \"/dev/zero\"",
    "secret = \"0123456789abcdef\"",
    "grant_types = [\"authorization_code\"]",
    "redirect_uris = [\"http://127.0.0.1/cb\"]",
    "application_type = \"tv\"",
    "username = \"root\"",
    "password = \"password1\"",
    "unknown_key = 1",
    "x = ",
    "= 1",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SetValue(usize, &'static str),
    InsertLine(usize, &'static str),
    InsertPiece(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        3 => (any::<usize>(), select(VALUES)).prop_map(|(i, v)| Mutation::SetValue(i, v)),
        2 => (any::<usize>(), select(LINES)).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        1 => (any::<usize>(), nasty_piece()).prop_map(|(i, p)| Mutation::InsertPiece(i, p)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        let n = lines.len().max(1);
        match m {
            Mutation::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::SetValue(i, v) if !lines.is_empty() => {
                let line = &mut lines[i % n];
                if let Some((key, _)) = line.split_once('=') {
                    *line = format!("{key}= {v}");
                }
            }
            Mutation::InsertLine(i, l) => lines.insert(i % (lines.len() + 1), (*l).to_string()),
            Mutation::InsertPiece(i, p) => {
                let joined = lines.join("\n");
                lines = insert_at(&joined, *i, p)
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn seed_text() -> impl Strategy<Value = String> {
    let base = select(&[0usize, 1][..]).prop_map(|i| {
        if i == 0 {
            EXAMPLE.to_string()
        } else {
            dev::seed_text("client-secret-0123456789", "password1")
        }
    });
    (base, prop::collection::vec(mutation(), 0..6)).prop_map(|(b, m)| mutate(&b, &m))
}

fn context(secret: &SecretBox) -> plan::PlanContext<'_> {
    plan::PlanContext {
        secret,
        env: &|name| (name == "SET_VAR").then(|| "value-from-env-0123456789".to_string()),
        now: 1,
    }
}

#[test]
fn fuzz_seed_plan() {
    let secret = SecretBox::new([1; 32]);
    run("seed_plan", seed_text(), |text| {
        let Ok(file) = seed::parse(&text) else {
            return Ok(());
        };
        let Ok((p, _admins)) = plan::plan(file, &context(&secret), plan::Known::default()) else {
            return Ok(());
        };
        for o in &p.organizations {
            prop_assert!(crate::ids::validate("org", &o.id).is_ok(), "{}", o.id);
            for d in &o.domains {
                prop_assert!(
                    d.contains('.') && !d.contains(['@', '/', ' ']) && *d == d.to_ascii_lowercase()
                );
            }
        }
        for r in &p.resources {
            prop_assert!((10..=86_400).contains(&r.access_token_ttl));
            prop_assert!((60..=31_536_000).contains(&r.refresh_token_ttl));
        }
        for c in &p.clients {
            prop_assert!(
                matches!(c.application_type.as_str(), "web" | "native"),
                "accepted application_type {:?}",
                c.application_type
            );
            for u in &c.redirect_uris {
                prop_assert!(redirect_uri::validate(u, c.application_type == "native").is_ok());
            }
        }
        Ok(())
    });
}

/// What a seed writes, as comparable values.
async fn snapshot(store: &Arc<dyn Store>) -> String {
    let mut rules = Vec::new();
    let resources = store.list_resources().await.unwrap_or_default();
    for r in &resources {
        rules.push(store.list_rules(&r.id).await.unwrap_or_default());
    }
    let clients: Vec<_> = store
        .list_clients()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.id, c.name, c.secret_hash, c.redirect_uris, c.scopes))
        .collect();
    format!(
        "{:?}\n{resources:?}\n{rules:?}\n{:?}\n{clients:?}\n{:?}",
        store.list_organizations().await.unwrap_or_default(),
        store.list_connections().await.unwrap_or_default(),
        store
            .find_admin("admin")
            .await
            .ok()
            .flatten()
            .map(|a| a.password_hash),
    )
}

#[test]
fn fuzz_seed_apply() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let secret = SecretBox::new([1; 32]);
    let env = |_: &str| None;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("seed.db").display());
    let (store, hash) = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.expect("store"));
        let hash = crate::password::hash("password1".into())
            .await
            .expect("hash");
        (store, hash)
    });
    // Plain passwords would spend each case in argon2: cases name a hash instead.
    let base = dev::seed_text("client-secret-0123456789", "password1");
    rt.block_on(seed::apply(&store, &secret, &env, &base, 1))
        .expect("the example applies");
    let texts = prop::collection::vec(mutation(), 1..6).prop_map(move |m| mutate(&base, &m));
    run("seed_apply", texts, |text| {
        let text = text.replace(
            "password = \"password1\"",
            &format!("password_hash = \"{hash}\""),
        );
        rt.block_on(async {
            let before = snapshot(&store).await;
            if seed::apply(&store, &secret, &env, &text, 2).await.is_err() {
                prop_assert_eq!(
                    snapshot(&store).await,
                    before,
                    "a refused seed changed the store"
                );
            }
            Ok(())
        })
    });
}
