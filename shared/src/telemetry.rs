//! JSON logs for CloudWatch, one line per event. The level comes from AWS_LAMBDA_LOG_LEVEL (set by
//! the template's LoggingConfig) or RUST_LOG when it is a plain level; otherwise INFO. A plain
//! level filter instead of tracing's env-filter keeps regex out of every binary.

use tracing_subscriber::filter::LevelFilter;

pub fn init() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}
