//! Lambda glue for the processor: SQS FIFO batch in, partial batch response out. Poison messages
//! go to the dead-letter queue with their reason at once, so they never hold up their group.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::MessageAttributeValue;
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::{error, warn};

use crate::adapters::dynamo::{DynamoStore, Tables};
pub use crate::adapters::dynamo::{
    CUSTOMERS_TABLE_VAR, DIRECTORY_TABLE_VAR, EMAIL_MATCHES_TABLE_VAR, EVENTS_TABLE_VAR,
    LEDGER_TABLE_VAR, RECORDS_TABLE_VAR, REVIEWS_TABLE_VAR, STATS_TABLE_VAR,
};
use crate::processor::{BatchRecord, Processor, ProcessorStore, RecordFailure};

pub const DEAD_LETTER_QUEUE_URL_VAR: &str = "EVENT_DLQ_URL";

/// Message attribute on a dead-lettered poison message saying why.
pub const FAILURE_REASON_ATTRIBUTE: &str = "failure_reason";

#[derive(Debug, thiserror::Error)]
pub enum ProcessorStartupError {
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    #[error("scheduler configuration: {0}")]
    TickConfig(String),
}

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub tables: Tables,
    pub dead_letter_queue_url: String,
    /// The scheduler's time rules: the processor records when each customer next has work due.
    pub tick_config: crate::scheduler::TickConfig,
}

impl ProcessorConfig {
    pub fn from_env() -> Result<Self, ProcessorStartupError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(ProcessorStartupError::MissingVar(name))
        };
        Ok(Self {
            tables: Tables {
                customers: var(CUSTOMERS_TABLE_VAR)?,
                records: var(RECORDS_TABLE_VAR)?,
                events: var(EVENTS_TABLE_VAR)?,
                ledger: var(LEDGER_TABLE_VAR)?,
                reviews: var(REVIEWS_TABLE_VAR)?,
                email_matches: var(EMAIL_MATCHES_TABLE_VAR)?,
                directory: var(DIRECTORY_TABLE_VAR)?,
                stats: var(STATS_TABLE_VAR)?,
            },
            dead_letter_queue_url: var(DEAD_LETTER_QUEUE_URL_VAR)?,
            tick_config: crate::scheduler::tick_config_from_env()
                .map_err(ProcessorStartupError::TickConfig)?,
        })
    }
}

/// Where poison messages go.
pub struct DeadLetters {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeadLetters {
    async fn send(&self, message_id: &str, body: &str, reason: &str) -> Result<(), String> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id("poison")
            .message_deduplication_id(message_id)
            .message_attributes(FAILURE_REASON_ATTRIBUTE, attribute)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}

/// One invocation. Records without a message id cannot be reported individually, so such a
/// batch fails as a whole (SQS redelivers it).
pub async fn handle_batch<S: ProcessorStore>(
    processor: &Processor,
    store: &S,
    dead_letters: &DeadLetters,
    event: SqsEvent,
) -> Result<SqsBatchResponse, String> {
    let mut records = Vec::with_capacity(event.records.len());
    for m in event.records {
        let message_id = m.message_id.ok_or("SQS record without messageId")?;
        records.push(BatchRecord {
            message_id,
            body: m.body.unwrap_or_default(),
        });
    }
    let outcome = processor.process(store, &records).await;
    let mut failures: Vec<String> = Vec::new();
    for failure in &outcome.failures {
        match failure {
            RecordFailure::Retry { message_id, .. } => failures.push(message_id.clone()),
            RecordFailure::Poison { message_id, reason } => {
                let body = records
                    .iter()
                    .find(|r| r.message_id == *message_id)
                    .map_or("", |r| r.body.as_str());
                if let Err(e) = dead_letters.send(message_id, body, reason).await {
                    // Not dead-lettered: keep it on the queue rather than lose it.
                    error!(message_id = %message_id, error = %e, "could not dead-letter a poison message");
                    failures.push(message_id.clone());
                } else {
                    warn!(message_id = %message_id, reason = %reason, "poison message dead-lettered");
                }
            }
        }
    }
    // FIFO: report in queue order (a dead-letter failure can come before a retry failure).
    failures.sort_by_key(|id| records.iter().position(|r| r.message_id == *id));
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}

/// The processor function's whole life: telemetry, config and clients once, then batches.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let config = ProcessorConfig::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables.clone())
        .with_tick_config(config.tick_config);
    let dead_letters = DeadLetters {
        client: aws_sdk_sqs::Client::new(&sdk),
        queue_url: config.dead_letter_queue_url.clone(),
    };
    let processor = Processor::new();
    let (processor, store, dead_letters) = (&processor, &store, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        handle_batch(processor, store, dead_letters, event.payload).await
    }))
    .await
}
