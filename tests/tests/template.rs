//! template.yaml is code: what matters in it is asserted here (routes, build method, queue and
//! dead-letter queue, alarms, each function's own least-privilege role and log group, the queue
//! policy, no secrets, the architecture parameter). cfn-lint, `sam validate --lint` and the
//! security lint (infra/scan-template) run in the test command as well.

use serde_json::{json, Value};
use shared::events::EventType;
use shared::lambda::{QUEUE_URL_VAR, SECRETS_ID_VAR};
use system_tests::workspace_root;

/// template.yaml as JSON, with short-form intrinsics (`!Ref X`) turned into their long form
/// (`{"Ref": "X"}`), as CloudFormation reads them.
fn template() -> Value {
    fn convert(v: serde_yaml::Value) -> Value {
        match v {
            serde_yaml::Value::Tagged(t) => {
                let tag = t.tag.to_string();
                let name = tag.trim_start_matches('!');
                let key = if name == "Ref" {
                    "Ref".to_owned()
                } else {
                    format!("Fn::{name}")
                };
                let mut value = convert(t.value);
                if key == "Fn::GetAtt" {
                    if let Some(s) = value.as_str() {
                        value = json!(s.split('.').collect::<Vec<_>>());
                    }
                }
                json!({ key: value })
            }
            serde_yaml::Value::Mapping(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), convert(v)))
                    .collect(),
            ),
            serde_yaml::Value::Sequence(s) => Value::Array(s.into_iter().map(convert).collect()),
            other => serde_json::to_value(other).unwrap(),
        }
    }
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    convert(serde_yaml::from_str(&text).unwrap())
}

fn resources_of<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// A statement's actions, whether written as one or a list.
fn actions_of(s: &Value) -> Vec<String> {
    match &s["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        other => panic!("{other}"),
    }
}

/// A statement's resources, whether written as one or a list.
fn resources_in(s: &Value) -> Vec<Value> {
    match &s["Resource"] {
        Value::Array(r) => r.clone(),
        r => vec![r.clone()],
    }
}

/// The role a function runs as: its own (`<Name>Role` for `<Name>Function`), never SAM's.
fn role_of<'a>(t: &'a Value, name: &str, f: &Value) -> &'a Value {
    let base = name
        .strip_suffix("Function")
        .expect("functions are named *Function");
    assert_eq!(
        f["Properties"]["Role"],
        json!({"Fn::GetAtt": [format!("{base}Role"), "Arn"]}),
        "{name} runs as its own role"
    );
    let role = &t["Resources"][format!("{base}Role")];
    assert_eq!(role["Type"], "AWS::IAM::Role", "{name}");
    role
}

/// Every statement of a function's role (its one inline policy).
fn role_statements(t: &Value, name: &str, f: &Value) -> Vec<Value> {
    let policies = role_of(t, name, f)["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}'s role has no inline policy"));
    assert_eq!(policies.len(), 1, "{name}: one inline policy");
    policies[0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone()
}

/// Statements every function's role has by its kind (its own log group; the processor's own
/// queue; the on-failure destination of an asynchronous function), asserted by their own tests.
const PLUMBING_SIDS: [&str; 3] = [
    "WriteOwnLogs",
    "ConsumeEventQueue",
    "DeadLetterFailedInvocations",
];

/// What a function's role grants for the function's own job: its statements without the plumbing.
fn job_statements(t: &Value, name: &str, f: &Value) -> Vec<Value> {
    role_statements(t, name, f)
        .into_iter()
        .filter(|s| !PLUMBING_SIDS.contains(&s["Sid"].as_str().unwrap_or("")))
        .collect()
}

fn webhook_function(t: &Value, event_type: EventType) -> (&String, &Value) {
    let path = format!("/webhooks/{event_type}");
    let matches: Vec<_> = resources_of(t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| {
            f["Properties"]["Events"]
                .as_object()
                .into_iter()
                .flatten()
                .any(|(_, e)| e["Properties"]["Path"] == path.as_str())
        })
        .collect();
    assert_eq!(matches.len(), 1, "exactly one function serves {path}");
    matches[0]
}

#[test]
fn each_webhook_route_is_its_own_function_built_from_its_own_crate() {
    let t = template();
    for event_type in EventType::ALL {
        let (name, f) = webhook_function(&t, event_type);
        let events = f["Properties"]["Events"].as_object().unwrap();
        assert_eq!(events.len(), 1, "{name}");
        let event = events.values().next().unwrap();
        assert_eq!(event["Type"], "HttpApi", "{name}");
        assert_eq!(event["Properties"]["Method"], "POST", "{name}");
        assert_eq!(
            event["Properties"]["ApiId"],
            json!({"Ref": "WebhookApi"}),
            "{name}"
        );
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert_eq!(binary, format!("webhook-{event_type}"));
        let manifest = std::fs::read_to_string(
            workspace_root().join(format!("functions/{binary}/Cargo.toml")),
        )
        .unwrap_or_else(|_| panic!("functions/{binary} crate is missing"));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{binary}"
        );
        let main = std::fs::read_to_string(
            workspace_root().join(format!("functions/{binary}/src/main.rs")),
        )
        .unwrap();
        let variant = format!(
            "EventType::{}{}",
            &event_type.as_str()[..1].to_uppercase(),
            &event_type.as_str()[1..]
        );
        assert!(
            main.contains(&variant),
            "{binary} must run the {event_type} ingest"
        );
    }
    // the webhook API and the admin API (its own stage, throttling and authorizer)
    let mut apis: Vec<&String> = resources_of(&t, "AWS::Serverless::HttpApi")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    apis.sort();
    assert_eq!(apis, vec!["AdminHttpApi", "WebhookApi"]);
    assert!(t["Resources"]["WebhookApi"]["Properties"]
        .get("Auth")
        .is_none());
}

#[test]
fn webhook_functions_get_exactly_the_environment_the_code_reads() {
    let t = template();
    for event_type in EventType::ALL {
        let (name, f) = webhook_function(&t, event_type);
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap();
        let mut keys: Vec<&str> = vars.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, [QUEUE_URL_VAR, SECRETS_ID_VAR], "{name}");
        assert_eq!(vars[QUEUE_URL_VAR], json!({"Ref": "EventQueue"}), "{name}");
        assert_eq!(
            vars[SECRETS_ID_VAR],
            json!({"Ref": "IngestSecrets"}),
            "{name}"
        );
    }
}

/// Least privilege: inline statements only (no SAM policy templates such as DynamoDBCrudPolicy, no
/// managed policies), no wildcard actions or resources, and the webhooks may only send to the
/// event queue and read the ingest secret.
#[test]
fn policies_are_least_privilege() {
    let t = template();
    for (name, f) in resources_of(&t, "AWS::Serverless::Function") {
        assert!(
            f["Properties"]["Policies"].is_null(),
            "{name}: SAM's generated role and policies are not used"
        );
        let role = role_of(&t, name, f);
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{name}: no managed policy"
        );
        for s in &role_statements(&t, name, f) {
            assert_eq!(s["Effect"], "Allow", "{name}");
            let actions = actions_of(s);
            assert!(
                actions.iter().all(|a| !a.contains('*')),
                "{name}: wildcard action {actions:?}"
            );
            assert_ne!(s["Resource"], json!("*"), "{name}: wildcard resource");
        }
    }
    for event_type in EventType::ALL {
        let (name, f) = webhook_function(&t, event_type);
        assert_eq!(
            json!(job_statements(&t, name, f)),
            json!([
                {"Sid": "QueueEvents", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["EventQueue", "Arn"]}},
                {"Sid": "ReadIngestSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "IngestSecrets"}}
            ]),
            "{name}"
        );
    }
}

#[test]
fn the_event_queue_is_fifo_with_a_fifo_dead_letter_queue_and_an_alarm_on_it() {
    let t = template();
    let r = &t["Resources"];
    let queue = &r["EventQueue"]["Properties"];
    let dlq = &r["EventDeadLetterQueue"]["Properties"];
    assert_eq!(r["EventQueue"]["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["FifoQueue"], true);
    assert_eq!(
        dlq["FifoQueue"], true,
        "a FIFO queue's dead-letter queue must be FIFO"
    );
    assert_eq!(
        queue["ContentBasedDeduplication"], false,
        "deduplication ids are explicit"
    );
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]})
    );
    assert!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 3);
    // Messages keep their original enqueue time in the DLQ; a shorter retention would lose them.
    assert!(dlq["MessageRetentionPeriod"].as_u64() >= queue["MessageRetentionPeriod"].as_u64());
    assert_eq!(
        queue["MessageRetentionPeriod"], 1_209_600,
        "14 days: senders and operators need time"
    );
    let alarms: Vec<_> = resources_of(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            a["Properties"]["Dimensions"][0]["Value"]
                == json!({"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]})
        })
        .collect();
    assert_eq!(alarms.len(), 1, "one alarm watches the dead-letter queue");
    let alarm = &alarms[0].1["Properties"];
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        (
            alarm["Threshold"].as_u64(),
            alarm["ComparisonOperator"].as_str()
        ),
        (Some(0), Some("GreaterThanThreshold"))
    );
    assert_eq!(alarm["AlarmActions"], json!([{"Ref": "OpsAlarmTopic"}]));
}

#[test]
fn no_secret_material_is_in_the_template() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    // The description may name the format (`whsec_...`); a value would be 16+ base64 characters.
    let has_key_material = text.match_indices("whsec_").any(|(i, m)| {
        text[i + m.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "+/=".contains(*c))
            .count()
            >= 16
    });
    assert!(
        !has_key_material,
        "signing secrets live in Secrets Manager only"
    );
    let t = template();
    let (_, secret) = resources_of(&t, "AWS::SecretsManager::Secret")
        .into_iter()
        .next()
        .expect("the ingest secret is declared");
    assert!(secret["Properties"].get("SecretString").is_none());
    assert!(secret["Properties"].get("GenerateSecretString").is_none());
}

#[test]
fn the_architecture_is_a_parameter_so_a_pipeline_can_deploy_arm64() {
    let t = template();
    assert_eq!(
        t["Parameters"]["Architecture"]["AllowedValues"],
        json!(["x86_64", "arm64"])
    );
    assert_eq!(
        t["Globals"]["Function"]["Architectures"],
        json!([{"Ref": "Architecture"}])
    );
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    for (name, f) in resources_of(&t, "AWS::Serverless::Function") {
        assert!(
            f["Properties"].get("Architectures").is_none(),
            "{name} must not pin its own architecture"
        );
    }
}

fn processor(t: &Value) -> &Value {
    &t["Resources"]["ProcessorFunction"]
}

#[test]
fn the_processor_is_triggered_by_the_event_queue_with_partial_batch_responses() {
    let t = template();
    let p = processor(&t);
    assert_eq!(p["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(p["Metadata"]["BuildProperties"]["Binary"], "processor");
    let events = p["Properties"]["Events"].as_object().unwrap();
    assert_eq!(events.len(), 1);
    let e = events.values().next().unwrap();
    assert_eq!(e["Type"], "SQS");
    assert_eq!(
        e["Properties"]["Queue"],
        json!({"Fn::GetAtt": ["EventQueue", "Arn"]})
    );
    assert_eq!(
        e["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let batch = e["Properties"]["BatchSize"].as_u64().unwrap();
    assert!((1..=10).contains(&batch), "FIFO batches hold at most 10");
    // AWS: the queue's visibility timeout should be at least six times the function timeout.
    let timeout = p["Properties"]["Timeout"].as_u64().unwrap();
    let visibility = t["Resources"]["EventQueue"]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .unwrap();
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x timeout {timeout}"
    );
    // poison events end in the dead-letter queue instead of blocking their group forever
    assert_eq!(
        t["Resources"]["EventQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]})
    );
}

#[test]
fn the_processor_gets_exactly_the_environment_the_code_reads() {
    use shared::processor_lambda::*;
    let t = template();
    let env = processor(&t)["Properties"]["Environment"]["Variables"].clone();
    assert_eq!(
        env,
        json!({
            CUSTOMERS_TABLE_VAR: {"Ref": "CustomersTable"},
            RECORDS_TABLE_VAR: {"Ref": "RecordsTable"},
            EVENTS_TABLE_VAR: {"Ref": "EventsTable"},
            LEDGER_TABLE_VAR: {"Ref": "LedgerTable"},
            REVIEWS_TABLE_VAR: {"Ref": "ReviewsTable"},
            EMAIL_MATCHES_TABLE_VAR: {"Ref": "EmailMatchesTable"},
            DIRECTORY_TABLE_VAR: {"Ref": "DirectoryTable"},
            DEAD_LETTER_QUEUE_URL_VAR: {"Ref": "EventDeadLetterQueue"},
            STATS_TABLE_VAR: {"Ref": "StatsTable"},
            shared::scheduler::PARKED_REVIEW_AFTER_HOURS_VAR: {"Ref": "ParkedReviewAfterHours"},
        })
    );
}

/// The processor can only read in batches, append (PutItem), and update the two things it
/// updates; it can never delete, and the ledger only ever receives new items.
#[test]
fn the_processor_policy_is_append_only() {
    let t = template();
    let grants = grants(&t, "ProcessorFunction", processor(&t));
    for (action, resource) in &grants {
        assert!(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "sqs:SendMessage"
            ]
            .contains(&action.as_str()),
            "unexpected grant {action} on {resource}"
        );
    }
    let on = |table: &str| -> Vec<&str> {
        grants
            .iter()
            .filter(|(_, r)| r == table)
            .map(|(a, _)| a.as_str())
            .collect()
    };
    assert_eq!(
        on("LedgerTable"),
        vec!["dynamodb:PutItem"],
        "the ledger is append-only"
    );
    assert_eq!(on("ReviewsTable"), vec!["dynamodb:PutItem"]);
    // records and heads are whole-item conditional puts: never updated in place, never deleted
    assert_eq!(
        on("RecordsTable"),
        vec!["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    );
    assert_eq!(
        on("CustomersTable"),
        vec!["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    );
    assert_eq!(on("EventDeadLetterQueue"), vec!["sqs:SendMessage"]);
    assert!(
        on("EventQueue").is_empty(),
        "consuming its queue is plumbing, asserted with the trigger"
    );
}

#[test]
fn every_table_is_on_demand_point_in_time_recoverable_encrypted_and_retained() {
    let t = template();
    let tables = resources_of(&t, "AWS::DynamoDB::Table");
    let names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "CustomersTable",
        "RecordsTable",
        "EventsTable",
        "LedgerTable",
        "ReviewsTable",
        "EmailMatchesTable",
        "DirectoryTable",
        "StatsTable",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    for (name, table) in tables {
        assert_eq!(table["DeletionPolicy"], "Retain", "{name}");
        assert_eq!(table["UpdateReplacePolicy"], "Retain", "{name}");
        let p = &table["Properties"];
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{name}");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{name}"
        );
        assert_eq!(p["SSESpecification"]["SSEEnabled"], true, "{name}");
    }
    // the open review queue is a sparse index
    let gsis = &t["Resources"]["ReviewsTable"]["Properties"]["GlobalSecondaryIndexes"];
    assert_eq!(gsis[0]["IndexName"], "OpenQueue");
    assert_eq!(gsis[0]["KeySchema"][0]["AttributeName"], "open_queue");
}

#[test]
fn the_scheduler_runs_on_a_schedule_with_retries_a_dead_letter_queue_and_query_only_reads() {
    let t = template();
    let f = &t["Resources"]["SchedulerFunction"];
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], "scheduler");
    let events = f["Properties"]["Events"].as_object().unwrap();
    assert_eq!(events.len(), 1);
    let tick = &events["Tick"];
    assert_eq!(tick["Type"], "Schedule");
    assert_eq!(
        tick["Properties"]["Schedule"],
        json!({"Ref": "TickSchedule"})
    );
    assert!(
        tick["Properties"]["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(
        tick["Properties"]["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["SchedulerDeadLetterQueue", "Arn"]})
    );
    let env = &f["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env,
        &json!({
            "CUSTOMERS_TABLE": {"Ref": "CustomersTable"},
            "RECORDS_TABLE": {"Ref": "RecordsTable"},
            "LEDGER_TABLE": {"Ref": "LedgerTable"},
            "REVIEWS_TABLE": {"Ref": "ReviewsTable"},
            "STATS_TABLE": {"Ref": "StatsTable"},
            "PARKED_REVIEW_AFTER_HOURS": {"Ref": "ParkedReviewAfterHours"},
            "ANOMALY_REFUND_RATE_ABOVE": {"Ref": "AnomalyRefundRateAbove"},
            "ANOMALY_CHARGEBACK_RATE_ABOVE": {"Ref": "AnomalyChargebackRateAbove"},
            "ANOMALY_MIN_PURCHASES": {"Ref": "AnomalyMinPurchases"},
            "ANOMALY_SELF_REFERRALS_AT_LEAST": {"Ref": "AnomalySelfReferralsAtLeast"},
            "TICK_CONCURRENT_WRITES": {"Ref": "TickConcurrentWrites"},
        })
    );
    // the write concurrency is bounded as the code bounds it
    let writes = &t["Parameters"]["TickConcurrentWrites"];
    assert_eq!(writes["MinValue"], 1);
    assert_eq!(
        writes["MaxValue"],
        shared::scheduler::MAX_CONCURRENT_WRITES as u64
    );
    // processor and scheduler agree on the time rule they both depend on
    assert_eq!(
        processor(&t)["Properties"]["Environment"]["Variables"]["PARKED_REVIEW_AFTER_HOURS"],
        env["PARKED_REVIEW_AFTER_HOURS"]
    );
    let statements = job_statements(&t, "SchedulerFunction", f);
    let actions: Vec<&str> = statements
        .iter()
        .map(|s| s["Action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem"
        ]
    );
    assert_eq!(
        statements[0]["Resource"],
        json!([
            {"Fn::Sub": "${RecordsTable.Arn}/index/DueRecords"},
            {"Fn::Sub": "${CustomersTable.Arn}/index/DueWork"},
            {"Fn::Sub": "${StatsTable.Arn}/index/DirtyScores"}
        ])
    );
    // reads are index queries and keyed gets: no Scan, and nothing is ever deleted
    assert!(!actions
        .iter()
        .any(|a| a.contains("Scan") || a.contains("Delete")));
    assert_eq!(
        statements[1]["Resource"],
        json!([
            {"Fn::GetAtt": ["CustomersTable", "Arn"]},
            {"Fn::GetAtt": ["RecordsTable", "Arn"]}
        ])
    );
    assert_eq!(
        statements[2]["Resource"],
        json!({"Fn::GetAtt": ["StatsTable", "Arn"]})
    );
    assert_eq!(
        statements[3]["Resource"],
        json!({"Fn::GetAtt": ["StatsTable", "Arn"]})
    );
    assert_eq!(
        statements[4]["Resource"],
        json!([
            {"Fn::GetAtt": ["CustomersTable", "Arn"]},
            {"Fn::GetAtt": ["RecordsTable", "Arn"]},
            {"Fn::GetAtt": ["LedgerTable", "Arn"]},
            {"Fn::GetAtt": ["ReviewsTable", "Arn"]}
        ])
    );
}

/// The due index the scheduler reads is sparse and keys-only: its entries are a record's key
/// and due time (what the tick reads to find the records), so a record's writes reach the index
/// only when its due time changes. The legacy index on customers stays for customers not yet
/// migrated.
#[test]
fn the_due_index_is_sparse_and_keys_only() {
    let t = template();
    let records = &t["Resources"]["RecordsTable"]["Properties"];
    assert_eq!(
        records["KeySchema"],
        json!([
            {"AttributeName": "customer_id", "KeyType": "HASH"},
            {"AttributeName": "record", "KeyType": "RANGE"}
        ])
    );
    let gsis = records["GlobalSecondaryIndexes"].as_array().unwrap();
    assert_eq!(gsis.len(), 1);
    assert_eq!(
        gsis[0]["IndexName"],
        shared::adapters::dynamo::RECORDS_DUE_INDEX
    );
    assert_eq!(gsis[0]["KeySchema"][0]["AttributeName"], "due_shard");
    assert_eq!(gsis[0]["KeySchema"][1]["AttributeName"], "next_due_at");
    assert_eq!(
        gsis[0]["Projection"],
        json!({"ProjectionType": "KEYS_ONLY"})
    );
    let legacy = &t["Resources"]["CustomersTable"]["Properties"]["GlobalSecondaryIndexes"][0];
    assert_eq!(
        legacy["IndexName"],
        shared::adapters::dynamo::LEGACY_DUE_INDEX
    );
}

fn admin(t: &Value) -> &Value {
    &t["Resources"]["AdminFunction"]
}

#[test]
fn every_admin_route_is_behind_the_jwt_authorizer_of_a_throttled_api() {
    let t = template();
    let api = &t["Resources"]["AdminHttpApi"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    // every route gets the authorizer unless it opts out, and none does
    assert_eq!(auth["DefaultAuthorizer"], "AdminJwt");
    let jwt = &auth["Authorizers"]["AdminJwt"];
    assert_eq!(jwt["IdentitySource"], "$request.header.Authorization");
    assert_eq!(
        jwt["JwtConfiguration"],
        json!({"issuer": {"Ref": "AdminJwtIssuer"}, "audience": [{"Ref": "AdminJwtAudience"}]})
    );
    // issuer and audience must be given at deploy time (no default that would let a wrong
    // provider in), and the issuer is an https URL as the authorizer requires
    for p in ["AdminJwtIssuer", "AdminJwtAudience"] {
        assert!(t["Parameters"][p].get("Default").is_none(), "{p}");
    }
    assert_eq!(
        t["Parameters"]["AdminJwtIssuer"]["AllowedPattern"],
        "^https://.+"
    );
    let throttling = &api["Properties"]["DefaultRouteSettings"];
    let burst = throttling["ThrottlingBurstLimit"].as_u64().unwrap();
    let rate = throttling["ThrottlingRateLimit"].as_u64().unwrap();
    assert!(
        burst > 0 && burst <= 100 && rate > 0 && rate <= 50,
        "{throttling}"
    );

    let f = admin(&t);
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], "admin");
    let mut routes: Vec<(String, String)> = Vec::new();
    let mut public: Vec<String> = Vec::new();
    for (name, e) in f["Properties"]["Events"].as_object().unwrap() {
        assert_eq!(e["Type"], "HttpApi", "{name}");
        assert_eq!(
            e["Properties"]["ApiId"],
            json!({"Ref": "AdminHttpApi"}),
            "{name}"
        );
        let path = e["Properties"]["Path"].as_str().unwrap().to_owned();
        // only the console's static shell (no data, the same for everyone) opts out of the
        // authorizer: a browser cannot send a bearer token when it loads a page
        match e["Properties"].get("Auth") {
            None => {}
            Some(auth) => {
                assert_eq!(auth, &json!({"Authorizer": "NONE"}), "{name}");
                assert_eq!(e["Properties"]["Method"], "GET", "{name}");
                public.push(path.clone());
            }
        }
        routes.push((e["Properties"]["Method"].as_str().unwrap().to_owned(), path));
    }
    public.sort();
    assert_eq!(public, vec!["/admin/console", "/admin/console/{asset}"]);
    routes.sort();
    let mut want: Vec<(String, String)> = [
        ("GET", "/admin/affiliates"),
        ("GET", "/admin/affiliates/{affiliate_id}"),
        ("GET", "/admin/console"),
        ("GET", "/admin/console/{asset}"),
        ("GET", "/admin/coupons"),
        ("GET", "/admin/coupons/{coupon_code}"),
        ("GET", "/admin/customers/{customer_id}"),
        ("GET", "/admin/plans"),
        ("GET", "/admin/reviews"),
        ("GET", "/admin/reviews/{review_id}"),
        ("PATCH", "/admin/affiliates/{affiliate_id}"),
        ("POST", "/admin/affiliates"),
        ("POST", "/admin/affiliates/{affiliate_id}/payouts"),
        ("POST", "/admin/plans"),
        ("POST", "/admin/reviews/{review_id}/resolution"),
        ("PUT", "/admin/coupons/{coupon_code}"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    want.sort();
    assert_eq!(routes, want);
    // no other function is on the admin API, and no admin route is on the webhook API
    for (name, other) in resources_of(&t, "AWS::Serverless::Function") {
        for e in other["Properties"]["Events"].as_object().unwrap().values() {
            let on_admin = e["Properties"]["ApiId"] == json!({"Ref": "AdminHttpApi"});
            assert_eq!(on_admin, name == "AdminFunction", "{name}");
        }
    }
}

#[test]
fn the_admin_function_gets_exactly_the_environment_the_code_reads() {
    use shared::admin_lambda::*;
    use shared::processor_lambda::*;
    let t = template();
    assert_eq!(
        admin(&t)["Properties"]["Environment"]["Variables"],
        json!({
            CUSTOMERS_TABLE_VAR: {"Ref": "CustomersTable"},
            RECORDS_TABLE_VAR: {"Ref": "RecordsTable"},
            EVENTS_TABLE_VAR: {"Ref": "EventsTable"},
            LEDGER_TABLE_VAR: {"Ref": "LedgerTable"},
            REVIEWS_TABLE_VAR: {"Ref": "ReviewsTable"},
            EMAIL_MATCHES_TABLE_VAR: {"Ref": "EmailMatchesTable"},
            DIRECTORY_TABLE_VAR: {"Ref": "DirectoryTable"},
            STATS_TABLE_VAR: {"Ref": "StatsTable"},
            shared::scheduler::PARKED_REVIEW_AFTER_HOURS_VAR: {"Ref": "ParkedReviewAfterHours"},
            ADMIN_JWT_ISSUER_VAR: {"Ref": "AdminJwtIssuer"},
            ADMIN_JWT_AUDIENCE_VAR: {"Ref": "AdminJwtAudience"},
            ADMIN_ROLE_CLAIM_VAR: {"Ref": "AdminRoleClaim"},
            shared::lambda::SECRETS_ID_VAR: {"Ref": "IngestSecrets"},
        })
    );
}

/// Every (action, resource) a function's inline policy grants; index ARNs as `Table/index/Name`.
fn grants(t: &Value, name: &str, f: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in &job_statements(t, name, f) {
        for a in &actions_of(s) {
            for r in &resources_in(s) {
                let name = match r {
                    Value::Object(o) if o.contains_key("Fn::GetAtt") => {
                        r["Fn::GetAtt"][0].as_str().unwrap().to_owned()
                    }
                    Value::Object(o) if o.contains_key("Fn::Sub") => r["Fn::Sub"]
                        .as_str()
                        .unwrap()
                        .replace("${", "")
                        .replace(".Arn}", ""),
                    Value::Object(o) if o.contains_key("Ref") => {
                        r["Ref"].as_str().unwrap().to_owned()
                    }
                    other => panic!("{other}"),
                };
                out.push((a.clone(), name));
            }
        }
    }
    out
}

#[test]
fn the_admin_policy_reads_what_it_shows_and_writes_only_a_resolution() {
    let t = template();
    let g = grants(&t, "AdminFunction", admin(&t));
    let on = |table: &str| -> Vec<&str> {
        let mut v: Vec<&str> = g
            .iter()
            .filter(|(_, r)| r == table)
            .map(|(a, _)| a.as_str())
            .collect();
        v.sort();
        v
    };
    // the ledger: read, and appended to (conditional PutItem) only
    assert_eq!(
        on("LedgerTable"),
        vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query"
        ]
    );
    assert_eq!(
        on("ReviewsTable"),
        vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(
        on("CustomersTable"),
        vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem"
        ]
    );
    assert_eq!(
        on("RecordsTable"),
        vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query"
        ]
    );
    assert_eq!(
        on("EventsTable"),
        vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
    );
    assert_eq!(
        on("DirectoryTable"),
        vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(on("StatsTable"), vec!["dynamodb:Query"]);
    assert_eq!(on("ReviewsTable/index/OpenQueue"), vec!["dynamodb:Query"]);
    assert_eq!(on("ReviewsTable/index/Resolved"), vec!["dynamodb:Query"]);
    assert_eq!(on("EventsTable/index/ByCustomer"), vec!["dynamodb:Query"]);
    assert_eq!(on("IngestSecrets"), vec!["secretsmanager:GetSecretValue"]);
    assert!(on("EmailMatchesTable").is_empty());
    assert_eq!(g.len(), 26, "nothing else: {g:?}");
}

#[test]
fn nothing_may_delete_and_the_ledger_is_only_ever_put_to() {
    let t = template();
    for (name, f) in resources_of(&t, "AWS::Serverless::Function") {
        let text = serde_json::to_string(&role_statements(&t, name, f)).unwrap();
        assert!(
            !text.contains("DeleteItem") && !text.contains("BatchWriteItem"),
            "{name}"
        );
        for (action, resource) in grants(&t, name, f) {
            if resource == "LedgerTable" {
                assert!(
                    [
                        "dynamodb:PutItem",
                        "dynamodb:GetItem",
                        "dynamodb:BatchGetItem",
                        "dynamodb:Query",
                        // read the table into S3 (the finance export); change nothing
                        "dynamodb:ExportTableToPointInTime",
                        "dynamodb:DescribeExport"
                    ]
                    .contains(&action.as_str()),
                    "{name}: {action} on the ledger"
                );
            }
        }
    }
}

#[test]
fn the_review_table_keeps_open_and_resolved_queues_as_sparse_indexes() {
    let t = template();
    let gsis = t["Resources"]["ReviewsTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = gsis
        .iter()
        .map(|g| g["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["OpenQueue", "Resolved"]);
    assert_eq!(gsis[1]["KeySchema"][0]["AttributeName"], "resolved_queue");
    assert_eq!(gsis[1]["KeySchema"][1]["AttributeName"], "resolved_sort");
}

/// The export bucket and the bucket of its access logs: private, encrypted, versioned, TLS only,
/// retained, and expiring; who read which export is in the access logs.
#[test]
fn the_export_bucket_is_private_encrypted_versioned_tls_only_and_expires() {
    let t = template();
    let buckets = resources_of(&t, "AWS::S3::Bucket");
    let mut names: Vec<&str> = buckets.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ExportAccessLogBucket", "ExportBucket"]);
    for (name, bucket) in &buckets {
        assert_eq!(bucket["DeletionPolicy"], "Retain", "{name}");
        let p = &bucket["Properties"];
        assert_eq!(
            p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
            "AES256",
            "{name}"
        );
        assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled", "{name}");
        for block in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(
                p["PublicAccessBlockConfiguration"][block], true,
                "{name}: {block}"
            );
        }
        assert_eq!(
            p["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced",
            "{name}"
        );
        let rule = &p["LifecycleConfiguration"]["Rules"][0];
        assert_eq!(rule["Status"], "Enabled", "{name}");
        let retention = if name.as_str() == "ExportBucket" {
            "ExportRetentionDays"
        } else {
            "LogRetentionDays"
        };
        assert_eq!(
            rule["ExpirationInDays"],
            json!({ "Ref": retention }),
            "{name}"
        );
        assert_eq!(rule["NoncurrentVersionExpiration"]["NoncurrentDays"], 30);

        // TLS only: every request without it is denied, on the bucket and its objects
        let policy = resources_of(&t, "AWS::S3::BucketPolicy")
            .into_iter()
            .find(|(_, p)| p["Properties"]["Bucket"] == json!({ "Ref": name }))
            .unwrap_or_else(|| panic!("{name} has a bucket policy"))
            .1;
        let tls = policy["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "TlsOnly")
            .unwrap_or_else(|| panic!("{name}: TlsOnly"));
        assert_eq!(tls["Effect"], "Deny");
        assert_eq!(tls["Principal"], "*");
        assert_eq!(tls["Action"], "s3:*");
        assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(tls["Resource"].as_array().unwrap().len(), 2);
    }
    assert_eq!(t["Parameters"]["ExportRetentionDays"]["MinValue"], 30);
    let logging = &t["Resources"]["ExportBucket"]["Properties"]["LoggingConfiguration"];
    assert_eq!(
        logging["DestinationBucketName"],
        json!({"Ref": "ExportAccessLogBucket"})
    );
    // nobody deletes an export (the lifecycle rule is not a principal)
    let no_delete = t["Resources"]["ExportBucketPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ExportsAreNeverDeleted")
        .expect("exports are never deleted");
    assert_eq!(no_delete["Effect"], "Deny");
    assert_eq!(no_delete["Principal"], "*");
    assert_eq!(
        no_delete["Action"],
        json!(["s3:DeleteObject", "s3:DeleteObjectVersion"])
    );
    assert_eq!(
        no_delete["Resource"],
        json!([{"Fn::Sub": "${ExportBucket.Arn}/ledger/*"}, {"Fn::Sub": "${ExportBucket.Arn}/stats/*"}])
    );
    // only S3's log delivery for the export bucket may write the access logs
    let delivery = &t["Resources"]["ExportAccessLogBucketPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(delivery["Principal"]["Service"], "logging.s3.amazonaws.com");
    assert_eq!(
        delivery["Condition"]["ArnLike"]["aws:SourceArn"],
        json!({"Fn::GetAtt": ["ExportBucket", "Arn"]})
    );
}

/// The finance export: a schedule (a parameter, daily by default) with retries and its own
/// dead-letter queue and alarm; the function may start and read exports of the ledger and stats
/// tables only, and write only under those two prefixes of the export bucket.
#[test]
fn the_exporter_runs_on_a_schedule_and_may_export_only_the_ledger_and_stats_tables() {
    use shared::exporter_lambda::{EXPORT_BUCKET_VAR, LEDGER_TABLE_ARN_VAR, STATS_TABLE_ARN_VAR};
    let t = template();
    let f = &t["Resources"]["ExporterFunction"];
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], "exporter");
    assert_eq!(
        f["Properties"]["Environment"]["Variables"],
        json!({
            EXPORT_BUCKET_VAR: {"Ref": "ExportBucket"},
            LEDGER_TABLE_ARN_VAR: {"Fn::GetAtt": ["LedgerTable", "Arn"]},
            STATS_TABLE_ARN_VAR: {"Fn::GetAtt": ["StatsTable", "Arn"]},
        })
    );
    let events = f["Properties"]["Events"].as_object().unwrap();
    assert_eq!(events.len(), 1);
    let export = &events["Export"];
    assert_eq!(export["Type"], "Schedule");
    assert_eq!(
        export["Properties"]["Schedule"],
        json!({"Ref": "ExportSchedule"})
    );
    assert_eq!(
        t["Parameters"]["ExportSchedule"]["Default"],
        "cron(0 0 * * ? *)"
    );
    assert!(
        export["Properties"]["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(
        export["Properties"]["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["ExporterDeadLetterQueue", "Arn"]})
    );
    // EventBridge may send to the dead-letter queue for this schedule only, and an alarm watches it
    let policy = &t["Resources"]["ExporterDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(policy["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        policy["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Fn::GetAtt": ["ExporterFunctionExport", "Arn"]})
    );
    let alarm = &t["Resources"]["ExporterDeadLetterAlarm"]["Properties"];
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        json!({"Fn::GetAtt": ["ExporterDeadLetterQueue", "QueueName"]})
    );
    assert_eq!(alarm["AlarmActions"], json!([{"Ref": "OpsAlarmTopic"}]));

    let statements = job_statements(&t, "ExporterFunction", f);
    assert_eq!(statements.len(), 2, "nothing else: {statements:?}");
    let actions = |s: &Value| -> Vec<String> {
        let mut a: Vec<String> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        a.sort();
        a
    };
    let export_stmt = &statements[0];
    assert_eq!(
        actions(export_stmt),
        [
            "dynamodb:DescribeExport",
            "dynamodb:ExportTableToPointInTime"
        ]
    );
    assert_eq!(
        export_stmt["Resource"],
        json!([
            {"Fn::GetAtt": ["LedgerTable", "Arn"]},
            {"Fn::Sub": "${LedgerTable.Arn}/export/*"},
            {"Fn::GetAtt": ["StatsTable", "Arn"]},
            {"Fn::Sub": "${StatsTable.Arn}/export/*"},
        ])
    );
    let write = &statements[1];
    assert_eq!(
        actions(write),
        ["s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl"]
    );
    assert_eq!(
        write["Resource"],
        json!([
            {"Fn::Sub": "${ExportBucket.Arn}/ledger/*"},
            {"Fn::Sub": "${ExportBucket.Arn}/stats/*"},
        ])
    );
    // the prefixes the policy allows are the ones the code writes
    let cut_off = "2026-12-03T00:00:00Z".parse().unwrap();
    let requests = shared::finance::exports::export_requests(
        "bucket",
        &[
            (shared::finance::exports::LEDGER_LABEL, "l".into()),
            (shared::finance::exports::STATS_LABEL, "s".into()),
        ],
        cut_off,
    );
    assert!(requests[0].prefix.starts_with("ledger/"));
    assert!(requests[1].prefix.starts_with("stats/"));
    // both exported tables keep point-in-time recovery (an export needs it)
    for table in ["LedgerTable", "StatsTable"] {
        assert_eq!(
            t["Resources"][table]["Properties"]["PointInTimeRecoverySpecification"]
                ["PointInTimeRecoveryEnabled"],
            true,
            "{table}"
        );
    }
}

/// The statements of an Athena SQL file, comment lines dropped (as infra/athena/duckdb_run.py
/// reads them), whitespace normalised.
fn sql_statements(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    code.join("\n")
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// A deploy creates what the tested SQL defines: the Glue tables are infra/athena/tables.sql's
/// (column, partition, projection, location, SerDe), and each view of infra/athena/views.sql is a
/// named query of the finance workgroup, word for word.
#[test]
fn the_athena_tables_and_views_in_the_template_are_the_tested_sql() {
    let t = template();
    let tables = sql_statements("infra/athena/tables.sql");
    assert_eq!(tables.len(), 2);
    for (logical, name, prefix) in [
        ("FinanceLedgerExportTable", "ledger_export", "ledger"),
        ("FinanceStatsExportTable", "stats_export", "stats"),
    ] {
        let sql = tables
            .iter()
            .find(|s| s.contains(&format!("TABLE IF NOT EXISTS {name} ")))
            .unwrap_or_else(|| panic!("tables.sql has no {name}"));
        let input = &t["Resources"][logical]["Properties"]["TableInput"];
        assert_eq!(input["Name"], name);
        assert_eq!(
            t["Resources"][logical]["Properties"]["DatabaseName"],
            json!({"Ref": "FinanceDatabase"})
        );
        let column = &input["StorageDescriptor"]["Columns"][0];
        assert_eq!(column["Name"], "item");
        let hive_type = column["Type"].as_str().unwrap();
        assert!(
            sql.replace(' ', "").contains(&format!("(item{hive_type})")),
            "{name}: column type {hive_type} vs {sql}"
        );
        assert_eq!(
            input["PartitionKeys"],
            json!([{"Name": "cut_off", "Type": "string"}])
        );
        assert!(sql.contains("PARTITIONED BY (cut_off string)"), "{sql}");
        let serde = &input["StorageDescriptor"]["SerdeInfo"];
        assert_eq!(
            serde["SerializationLibrary"],
            "org.openx.data.jsonserde.JsonSerDe"
        );
        assert!(sql.contains("SERDE 'org.openx.data.jsonserde.JsonSerDe'"));
        assert_eq!(serde["Parameters"]["case.insensitive"], "true");
        assert!(sql.contains("('case.insensitive' = 'true')"));
        assert_eq!(
            input["StorageDescriptor"]["Location"],
            json!({"Fn::Sub": format!("s3://${{ExportBucket}}/{prefix}/")})
        );
        assert!(sql.contains(&format!("LOCATION 's3://${{ExportBucket}}/{prefix}/'")));
        let params = &input["Parameters"];
        assert_eq!(params["projection.enabled"], "true");
        assert_eq!(params["projection.cut_off.type"], "injected");
        assert!(sql.contains("'projection.cut_off.type' = 'injected'"));
        // CloudFormation's ${!x} is a literal ${x}
        assert_eq!(
            params["storage.location.template"],
            json!({"Fn::Sub": format!("s3://${{ExportBucket}}/{prefix}/${{!cut_off}}/")})
        );
        assert!(sql.contains(&format!(
            "'storage.location.template' = 's3://${{ExportBucket}}/{prefix}/${{cut_off}}/'"
        )));
        // the prefix is the one the exporter writes
        let requests = shared::finance::exports::export_requests(
            "b",
            &[(
                if prefix == "ledger" {
                    shared::finance::exports::LEDGER_LABEL
                } else {
                    shared::finance::exports::STATS_LABEL
                },
                "arn".into(),
            )],
            "2026-12-03T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(requests[0].prefix, format!("{prefix}/2026-12-03T00-00-00Z"));
    }

    let views = sql_statements("infra/athena/views.sql");
    let queries: Vec<&Value> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Athena::NamedQuery")
        .collect();
    assert_eq!(queries.len(), views.len(), "one named query per view");
    let normalised = |q: &Value| {
        let text = q["Properties"]["QueryString"].as_str().unwrap();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    for view in views.iter() {
        let name = view
            .strip_prefix("CREATE OR REPLACE VIEW ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("views.sql: not a view: {view}"));
        let query = queries
            .iter()
            .find(|q| normalised(q).starts_with(&format!("CREATE OR REPLACE VIEW {name} AS ")))
            .unwrap_or_else(|| panic!("no named query creates {name}"));
        let p = &query["Properties"];
        assert_eq!(format!("{view};"), normalised(query), "{name}");
        assert_eq!(
            p["Name"],
            json!({"Fn::Sub": format!("${{AWS::StackName}}: create view {name}")})
        );
        assert_eq!(p["WorkGroup"], json!({"Ref": "FinanceWorkGroup"}));
        assert_eq!(p["Database"], json!({"Ref": "FinanceDatabase"}));
    }
    // results of finance's queries stay in the private bucket, encrypted, enforced
    let wg = &t["Resources"]["FinanceWorkGroup"]["Properties"]["WorkGroupConfiguration"];
    assert_eq!(wg["EnforceWorkGroupConfiguration"], true);
    assert_eq!(
        wg["ResultConfiguration"]["OutputLocation"],
        json!({"Fn::Sub": "s3://${ExportBucket}/athena-results/"})
    );
    assert_eq!(
        wg["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"],
        "SSE_S3"
    );
}

// ------------------------------------------------------------------ hardening (issue 12)

/// Each function runs as its own role that only Lambda (in this account) may assume, writes
/// only its own log group (kept `LogRetentionDays`, encrypted with the ops key), and has a
/// reserved concurrency; no IAM role in the template grants a wildcard action or resource.
#[test]
fn every_function_has_its_own_role_log_group_with_retention_and_reserved_concurrency() {
    let t = template();
    let functions = resources_of(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 10);
    for (name, f) in &functions {
        let base = name.strip_suffix("Function").unwrap();
        let role = role_of(&t, name, f);
        assert_eq!(
            role["Properties"]["AssumeRolePolicyDocument"]["Statement"],
            json!([{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
            }]),
            "{name}"
        );
        let log_group = format!("{base}LogGroup");
        assert_eq!(
            f["Properties"]["LoggingConfig"]["LogGroup"],
            json!({"Ref": log_group}),
            "{name} logs to its own group"
        );
        let group = &t["Resources"][&log_group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"}),
            "{name}"
        );
        assert_eq!(
            group["Properties"]["KmsKeyId"],
            json!({"Fn::GetAtt": ["OpsKey", "Arn"]}),
            "{name}"
        );
        let statements = role_statements(&t, name, f);
        assert_eq!(
            statements[0],
            json!({
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {"Fn::GetAtt": [log_group, "Arn"]}
            }),
            "{name}"
        );
        let logs: Vec<&Value> = statements
            .iter()
            .filter(|s| actions_of(s).iter().any(|a| a.starts_with("logs:")))
            .collect();
        assert_eq!(logs.len(), 1, "{name}: no other log group");
        assert!(
            !f["Properties"]["ReservedConcurrentExecutions"].is_null(),
            "{name} has a reserved concurrency"
        );
    }
    let webhook_concurrency = &t["Parameters"]["WebhookReservedConcurrency"];
    assert!(webhook_concurrency["Default"].as_u64().unwrap() >= 1);
    assert_eq!(t["Parameters"]["LogRetentionDays"]["Default"], 365);

    for (name, role) in resources_of(&t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                assert_eq!(s["Effect"], "Allow", "{name}");
                for a in actions_of(s) {
                    assert!(!a.contains('*'), "{name}: wildcard action {a}");
                }
                for r in resources_in(s) {
                    assert_ne!(r, json!("*"), "{name}: wildcard resource");
                    assert!(r.is_object(), "{name}: a resource of this stack: {r}");
                }
            }
        }
    }
}

/// CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key: the topic uses a
/// customer-managed key (rotated) whose policy lets CloudWatch use it.
#[test]
fn alarms_can_publish_to_the_encrypted_alarm_topic() {
    let t = template();
    let topic = &t["Resources"]["OpsAlarmTopic"]["Properties"];
    assert_eq!(topic["KmsMasterKeyId"], json!({"Ref": "OpsKey"}));
    let key = &t["Resources"]["OpsKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap();
    let cloudwatch = statements
        .iter()
        .find(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .expect("CloudWatch may use the key");
    assert_eq!(cloudwatch["Effect"], "Allow");
    let mut actions = actions_of(cloudwatch);
    actions.sort();
    assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey*"]);
    // every alarm notifies through that topic
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 8);
    for (name, alarm) in alarms {
        assert_eq!(
            alarm["Properties"]["AlarmActions"],
            json!([{"Ref": "OpsAlarmTopic"}]),
            "{name}"
        );
    }
}

/// A tick or export that fails in the function (not only one EventBridge could not deliver) is
/// retried by Lambda and then sent with its error to the dead-letter queue, which is alarmed; the
/// function's role may send there and nowhere else.
#[test]
fn a_failing_scheduler_or_exporter_invocation_is_dead_lettered_and_alarmed() {
    let t = template();
    for (function, queue) in [
        ("SchedulerFunction", "SchedulerDeadLetterQueue"),
        ("ExporterFunction", "ExporterDeadLetterQueue"),
    ] {
        let f = &t["Resources"][function];
        let config = &f["Properties"]["EventInvokeConfig"];
        assert_eq!(
            config["DestinationConfig"]["OnFailure"],
            json!({"Type": "SQS", "Destination": {"Fn::GetAtt": [queue, "Arn"]}}),
            "{function}"
        );
        assert!(config["MaximumRetryAttempts"].as_u64().unwrap() >= 1);
        let sends: Vec<Value> = role_statements(&t, function, f)
            .into_iter()
            .filter(|s| actions_of(s).contains(&"sqs:SendMessage".to_owned()))
            .collect();
        assert_eq!(
            sends,
            vec![json!({
                "Sid": "DeadLetterFailedInvocations",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": {"Fn::GetAtt": [queue, "Arn"]}
            })],
            "{function}"
        );
        assert!(alarm_on_queue(&t, queue).is_some(), "{queue} has an alarm");
    }
}

fn alarm_on_queue<'a>(t: &'a Value, queue: &str) -> Option<&'a Value> {
    resources_of(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| a)
        .find(|a| {
            a["Properties"]["Namespace"] == "AWS/SQS"
                && a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && a["Properties"]["Dimensions"][0]["Value"]
                    == json!({"Fn::GetAtt": [queue, "QueueName"]})
        })
}

/// Every dead-letter queue is alarmed, and so are the processor's and the scheduler's errors
/// and both APIs' 5xx.
#[test]
fn every_dead_letter_queue_and_the_processor_and_scheduler_errors_are_alarmed() {
    let t = template();
    let queues: Vec<&String> = resources_of(&t, "AWS::SQS::Queue")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.contains("DeadLetter"))
        .collect();
    assert_eq!(queues.len(), 3);
    for q in queues {
        assert!(alarm_on_queue(&t, q).is_some(), "{q} has no alarm");
    }
    for function in ["ProcessorFunction", "SchedulerFunction"] {
        assert!(
            resources_of(&t, "AWS::CloudWatch::Alarm")
                .iter()
                .any(|(_, a)| a["Properties"]["Namespace"] == "AWS/Lambda"
                    && a["Properties"]["MetricName"] == "Errors"
                    && a["Properties"]["Dimensions"][0]["Value"] == json!({"Ref": function})),
            "{function}'s errors are alarmed"
        );
    }
    for api in ["WebhookApi", "AdminHttpApi"] {
        assert!(
            resources_of(&t, "AWS::CloudWatch::Alarm")
                .iter()
                .any(|(_, a)| a["Properties"]["MetricName"] == "5xx"
                    && a["Properties"]["Dimensions"][0]["Value"] == json!({"Ref": api})),
            "{api}'s 5xx are alarmed"
        );
    }
}

/// Only the webhook functions (which verify the signature first), and ops' optional replay role,
/// may send to the event queue; only the processor may dead-letter by hand. Both as a Deny in the
/// queue policy (whatever else an account's identities are granted) and in the roles.
#[test]
fn only_the_webhook_functions_may_send_to_the_event_queue() {
    let t = template();
    let webhook_roles: Vec<Value> = EventType::ALL
        .iter()
        .map(|e| {
            let (name, _) = webhook_function(&t, *e);
            json!({"Fn::GetAtt": [format!("{}Role", name.strip_suffix("Function").unwrap()), "Arn"]})
        })
        .collect();
    let policy = &t["Resources"]["EventQueuePolicy"]["Properties"]["PolicyDocument"];
    let statement = |sid: &str| -> Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}"))
            .clone()
    };
    let only_webhooks = statement("OnlyWebhooksSendEvents");
    assert_eq!(only_webhooks["Effect"], "Deny");
    assert_eq!(only_webhooks["Principal"], "*");
    assert_eq!(only_webhooks["Action"], "sqs:SendMessage");
    assert_eq!(
        only_webhooks["Resource"],
        json!({"Fn::GetAtt": ["EventQueue", "Arn"]})
    );
    let branches = &only_webhooks["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::If"];
    assert_eq!(branches[0], "HasEventReplayPrincipal");
    let mut with_replay = webhook_roles.clone();
    with_replay.push(json!({"Ref": "EventReplayPrincipalArn"}));
    assert_eq!(branches[1], json!(with_replay));
    assert_eq!(branches[2], json!(webhook_roles));
    assert_eq!(t["Parameters"]["EventReplayPrincipalArn"]["Default"], "");

    let dead_letters = statement("OnlyTheProcessorDeadLetters");
    assert_eq!(dead_letters["Effect"], "Deny");
    assert_eq!(
        dead_letters["Resource"],
        json!({"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        dead_letters["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        json!({"Fn::GetAtt": ["ProcessorRole", "Arn"]})
    );

    // and the roles agree: exactly the webhook roles are granted SendMessage on the queue
    let mut senders: Vec<Value> = Vec::new();
    for (name, role) in resources_of(&t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if actions_of(s).contains(&"sqs:SendMessage".to_owned())
                    && resources_in(s).contains(&json!({"Fn::GetAtt": ["EventQueue", "Arn"]}))
                {
                    senders.push(json!({"Fn::GetAtt": [name, "Arn"]}));
                }
            }
        }
    }
    senders.sort_by_key(|v| v.to_string());
    let mut expected = webhook_roles;
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(senders, expected);
}

/// The processor's role consumes only its own queue (SAM's generated SQS policy reaches every
/// queue), and its event source mapping never polls more batches than it may run.
#[test]
fn the_processor_consumes_only_its_own_queue_within_its_reserved_concurrency() {
    let t = template();
    let f = processor(&t);
    let consume: Vec<Value> = role_statements(&t, "ProcessorFunction", f)
        .into_iter()
        .filter(|s| actions_of(s).iter().any(|a| a.starts_with("sqs:Receive")))
        .collect();
    assert_eq!(
        consume,
        vec![json!({
            "Sid": "ConsumeEventQueue",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": ["EventQueue", "Arn"]}
        })]
    );
    assert_eq!(
        f["Properties"]["Events"]["Queue"]["Properties"]["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "ProcessorConcurrency"})
    );
    assert_eq!(
        f["Properties"]["ReservedConcurrentExecutions"],
        json!({"Ref": "ProcessorConcurrency"})
    );
}

/// Both APIs write one JSON access-log line per request to a log group with retention, and the
/// line never carries a header, the body or the token.
#[test]
fn both_apis_write_access_logs_without_secrets() {
    let t = template();
    for (api, group) in [
        ("WebhookApi", "WebhookApiAccessLogs"),
        ("AdminHttpApi", "AdminApiAccessLogs"),
    ] {
        let settings = &t["Resources"][api]["Properties"]["AccessLogSettings"];
        assert_eq!(
            settings["DestinationArn"],
            json!({"Fn::GetAtt": [group, "Arn"]}),
            "{api}"
        );
        let format = settings["Format"].as_str().unwrap();
        let fields: serde_json::Map<String, Value> =
            serde_json::from_str(format).unwrap_or_else(|e| panic!("{api}: not JSON: {e}"));
        for field in ["requestId", "routeKey", "status", "integrationError"] {
            assert!(fields.contains_key(field), "{api}: {field}");
        }
        let lower = format.to_lowercase();
        for secret in ["header", "body", "authorization", "signature"] {
            assert!(!lower.contains(secret), "{api}: logs {secret}");
        }
        let group = &t["Resources"][group]["Properties"];
        assert_eq!(group["RetentionInDays"], json!({"Ref": "LogRetentionDays"}));
    }
}

/// Every checkov suppression in the template gives its reason (infra/scan-template prints them
/// and fails on one without).
#[test]
fn every_scanner_suppression_gives_its_reason() {
    let t = template();
    let mut suppressed = 0;
    for (name, r) in t["Resources"].as_object().unwrap() {
        for skip in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = skip["id"].as_str().unwrap();
            let comment = skip["comment"].as_str().unwrap_or("");
            assert!(
                comment.split_whitespace().count() >= 8,
                "{name}: {id} needs its reason"
            );
            suppressed += 1;
        }
    }
    assert!(suppressed > 0);
}
