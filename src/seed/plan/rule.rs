//! Planning a scope rule (`[[rules]]`, and the admin's rule form): a known resource and
//! organization, at least one condition (group, email domain, attribute = value, or
//! anyone), grants that are the resource's scopes (`{org}` allowed), `allow` or `deny`;
//! its id explicit or derived from all its fields.

use super::{Known, id_or_derived};
use crate::oauth::scope;
use crate::seed::SeedError;
use crate::seed::file::{Condition, RuleEntry};
use crate::store::{self, Conditions, Rule, RuleEffect};

/// The rule an entry describes, at `position`, or the first rule it breaks.
pub fn plan_rule(
    entry: &str,
    r: RuleEntry,
    position: i64,
    known: &Known,
) -> Result<Rule, SeedError> {
    let res = known.resource(&r.resource).ok_or_else(|| {
        SeedError::new(
            entry,
            "resource",
            format!("unknown resource `{}`", r.resource),
        )
    })?;
    if let Some(org) = &r.organization
        && known.organization(org).is_none()
    {
        return Err(SeedError::new(
            entry,
            "organization",
            format!("unknown organization `{org}`"),
        ));
    }
    let conditions = plan_condition(entry, &r.when)?;
    if r.grant.is_empty() {
        return Err(SeedError::new(
            entry,
            "grant",
            "must name at least one scope",
        ));
    }
    // A scope is valid for a resource when its base is one of the resource's scopes.
    for s in &r.grant {
        if !res.scope_names().any(|n| n == scope::base(s)) {
            return Err(SeedError::new(
                entry,
                "grant",
                format!("`{s}` is not a scope of {}", res.id),
            ));
        }
    }
    let effect = match r.effect.as_deref() {
        None => RuleEffect::Allow,
        Some(e) => RuleEffect::parse(e)
            .ok_or_else(|| SeedError::new(entry, "effect", "must be `allow` or `deny`"))?,
    };
    let natural = format!(
        "{}|{:?}|{}|{}|{}",
        r.resource,
        r.organization,
        conditions.to_json(),
        r.grant.join(" "),
        effect
    );
    let id = id_or_derived(entry, "rule", &r.id, &natural)?;
    Ok(Rule {
        id,
        name: r.name.unwrap_or_default(),
        resource_id: res.id.clone(),
        organization_id: r.organization,
        conditions,
        grants: r.grant,
        effect,
        position,
    })
}

/// A rule's `when`: the conditions that must all hold.
pub fn plan_condition(entry: &str, c: &Condition) -> Result<Conditions, SeedError> {
    let mut out = Vec::new();
    if let Some(g) = &c.group {
        out.push(store::Condition::Group(g.clone()));
    }
    if let Some(d) = &c.email_domain {
        out.push(store::Condition::EmailDomain(d.to_ascii_lowercase()));
    }
    match (&c.attribute, &c.equals) {
        (Some(a), Some(v)) => out.push(store::Condition::Attribute {
            name: a.clone(),
            equals: v.clone(),
        }),
        (None, None) => {}
        _ => {
            return Err(SeedError::new(
                entry,
                "when",
                "`attribute` and `equals` go together",
            ));
        }
    }
    match c.any {
        Some(true) => out.push(store::Condition::Any),
        Some(false) => {
            return Err(SeedError::new(
                entry,
                "when.any",
                "write `any = true` or leave it out",
            ));
        }
        None => {}
    }
    Conditions::new(out).ok_or_else(|| {
        SeedError::new(
            entry,
            "when",
            "needs a condition: group, email_domain, attribute/equals or any",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Organization, Resource, ScopeDef};

    fn known() -> Known {
        Known::new(
            vec![Organization {
                id: "org_a".into(),
                display_name: "A".into(),
                external_id: None,
                domains: Vec::new(),
                is_enabled: true,
                initiate_login_uri: None,
            }],
            vec![Resource {
                id: "res_t".into(),
                name: "T".into(),
                server_url: "http://127.0.0.1:1/mcp".into(),
                access_token_ttl: 300,
                refresh_token_ttl: 86_400,
                is_dcr_enabled: true,
                is_cimd_enabled: true,
                token_issuer: crate::store::TokenIssuer::Resource,
                is_xaa_enabled: false,
                refresh_tokens: crate::store::RefreshPolicy::Always,
                cimd_allowlist: Vec::new(),
                scopes: vec![ScopeDef {
                    name: "t.manage".into(),
                    description: String::new(),
                }],
            }],
        )
    }

    fn any() -> Condition {
        Condition {
            group: None,
            email_domain: None,
            attribute: None,
            equals: None,
            any: Some(true),
        }
    }

    fn entry() -> RuleEntry {
        RuleEntry {
            id: None,
            name: None,
            resource: "res_t".into(),
            organization: Some("org_a".into()),
            when: any(),
            grant: vec!["t.manage:{org}".into()],
            effect: None,
        }
    }

    fn key(r: Result<Rule, SeedError>) -> String {
        match r {
            Err(SeedError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_rule_with_a_contextual_grant_is_planned_at_its_position() {
        let r = plan_rule("r", entry(), 3, &known()).expect("valid");
        assert_eq!(r.position, 3);
        assert_eq!(r.effect, RuleEffect::Allow);
        assert!(r.id.starts_with("rule_"));
    }

    #[test]
    fn references_must_exist() {
        let mut e = entry();
        e.resource = "res_nope".into();
        assert_eq!(key(plan_rule("r", e, 0, &known())), "resource");
        let mut e = entry();
        e.organization = Some("org_nope".into());
        assert_eq!(key(plan_rule("r", e, 0, &known())), "organization");
    }

    #[test]
    fn grants_conditions_and_effect_are_checked() {
        let mut e = entry();
        e.grant = Vec::new();
        assert_eq!(key(plan_rule("r", e, 0, &known())), "grant");
        let mut e = entry();
        e.grant = vec!["x.read".into()];
        assert_eq!(key(plan_rule("r", e, 0, &known())), "grant");
        let mut e = entry();
        e.effect = Some("maybe".into());
        assert_eq!(key(plan_rule("r", e, 0, &known())), "effect");
        let mut e = entry();
        e.when.any = None;
        assert_eq!(key(plan_rule("r", e, 0, &known())), "when");
        let mut e = entry();
        e.when.any = Some(false);
        assert_eq!(key(plan_rule("r", e, 0, &known())), "when.any");
        let mut e = entry();
        e.when.attribute = Some("dept".into());
        assert_eq!(key(plan_rule("r", e, 0, &known())), "when");
    }
}
