//! The `/v1-webhooks` schemas, as Rancher 1.6's webhook-service served them, plus master's
//! `hostTemplateId` and hookgate's additions (`cooldownSeconds`, `onResolved`, more payload
//! formats). Each driver contributes its own fields; Rancher 1.6's UI reads defaults and
//! `options` from here (`addressType`, `payloadFormat`) and breaks without them
//! (docs/api.md).

use serde_json::{json, Map, Value};

use crate::drivers::fields::field;
use crate::drivers::Driver;

fn schema(
    id: &str,
    base: &str,
    plural: &str,
    collection_methods: &[&str],
    resource_methods: &[&str],
    fields: Map<String, Value>,
) -> Value {
    let mut links = Map::new();
    links.insert(
        "self".into(),
        format!("{base}/v1-webhooks/schemas/{}", id.to_lowercase()).into(),
    );
    if !collection_methods.is_empty() {
        links.insert(
            "collection".into(),
            format!("{base}/v1-webhooks/{plural}").into(),
        );
    }
    json!({
        "id": id,
        "type": "schema",
        "links": links,
        "actions": {},
        "pluralName": plural,
        "collectionMethods": collection_methods,
        "resourceMethods": resource_methods,
        "resourceFields": fields,
        "resourceActions": {},
        "collectionActions": {},
    })
}

fn fields(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Every schema, for links under `base`.
pub fn all(base: &str) -> Vec<Value> {
    let names: Vec<&str> = Driver::ALL.iter().map(|d| d.name()).collect();
    let mut receiver = fields(vec![
        ("id", json!({"type": "string", "nullable": true})),
        ("type", json!({"type": "string"})),
        ("name", field("string", json!({"required": true}))),
        (
            "driver",
            field("enum", json!({"required": true, "options": names})),
        ),
        ("state", json!({"type": "string"})),
        ("url", json!({"type": "string"})),
        ("links", json!({"type": "map[string]"})),
        ("actions", json!({"type": "map[string]"})),
    ]);
    for d in Driver::ALL {
        receiver.insert(format!("{}Config", d.name()), field(d.name(), json!({})));
    }
    let mut out = vec![schema(
        "receiver",
        base,
        "receivers",
        &["GET", "POST"],
        &["GET", "DELETE"],
        receiver,
    )];
    // Rancher's plural names are naive: the name plus "s".
    out.extend(Driver::ALL.iter().map(|d| {
        schema(
            d.name(),
            base,
            &format!("{}s", d.name()),
            &[],
            &[],
            d.schema_fields(),
        )
    }));
    out.extend([
        schema("apiVersion", base, "apiVersions", &[], &["GET"], Map::new()),
        schema("schema", base, "schemas", &["GET"], &["GET"], Map::new()),
        schema(
            "error",
            base,
            "errors",
            &[],
            &[],
            fields(vec![
                ("status", field("int", json!({}))),
                ("code", field("string", json!({}))),
                ("message", field("string", json!({}))),
                ("fieldName", field("string", json!({}))),
            ]),
        ),
    ]);
    out
}

/// One schema by id, case-insensitively.
pub fn one(base: &str, id: &str) -> Option<Value> {
    all(base)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
}
