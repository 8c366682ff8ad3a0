//! `/admin/rules`: the scope rules (list, create, edit, delete) and `/admin/simulator`,
//! which shows what a person would be granted and which rule decided each scope.

use crate::pages::{PagePath, PageQuery};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::rules::{self, RuleInput, Simulation, SimulationInput};
use crate::admin::{organizations, resources, split_list, users};
use crate::policy::Outcome;
use crate::state::AppState;
use crate::store::{Conditions, Organization, Resource, Rule};

/// A rule's conditions in words: all must hold.
pub fn describe(conditions: &Conditions) -> String {
    let mut parts = Vec::new();
    if conditions.is_any() {
        parts.push("anyone".to_string());
    }
    if let Some(g) = conditions.group() {
        parts.push(format!("in group “{g}”"));
    }
    if let Some(d) = conditions.email_domain() {
        parts.push(format!("verified email at {d}"));
    }
    if let Some((a, v)) = conditions.attribute() {
        parts.push(format!("attribute {a} = “{v}”"));
    }
    parts.join(" and ")
}

/// A rule as the list shows it.
pub struct RuleRow {
    pub rule: Rule,
    pub when: String,
}

/// What the rule form shows.
#[derive(Default)]
pub struct RuleForm {
    pub name: String,
    pub resource_id: String,
    pub organization_id: String,
    pub group: String,
    pub email_domain: String,
    pub attribute: String,
    pub equals: String,
    pub any: bool,
    pub grants: String,
    pub effect: String,
    pub position: String,
}

impl RuleForm {
    fn from_rule(r: &Rule) -> Self {
        let c = &r.conditions;
        let (attribute, equals) = c.attribute().unwrap_or_default();
        Self {
            name: r.name.clone(),
            resource_id: r.resource_id.clone(),
            organization_id: r.organization_id.clone().unwrap_or_default(),
            group: c.group().unwrap_or_default().to_string(),
            email_domain: c.email_domain().unwrap_or_default().to_string(),
            attribute: attribute.to_string(),
            equals: equals.to_string(),
            any: c.is_any(),
            grants: r.grants.join(" "),
            effect: r.effect.as_str().to_string(),
            position: r.position.to_string(),
        }
    }
    fn from_fields(f: &Fields) -> Self {
        Self {
            name: f.get("name"),
            resource_id: f.get("resource_id"),
            organization_id: f.get("organization_id"),
            group: f.get("group"),
            email_domain: f.get("email_domain"),
            attribute: f.get("attribute"),
            equals: f.get("equals"),
            any: f.is_checked("any"),
            grants: f.get("grants"),
            effect: f.get("effect"),
            position: f.get("position"),
        }
    }
    fn input(&self) -> Result<RuleInput, crate::admin::AdminError> {
        let position = match self.position.trim() {
            "" => None,
            t => Some(t.parse().map_err(|_| {
                crate::admin::AdminError::invalid("position", "must be a whole number")
            })?),
        };
        Ok(RuleInput {
            name: self.name.clone(),
            resource_id: self.resource_id.clone(),
            organization_id: self.organization_id.clone(),
            group: self.group.clone(),
            email_domain: self.email_domain.clone(),
            attribute: self.attribute.clone(),
            equals: self.equals.clone(),
            any: self.any,
            grants: split_list(&self.grants),
            effect: self.effect.clone(),
            position,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/rules.html")]
struct ListPage<'a> {
    page: &'a AdminPage,
    rules: Vec<RuleRow>,
    resources: Vec<Resource>,
    organizations: Vec<Organization>,
    form: RuleForm,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "admin/rule.html")]
struct EditPage<'a> {
    page: &'a AdminPage,
    rule: Rule,
    resources: Vec<Resource>,
    organizations: Vec<Organization>,
    form: RuleForm,
    errors: Errors,
}

fn status(errors: &Errors) -> StatusCode {
    if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    resource_id: String,
}

async fn list_page(
    app: &AppState,
    page: &AdminPage,
    filter: &str,
    form: RuleForm,
    errors: Errors,
) -> Result<Response, Refused> {
    let rules = rules::list(app)
        .await
        .map_err(page_error)?
        .into_iter()
        .filter(|r| filter.is_empty() || r.resource_id == filter)
        .map(|rule| RuleRow {
            when: describe(&rule.conditions),
            rule,
        })
        .collect();
    let resources = resources::list(app).await.map_err(page_error)?;
    let organizations = organizations::list(app).await.map_err(page_error)?;
    Ok(page.render(
        status(&errors),
        &ListPage {
            page,
            rules,
            resources,
            organizations,
            form,
            errors,
        },
    ))
}

async fn edit_page(
    app: &AppState,
    page: &AdminPage,
    id: &str,
    form: Option<RuleForm>,
    errors: Errors,
) -> Result<Response, Refused> {
    let rule = rules::get(app, id).await.map_err(page_error)?;
    let resources = resources::list(app).await.map_err(page_error)?;
    let organizations = organizations::list(app).await.map_err(page_error)?;
    let form = form.unwrap_or_else(|| RuleForm::from_rule(&rule));
    Ok(page.render(
        status(&errors),
        &EditPage {
            page,
            rule,
            resources,
            organizations,
            form,
            errors,
        },
    ))
}

pub async fn get_rules(
    State(app): State<AppState>,
    page: AdminPage,
    PageQuery(q): PageQuery<ListQuery>,
) -> Result<Response, Refused> {
    let form = RuleForm {
        resource_id: q.resource_id.clone(),
        effect: crate::store::RuleEffect::Allow.as_str().into(),
        ..Default::default()
    };
    list_page(&app, &page, &q.resource_id, form, Errors::none()).await
}

pub async fn post_rules(State(app): State<AppState>, post: AdminPost) -> Result<Response, Refused> {
    let form = RuleForm::from_fields(&post.fields);
    let result = match form.input() {
        Ok(input) => rules::create(&app, &post.page.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(post
            .page
            .done("/admin/rules", &format!("Rule {} created.", r.id))),
        Err(e) => list_page(&app, &post.page, "", form, form_error(e)?).await,
    }
}

pub async fn get_rule(
    State(app): State<AppState>,
    page: AdminPage,
    PagePath(id): PagePath<String>,
) -> Result<Response, Refused> {
    edit_page(&app, &page, &id, None, Errors::none()).await
}

pub async fn post_rule(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = RuleForm::from_fields(&post.fields);
    let result = match form.input() {
        Ok(input) => rules::update(&app, &post.page.actor, &id, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(post
            .page
            .done("/admin/rules", &format!("Rule {} saved.", r.id))),
        Err(e) => edit_page(&app, &post.page, &id, Some(form), form_error(e)?).await,
    }
}

pub async fn post_rule_delete(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    rules::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/rules", &format!("Rule {id} deleted.")))
}

/// The simulator's form, as typed (a GET: simulating changes nothing).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SimulatorQuery {
    pub resource_id: String,
    pub organization_id: String,
    pub email: String,
    pub unverified: String,
    pub groups: String,
    pub attributes: String,
    pub scope: String,
    pub user_id: String,
    pub run: String,
}

/// One explained scope as the page shows it.
pub struct ExplainedRow {
    pub scope: String,
    pub outcome: &'static str,
    pub is_granted: bool,
    pub rule_id: String,
    pub rule_name: String,
    pub sentence: String,
}

#[derive(Template)]
#[template(path = "admin/simulator.html")]
struct SimulatorPage<'a> {
    page: &'a AdminPage,
    q: &'a SimulatorQuery,
    resources: Vec<Resource>,
    organizations: Vec<Organization>,
    users: Vec<users::UserView>,
    errors: Errors,
    result: Option<Simulation>,
    rows: Vec<ExplainedRow>,
}

fn explain(sim: &Simulation) -> Vec<ExplainedRow> {
    sim.explanations
        .iter()
        .map(|e| {
            let label = if e.rule_name.is_empty() {
                e.rule_id.clone()
            } else {
                format!("“{}” ({})", e.rule_name, e.rule_id)
            };
            let (outcome, verb) = match e.outcome {
                Outcome::Granted => ("granted", "granted by rule"),
                Outcome::Denied => ("denied", "denied by rule"),
                Outcome::NotRequested => ("not requested", "allowed but not requested; rule"),
            };
            ExplainedRow {
                sentence: format!("{} {verb} {label}", e.scope),
                scope: e.scope.clone(),
                outcome,
                is_granted: e.outcome == Outcome::Granted,
                rule_id: e.rule_id.clone(),
                rule_name: e.rule_name.clone(),
            }
        })
        .collect()
}

/// `key=value` lines into attributes.
fn attributes(text: &str) -> serde_json::Map<String, Value> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

pub async fn get_simulator(
    State(app): State<AppState>,
    page: AdminPage,
    PageQuery(q): PageQuery<SimulatorQuery>,
) -> Result<Response, Refused> {
    let (result, errors) = if q.run.is_empty() {
        (None, Errors::none())
    } else {
        let input = SimulationInput {
            resource_id: q.resource_id.clone(),
            organization_id: q.organization_id.clone(),
            email: q.email.clone(),
            email_verified: Some(q.unverified.is_empty()),
            groups: crate::admin::split_groups(&q.groups),
            attributes: attributes(&q.attributes),
            scope: Some(q.scope.clone()),
            user_id: q.user_id.clone(),
        };
        match rules::simulate(&app, input).await {
            Ok(sim) => (Some(sim), Errors::none()),
            Err(e) => (None, form_error(e)?),
        }
    };
    let rows = result.as_ref().map(explain).unwrap_or_default();
    let resources = resources::list(&app).await.map_err(page_error)?;
    let organizations = organizations::list(&app).await.map_err(page_error)?;
    let mut users = users::list(&app).await.map_err(page_error)?;
    users.truncate(50);
    Ok(page.render(
        status(&errors),
        &SimulatorPage {
            page: &page,
            q: &q,
            resources,
            organizations,
            users,
            errors,
            result,
            rows,
        },
    ))
}
