//! Scope rules (docs/authorization.md "Scope rules"): list, create, edit, delete, validated as
//! the seed validates them; and the rule simulator, which asks the policy engine itself
//! (`policy::evaluate`) what a person would get and which rule decided each scope.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Actor, AdminError, Touched, record};
use crate::ids;
use crate::oauth::scope;
use crate::policy::{self, Identity, OrgContext, Outcome};
use crate::seed::file::{Condition, RuleEntry};
use crate::seed::plan::{Known, plan_rule};
use crate::state::AppState;
use crate::store::{Rule, SeedPlan};

/// A rule as an admin writes it. Conditions that are set must all hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuleInput {
    pub name: String,
    pub resource_id: String,
    /// Empty: users of any organization.
    pub organization_id: String,
    pub group: String,
    pub email_domain: String,
    pub attribute: String,
    pub equals: String,
    pub any: bool,
    /// Scopes, `{org}` for the user's organization.
    pub grants: Vec<String>,
    /// `allow` (default) or `deny`.
    pub effect: String,
    pub position: Option<i64>,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub async fn list(app: &AppState) -> Result<Vec<Rule>, AdminError> {
    let mut out = Vec::new();
    for r in app.store.list_resources().await? {
        out.extend(app.store.list_rules(&r.id).await?);
    }
    Ok(out)
}

pub async fn get(app: &AppState, id: &str) -> Result<Rule, AdminError> {
    list(app)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(AdminError::NotFound("rule"))
}

async fn write(
    app: &AppState,
    id: &str,
    input: RuleInput,
    position: i64,
) -> Result<Rule, AdminError> {
    let name = input.name.trim().to_string();
    if name.chars().count() > 200 {
        return Err(AdminError::invalid(
            "name",
            "must be at most 200 characters",
        ));
    }
    let effect = opt(&input.effect).unwrap_or_else(|| "allow".into());
    let entry = RuleEntry {
        id: Some(id.to_string()),
        name: Some(name),
        resource: input.resource_id.trim().to_string(),
        organization: opt(&input.organization_id),
        when: Condition {
            group: opt(&input.group),
            email_domain: opt(&input.email_domain),
            attribute: opt(&input.attribute),
            equals: opt(&input.equals),
            any: input.any.then_some(true),
        },
        grant: input
            .grants
            .iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect(),
        effect: Some(effect),
    };
    for g in &entry.grant {
        if let Err(e) = scope::parse(g) {
            return Err(AdminError::invalid("grants", e));
        }
        if g == scope::ADMIN_SCOPE {
            return Err(AdminError::invalid(
                "grants",
                "portcullis:admin is never granted by rules",
            ));
        }
    }
    let known = Known::new(
        app.store.list_organizations().await?,
        app.store.list_resources().await?,
    );
    // The seed's keys, named as the admin form and API name them.
    let rule =
        plan_rule("rule", entry, position, &known).map_err(|e| match AdminError::from(e) {
            AdminError::Invalid { field, message } => AdminError::Invalid {
                field: match field.as_str() {
                    "resource" => "resource_id".into(),
                    "organization" => "organization_id".into(),
                    "grant" => "grants".into(),
                    "when" => "conditions".into(),
                    _ => field,
                },
                message,
            },
            other => other,
        })?;
    app.store
        .apply_seed(
            &SeedPlan {
                rules: vec![rule.clone()],
                ..Default::default()
            },
            app.clock.now(),
        )
        .await?;
    Ok(rule)
}

fn summary(r: &Rule) -> Value {
    json!({ "name": r.name, "resource_id": r.resource_id, "organization_id": r.organization_id,
            "conditions": r.conditions, "grants": r.grants, "effect": r.effect, "position": r.position })
}

fn touched(r: &Rule) -> Touched {
    Touched {
        resource_id: Some(r.resource_id.clone()),
        organization_id: r.organization_id.clone(),
        ..Default::default()
    }
}

pub async fn create(app: &AppState, actor: &Actor, input: RuleInput) -> Result<Rule, AdminError> {
    let position = match input.position {
        Some(p) => p,
        None => list(app)
            .await?
            .iter()
            .map(|r| r.position + 1)
            .max()
            .unwrap_or(0),
    };
    let rule = write(app, &ids::generate("rule"), input, position).await?;
    record(
        app,
        actor,
        "admin.rule.created",
        &rule.id,
        touched(&rule),
        summary(&rule),
    )
    .await;
    Ok(rule)
}

pub async fn update(
    app: &AppState,
    actor: &Actor,
    id: &str,
    input: RuleInput,
) -> Result<Rule, AdminError> {
    let before = get(app, id).await?;
    let position = input.position.unwrap_or(before.position);
    let rule = write(app, id, input, position).await?;
    record(
        app,
        actor,
        "admin.rule.updated",
        id,
        touched(&rule),
        json!({ "before": summary(&before), "after": summary(&rule) }),
    )
    .await;
    Ok(rule)
}

pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let before = get(app, id).await?;
    if !app.store.delete_rule(id).await? {
        return Err(AdminError::NotFound("rule"));
    }
    record(
        app,
        actor,
        "admin.rule.deleted",
        id,
        touched(&before),
        summary(&before),
    )
    .await;
    Ok(())
}

/// Who to simulate: typed in, or a recent user (their identity at the last login).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SimulationInput {
    pub resource_id: String,
    pub organization_id: String,
    pub email: String,
    /// Whether the IdP verified the email (needed by `email_domain` conditions).
    pub email_verified: Option<bool>,
    pub groups: Vec<String>,
    pub attributes: Map<String, Value>,
    /// Space-separated; `None` as if the client omitted `scope`.
    pub scope: Option<String>,
    /// A recent user whose stored identity and organization to use instead.
    pub user_id: String,
}

/// One scope, the rule that decided it, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedScope {
    pub scope: String,
    pub outcome: Outcome,
    pub rule_id: String,
    pub rule_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub granted: Vec<String>,
    pub explanations: Vec<ExplainedScope>,
    /// Requested resource scopes no rule allowed.
    pub not_allowed: Vec<String>,
    pub organization_id: String,
}

pub async fn simulate(app: &AppState, input: SimulationInput) -> Result<Simulation, AdminError> {
    let resource = app
        .store
        .find_resource(input.resource_id.trim())
        .await?
        .ok_or_else(|| AdminError::invalid("resource_id", "choose a resource"))?;
    let user = match opt(&input.user_id) {
        Some(id) => Some(
            app.store
                .find_user(&id)
                .await?
                .ok_or_else(|| AdminError::invalid("user_id", "no such user"))?,
        ),
        None => None,
    };
    let org_id = user
        .as_ref()
        .map(|u| u.organization_id.clone())
        .unwrap_or_else(|| input.organization_id.trim().to_string());
    let org = app
        .store
        .find_organization(&org_id)
        .await?
        .ok_or_else(|| AdminError::invalid("organization_id", "choose an organization"))?;
    let requested = match input.scope.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(scope::parse(text).map_err(|e| AdminError::invalid("scope", e))?),
    };
    let email = match &user {
        Some(u) => u.email.clone(),
        None => opt(&input.email),
    };
    let (is_verified, groups, attributes) = match &user {
        Some(u) => (u.is_email_verified, u.groups.clone(), u.attributes.clone()),
        None => (
            input.email_verified.unwrap_or(true),
            input
                .groups
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
            input.attributes.clone(),
        ),
    };
    let rules = app.store.list_rules(&resource.id).await?;
    let resource_scopes: Vec<String> = resource.scope_names().map(str::to_string).collect();
    let decision = policy::evaluate(
        &Identity {
            email: email.as_deref(),
            is_email_verified: is_verified,
            groups: &groups,
            attributes: &attributes,
        },
        &OrgContext {
            organization_id: &org.id,
            domains: &org.domains,
        },
        &rules,
        &resource_scopes,
        requested.as_deref(),
    );
    let name_of = |id: &str| {
        rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    let not_allowed = requested
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !scope::OIDC_SCOPES.contains(&s.as_str()))
        .filter(|s| scope::intersect(std::slice::from_ref(s), &decision.granted).is_empty())
        .filter(|s| decision.explain(s).is_none())
        .collect();
    Ok(Simulation {
        granted: decision.granted.clone(),
        explanations: decision
            .explanations
            .iter()
            .map(|e| ExplainedScope {
                scope: e.scope.clone(),
                outcome: e.outcome.clone(),
                rule_name: name_of(&e.rule_id),
                rule_id: e.rule_id.clone(),
            })
            .collect(),
        not_allowed,
        organization_id: org.id,
    })
}
