//! Rule evaluation (docs/authorization.md "Scope rules"): which of a resource's scopes a signed-in
//! user gets, and which rule decided each one. Pure and deterministic, so the same call
//! serves `/authorize`, every refresh (RFC 6749 §6: a refreshed token never carries more
//! than policy allows now) and the admin "why" view.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::oauth::scope::{self, ADMIN_SCOPE, OIDC_SCOPES};
use crate::store::{Condition, Rule, RuleEffect};

/// The placeholder a grant uses for the organization the user signed in through.
pub const ORG_PLACEHOLDER: &str = "{org}";

/// What the upstream identity provider told us about the user.
pub struct Identity<'a> {
    pub email: Option<&'a str>,
    pub is_email_verified: bool,
    pub groups: &'a [String],
    /// raw upstream attributes/claims (string or array-of-string values)
    pub attributes: &'a Map<String, Value>,
}

/// The organization a sign-in belongs to.
pub struct OrgContext<'a> {
    /// the organization of the connection the user signed in through
    pub organization_id: &'a str,
    pub domains: &'a [String],
}

/// What became of one scope that some rule allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Granted,
    Denied,
    NotRequested,
}

/// One scope and the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub scope: String,
    pub outcome: Outcome,
    pub rule_id: String,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// granted resource scopes, in a stable order (rule position, then grant order)
    pub granted: Vec<String>,
    /// for each scope some rule allowed or denied: which rule decided
    pub explanations: Vec<Explanation>,
}

impl Decision {
    /// The explanation for `scope`, if some rule allowed or denied it.
    pub fn explain(&self, scope: &str) -> Option<&Explanation> {
        self.explanations.iter().find(|e| e.scope == scope)
    }
}

/// `rules` are the resource's rules (any order; `position` is presentation only).
/// `resource_scopes` are the resource's plain scope names.
/// `requested`: None = the scope parameter was omitted (→ everything allowed);
/// Some(list) = the requested scopes (may contain OIDC scopes, which are ignored here).
///
/// Explanations list the allowed scopes first (in `granted` order), each naming the
/// first allow rule or, when denied, the deny rule; then the scopes only deny rules name.
pub fn evaluate(
    identity: &Identity<'_>,
    org: &OrgContext<'_>,
    rules: &[Rule],
    resource_scopes: &[String],
    requested: Option<&[String]>,
) -> Decision {
    let mut applicable: Vec<&Rule> = rules.iter().filter(|r| applies(identity, org, r)).collect();
    // Position then id: a total order, so refreshes decide exactly as the first grant did.
    applicable.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.id.cmp(&b.id)));

    let allows = named_scopes(&applicable, RuleEffect::Allow, org, resource_scopes);
    let denies = named_scopes(&applicable, RuleEffect::Deny, org, resource_scopes);

    let allowed: Vec<String> = allows
        .iter()
        .filter(|(s, _)| denier(s, &denies).is_none())
        .map(|(s, _)| s.clone())
        .collect();
    let granted = match requested {
        None => allowed,
        Some(requested) => scope::intersect(requested, &allowed),
    };

    let mut explanations: Vec<Explanation> = allows
        .iter()
        .map(|(s, allow_id)| {
            let (outcome, rule_id) = match denier(s, &denies) {
                Some(deny_id) => (Outcome::Denied, deny_id),
                None if granted.contains(s) => (Outcome::Granted, *allow_id),
                None => (Outcome::NotRequested, *allow_id),
            };
            explanation(s, outcome, rule_id)
        })
        .collect();
    explanations.extend(
        denies
            .iter()
            .filter(|(s, _)| !allows.iter().any(|(a, _)| a == s))
            .map(|(s, deny_id)| explanation(s, Outcome::Denied, deny_id)),
    );

    Decision {
        granted,
        explanations,
    }
}

/// Whether `rule` applies to this user signing in through `org`: it is not restricted
/// to another organization and all its conditions hold.
pub fn applies(identity: &Identity<'_>, org: &OrgContext<'_>, rule: &Rule) -> bool {
    let is_for_org = rule
        .organization_id
        .as_deref()
        .is_none_or(|o| o == org.organization_id);
    is_for_org
        && rule
            .conditions
            .iter()
            .all(|c| condition_holds(identity, org, c))
}

fn condition_holds(identity: &Identity<'_>, org: &OrgContext<'_>, condition: &Condition) -> bool {
    match condition {
        // Exact and case-sensitive: Entra sends group object ids.
        Condition::Group(g) => identity.groups.iter().any(|m| m == g),
        Condition::EmailDomain(d) => email_domain_holds(identity, org, d),
        Condition::Attribute { name, equals } => {
            attribute_holds(identity.attributes.get(name), equals)
        }
        Condition::Any => true,
    }
}

/// A verified email whose domain is the wanted one and belongs to the sign-in organization,
/// so a user cannot claim an organization's domain through another organization's IdP.
fn email_domain_holds(identity: &Identity<'_>, org: &OrgContext<'_>, wanted: &str) -> bool {
    if !identity.is_email_verified {
        return false;
    }
    let Some((local, domain)) = identity.email.and_then(|e| e.rsplit_once('@')) else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && domain.eq_ignore_ascii_case(wanted)
        && org.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

fn attribute_holds(value: Option<&Value>, expected: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(expected)),
        _ => false,
    }
}

/// The grantable scopes that the rules of one effect name, each with the first rule
/// naming it, in rule order then grant order.
fn named_scopes<'r>(
    rules: &[&'r Rule],
    effect: RuleEffect,
    org: &OrgContext<'_>,
    resource_scopes: &[String],
) -> Vec<(String, &'r str)> {
    let mut out: Vec<(String, &'r str)> = Vec::new();
    for rule in rules.iter().filter(|r| r.effect == effect) {
        for grant in &rule.grants {
            let scope = grant.replace(ORG_PLACEHOLDER, org.organization_id);
            if is_grantable(&scope, resource_scopes) && !out.iter().any(|(s, _)| *s == scope) {
                out.push((scope, rule.id.as_str()));
            }
        }
    }
    out
}

/// A single well-formed scope token whose base is one of the resource's scopes; never the
/// admin scope or an OIDC scope, which are decided outside the rules.
fn is_grantable(scope: &str, resource_scopes: &[String]) -> bool {
    let base = scope::base(scope);
    let is_single_token = matches!(scope::parse(scope).as_deref(), Ok([one]) if one == scope);
    let has_context = scope.split_once(':').is_none_or(|(_, ctx)| !ctx.is_empty());
    is_single_token
        && has_context
        && scope != ADMIN_SCOPE
        && !OIDC_SCOPES.contains(&base)
        && resource_scopes.iter().any(|r| r == base)
}

/// The first deny rule (in rule order) that removes `scope`: one denying the scope itself,
/// or its base scope, which also removes every contextual form.
fn denier<'r>(scope: &str, denies: &[(String, &'r str)]) -> Option<&'r str> {
    denies
        .iter()
        .find(|(d, _)| d == scope || (!d.contains(':') && scope::base(scope) == d))
        .map(|(_, id)| *id)
}

fn explanation(scope: &str, outcome: Outcome, rule_id: &str) -> Explanation {
    Explanation {
        scope: scope.to_string(),
        outcome,
        rule_id: rule_id.to_string(),
    }
}

#[cfg(test)]
mod tests;
