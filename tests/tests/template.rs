//! template.yaml is code: what matters in it is asserted here (routes, build method, queue and
//! dead-letter queue, alarm, least-privilege policies, no secrets, the architecture parameter).
//! cfn-lint and `sam validate --lint` run in the test command as well.

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

fn webhook_function<'a>(t: &'a Value, event_type: EventType) -> (&'a String, &'a Value) {
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
    assert_eq!(resources_of(&t, "AWS::Serverless::HttpApi").len(), 1);
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
        for policy in f["Properties"]["Policies"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Policies"))
        {
            let statements = policy["Statement"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: only inline statements: {policy}"));
            for s in statements {
                assert_eq!(s["Effect"], "Allow", "{name}");
                let actions: Vec<&str> = match &s["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
                    other => panic!("{name}: {other}"),
                };
                assert!(
                    actions.iter().all(|a| !a.contains('*')),
                    "{name}: wildcard action {actions:?}"
                );
                assert_ne!(s["Resource"], json!("*"), "{name}: wildcard resource");
            }
        }
    }
    for event_type in EventType::ALL {
        let (name, f) = webhook_function(&t, event_type);
        let statements = &f["Properties"]["Policies"][0]["Statement"];
        assert_eq!(
            statements,
            &json!([
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["EventQueue", "Arn"]}},
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "IngestSecrets"}}
            ]),
            "{name}"
        );
        assert_eq!(
            f["Properties"]["Policies"].as_array().unwrap().len(),
            1,
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
