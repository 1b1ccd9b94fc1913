//! The `/v1-webhooks` schemas, as Rancher 1.6's webhook-service (v1.6 branch) served them,
//! plus master's `hostTemplateId` and hookgate's additions (`cooldownSeconds`,
//! `onResolved`, more payload formats). Rancher 1.6's UI reads defaults and `options` from
//! here (`addressType`, `payloadFormat`) and breaks without them (cattle-api.md §6.2).

use serde_json::{json, Map, Value};

fn field(kind: &str) -> Value {
    json!({"type": kind, "create": true, "nullable": true})
}

fn with(mut v: Value, extra: Value) -> Value {
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

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

fn scale_fields() -> Vec<(&'static str, Value)> {
    vec![
        (
            "amount",
            with(field("int"), json!({"required": true, "min": 1})),
        ),
        (
            "action",
            with(
                field("enum"),
                json!({"required": true, "options": ["up", "down"]}),
            ),
        ),
        ("min", with(field("int"), json!({"default": 1, "min": 0}))),
        ("max", with(field("int"), json!({"default": 100, "min": 1}))),
        (
            "cooldownSeconds",
            with(field("int"), json!({"default": 0, "min": 0})),
        ),
        (
            "onResolved",
            with(
                field("enum"),
                json!({"default": "ignore", "options": ["ignore", "reverse", "trigger"]}),
            ),
        ),
        ("type", field("string")),
    ]
}

/// Every schema, for links under `base`.
pub fn all(base: &str) -> Vec<Value> {
    let driver_names = json!(["scaleService", "scaleHost", "serviceUpgrade", "forwardPost"]);
    let receiver = fields(vec![
        ("id", json!({"type": "string", "nullable": true})),
        ("type", json!({"type": "string"})),
        ("name", with(field("string"), json!({"required": true}))),
        (
            "driver",
            with(
                field("enum"),
                json!({"required": true, "options": driver_names}),
            ),
        ),
        ("state", json!({"type": "string"})),
        ("url", json!({"type": "string"})),
        ("links", json!({"type": "map[string]"})),
        ("actions", json!({"type": "map[string]"})),
        ("scaleServiceConfig", field("scaleService")),
        ("scaleHostConfig", field("scaleHost")),
        ("serviceUpgradeConfig", field("serviceUpgrade")),
        ("forwardPostConfig", field("forwardPost")),
    ]);
    let mut scale_service = vec![(
        "serviceId",
        with(field("string"), json!({"required": true})),
    )];
    scale_service.extend(scale_fields());
    let mut scale_host = vec![
        ("hostSelector", field("map[string]")),
        ("hostTemplateId", field("string")),
        (
            "deleteOption",
            with(
                field("enum"),
                json!({"options": ["mostRecent", "leastRecent"]}),
            ),
        ),
    ];
    scale_host.extend(scale_fields());
    let service_upgrade = vec![
        (
            "serviceSelector",
            with(field("map[string]"), json!({"required": true})),
        ),
        ("tag", with(field("string"), json!({"required": true}))),
        (
            "payloadFormat",
            with(
                field("enum"),
                json!({"default": "dockerhub",
            "options": ["dockerhub", "alicloud", "azure", "quay", "harbor", "distribution"]}),
            ),
        ),
        (
            "addressType",
            with(
                field("enum"),
                json!({"default": "registry",
            "options": ["registry", "registry-internal", "registry-vpc"]}),
            ),
        ),
        (
            "batchSize",
            with(field("int"), json!({"default": 1, "min": 1})),
        ),
        (
            "intervalMillis",
            with(
                field("int"),
                json!({"default": 2, "min": 1,
            "description": "seconds between batches (the name is Rancher's)"}),
            ),
        ),
        (
            "startFirst",
            with(field("boolean"), json!({"default": false})),
        ),
        ("type", field("string")),
    ];
    let forward_post = vec![
        ("projectId", field("string")),
        (
            "serviceName",
            with(field("string"), json!({"required": true})),
        ),
        ("port", with(field("string"), json!({"required": true}))),
        ("path", field("string")),
        ("type", field("string")),
    ];
    vec![
        schema(
            "receiver",
            base,
            "receivers",
            &["GET", "POST"],
            &["GET", "DELETE"],
            receiver,
        ),
        schema(
            "scaleService",
            base,
            "scaleServices",
            &[],
            &[],
            fields(scale_service),
        ),
        schema(
            "scaleHost",
            base,
            "scaleHosts",
            &[],
            &[],
            fields(scale_host),
        ),
        schema(
            "serviceUpgrade",
            base,
            "serviceUpgrades",
            &[],
            &[],
            fields(service_upgrade),
        ),
        schema(
            "forwardPost",
            base,
            "forwardPosts",
            &[],
            &[],
            fields(forward_post),
        ),
        schema(
            "apiVersion",
            base,
            "apiVersions",
            &[],
            &["GET"],
            fields(vec![]),
        ),
        schema(
            "schema",
            base,
            "schemas",
            &["GET"],
            &["GET"],
            fields(vec![]),
        ),
        schema(
            "error",
            base,
            "errors",
            &[],
            &[],
            fields(vec![
                ("status", field("int")),
                ("code", field("string")),
                ("message", field("string")),
                ("fieldName", field("string")),
            ]),
        ),
    ]
}

/// One schema by id, case-insensitively.
pub fn one(base: &str, id: &str) -> Option<Value> {
    all(base)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
}
