//! JSON logs for CloudWatch. Level from RUST_LOG, else AWS_LAMBDA_LOG_LEVEL, else info.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}
