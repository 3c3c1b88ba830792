//! Keeps docs/openapi.yaml true: every published example goes through the real handler and gets
//! 202, and every schema agrees with the validator in both directions (each required field is
//! required, each optional field is optional and accepted, each enum value is accepted, and
//! anything else is rejected).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use shared::clock::FixedClock;
use shared::events::EventType;
use shared::ingest::Ingest;
use shared::lambda::handle_webhook;
use system_tests::{
    local_secrets, local_signing_secret, response_parts, workspace_root, Delivery, MemoryQueue,
};

/// After every example's occurred_at, within the future-skew allowance of none.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
}

fn spec() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("docs/openapi.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => schema,
    }
}

/// The object schemas a request body may match (the oneOf branches, or the one schema).
fn variants<'a>(spec: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = resolve(spec, schema);
    match schema.get("oneOf").and_then(Value::as_array) {
        Some(list) => list.iter().map(|s| resolve(spec, s)).collect(),
        None => vec![schema],
    }
}

/// A valid value for a property the example leaves out.
fn sample_value(spec: &Value, property: &Value) -> Value {
    let name = property
        .get("$ref")
        .and_then(Value::as_str)
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    match name {
        "Email" => json!("someone@example.com"),
        "Identifier" => json!("id-123"),
        "Text" => json!("some text"),
        _ => panic!("no sample for {property} ({:?})", resolve(spec, property)),
    }
}

async fn post(event_type: EventType, id: &str, body: &Value) -> (u16, Value) {
    let ingest = Ingest::new(
        event_type,
        local_secrets(),
        MemoryQueue::default(),
        FixedClock(now()),
    );
    let d = Delivery::signed(
        event_type.as_str(),
        id,
        body.to_string(),
        now(),
        &local_signing_secret(),
    );
    response_parts(handle_webhook(&ingest, d.lambda_request()).await)
}

fn operations(spec: &Value) -> Vec<(EventType, &Value)> {
    let paths = spec["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths
        .keys()
        .map(String::as_str)
        .filter(|p| p.starts_with("/webhooks/"))
        .collect();
    documented.sort_unstable();
    let mut expected: Vec<String> = EventType::ALL
        .iter()
        .map(|t| format!("/webhooks/{t}"))
        .collect();
    expected.sort_unstable();
    assert_eq!(
        documented, expected,
        "the document must describe exactly the six webhooks"
    );
    EventType::ALL
        .iter()
        .map(|t| (*t, &paths[&format!("/webhooks/{t}")]["post"]))
        .collect()
}

#[test]
fn every_operation_documents_every_status_the_handler_returns() {
    let spec = spec();
    for (event_type, op) in operations(&spec) {
        let mut codes: Vec<&str> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            ["202", "400", "401", "413", "415", "503"],
            "{event_type}"
        );
        let headers: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"],
            "{event_type}"
        );
    }
}

#[tokio::test]
async fn every_published_example_is_accepted_by_the_real_handler() {
    let spec = spec();
    let mut count = 0;
    for (event_type, op) in operations(&spec) {
        let examples = op["requestBody"]["content"]["application/json"]["examples"]
            .as_object()
            .expect("examples");
        assert!(!examples.is_empty(), "{event_type} has no example");
        for (name, example) in examples {
            let (status, body) = post(
                event_type,
                &format!("example-{event_type}-{name}"),
                &example["value"],
            )
            .await;
            assert_eq!(status, 202, "{event_type}/{name}: {body}");
            count += 1;
        }
    }
    assert_eq!(count, 8, "one example per type, three for evaluation");
}

#[tokio::test]
async fn schemas_and_validator_agree_field_by_field() {
    let spec = spec();
    for (event_type, op) in operations(&spec) {
        let content = &op["requestBody"]["content"]["application/json"];
        let examples: Vec<&Value> = content["examples"]
            .as_object()
            .unwrap()
            .values()
            .map(|e| &e["value"])
            .collect();
        for schema in variants(&spec, &content["schema"]) {
            assert_eq!(
                schema["additionalProperties"],
                json!(false),
                "{event_type}: schemas are closed, like the validator"
            );
            let properties = schema["properties"].as_object().unwrap();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            // The example for this variant (the evaluation variants are told apart by status).
            let example = examples
                .iter()
                .find(|e| {
                    properties
                        .get("status")
                        .is_none_or(|s| s["const"] == e["status"])
                })
                .unwrap_or_else(|| panic!("{event_type}: no example for a variant"));
            let example: &Map<String, Value> = example.as_object().unwrap();
            let mut full = example.clone();
            for (name, property) in properties {
                if !full.contains_key(name) {
                    full.insert(name.clone(), sample_value(&spec, property));
                }
            }
            let full = Value::Object(full);
            assert_eq!(
                post(event_type, "full", &full).await.0,
                202,
                "{event_type}: every documented property is accepted: {full}"
            );

            for name in properties.keys() {
                let mut without = full.clone();
                without.as_object_mut().unwrap().remove(name);
                let (status, body) = post(event_type, "missing", &without).await;
                if required.contains(&name.as_str()) {
                    assert_eq!(
                        status, 400,
                        "{event_type}: {name} is documented as required"
                    );
                    let fields: Vec<&str> = body["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["field"].as_str().unwrap())
                        .collect();
                    assert!(
                        fields.contains(&name.as_str()) || name == "status",
                        "{event_type}: {name}: {body}"
                    );
                } else {
                    assert_eq!(
                        status, 202,
                        "{event_type}: {name} is documented as optional: {body}"
                    );
                }
            }
            for (name, property) in properties {
                for value in property
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let mut with = full.clone();
                    with[name] = value.clone();
                    assert_eq!(
                        post(event_type, "enum", &with).await.0,
                        202,
                        "{event_type}: {name}={value}"
                    );
                }
            }
            let mut extra = full.clone();
            extra["undocumented"] = json!("x");
            assert_eq!(
                post(event_type, "extra", &extra).await.0,
                400,
                "{event_type}: undocumented fields are rejected"
            );
        }
    }
}

// ------------------------------------------------------------------ the admin API

fn template_routes(function: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    // Tags (!Ref) are irrelevant to routes: read the YAML as plain values.
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let events = &yaml["Resources"][function]["Properties"]["Events"];
    let mut out: Vec<(String, String)> = events
        .as_mapping()
        .unwrap()
        .values()
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap().to_lowercase(),
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_admin_route_in_the_template_is_documented_with_its_security_and_statuses() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/admin/")) {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            if path.starts_with("/admin/console") {
                // the console's files: public (no data), as the template routes them
                assert_eq!(op["security"], json!([]), "{method} {path}");
                assert_eq!(method, "get");
                continue;
            }
            assert_eq!(op["security"], json!([{"adminJwt": []}]), "{method} {path}");
            let codes: Vec<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for code in ["200", "400", "401", "500", "503"] {
                assert!(codes.contains(&code), "{method} {path} documents no {code}");
            }
            // only writes can be forbidden to a viewer or conflict
            let writes = method != "get";
            assert_eq!(codes.contains(&"403"), writes, "{method} {path}");
            assert_eq!(codes.contains(&"409"), writes, "{method} {path}");
        }
    }
    documented.sort();
    assert_eq!(documented, template_routes("AdminFunction"));
    assert_eq!(
        spec["components"]["securitySchemes"]["adminJwt"]["scheme"],
        "bearer"
    );
}

#[test]
fn the_documented_admin_inputs_are_exactly_what_the_api_accepts() {
    use shared::admin::request::{CUSTOMER_QUERY_KEYS, RESOLUTION_FIELDS, REVIEW_QUERY_KEYS};
    let spec = spec();
    let names = |path: &str, method: &str| -> Vec<String> {
        let mut out: Vec<String> = spec["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| resolve(&spec, p))
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let sorted = |keys: &[&str]| {
        let mut v: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names("/admin/reviews", "get"), sorted(&REVIEW_QUERY_KEYS));
    assert_eq!(
        names("/admin/customers/{customer_id}", "get"),
        sorted(&CUSTOMER_QUERY_KEYS)
    );
    let resolution = resolve(&spec, &spec["components"]["schemas"]["Resolution"]);
    assert_eq!(resolution["additionalProperties"], json!(false));
    let mut fields: Vec<String> = resolution["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    fields.sort();
    assert_eq!(fields, sorted(&RESOLUTION_FIELDS));
    // every documented example parses as the request it shows
    let examples = spec["paths"]["/admin/reviews/{review_id}/resolution"]["post"]["requestBody"]
        ["content"]["application/json"]["examples"]
        .as_object()
        .unwrap();
    assert_eq!(examples.len(), 4, "one per action");
    for (name, example) in examples {
        let body = example["value"].to_string();
        let request = shared::admin::HttpRequest {
            method: "POST",
            path: "/admin/reviews/self_referral%23evt-1/resolution",
            query: "",
            content_type: Some("application/json"),
            body: body.as_bytes(),
        };
        match shared::admin::parse(&request) {
            Ok(shared::admin::AdminRequest::ResolveReview { resolution, .. }) => {
                assert_eq!(resolution.action.as_str(), name.as_str());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn the_documented_directory_bodies_are_exactly_what_the_api_accepts() {
    use shared::admin::directory::{
        ASSIGN_COUPON_FIELDS, CREATE_AFFILIATE_FIELDS, PUBLISH_PLAN_FIELDS, RECORD_PAYOUT_FIELDS,
        UPDATE_AFFILIATE_FIELDS,
    };
    let spec = spec();
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        ("/admin/plans", "post", "/admin/plans", &PUBLISH_PLAN_FIELDS),
        (
            "/admin/affiliates",
            "post",
            "/admin/affiliates",
            &CREATE_AFFILIATE_FIELDS,
        ),
        (
            "/admin/affiliates/{affiliate_id}",
            "patch",
            "/admin/affiliates/aff-gamma",
            &UPDATE_AFFILIATE_FIELDS,
        ),
        (
            "/admin/coupons/{coupon_code}",
            "put",
            "/admin/coupons/ALPHA10",
            &ASSIGN_COUPON_FIELDS,
        ),
        (
            "/admin/affiliates/{affiliate_id}/payouts",
            "post",
            "/admin/affiliates/aff-gamma/payouts",
            &RECORD_PAYOUT_FIELDS,
        ),
    ];
    for (path, method, concrete, accepted) in cases {
        let content = &spec["paths"][path][method]["requestBody"]["content"]["application/json"];
        let schema = resolve(&spec, &content["schema"]);
        assert_eq!(schema["additionalProperties"], json!(false), "{path}");
        let mut documented: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        let mut accepted = accepted.to_vec();
        accepted.sort_unstable();
        assert_eq!(documented, accepted, "{method} {path}");
        for (name, example) in content["examples"].as_object().unwrap() {
            let body = example["value"].to_string();
            let request = shared::admin::HttpRequest {
                method: &method.to_uppercase(),
                path: concrete,
                query: "",
                content_type: Some("application/json"),
                body: body.as_bytes(),
            };
            let parsed = shared::admin::parse(&request);
            assert!(parsed.is_ok(), "{method} {path} example {name}: {parsed:?}");
        }
    }
}
