//! Support for the handler and integration tiers: API Gateway v2 fixtures, a Standard Webhooks
//! sender, an in-memory queue for handler tests, and the local AWS stack (moto's server on a free
//! loopback port, provisioned from template.yaml, reset per test) for integration tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use shared::ingest::{EventQueue, IngestSecrets, QueueError, QueueMessage};
use shared::signing::SigningSecret;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

pub mod history;

// ------------------------------------------------------------------ secrets and signing

/// The documented local ingest secrets (infra/local/secrets.local.json), the same file the local
/// stack puts into Secrets Manager.
pub fn local_secrets_json() -> String {
    std::fs::read_to_string(workspace_root().join("infra/local/secrets.local.json"))
        .expect("local secrets file")
}

pub fn local_secrets() -> IngestSecrets {
    IngestSecrets::from_json(&local_secrets_json()).expect("local secrets are valid")
}

pub fn local_signing_secret() -> String {
    let v: Value = serde_json::from_str(&local_secrets_json()).unwrap();
    v["signing_secrets"][0].as_str().unwrap().to_owned()
}

/// A webhook as a sender would deliver it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub webhook_id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub base64: bool,
}

impl Delivery {
    /// Signs `body` for `event_type` at `at` with `secret` (`whsec_…`).
    pub fn signed(
        event_type: &str,
        id: &str,
        body: impl AsRef<[u8]>,
        at: DateTime<Utc>,
        secret: &str,
    ) -> Self {
        let body = body.as_ref();
        let ts = at.timestamp().to_string();
        let signature = SigningSecret::parse(secret)
            .expect("test secret")
            .sign(id, &ts, body);
        Self {
            path: format!("/webhooks/{event_type}"),
            webhook_id: Some(id.into()),
            timestamp: Some(ts),
            signature: Some(signature),
            content_type: Some("application/json".into()),
            body: body.to_vec(),
            base64: false,
        }
    }

    /// The API Gateway v2 (HTTP API) event this delivery becomes, built from the captured fixture.
    pub fn apigw_event(&self) -> Value {
        use base64::Engine as _;
        let mut event: Value = serde_json::from_str(
            &std::fs::read_to_string(
                workspace_root().join("tests/fixtures/apigw-v2/post-webhook.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let route = format!("POST {}", self.path);
        event["routeKey"] = route.clone().into();
        event["requestContext"]["routeKey"] = route.into();
        event["rawPath"] = self.path.clone().into();
        event["requestContext"]["http"]["path"] = self.path.clone().into();
        let headers = event["headers"].as_object_mut().unwrap();
        headers.insert("content-length".into(), self.body.len().to_string().into());
        headers.remove("content-type");
        for (name, value) in [
            ("webhook-id", &self.webhook_id),
            ("webhook-timestamp", &self.timestamp),
            ("webhook-signature", &self.signature),
            ("content-type", &self.content_type),
        ] {
            if let Some(v) = value {
                headers.insert(name.into(), v.clone().into());
            }
        }
        if self.base64 {
            event["body"] = base64::engine::general_purpose::STANDARD
                .encode(&self.body)
                .into();
            event["isBase64Encoded"] = true.into();
        } else {
            event["body"] = String::from_utf8(self.body.clone())
                .expect("text body")
                .into();
        }
        event
    }

    /// The request lambda_http hands the function for this delivery.
    pub fn lambda_request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.apigw_event().to_string())
            .expect("a valid API Gateway v2 event")
    }
}

/// Status and JSON body of a lambda_http response.
pub fn response_parts(response: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: &[u8] = response.body().as_ref();
    (
        status,
        serde_json::from_slice(body).expect("JSON response body"),
    )
}

// ------------------------------------------------------------------ handler-tier queue

/// In-memory queue for handler tests (the integration tier uses real SQS on moto).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<QueueMessage>>,
}

impl EventQueue for MemoryQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

// ------------------------------------------------------------------ local AWS stack

/// The Python of the pinned tooling venv (infra/bootstrap). The test command creates it; running
/// `cargo test` by hand needs `infra/bootstrap` once.
pub fn venv_python() -> PathBuf {
    let path = std::env::var_os("LOCAL_STACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run ./infra/bootstrap (or ./infra/test) first",
        path.display()
    );
    path
}

struct MotoProcess {
    endpoint: String,
    // Held for its stdin pipe: when this test process exits the pipe closes and moto stops.
    _child: Child,
}

fn moto() -> &'static MotoProcess {
    static MOTO: OnceLock<MotoProcess> = OnceLock::new();
    MOTO.get_or_init(|| {
        let mut child = Command::new(venv_python())
            .arg(workspace_root().join("infra/local/moto_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start moto server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("moto READY line");
        let endpoint = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("moto did not start: {line:?}"))
            .to_owned();
        MotoProcess {
            endpoint,
            _child: child,
        }
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProvisionedResource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(flatten)]
    pub attributes: HashMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProvisionedFunction {
    pub binary: String,
    pub environment: HashMap<String, String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
}

/// What infra/local/provision.py created from template.yaml.
#[derive(Debug, Clone, Deserialize)]
pub struct StackDescription {
    pub endpoint: String,
    pub region: String,
    pub resources: HashMap<String, ProvisionedResource>,
    pub functions: HashMap<String, ProvisionedFunction>,
}

/// One test's exclusive use of the local stack, freshly reset and provisioned.
pub struct LocalStack {
    pub description: StackDescription,
    pub sdk: aws_config::SdkConfig,
    _exclusive: tokio::sync::MutexGuard<'static, ()>,
}

impl LocalStack {
    /// Waits for exclusive use (tests in one binary share the server), resets every moto service,
    /// and provisions everything template.yaml declares.
    pub async fn fresh() -> Self {
        static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let guard = EXCLUSIVE.lock().await;
        let endpoint = moto().endpoint.clone();
        let out = Command::new(venv_python())
            .arg(workspace_root().join("infra/local/provision.py"))
            .args(["--reset", "--endpoint", &endpoint, "--stack", "prop-test"])
            .output()
            .expect("run provision.py");
        assert!(
            out.status.success(),
            "provision.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let description: StackDescription =
            serde_json::from_slice(&out.stdout).expect("provision output");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new(description.region.clone()))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-stack",
            ))
            .load()
            .await;
        let stack = Self {
            description,
            sdk,
            _exclusive: guard,
        };
        stack.load_directory().await;
        stack
    }

    pub fn resource(&self, logical_id: &str) -> &ProvisionedResource {
        self.description
            .resources
            .get(logical_id)
            .unwrap_or_else(|| panic!("template has no {logical_id}"))
    }

    pub fn function(&self, logical_id: &str) -> &ProvisionedFunction {
        self.description
            .functions
            .get(logical_id)
            .unwrap_or_else(|| panic!("template has no {logical_id}"))
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// Receives and deletes every message on a queue, in delivery order. Reading a FIFO queue
    /// must consume it: while a group's head is in flight SQS returns nothing behind it. Order is
    /// receive order, not `SequenceNumber`: moto assigns random sequence numbers where SQS's
    /// increase within a group, but moto does deliver each group in FIFO order.
    pub async fn drain(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        use aws_sdk_sqs::types::MessageSystemAttributeName as Attr;
        let sqs = self.sqs();
        let mut out = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 2 {
            let got = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_system_attribute_names(Attr::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let batch = got.messages.unwrap_or_default();
            empty_polls = if batch.is_empty() { empty_polls + 1 } else { 0 };
            for m in batch {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete");
                out.push(m);
            }
        }
        out
    }
}

// ------------------------------------------------------------------ processor on the local stack

pub use processor_support::*;

mod processor_support {
    use std::collections::HashMap;

    use aws_lambda_events::event::sqs::SqsEvent;
    use aws_sdk_dynamodb::types::AttributeValue;
    use rust_decimal::Decimal;
    use serde_json::{json, Value};
    use shared::adapters::dynamo::DynamoStore;
    use shared::processor::{Processor, ProcessorStore};
    use shared::processor_lambda::{
        handle_batch, DeadLetters, ProcessorConfig, CUSTOMERS_TABLE_VAR, DEAD_LETTER_QUEUE_URL_VAR,
        DIRECTORY_TABLE_VAR, EMAIL_MATCHES_TABLE_VAR, EVENTS_TABLE_VAR, LEDGER_TABLE_VAR,
        RECORDS_TABLE_VAR, REVIEWS_TABLE_VAR, STATS_TABLE_VAR,
    };

    use super::{workspace_root, LocalStack};

    /// The SQS event Lambda hands the processor for these messages, built from the captured
    /// FIFO fixture (tests/fixtures/sqs/fifo-batch.json).
    pub fn sqs_event(queue_arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(workspace_root().join("tests/fixtures/sqs/fifo-batch.json"))
                .unwrap(),
        )
        .unwrap();
        let template = fixture["Records"][0].clone();
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut r = template.clone();
                r["messageId"] = m.message_id().unwrap().into();
                r["receiptHandle"] = m.receipt_handle().unwrap().into();
                r["body"] = m.body().unwrap().into();
                r["md5OfBody"] = m.md5_of_body().unwrap_or_default().into();
                r["eventSourceARN"] = queue_arn.into();
                let attrs: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                r["attributes"] = Value::Object(attrs);
                let event_type = m
                    .message_attributes()
                    .and_then(|a| a.get("event_type"))
                    .and_then(|v| v.string_value())
                    .unwrap_or("purchase");
                r["messageAttributes"]["event_type"]["stringValue"] = event_type.into();
                r
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("SQS event shape")
    }

    /// The processor function as template.yaml configures it, on the local stack.
    pub struct ProcessorHarness {
        pub config: ProcessorConfig,
        pub store: DynamoStore,
        pub dead_letters: DeadLetters,
        pub processor: Processor,
    }

    /// What one trigger run did.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    pub struct TriggerRun {
        pub invocations: usize,
        pub delivered: usize,
        pub failed: usize,
    }

    impl LocalStack {
        pub fn processor(&self) -> ProcessorHarness {
            let env = &self.function("ProcessorFunction").environment;
            for var in [
                CUSTOMERS_TABLE_VAR,
                RECORDS_TABLE_VAR,
                EVENTS_TABLE_VAR,
                LEDGER_TABLE_VAR,
                REVIEWS_TABLE_VAR,
                EMAIL_MATCHES_TABLE_VAR,
                DIRECTORY_TABLE_VAR,
                STATS_TABLE_VAR,
                DEAD_LETTER_QUEUE_URL_VAR,
            ] {
                assert!(
                    env.contains_key(var),
                    "template gives the processor no {var}"
                );
            }
            let saved: Vec<_> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let get = |k: &str| saved.iter().find(|(n, _)| n == k).unwrap().1.clone();
            let config = ProcessorConfig {
                tables: shared::adapters::dynamo::Tables {
                    customers: get(CUSTOMERS_TABLE_VAR),
                    records: get(RECORDS_TABLE_VAR),
                    events: get(EVENTS_TABLE_VAR),
                    ledger: get(LEDGER_TABLE_VAR),
                    reviews: get(REVIEWS_TABLE_VAR),
                    email_matches: get(EMAIL_MATCHES_TABLE_VAR),
                    directory: get(DIRECTORY_TABLE_VAR),
                    stats: get(STATS_TABLE_VAR),
                },
                dead_letter_queue_url: get(DEAD_LETTER_QUEUE_URL_VAR),
                tick_config: shared::scheduler::TickConfig {
                    parked_review_after: chrono::Duration::hours(
                        get(shared::scheduler::PARKED_REVIEW_AFTER_HOURS_VAR)
                            .parse()
                            .expect("hours"),
                    ),
                },
            };
            ProcessorHarness {
                store: DynamoStore::new(self.dynamodb(), config.tables.clone())
                    .with_tick_config(config.tick_config),
                dead_letters: DeadLetters {
                    client: self.sqs(),
                    queue_url: config.dead_letter_queue_url.clone(),
                },
                config,
                processor: Processor::new(),
            }
        }

        /// One scheduler tick at `now`, as the deployed scheduler runs it (its time rules and
        /// anomaly thresholds from template.yaml), straight against the processor's store.
        pub async fn tick(
            &self,
            harness: &ProcessorHarness,
            now: chrono::DateTime<chrono::Utc>,
        ) -> shared::scheduler::TickReport {
            shared::scheduler::run_tick(
                &harness.store,
                now,
                &harness.config.tick_config,
                &self.anomaly_rules(),
            )
            .await
            .expect("the tick reads its due work")
        }

        /// The anomaly thresholds template.yaml gives the scheduler.
        pub fn anomaly_rules(&self) -> shared::quality::AnomalyRules {
            let env = &self.function("SchedulerFunction").environment;
            let get = |k: &str| env[k].parse().expect("decimal threshold");
            shared::quality::AnomalyRules {
                refund_rate_above: get(shared::scheduler::ANOMALY_REFUND_RATE_ABOVE_VAR),
                chargeback_rate_above: get(shared::scheduler::ANOMALY_CHARGEBACK_RATE_ABOVE_VAR),
                min_purchases: get(shared::scheduler::ANOMALY_MIN_PURCHASES_VAR),
                self_referrals_at_least: get(shared::scheduler::ANOMALY_SELF_REFERRALS_VAR),
            }
        }

        pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
            aws_sdk_dynamodb::Client::new(&self.sdk)
        }

        /// S3 on the local stack (moto serves buckets by path, not by host name).
        pub fn s3(&self) -> aws_sdk_s3::Client {
            let config = aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        }

        /// The scheduled finance export at `cut_off`, as the deployed schedule runs it: the
        /// exporter function's handler (its environment from template.yaml) with the scheduled
        /// event, calling ExportTableToPointInTime on moto; then DescribeExport until every
        /// export is COMPLETED.
        pub async fn export_at(
            &self,
            cut_off: chrono::DateTime<chrono::Utc>,
        ) -> shared::finance::exports::ExportRun {
            use shared::finance::exports::{ExportStatus, TableExporter};
            let env = &self.function("ExporterFunction").environment;
            let targets = shared::exporter_lambda::ExportTargets {
                bucket: env[shared::exporter_lambda::EXPORT_BUCKET_VAR].clone(),
                tables: vec![
                    (
                        shared::finance::exports::LEDGER_LABEL,
                        env[shared::exporter_lambda::LEDGER_TABLE_ARN_VAR].clone(),
                    ),
                    (
                        shared::finance::exports::STATS_LABEL,
                        env[shared::exporter_lambda::STATS_TABLE_ARN_VAR].clone(),
                    ),
                ],
            };
            let exporter = shared::adapters::dynamo::DynamoExporter::new(self.dynamodb());
            // EventBridge's scheduled event as the deployed schedule sends it, at the cut-off
            let mut event: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(
                    workspace_root().join("tests/fixtures/eventbridge/scheduled-event.json"),
                )
                .expect("the scheduled-event fixture"),
            )
            .expect("fixture JSON");
            event["time"] = cut_off
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .into();
            let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value> =
                serde_json::from_value(event).expect("EventBridge scheduled event shape");
            let mut run = shared::exporter_lambda::handle_export(&exporter, &targets, event)
                .await
                .expect("both exports start");
            for _ in 0..200 {
                if run
                    .started
                    .iter()
                    .all(|s| s.status != ExportStatus::InProgress)
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                for s in &mut run.started {
                    s.status = exporter.describe(&s.export_arn).await.expect("describe");
                }
            }
            assert!(
                run.started
                    .iter()
                    .all(|s| s.status == ExportStatus::Completed),
                "{run:?}"
            );
            run
        }

        /// The SQS trigger with real partial-batch semantics: receive up to 10, invoke, delete
        /// what succeeded, make the reported failures visible again (at once: a test has no
        /// 180-second visibility timeout to wait out), until the queue stays empty.
        pub async fn run_trigger<S: ProcessorStore>(
            &self,
            harness: &ProcessorHarness,
            store: &S,
            max_invocations: usize,
        ) -> TriggerRun {
            let queue = self.resource("EventQueue");
            let queue_url = queue.reference.clone();
            let queue_arn = queue.attributes["Arn"].as_str().unwrap().to_owned();
            let sqs = self.sqs();
            let mut run = TriggerRun::default();
            let mut empty_polls = 0;
            while empty_polls < 2 && run.invocations < max_invocations {
                let got = sqs
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(10)
                    .visibility_timeout(30)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .message_attribute_names("All")
                    .send()
                    .await
                    .expect("receive");
                let messages = got.messages.unwrap_or_default();
                if messages.is_empty() {
                    empty_polls += 1;
                    continue;
                }
                empty_polls = 0;
                run.invocations += 1;
                run.delivered += messages.len();
                let event = sqs_event(&queue_arn, &messages);
                if std::env::var_os("TRIGGER_DEBUG").is_some() {
                    let records: Vec<_> = event
                        .records
                        .iter()
                        .map(|r| shared::processor::BatchRecord {
                            message_id: r.message_id.clone().unwrap(),
                            body: r.body.clone().unwrap(),
                        })
                        .collect();
                    eprintln!("{:?}", harness.processor.process(store, &records).await);
                }
                let response =
                    handle_batch(&harness.processor, store, &harness.dead_letters, event)
                        .await
                        .expect("batch handled");
                let failed: Vec<&str> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.as_str())
                    .collect();
                run.failed += failed.len();
                for m in &messages {
                    if failed.contains(&m.message_id().unwrap()) {
                        sqs.change_message_visibility()
                            .queue_url(&queue_url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .visibility_timeout(0)
                            .send()
                            .await
                            .expect("release");
                    } else {
                        sqs.delete_message()
                            .queue_url(&queue_url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send()
                            .await
                            .expect("delete");
                    }
                }
            }
            run
        }

        /// Puts normalized envelopes on the event queue as the webhook functions would (group:
        /// the customer; deduplication: the event id), for tests and benchmarks that need fixed
        /// timestamps and ids.
        pub async fn enqueue(&self, envelopes: &[shared::events::EventEnvelope]) {
            let queue_url = self.resource("EventQueue").reference.clone();
            let sqs = self.sqs();
            for e in envelopes {
                let event_type = aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(e.event_type.as_str())
                    .build()
                    .expect("attribute");
                sqs.send_message()
                    .queue_url(&queue_url)
                    .message_body(serde_json::to_string(e).expect("envelope JSON"))
                    .message_group_id(&e.customer_id)
                    .message_deduplication_id(&e.event_id)
                    .message_attributes("event_type", event_type)
                    .send()
                    .await
                    .expect("enqueue");
            }
        }

        /// Every item of a table (moto: a scan is exact; fine for test-sized tables).
        pub async fn scan(&self, table: &str) -> Vec<HashMap<String, AttributeValue>> {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .dynamodb()
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                items.extend(out.items.unwrap_or_default());
                start = out.last_evaluated_key;
                if start.is_none() {
                    return items;
                }
            }
        }

        /// The ledger as finance reads it, sorted by entry id.
        pub async fn ledger(&self, harness: &ProcessorHarness) -> Vec<LedgerRow> {
            let mut rows: Vec<LedgerRow> = self
                .scan(&harness.config.tables.ledger)
                .await
                .iter()
                .map(LedgerRow::from_item)
                .collect();
            rows.sort_by(|a, b| a.entry_id.cmp(&b.entry_id));
            rows
        }

        /// An event's recorded outcome and reason.
        pub async fn outcome(
            &self,
            harness: &ProcessorHarness,
            event_id: &str,
        ) -> Option<(String, String)> {
            let out = self
                .dynamodb()
                .get_item()
                .table_name(&harness.config.tables.events)
                .key("event_id", AttributeValue::S(event_id.into()))
                .consistent_read(true)
                .send()
                .await
                .expect("get event");
            out.item.map(|i| (text(&i, "outcome"), text(&i, "reason")))
        }
    }

    fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    }

    /// A ledger item with its amount parsed as a decimal (moto keeps trailing zeros that
    /// DynamoDB would drop, so amounts are only ever compared as decimals).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LedgerRow {
        pub entry_id: String,
        pub affiliate_id: String,
        pub commission_id: String,
        pub customer_id: String,
        pub kind: String,
        pub amount: Decimal,
        pub currency: String,
        pub status: String,
    }

    impl LedgerRow {
        fn from_item(item: &HashMap<String, AttributeValue>) -> Self {
            let amount = item
                .get("amount")
                .and_then(|v| v.as_n().ok())
                .expect("amount is a DynamoDB number");
            LedgerRow {
                entry_id: text(item, "entry_id"),
                affiliate_id: text(item, "affiliate_id"),
                commission_id: text(item, "commission_id"),
                customer_id: text(item, "customer_id"),
                kind: text(item, "kind"),
                amount: amount.parse().expect("decimal amount"),
                currency: text(item, "currency"),
                status: text(item, "status"),
            }
        }
    }
}

// ------------------------------------------------------------------ webhooks on the local stack

pub use webhook_support::*;

mod webhook_support {
    use chrono::{DateTime, Utc};
    use serde_json::Value;
    use shared::adapters::sqs::SqsEventQueue;
    use shared::clock::SystemClock;
    use shared::events::EventType;
    use shared::ingest::Ingest;
    use shared::lambda::{
        build_ingest, handle_webhook, WebhookConfig, QUEUE_URL_VAR, SECRETS_ID_VAR,
    };

    use super::{local_signing_secret, response_parts, Delivery, LocalStack};

    pub const WEBHOOK_FUNCTIONS: [(EventType, &str); 6] = [
        (EventType::Purchase, "WebhookPurchaseFunction"),
        (EventType::Evaluation, "WebhookEvaluationFunction"),
        (EventType::Reset, "WebhookResetFunction"),
        (EventType::Funded, "WebhookFundedFunction"),
        (EventType::Chargeback, "WebhookChargebackFunction"),
        (EventType::Refund, "WebhookRefundFunction"),
    ];

    /// The six webhook functions, each built as its deployed self builds itself (environment from
    /// template.yaml, secrets from Secrets Manager, SQS client), on the local stack.
    pub struct Webhooks {
        ingests: Vec<(EventType, Ingest<SqsEventQueue, SystemClock>)>,
    }

    impl Webhooks {
        pub async fn new(stack: &LocalStack) -> Self {
            let mut ingests = Vec::new();
            for (event_type, logical) in WEBHOOK_FUNCTIONS {
                let env = &stack.function(logical).environment;
                let config = WebhookConfig {
                    queue_url: env[QUEUE_URL_VAR].clone(),
                    secrets_id: env[SECRETS_ID_VAR].clone(),
                };
                ingests.push((
                    event_type,
                    build_ingest(event_type, &config, &stack.sdk)
                        .await
                        .expect("cold start"),
                ));
            }
            Self { ingests }
        }

        /// Signs and delivers one webhook now; returns the HTTP status and body.
        pub async fn send(&self, event_type: EventType, id: &str, body: &Value) -> (u16, Value) {
            self.send_at(event_type, id, body, Utc::now()).await
        }

        pub async fn send_at(
            &self,
            event_type: EventType,
            id: &str,
            body: &Value,
            signed_at: DateTime<Utc>,
        ) -> (u16, Value) {
            let ingest = &self
                .ingests
                .iter()
                .find(|(t, _)| *t == event_type)
                .unwrap()
                .1;
            let delivery = Delivery::signed(
                event_type.as_str(),
                id,
                body.to_string(),
                signed_at,
                &local_signing_secret(),
            );
            response_parts(handle_webhook(ingest, delivery.lambda_request()).await)
        }
    }
}

// ------------------------------------------------------------------ the admin API on the local stack

pub use admin_support::*;

mod admin_support {
    use std::collections::HashMap;

    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};
    use shared::adapters::dynamo::DynamoStore;
    use shared::admin::AdminApi;
    use shared::admin_lambda::{handle_admin, AdminConfig};
    use shared::clock::FixedClock;

    use super::{response_parts, workspace_root, LocalStack};

    /// The issuer, audience and role claim the local stack's template parameters give the admin
    /// function (infra/local/provision.py LOCAL_PARAMETERS).
    pub const LOCAL_ISSUER: &str = "https://prop-local.localhost/dev-issuer";
    pub const LOCAL_AUDIENCE: &str = "prop-admin-local";

    /// Verified claims as the JWT authorizer hands them to the function (all strings).
    pub fn claims(role: &str, subject: &str, now: DateTime<Utc>) -> HashMap<String, String> {
        HashMap::from([
            ("iss".to_owned(), LOCAL_ISSUER.to_owned()),
            ("aud".to_owned(), LOCAL_AUDIENCE.to_owned()),
            ("sub".to_owned(), subject.to_owned()),
            ("role".to_owned(), role.to_owned()),
            ("iat".to_owned(), now.timestamp().to_string()),
            ("exp".to_owned(), (now.timestamp() + 3600).to_string()),
        ])
    }

    /// The admin function as template.yaml configures it, on the local stack, at a fixed instant.
    pub struct AdminHarness {
        pub config: AdminConfig,
        pub api: AdminApi<DynamoStore, FixedClock>,
        pub now: DateTime<Utc>,
    }

    impl LocalStack {
        /// Built as the deployed function builds itself: configuration from the template's
        /// environment, the email hash key from Secrets Manager.
        pub async fn admin(&self, now: DateTime<Utc>) -> AdminHarness {
            let env = &self.function("AdminFunction").environment;
            // The function's own configuration code, reading the template's environment.
            let saved: Vec<(String, Option<String>)> = env
                .keys()
                .map(|k| (k.clone(), std::env::var(k).ok()))
                .collect();
            let config = {
                let _lock = ENV_LOCK.lock().unwrap();
                for (k, v) in env {
                    std::env::set_var(k, v);
                }
                let config = AdminConfig::from_env().expect("AdminFunction's environment");
                for (k, v) in &saved {
                    match v {
                        Some(v) => std::env::set_var(k, v),
                        None => std::env::remove_var(k),
                    }
                }
                config
            };
            let store = DynamoStore::new(self.dynamodb(), config.tables.clone())
                .with_tick_config(config.tick_config);
            let secrets = shared::adapters::secrets::fetch_ingest_secrets(
                &aws_sdk_secretsmanager::Client::new(&self.sdk),
                &config.secrets_id,
            )
            .await
            .expect("the ingest secrets are provisioned");
            let hasher = shared::email::EmailHasher::new(&secrets.email_hash_key);
            AdminHarness {
                api: AdminApi::new(store, FixedClock(now), config.auth.clone(), hasher),
                config,
                now,
            }
        }
    }

    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// An admin request as API Gateway delivers it, built from the captured fixture.
    pub fn admin_event(
        method: &str,
        path_and_query: &str,
        claims: Option<&HashMap<String, String>>,
        body: Option<&Value>,
    ) -> Value {
        let mut event: Value = serde_json::from_str(
            &std::fs::read_to_string(
                workspace_root().join("tests/fixtures/apigw-v2/admin-jwt.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        event["rawPath"] = path.into();
        event["rawQueryString"] = query.into();
        event["requestContext"]["http"]["path"] = path.into();
        event["requestContext"]["http"]["method"] = method.into();
        event["routeKey"] = format!("{method} {path}").into();
        event.as_object_mut().unwrap().remove("pathParameters");
        match claims {
            Some(c) => event["requestContext"]["authorizer"]["jwt"]["claims"] = json!(c),
            None => {
                event["requestContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("authorizer");
                event["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("authorization");
            }
        }
        if let Some(b) = body {
            let text = b.to_string();
            event["headers"]["content-type"] = "application/json".into();
            event["headers"]["content-length"] = text.len().to_string().into();
            event["body"] = text.into();
        }
        event
    }

    impl LocalStack {
        /// Loads infra/local/directory.json as the local stack does: through the admin API
        /// (validated, versioned, audited), as ops would on a deployed stack.
        pub async fn load_directory(&self) {
            let path = workspace_root().join("infra/local/directory.json");
            let data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .expect("directory.json is JSON");
            let admin = self.admin(Utc::now()).await;
            let loader = claims("ops", "local-directory-loader", admin.now);
            let reason = "local stack: directory.json";
            let mut calls: Vec<(&str, String, Value)> = Vec::new();
            for plan in data["plans"].as_array().into_iter().flatten() {
                calls.push((
                    "POST",
                    "/admin/plans".into(),
                    json!({"plan": plan, "reason": reason}),
                ));
            }
            for affiliate in data["affiliates"].as_array().into_iter().flatten() {
                let mut body = affiliate.clone();
                body["reason"] = reason.into();
                calls.push(("POST", "/admin/affiliates".into(), body));
            }
            for (code, affiliate) in data["coupons"].as_object().into_iter().flatten() {
                calls.push((
                    "PUT",
                    format!("/admin/coupons/{code}"),
                    json!({"affiliate_id": affiliate, "reason": reason}),
                ));
            }
            for (method, path, body) in calls {
                let (status, response) =
                    admin.call(method, &path, Some(&loader), Some(&body)).await;
                assert_eq!(
                    status, 200,
                    "loading directory.json: {method} {path}: {response}"
                );
            }
        }
    }

    impl AdminHarness {
        /// One request through the function's handler; the status and the JSON body.
        pub async fn call(
            &self,
            method: &str,
            path_and_query: &str,
            claims: Option<&HashMap<String, String>>,
            body: Option<&Value>,
        ) -> (u16, Value) {
            self.call_raw(admin_event(method, path_and_query, claims, body))
                .await
        }

        /// A request's raw answer: status, headers and body bytes (the console's files).
        pub async fn call_http(
            &self,
            method: &str,
            path: &str,
        ) -> (u16, HashMap<String, String>, Vec<u8>) {
            let event = admin_event(method, path, None, None);
            let request = lambda_http::request::from_str(&event.to_string())
                .expect("a valid API Gateway v2 event");
            let response = handle_admin(&self.api, request).await;
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body: &[u8] = response.body().as_ref();
            (response.status().as_u16(), headers, body.to_vec())
        }

        pub async fn call_raw(&self, event: Value) -> (u16, Value) {
            let request = lambda_http::request::from_str(&event.to_string())
                .expect("a valid API Gateway v2 event");
            response_parts(handle_admin(&self.api, request).await)
        }

        pub fn ops(&self) -> HashMap<String, String> {
            claims("ops", "ops-alice", self.now)
        }

        pub fn viewer(&self) -> HashMap<String, String> {
            claims("viewer", "viewer-bob", self.now)
        }
    }
}
