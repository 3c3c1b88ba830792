//! lambda_http glue: turns an API Gateway request into the framework-free `WebhookRequest`,
//! and builds everything a webhook function needs exactly once per cold start.

use std::convert::Infallible;

use lambda_http::{service_fn, Body, Request, Response};

use crate::adapters::secrets::{fetch_ingest_secrets, SecretsFetchError};
use crate::adapters::sqs::SqsEventQueue;
use crate::clock::{Clock, SystemClock};
use crate::events::EventType;
use crate::ingest::{EventQueue, Ingest, WebhookRequest};
use crate::signing::SignatureHeaders;

/// Environment variable holding the FIFO queue URL (set by template.yaml).
pub const QUEUE_URL_VAR: &str = "EVENT_QUEUE_URL";
/// Environment variable holding the Secrets Manager id of the ingest secrets (set by template.yaml).
pub const SECRETS_ID_VAR: &str = "INGEST_SECRETS_ID";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    #[error("loading ingest secrets: {0}")]
    Secrets(#[from] SecretsFetchError),
}

/// Webhook function configuration, read from the environment.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub queue_url: String,
    pub secrets_id: String,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, StartupError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(StartupError::MissingVar(name))
        };
        Ok(Self {
            queue_url: var(QUEUE_URL_VAR)?,
            secrets_id: var(SECRETS_ID_VAR)?,
        })
    }
}

/// Builds the ingest for one webhook from the environment and the default AWS configuration
/// (which honours AWS_ENDPOINT_URL, so the same code runs against moto locally).
pub async fn build_ingest(
    event_type: EventType,
    config: &WebhookConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<Ingest<SqsEventQueue, SystemClock>, StartupError> {
    let secrets = fetch_ingest_secrets(
        &aws_sdk_secretsmanager::Client::new(sdk),
        &config.secrets_id,
    )
    .await?;
    let queue = SqsEventQueue::new(aws_sdk_sqs::Client::new(sdk), config.queue_url.clone());
    Ok(Ingest::new(event_type, secrets, queue, SystemClock))
}

/// The whole life of a webhook function: telemetry, config, clients and secrets once, then the
/// handler for every invocation.
pub async fn run_webhook(event_type: EventType) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let config = WebhookConfig::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ingest = build_ingest(event_type, &config, &sdk).await?;
    let ingest = &ingest;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(handle_webhook(ingest, request).await)
    }))
    .await
}

/// One invocation: API Gateway request in, HTTP response out. Never fails: every outcome is a
/// response with a status.
pub async fn handle_webhook<Q: EventQueue, C: Clock>(
    ingest: &Ingest<Q, C>,
    request: Request,
) -> Response<Body> {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Text or Binary (API Gateway's base64 already decoded): the exact bytes the sender signed.
    let body: &[u8] = request.body().as_ref();
    let webhook_request = WebhookRequest {
        method: request.method().as_str(),
        content_type: header("content-type"),
        signature: SignatureHeaders {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
        },
        body,
    };
    let response = ingest.handle(&webhook_request).await;
    Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .body(Body::Text(response.body.to_string()))
        .expect("a status from Rejection::status and a static header always build")
}
