//! POST /webhooks/funded

use shared::events::EventType;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_webhook(EventType::Funded).await
}
