//! The admin API of resources (MCP servers) and scope rules, with the rule simulator.

use super::*;

// Resources

fn resource_json(r: crate::store::Resource) -> Value {
    json!({ "id": r.id, "name": r.name, "server_url": r.server_url,
            "access_token_ttl": r.access_token_ttl, "refresh_token_ttl": r.refresh_token_ttl,
            "dynamic_client_registration": r.is_dcr_enabled,
            "client_id_metadata_documents": r.is_cimd_enabled,
            "cimd_allowlist": r.cimd_allowlist, "scopes": r.scopes,
            "token_issuer": r.token_issuer.as_str(), "xaa_enabled": r.is_xaa_enabled,
            "refresh_tokens": r.refresh_tokens.as_str() })
}

pub async fn get_resources(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    let list: Vec<Value> = crate::admin::resources::list(&app)
        .await?
        .into_iter()
        .map(resource_json)
        .collect();
    Ok(ok(json!({ "resources": list })))
}

pub async fn post_resources(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<ResourceInput>,
) -> ApiResult {
    Ok(created(resource_json(
        crate::admin::resources::create(&app, &actor, input).await?,
    )))
}

pub async fn get_resource(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(resource_json(
        crate::admin::resources::get(&app, &id).await?,
    )))
}

pub async fn put_resource(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ResourceInput>,
) -> ApiResult {
    Ok(ok(resource_json(
        crate::admin::resources::update(&app, &actor, &id, input).await?,
    )))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_resource(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::resources::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

// Rules

fn rule_json(r: crate::store::Rule) -> Value {
    json!({ "id": r.id, "name": r.name, "resource_id": r.resource_id,
            "organization_id": r.organization_id, "conditions": r.conditions,
            "grants": r.grants, "effect": r.effect, "position": r.position })
}

pub async fn get_rules(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    let list: Vec<Value> = crate::admin::rules::list(&app)
        .await?
        .into_iter()
        .map(rule_json)
        .collect();
    Ok(ok(json!({ "rules": list })))
}

pub async fn post_rules(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult {
    Ok(created(rule_json(
        crate::admin::rules::create(&app, &actor, input).await?,
    )))
}

pub async fn get_rule(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(rule_json(crate::admin::rules::get(&app, &id).await?)))
}

pub async fn put_rule(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult {
    Ok(ok(rule_json(
        crate::admin::rules::update(&app, &actor, &id, input).await?,
    )))
}

pub async fn delete_rule(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::rules::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_simulate(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiJson(input): ApiJson<SimulationInput>,
) -> ApiResult {
    Ok(ok(crate::admin::rules::simulate(&app, input).await?))
}
