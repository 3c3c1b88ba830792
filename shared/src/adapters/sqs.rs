//! SQS FIFO implementation of the `EventQueue` port.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::ingest::{EventQueue, QueueError, QueueMessage};

/// Message attribute carrying the event type, so consumers and redrive tooling can filter
/// without parsing bodies.
pub const EVENT_TYPE_ATTRIBUTE: &str = "event_type";

#[derive(Debug, Clone)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

impl EventQueue for SqsEventQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
        let event_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(message.event_type.as_str())
            .build()
            .map_err(|e| QueueError(format!("building message attribute: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.body)
            .message_group_id(&message.group_id)
            .message_deduplication_id(&message.deduplication_id)
            .message_attributes(EVENT_TYPE_ATTRIBUTE, event_type)
            .send()
            .await
            .map(|_| ())
            // The SDK's error context names the operation and the service's error code; it never
            // contains the message body.
            .map_err(|e| {
                QueueError(format!(
                    "SQS SendMessage failed: {}",
                    DisplayErrorContext(e)
                ))
            })
    }
}
