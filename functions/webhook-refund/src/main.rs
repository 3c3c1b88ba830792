//! POST /webhooks/refund

use shared::events::EventType;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_webhook(EventType::Refund).await
}
