//! EventBridge schedule: the ledger and stats tables exported to S3 at the event's `time`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::exporter_lambda::run().await
}
