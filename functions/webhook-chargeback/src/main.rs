//! POST /webhooks/chargeback

use shared::events::EventType;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_webhook(EventType::Chargeback).await
}
