//! Lambda glue for the admin API: an HTTP API (payload v2) request with the JWT authorizer's
//! claims in, a JSON response out. Config, telemetry and clients are built once per cold start.

use std::collections::HashMap;
use std::convert::Infallible;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use crate::adapters::dynamo::{
    DynamoStore, Tables, CUSTOMERS_TABLE_VAR, DIRECTORY_TABLE_VAR, EMAIL_MATCHES_TABLE_VAR,
    EVENTS_TABLE_VAR, LEDGER_TABLE_VAR, RECORDS_TABLE_VAR, REVIEWS_TABLE_VAR, STATS_TABLE_VAR,
};
use crate::admin::{AdminApi, AdminStore, AuthSettings, HttpRequest};
use crate::clock::{Clock, SystemClock};

/// The token issuer the API accepts (template parameter `AdminJwtIssuer`).
pub const ADMIN_JWT_ISSUER_VAR: &str = "ADMIN_JWT_ISSUER";
/// The audience (template parameter `AdminJwtAudience`).
pub const ADMIN_JWT_AUDIENCE_VAR: &str = "ADMIN_JWT_AUDIENCE";
/// The claim holding the caller's roles (template parameter `AdminRoleClaim`).
pub const ADMIN_ROLE_CLAIM_VAR: &str = "ADMIN_ROLE_CLAIM";

#[derive(Debug, thiserror::Error)]
pub enum AdminStartupError {
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    #[error("loading the ingest secrets (the email hash key): {0}")]
    Secrets(#[from] crate::adapters::secrets::SecretsFetchError),
    #[error("scheduler configuration: {0}")]
    TickConfig(String),
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub tables: Tables,
    pub auth: AuthSettings,
    /// The ingest secrets' id: affiliates' own emails are hashed with the ingest's key.
    pub secrets_id: String,
    /// The scheduler's time rules: a resolution that changes a record records when its work is
    /// next due, exactly as the processor would.
    pub tick_config: crate::scheduler::TickConfig,
}

impl AdminConfig {
    pub fn from_env() -> Result<Self, AdminStartupError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(AdminStartupError::MissingVar(name))
        };
        Ok(Self {
            tables: Tables {
                customers: var(CUSTOMERS_TABLE_VAR)?,
                records: var(RECORDS_TABLE_VAR)?,
                events: var(EVENTS_TABLE_VAR)?,
                ledger: var(LEDGER_TABLE_VAR)?,
                reviews: var(REVIEWS_TABLE_VAR)?,
                email_matches: var(EMAIL_MATCHES_TABLE_VAR)?,
                directory: var(DIRECTORY_TABLE_VAR)?,
                stats: var(STATS_TABLE_VAR)?,
            },
            auth: AuthSettings {
                issuer: var(ADMIN_JWT_ISSUER_VAR)?,
                audience: var(ADMIN_JWT_AUDIENCE_VAR)?,
                role_claim: var(ADMIN_ROLE_CLAIM_VAR)?,
            },
            secrets_id: var(crate::lambda::SECRETS_ID_VAR)?,
            tick_config: crate::scheduler::tick_config_from_env()
                .map_err(AdminStartupError::TickConfig)?,
        })
    }
}

/// The claims the HTTP API's JWT authorizer verified, if the route has it.
fn claims(request: &Request) -> Option<HashMap<String, String>> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| jwt.claims.clone()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// One invocation: never fails, every outcome is a response with a status.
pub async fn handle_admin<S: AdminStore, C: Clock>(
    api: &AdminApi<S, C>,
    request: Request,
) -> Response<Body> {
    let raw_path = request.raw_http_path().to_owned();
    if crate::admin::console::is_console_path(&raw_path) {
        return console_response(request.method().as_str(), &raw_path);
    }
    let claims = claims(&request);
    let query = request.uri().query().unwrap_or("").to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: &[u8] = request.body().as_ref();
    let http = HttpRequest {
        method: request.method().as_str(),
        path: &raw_path,
        query: &query,
        content_type: content_type.as_deref(),
        body,
    };
    let span = tracing::info_span!("admin_request", method = http.method, path = %raw_path);
    let response = {
        let _entered = span.enter();
        api.handle(&http, claims.as_ref()).await
    };
    Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(response.body.to_string()))
        .expect("a status from AdminError::status and static headers always build")
}

/// The console's static files (no data: these routes have no authorizer).
fn console_response(method: &str, path: &str) -> Response<Body> {
    use crate::admin::console;
    let found = (method == "GET").then(|| console::asset(path)).flatten();
    match found {
        Some(asset) => {
            let mut builder = Response::builder().status(200);
            for (name, value) in console::headers(&asset) {
                builder = builder.header(name, value);
            }
            builder
                .body(Body::Binary(asset.body.to_vec()))
                .expect("static headers always build")
        }
        None => Response::builder()
            .status(if method == "GET" { 404 } else { 405 })
            .header("content-type", "application/json")
            .body(Body::Text(
                serde_json::json!({"error": "not_found", "message": "no such console file"})
                    .to_string(),
            ))
            .expect("static headers always build"),
    }
}

/// The admin function's whole life.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let config = AdminConfig::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables.clone())
        .with_tick_config(config.tick_config);
    let secrets = crate::adapters::secrets::fetch_ingest_secrets(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &config.secrets_id,
    )
    .await
    .map_err(AdminStartupError::from)?;
    let hasher = crate::email::EmailHasher::new(&secrets.email_hash_key);
    let api = AdminApi::new(store, SystemClock, config.auth.clone(), hasher);
    let api = &api;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(handle_admin(api, request).await)
    }))
    .await
}
