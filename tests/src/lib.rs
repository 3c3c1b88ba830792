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
        Self {
            description,
            sdk,
            _exclusive: guard,
        }
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
