//! JSON logs for CloudWatch, one line per event. The level comes from AWS_LAMBDA_LOG_LEVEL (set by
//! the template's LoggingConfig) or RUST_LOG when it is a plain level; otherwise INFO. A plain
//! level filter (and `Targets`, not tracing's env-filter) keeps regex out of every binary.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

pub fn init() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let mut targets = Targets::new().with_default(level);
    // lambda_runtime warns at start whenever AWS_LAMBDA_MAX_CONCURRENCY is set and it was built
    // without managed concurrency. Deployed (not on Managed Instances) the variable is unset; the
    // local emulator (cargo lambda watch) always sets it to 1, which is exactly the sequential
    // runtime these functions run, so that warning says nothing there. Its errors still show.
    if std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").as_deref() == Ok("1") {
        targets = targets.with_target("lambda_runtime", LevelFilter::ERROR.min(level));
    }
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .finish()
        .with(targets);
    // A second call (tests) keeps the first subscriber instead of panicking.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
