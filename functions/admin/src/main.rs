//! HTTP API (JWT authorizer) → the admin API: review queue, resolutions, customer timelines.
// The handler future nests the SDK's futures deeply enough to pass the default limit of 128.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::admin_lambda::run().await
}
