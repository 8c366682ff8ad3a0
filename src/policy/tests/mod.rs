//! Rule evaluation: fixtures, the reference scenario, and conditions (organization,
//! email domain, groups, attributes, malformed rules).

use serde_json::{Map, Value, json};

use super::*;
use crate::store::Conditions;

const ENTRA_GROUP: &str = "5f1c2a9e-3b7d-4e21-9a6f-0c8d1e2f3a4b";

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn rule(id: &str, position: i64, effect: &str, conditions: Value, grants: &[&str]) -> Rule {
    Rule {
        id: id.into(),
        name: String::new(),
        resource_id: "res_1".into(),
        organization_id: None,
        conditions: Conditions::from_json(&conditions).expect("well-formed conditions"),
        grants: v(grants),
        effect: RuleEffect::parse(effect).expect("allow or deny"),
        position,
    }
}

fn allow(id: &str, position: i64, conditions: Value, grants: &[&str]) -> Rule {
    rule(id, position, "allow", conditions, grants)
}

fn deny(id: &str, position: i64, conditions: Value, grants: &[&str]) -> Rule {
    rule(id, position, "deny", conditions, grants)
}

fn in_org(mut r: Rule, org: &str) -> Rule {
    r.organization_id = Some(org.into());
    r
}

fn anyone() -> Value {
    json!({"any": true})
}

struct User {
    email: Option<String>,
    is_email_verified: bool,
    groups: Vec<String>,
    attributes: Map<String, Value>,
}

impl User {
    fn new(email: &str) -> Self {
        Self {
            email: Some(email.into()),
            is_email_verified: true,
            groups: Vec::new(),
            attributes: Map::new(),
        }
    }
    fn groups(mut self, groups: &[&str]) -> Self {
        self.groups = v(groups);
        self
    }
    fn unverified(mut self) -> Self {
        self.is_email_verified = false;
        self
    }
    fn attr(mut self, name: &str, value: Value) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }
    fn identity(&self) -> Identity<'_> {
        Identity {
            email: self.email.as_deref(),
            is_email_verified: self.is_email_verified,
            groups: &self.groups,
            attributes: &self.attributes,
        }
    }
}

struct Org {
    id: String,
    domains: Vec<String>,
}

fn org(id: &str, domains: &[&str]) -> Org {
    Org {
        id: id.into(),
        domains: v(domains),
    }
}

fn acme() -> Org {
    org("org_acme", &["acme.com"])
}

fn resource_scopes() -> Vec<String> {
    v(&["tickets.read", "tickets.manage", "tickets.delete"])
}

fn eval_in(user: &User, org: &Org, rules: &[Rule], requested: Option<&[&str]>) -> Decision {
    let ctx = OrgContext {
        organization_id: &org.id,
        domains: &org.domains,
    };
    let requested = requested.map(v);
    evaluate(
        &user.identity(),
        &ctx,
        rules,
        &resource_scopes(),
        requested.as_deref(),
    )
}

fn eval(user: &User, rules: &[Rule], requested: Option<&[&str]>) -> Decision {
    eval_in(user, &acme(), rules, requested)
}

fn granted(user: &User, rules: &[Rule], requested: Option<&[&str]>) -> Vec<String> {
    eval(user, rules, requested).granted
}

fn why(scope: &str, outcome: Outcome, rule_id: &str) -> Explanation {
    Explanation {
        scope: scope.into(),
        outcome,
        rule_id: rule_id.into(),
    }
}

fn reference_rules() -> Vec<Rule> {
    vec![
        allow(
            "rul_admins",
            0,
            json!({"group": "jira-admins"}),
            &["tickets.read", "tickets.manage:{org}"],
        ),
        allow("rul_anyone", 1, anyone(), &["tickets.read"]),
    ]
}

const READ_MANAGE: &[&str] = &["tickets.read", "tickets.manage"];

#[test]
fn reference_scenario_alice_gets_manage_in_her_org() {
    let alice = User::new("alice@acme.com").groups(&["jira-admins"]);
    let d = eval(&alice, &reference_rules(), Some(READ_MANAGE));
    assert_eq!(d.granted, v(&["tickets.read", "tickets.manage:org_acme"]));
    assert_eq!(
        d.explanations,
        vec![
            why("tickets.read", Outcome::Granted, "rul_admins"),
            why("tickets.manage:org_acme", Outcome::Granted, "rul_admins"),
        ]
    );
}

#[test]
fn reference_scenario_bob_gets_only_read() {
    let bob = User::new("bob@acme.com").groups(&["eng"]);
    let d = eval(&bob, &reference_rules(), Some(READ_MANAGE));
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(
        d.explanations,
        vec![why("tickets.read", Outcome::Granted, "rul_anyone")]
    );
}

#[test]
fn org_placeholder_takes_the_sign_in_organization() {
    let alice = User::new("alice@globex.com").groups(&["jira-admins"]);
    let globex = org("org_globex", &["globex.com"]);
    let d = eval_in(&alice, &globex, &reference_rules(), Some(READ_MANAGE));
    assert_eq!(d.granted, v(&["tickets.read", "tickets.manage:org_globex"]));
    // A contextual scope for another organization is not met by this one.
    let d = eval_in(
        &alice,
        &globex,
        &reference_rules(),
        Some(&["tickets.manage:org_acme"]),
    );
    assert!(d.granted.is_empty());
}

#[test]
fn organization_restricted_rules_apply_only_in_their_organization() {
    let rules = [in_org(
        allow("rul_acme", 0, anyone(), &["tickets.delete"]),
        "org_acme",
    )];
    let carol = User::new("carol@acme.com");
    assert_eq!(granted(&carol, &rules, None), v(&["tickets.delete"]));
    let globex = org("org_globex", &["globex.com"]);
    let d = eval_in(&carol, &globex, &rules, None);
    assert!(d.granted.is_empty());
    assert!(d.explanations.is_empty());
    // The same holds for deny rules: acme's deny does not touch globex users.
    let rules = [
        allow("rul_all", 0, anyone(), &["tickets.read"]),
        in_org(deny("rul_no", 1, anyone(), &["tickets.read"]), "org_acme"),
    ];
    assert!(granted(&carol, &rules, None).is_empty());
    assert_eq!(
        eval_in(&carol, &globex, &rules, None).granted,
        v(&["tickets.read"])
    );
}

#[test]
fn email_domain_needs_a_verified_email_of_the_organizations_domain() {
    let rules = [allow(
        "rul_domain",
        0,
        json!({"email_domain": "acme.com"}),
        &["tickets.read"],
    )];
    let read = Some(&["tickets.read"][..]);
    assert_eq!(
        granted(&User::new("dave@acme.com"), &rules, read),
        v(&["tickets.read"])
    );
    assert_eq!(
        granted(&User::new("Dave@ACME.Com"), &rules, read),
        v(&["tickets.read"])
    );
    // The domain is what follows the last `@` (RFC 5321 allows `@` in a quoted local part).
    assert_eq!(
        granted(&User::new("\"dave@home\"@acme.com"), &rules, read),
        v(&["tickets.read"])
    );
    assert!(granted(&User::new("dave@acme.com").unverified(), &rules, read).is_empty());

    // The domain matches the condition, but the user signed in through another
    // organization, which does not own acme.com.
    let globex = org("org_globex", &["globex.com"]);
    assert!(
        eval_in(&User::new("dave@acme.com"), &globex, &rules, read)
            .granted
            .is_empty()
    );
    // The organization owns the domain, but the condition names another.
    let both = org("org_acme", &["acme.com", "acme.io"]);
    assert!(
        eval_in(&User::new("dave@acme.io"), &both, &rules, read)
            .granted
            .is_empty()
    );

    for email in [
        "dave@sub.acme.com",
        "dave@acme.com.evil.io",
        "acme.com@evil.io",
        "dave@acme.com@evil.io",
        "acme.com",
        "@acme.com",
    ] {
        assert!(
            granted(&User::new(email), &rules, read).is_empty(),
            "{email}"
        );
    }
    let mut nobody = User::new("x@acme.com");
    nobody.email = None;
    assert!(granted(&nobody, &rules, read).is_empty());
}

#[test]
fn group_names_compare_exactly() {
    let rules = [
        allow(
            "rul_jira",
            0,
            json!({"group": "jira-admins"}),
            &["tickets.manage"],
        ),
        allow(
            "rul_entra",
            1,
            json!({"group": ENTRA_GROUP}),
            &["tickets.delete"],
        ),
    ];
    let exact = User::new("e@acme.com").groups(&["jira-admins", ENTRA_GROUP]);
    assert_eq!(
        granted(&exact, &rules, None),
        v(&["tickets.manage", "tickets.delete"])
    );
    for group in [
        "Jira-Admins",
        "jira-admins ",
        "jira",
        "jira-admins-old",
        &ENTRA_GROUP.to_uppercase(),
        &ENTRA_GROUP[..8],
    ] {
        let near = User::new("e@acme.com").groups(&[group]);
        assert!(granted(&near, &rules, None).is_empty(), "{group}");
    }
}

mod scopes;
