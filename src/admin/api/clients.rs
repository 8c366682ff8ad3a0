//! The admin API of clients, users, consents, the audit trail and signing keys.

use super::*;

// Clients

/// `?after=<client id>` pages; `next` is the cursor of the next page (or null).
pub async fn get_clients(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(query): ApiQuery<ClientsQuery>,
) -> ApiResult {
    let list = crate::admin::clients::list(&app, query.after.as_deref()).await?;
    Ok(ok(json!({ "clients": list.clients, "next": list.next })))
}

#[derive(Debug, Deserialize)]
pub struct ClientsQuery {
    after: Option<String>,
}

pub async fn post_clients(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<StaticClientInput>,
) -> ApiResult {
    Ok(created(
        crate::admin::clients::create_static(&app, &actor, input).await?,
    ))
}

/// The client id is a query parameter: metadata-document client ids are URLs.
#[derive(Deserialize)]
pub struct ClientQuery {
    client_id: String,
}

pub async fn delete_client(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<ClientQuery>,
) -> ApiResult {
    crate::admin::clients::delete(&app, &actor, &q.client_id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_client_revoke(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<ClientQuery>,
) -> ApiResult {
    let n = crate::admin::clients::revoke_tokens(&app, &actor, &q.client_id).await?;
    Ok(ok(json!({ "refresh_tokens_revoked": n })))
}

// Users and consents

/// `DELETE /users/{id}`: 204 or 404.
pub async fn delete_user(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::users::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn get_users(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "users": crate::admin::users::list(&app).await? }),
    ))
}

pub async fn post_user_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    if t.action == "revoke" {
        return Ok(ok(crate::admin::users::revoke(&app, &actor, &t.id).await?));
    }
    let is_enabled = toggle(&t.action)?;
    crate::admin::users::set_enabled(&app, &actor, &t.id, is_enabled).await?;
    Ok(ok(json!({ "id": t.id, "enabled": is_enabled })))
}

pub async fn get_consents(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "consents": crate::admin::users::list_consents(&app).await? }),
    ))
}

pub async fn post_consent_revoke(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    crate::admin::users::revoke_consent(&app, &actor, &id).await?;
    Ok(ok(json!({ "id": id, "revoked": true })))
}

// Audit events

/// `?kind=&user_id=&client_id=&organization_id=&resource_id=&since=&until=&page=&limit=`
pub async fn get_audit_events(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult {
    let (events, has_more) = crate::admin::audit::list(&app, &q).await?;
    Ok(ok(
        json!({ "events": events, "page": q.page(), "has_more": has_more }),
    ))
}

pub async fn get_audit_export(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult {
    let mut r = crate::admin::audit::export(&app, &q).await?.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(no_store(r))
}

// Keys

pub async fn get_keys(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(json!({ "keys": crate::admin::keys::list(&app).await? })))
}

/// `?now=true` signs with the new key at once.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RotateRequest {
    now: bool,
}

pub async fn post_rotate(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<RotateRequest>,
) -> ApiResult {
    let kid = crate::admin::keys::rotate(&app, &actor, q.now).await?;
    Ok(created(json!({ "kid": kid })))
}
