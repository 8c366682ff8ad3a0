//! The admin API of organizations and connections.

use super::*;

// Organizations

pub async fn get_organizations(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "organizations": organizations_json(crate::admin::organizations::list(&app).await?) }),
    ))
}

fn organization_json(o: crate::store::Organization) -> Value {
    json!({ "id": o.id, "display_name": o.display_name, "external_id": o.external_id,
            "domains": o.domains, "enabled": o.is_enabled,
            "initiate_login_uri": o.initiate_login_uri })
}

fn organizations_json(list: Vec<crate::store::Organization>) -> Vec<Value> {
    list.into_iter().map(organization_json).collect()
}

pub async fn post_organizations(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> ApiResult {
    Ok(created(organization_json(
        crate::admin::organizations::create(&app, &actor, input).await?,
    )))
}

pub async fn get_organization(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(organization_json(
        crate::admin::organizations::get(&app, &id).await?,
    )))
}

pub async fn put_organization(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> ApiResult {
    Ok(ok(organization_json(
        crate::admin::organizations::update(&app, &actor, &id, input).await?,
    )))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_organization(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::organizations::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_organization_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    let is_enabled = toggle(&t.action)?;
    Ok(ok(organization_json(
        crate::admin::organizations::set_enabled(&app, &actor, &t.id, is_enabled).await?,
    )))
}

// Connections

pub async fn get_connections(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "connections": crate::admin::connections::list(&app).await? }),
    ))
}

pub async fn post_connections(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult {
    Ok(created(
        crate::admin::connections::create(&app, &actor, input).await?,
    ))
}

pub async fn get_connection(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(crate::admin::connections::get_view(&app, &id).await?.0))
}

/// Replaces the settings; a blank or absent `client_secret` keeps the stored one.
pub async fn put_connection(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult {
    Ok(ok(crate::admin::connections::update(
        &app, &actor, &id, input,
    )
    .await?))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_connection(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::connections::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_connection_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    if t.action == "test" {
        let checks = crate::admin::connections::test(&app, &t.id).await?;
        let is_ok = checks.iter().all(|c| c.is_ok);
        return Ok(ok(json!({ "ok": is_ok, "checks": checks })));
    }
    let is_enabled = toggle(&t.action)?;
    Ok(ok(crate::admin::connections::set_enabled(
        &app, &actor, &t.id, is_enabled,
    )
    .await?))
}
