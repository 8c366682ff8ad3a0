//! Deny rules, requested and omitted scopes, what is never granted, explanations, order.

use super::*;

#[test]
fn deny_of_a_base_scope_removes_its_contextual_forms() {
    let rules = [
        allow(
            "rul_allow",
            0,
            anyone(),
            &["tickets.read", "tickets.manage", "tickets.manage:{org}"],
        ),
        deny("rul_deny", 1, anyone(), &["tickets.manage"]),
    ];
    let d = eval(&User::new("a@acme.com"), &rules, Some(READ_MANAGE));
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(
        d.explanations,
        vec![
            why("tickets.read", Outcome::Granted, "rul_allow"),
            why("tickets.manage", Outcome::Denied, "rul_deny"),
            why("tickets.manage:org_acme", Outcome::Denied, "rul_deny"),
        ]
    );
}

#[test]
fn deny_of_a_contextual_form_leaves_the_base_and_other_forms() {
    let rules = [
        allow(
            "rul_allow",
            0,
            anyone(),
            &[
                "tickets.manage",
                "tickets.manage:{org}",
                "tickets.manage:org_x",
            ],
        ),
        deny("rul_deny", 1, anyone(), &["tickets.manage:{org}"]),
    ];
    let d = eval(&User::new("a@acme.com"), &rules, Some(&["tickets.manage"]));
    assert_eq!(d.granted, v(&["tickets.manage", "tickets.manage:org_x"]));
    assert_eq!(
        d.explain("tickets.manage:org_acme"),
        Some(&why("tickets.manage:org_acme", Outcome::Denied, "rul_deny"))
    );
}

#[test]
fn deny_wins_regardless_of_position() {
    let user = User::new("a@acme.com").groups(&["ops"]);
    for deny_position in [-5, 0, 3, 99] {
        let rules = [
            allow("rul_a", 1, anyone(), &["tickets.read", "tickets.delete"]),
            allow("rul_b", 2, json!({"group": "ops"}), &["tickets.delete"]),
            deny("rul_deny", deny_position, anyone(), &["tickets.delete"]),
        ];
        let d = eval(&user, &rules, None);
        assert_eq!(d.granted, v(&["tickets.read"]), "{deny_position}");
        assert_eq!(
            d.explain("tickets.delete"),
            Some(&why("tickets.delete", Outcome::Denied, "rul_deny"))
        );
    }
}

#[test]
fn a_deny_rule_that_does_not_apply_removes_nothing() {
    let rules = [
        allow("rul_a", 0, anyone(), &["tickets.delete"]),
        deny(
            "rul_deny",
            1,
            json!({"group": "contractors"}),
            &["tickets.delete"],
        ),
    ];
    let d = eval(&User::new("a@acme.com").groups(&["staff"]), &rules, None);
    assert_eq!(d.granted, v(&["tickets.delete"]));
    assert_eq!(
        d.explanations,
        vec![why("tickets.delete", Outcome::Granted, "rul_a")]
    );
}

#[test]
fn a_requested_contextual_scope_is_met_only_by_itself() {
    let rules = [allow(
        "rul_a",
        0,
        anyone(),
        &["tickets.read", "tickets.manage:{org}"],
    )];
    let user = User::new("a@acme.com");
    assert_eq!(
        granted(&user, &rules, Some(&["tickets.manage:org_acme"])),
        v(&["tickets.manage:org_acme"])
    );
    assert!(granted(&user, &rules, Some(&["tickets.manage:org_other"])).is_empty());
    // The allowed base does not grant a contextual form nobody allowed.
    assert!(granted(&user, &rules, Some(&["tickets.read:org_acme"])).is_empty());
}

#[test]
fn requested_scopes_that_are_not_allowed_are_dropped() {
    let rules = [allow("rul_a", 0, anyone(), &["tickets.read"])];
    let d = eval(
        &User::new("a@acme.com"),
        &rules,
        Some(&["tickets.delete", "tickets.read", "calendar.read", "openid"]),
    );
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(
        d.explanations,
        vec![why("tickets.read", Outcome::Granted, "rul_a")]
    );
    assert!(granted(&User::new("a@acme.com"), &rules, Some(&[])).is_empty());
}

#[test]
fn an_omitted_scope_gives_everything_allowed() {
    let alice = User::new("alice@acme.com").groups(&["jira-admins"]);
    let d = eval(&alice, &reference_rules(), None);
    assert_eq!(d.granted, v(&["tickets.read", "tickets.manage:org_acme"]));
    assert!(d.explanations.iter().all(|e| e.outcome == Outcome::Granted));
}

#[test]
fn allowed_but_unrequested_scopes_are_explained_as_not_requested() {
    let alice = User::new("alice@acme.com").groups(&["jira-admins"]);
    let d = eval(
        &alice,
        &reference_rules(),
        Some(&["tickets.read", "openid"]),
    );
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(
        d.explanations,
        vec![
            why("tickets.read", Outcome::Granted, "rul_admins"),
            why(
                "tickets.manage:org_acme",
                Outcome::NotRequested,
                "rul_admins"
            ),
        ]
    );
}

#[test]
fn admin_and_oidc_scopes_are_never_granted() {
    let mut scopes = v(OIDC_SCOPES);
    scopes.push(ADMIN_SCOPE.into());
    let grants: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let rules = [allow("rul_greedy", 0, anyone(), &grants)];
    let ctx = OrgContext {
        organization_id: "org_acme",
        domains: &[],
    };
    // Even a resource that (wrongly) lists them as its own scopes.
    let mut resource = resource_scopes();
    resource.extend(scopes.iter().cloned());
    resource.push("portcullis".into());
    let user = User::new("a@acme.com");
    for requested in [None, Some(&scopes[..])] {
        let d = evaluate(&user.identity(), &ctx, &rules, &resource, requested);
        assert!(d.granted.is_empty());
        assert!(d.explanations.is_empty());
    }
}

#[test]
fn grants_outside_the_resources_scopes_are_ignored() {
    let rules = [allow(
        "rul_a",
        0,
        anyone(),
        &[
            "tickets.read",
            "calendar.read",
            "calendar.read:{org}",
            "tickets",
            "tickets.read.all",
            "tickets.manage:",
            "tickets.manage:a b",
            "tickets.manage:\"x\"",
            "",
        ],
    )];
    let d = eval(&User::new("a@acme.com"), &rules, None);
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(d.explanations.len(), 1);
}

#[test]
fn attribute_equals_a_string_or_an_array_member() {
    let rules = [allow(
        "rul_dept",
        0,
        json!({"attribute": "department", "equals": "support"}),
        &["tickets.manage"],
    )];
    let ok = |value: Value| {
        let user = User::new("a@acme.com").attr("department", value);
        !granted(&user, &rules, None).is_empty()
    };
    assert!(ok(json!("support")));
    assert!(ok(json!(["sales", "support"])));
    assert!(!ok(json!("Support")));
    assert!(!ok(json!("support-emea")));
    assert!(!ok(json!(["sales"])));
    assert!(!ok(json!([["support"]])));
    assert!(!ok(json!({"name": "support"})));
    assert!(!ok(json!(null)));
    let other = User::new("a@acme.com").attr("team", json!("support"));
    assert!(granted(&other, &rules, None).is_empty());
    // Groups are not attributes.
    let grouped = User::new("a@acme.com").groups(&["support"]);
    assert!(granted(&grouped, &rules, None).is_empty());
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let rules = [allow(
        "rul_both",
        0,
        json!({"group": "ops", "email_domain": "acme.com", "any": true}),
        &["tickets.delete"],
    )];
    let both = User::new("a@acme.com").groups(&["ops"]);
    assert_eq!(granted(&both, &rules, None), v(&["tickets.delete"]));
    let no_group = User::new("a@acme.com");
    assert!(granted(&no_group, &rules, None).is_empty());
    let unverified = User::new("a@acme.com").groups(&["ops"]).unverified();
    assert!(granted(&unverified, &rules, None).is_empty());
}

/// Malformed conditions or effects never reach the engine: they fail to load (the store
/// reports a corrupt row, so the sign-in fails closed), where they once made an inert rule.
#[test]
fn empty_malformed_or_unknown_conditions_and_effects_do_not_load() {
    for conditions in [
        json!({}),
        json!(null),
        json!(true),
        json!([{"any": true}]),
        json!({"any": false}),
        json!({"any": "true"}),
        json!({"any": 1}),
        json!({"any": true, "country": "NZ"}),
        json!({"group": "ops", "role": "admin"}),
        json!({"group": ["ops"]}),
        json!({"email_domain": ["acme.com"]}),
        json!({"attribute": "department"}),
        json!({"equals": "support"}),
        json!({"attribute": "department", "equals": ["support"]}),
    ] {
        assert!(Conditions::from_json(&conditions).is_err(), "{conditions}");
    }
    for effect in ["Allow", "", "DENY", "permit"] {
        assert_eq!(RuleEffect::parse(effect), None, "{effect:?}");
    }
}

#[test]
fn explanations_name_the_deciding_rules() {
    let rules = [
        allow("rul_late", 7, anyone(), &["tickets.read", "tickets.delete"]),
        allow("rul_early", 2, anyone(), &["tickets.read"]),
        // Same position: the smaller id decides.
        allow("rul_b", 5, anyone(), &["tickets.manage"]),
        allow("rul_a", 5, anyone(), &["tickets.manage"]),
        deny("rul_deny_2", 9, anyone(), &["tickets.delete"]),
        deny("rul_deny_1", 8, anyone(), &["tickets.delete"]),
        // Denies a scope no rule allowed: still explained, so admins see the deny.
        deny("rul_deny_x", 1, anyone(), &["tickets.manage:{org}"]),
    ];
    let d = eval(&User::new("a@acme.com"), &rules, Some(&["tickets.read"]));
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(
        d.explanations,
        vec![
            why("tickets.read", Outcome::Granted, "rul_early"),
            why("tickets.manage", Outcome::NotRequested, "rul_a"),
            why("tickets.delete", Outcome::Denied, "rul_deny_1"),
            why("tickets.manage:org_acme", Outcome::Denied, "rul_deny_x"),
        ]
    );
    assert_eq!(d.explain("calendar.read"), None);
}

#[test]
fn explanations_serialize_in_snake_case() {
    let d = eval(
        &User::new("a@acme.com"),
        &[allow(
            "rul_a",
            0,
            anyone(),
            &["tickets.read", "tickets.delete"],
        )],
        Some(&["tickets.read"]),
    );
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({
            "granted": ["tickets.read"],
            "explanations": [
                {"scope": "tickets.read", "outcome": "granted", "rule_id": "rul_a"},
                {"scope": "tickets.delete", "outcome": "not_requested", "rule_id": "rul_a"},
            ]
        })
    );
}

#[test]
fn order_follows_position_then_grant_order_whatever_the_input_order() {
    let rules = vec![
        allow("rul_2", 2, anyone(), &["tickets.delete", "tickets.read"]),
        allow("rul_1", 1, anyone(), &["tickets.manage:{org}"]),
        deny("rul_3", 3, json!({"group": "ops"}), &["tickets.read"]),
        allow("rul_0", 0, json!({"group": "ops"}), &["tickets.manage"]),
    ];
    let user = User::new("a@acme.com").groups(&["ops"]);
    let expected = eval(&user, &rules, None);
    assert_eq!(
        expected.granted,
        v(&[
            "tickets.manage",
            "tickets.manage:org_acme",
            "tickets.delete"
        ])
    );
    // Every rotation and the reverse give the identical decision.
    for shift in 0..rules.len() {
        let mut shuffled = rules.clone();
        shuffled.rotate_left(shift);
        assert_eq!(eval(&user, &shuffled, None), expected);
        shuffled.reverse();
        assert_eq!(eval(&user, &shuffled, None), expected);
    }
    // Requested order does not matter either.
    let a = eval(&user, &rules, Some(&["tickets.delete", "tickets.manage"]));
    let b = eval(&user, &rules, Some(&["tickets.manage", "tickets.delete"]));
    assert_eq!(a, b);
    assert_eq!(
        a.granted,
        v(&[
            "tickets.manage",
            "tickets.manage:org_acme",
            "tickets.delete"
        ])
    );
}

#[test]
fn duplicate_grants_are_granted_once() {
    let rules = [
        allow("rul_a", 0, anyone(), &["tickets.read", "tickets.read"]),
        allow("rul_b", 1, anyone(), &["tickets.read"]),
    ];
    let d = eval(
        &User::new("a@acme.com"),
        &rules,
        Some(&["tickets.read", "tickets.read"]),
    );
    assert_eq!(d.granted, v(&["tickets.read"]));
    assert_eq!(d.explanations.len(), 1);
}

#[test]
fn applies_checks_organization_and_conditions() {
    let org = acme();
    let ctx = OrgContext {
        organization_id: &org.id,
        domains: &org.domains,
    };
    let user = User::new("a@acme.com").groups(&["ops"]);
    let ops = allow("rul_ops", 0, json!({"group": "ops"}), &["tickets.read"]);
    assert!(applies(&user.identity(), &ctx, &ops));
    assert!(applies(
        &user.identity(),
        &ctx,
        &in_org(ops.clone(), "org_acme")
    ));
    assert!(!applies(&user.identity(), &ctx, &in_org(ops, "org_globex")));
}
