//! EventBridge schedule: one tick at the scheduled event's `time`.
// The tick future nests the SDK's futures deeply enough to pass the default limit of 128.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::scheduler_lambda::run().await
}
