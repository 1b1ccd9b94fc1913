//! What the simulator knows about each Cattle resource type: its collection, id prefix,
//! fields (with which may be set on create, changed by PUT, used as filters), the state
//! machine's actions, and the schema documents a schema-driven client reads
//! (docs/cattle.md).

use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    Date,
    Ref,
    Map,
    Json,
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub create: bool,
    pub update: bool,
    /// Backed by a column, so usable in filters and `sort`.
    pub filter: bool,
}

const fn f(name: &'static str, kind: Kind, create: bool, update: bool, filter: bool) -> Field {
    Field {
        name,
        kind,
        create,
        update,
        filter,
    }
}

#[derive(Debug)]
pub struct TypeInfo {
    /// Schema id and `type` of resources in this collection (base type).
    pub id: &'static str,
    /// Collection segment in URLs.
    pub plural: &'static str,
    /// Short type used in formatted ids (`1` + prefix + number).
    pub prefix: &'static str,
    pub fields: &'static [Field],
    pub resource_actions: &'static [&'static str],
    pub collection_methods: &'static [&'static str],
    pub resource_methods: &'static [&'static str],
}

use Kind::*;

/// Fields every resource has (docs/cattle.md).
pub const COMMON: &[Field] = &[
    f("accountId", Ref, false, false, true),
    f("created", Date, false, false, true),
    f("description", Str, true, true, true),
    f("kind", Str, true, false, true),
    f("name", Str, true, true, true),
    f("removeTime", Date, false, false, true),
    f("removed", Date, false, false, true),
    f("state", Str, false, false, true),
    f("transitioning", Str, false, false, false),
    f("transitioningMessage", Str, false, false, false),
    f("transitioningProgress", Int, false, false, false),
    f("uuid", Str, false, false, true),
];

pub const SERVICE: TypeInfo = TypeInfo {
    id: "service",
    plural: "services",
    prefix: "s",
    fields: &[
        f("stackId", Ref, true, false, true),
        f("scale", Int, true, true, true),
        f("currentScale", Int, false, false, false),
        f("healthState", Str, false, false, true),
        f("launchConfig", Json, true, false, false),
        f("secondaryLaunchConfigs", Json, true, false, false),
        f("startOnCreate", Bool, true, false, false),
        f("upgrade", Json, false, false, false),
        f("metadata", Json, true, true, false),
        f("selectorContainer", Str, true, true, false),
    ],
    resource_actions: &[
        "activate",
        "deactivate",
        "remove",
        "update",
        "upgrade",
        "finishupgrade",
        "cancelupgrade",
        "continueupgrade",
        "rollback",
        "restart",
    ],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "PUT", "DELETE"],
};

pub const STACK: TypeInfo = TypeInfo {
    id: "stack",
    plural: "stacks",
    prefix: "st",
    fields: &[f("healthState", Str, false, false, true)],
    resource_actions: &["remove", "update"],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "PUT", "DELETE"],
};

pub const GENERIC_OBJECT: TypeInfo = TypeInfo {
    id: "genericObject",
    plural: "genericobjects",
    prefix: "go",
    fields: &[
        f("key", Str, true, false, true),
        f("resourceData", Json, true, false, false),
    ],
    resource_actions: &["remove"],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "DELETE"],
};

pub const HOST: TypeInfo = TypeInfo {
    id: "host",
    plural: "hosts",
    prefix: "h",
    fields: &[
        f("hostname", Str, true, false, true),
        f("hostTemplateId", Ref, true, false, true),
        f("driver", Str, true, false, true),
        f("labels", Map, true, true, false),
        f("agentState", Str, false, false, true),
        f("amazonec2Config", Json, true, false, false),
        f("digitaloceanConfig", Json, true, false, false),
    ],
    resource_actions: &[
        "activate",
        "deactivate",
        "remove",
        "purge",
        "update",
        "evacuate",
    ],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "PUT", "DELETE"],
};

pub const HOST_TEMPLATE: TypeInfo = TypeInfo {
    id: "hostTemplate",
    plural: "hosttemplates",
    prefix: "ht",
    fields: &[
        f("driver", Str, true, false, true),
        f("flavorPrefix", Str, true, false, true),
        f("publicValues", Json, true, true, false),
        f("secretValues", Json, true, true, false),
    ],
    resource_actions: &["remove"],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "PUT", "DELETE"],
};

pub const EXTERNAL_HOST_EVENT: TypeInfo = TypeInfo {
    id: "externalHostEvent",
    plural: "externalhostevents",
    prefix: "ee",
    fields: &[
        f("eventType", Str, true, false, true),
        f("hostId", Ref, true, false, true),
        f("hostLabel", Str, true, false, true),
        f("deleteHost", Bool, true, false, false),
    ],
    resource_actions: &["remove"],
    collection_methods: &["GET", "POST"],
    resource_methods: &["GET", "DELETE"],
};

/// Every collection the simulator serves inside a project.
pub const TYPES: &[&TypeInfo] = &[
    &SERVICE,
    &STACK,
    &GENERIC_OBJECT,
    &HOST,
    &HOST_TEMPLATE,
    &EXTERNAL_HOST_EVENT,
];

/// Service kinds that live in the `services` collection with their own `type`.
pub const SERVICE_KINDS: &[&str] = &[
    "service",
    "loadBalancerService",
    "externalService",
    "dnsService",
    "storageDriverService",
    "networkDriverService",
    "kubernetesService",
];

pub fn by_plural(plural: &str) -> Option<&'static TypeInfo> {
    TYPES.iter().copied().find(|t| t.plural == plural)
}

/// The type whose resources have this `type` (service kinds map to `service`).
pub fn by_type_name(name: &str) -> Option<&'static TypeInfo> {
    if SERVICE_KINDS.contains(&name) {
        return Some(&SERVICE);
    }
    TYPES.iter().copied().find(|t| t.id == name)
}

impl TypeInfo {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        COMMON
            .iter()
            .chain(self.fields.iter())
            .find(|f| f.name == name)
    }

    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> + '_ {
        COMMON.iter().chain(self.fields.iter())
    }

    /// The schema document for `schema_id` (which may be a service kind's own type).
    pub fn schema(&self, schema_id: &str, scope_url: &str) -> Value {
        let mut fields = Map::new();
        for fl in self.all_fields() {
            fields.insert(
                fl.name.into(),
                json!({
                    "type": match fl.kind {
                        Str => "string",
                        Int => "int",
                        Bool => "boolean",
                        Date => "date",
                        Ref => "reference",
                        Map => "map[string]",
                        Json => "json",
                    },
                    "create": fl.create,
                    "update": fl.update,
                    "nullable": true,
                }),
            );
        }
        let actions: Map<String, Value> = self
            .resource_actions
            .iter()
            .map(|a| ((*a).to_owned(), json!({"output": schema_id})))
            .collect();
        let filters: Map<String, Value> = self
            .all_fields()
            .filter(|f| f.filter)
            .map(|f| (f.name.to_owned(), json!({"modifiers": modifiers(f.kind)})))
            .collect();
        json!({
            "id": schema_id,
            "type": "schema",
            "links": {
                "self": format!("{scope_url}/schemas/{}", schema_id.to_lowercase()),
                "collection": format!("{scope_url}/{}", self.plural),
            },
            "pluralName": self.plural,
            "collectionMethods": self.collection_methods,
            "resourceMethods": self.resource_methods,
            "resourceFields": fields,
            "resourceActions": actions,
            "collectionFilters": filters,
            "collectionActions": {},
        })
    }
}

/// Filter modifiers by field kind (docs/cattle.md, "Collections").
pub fn modifiers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Str | Ref => &["eq", "ne", "prefix", "like", "notlike", "null", "notnull"],
        Int | Date => &["eq", "ne", "lt", "lte", "gt", "gte", "null", "notnull"],
        Bool | Map | Json => &["eq", "ne", "null", "notnull"],
    }
}

/// Schema ids served besides the collections' own (kinds and the framework's types).
pub fn extra_schema_ids() -> impl Iterator<Item = &'static str> {
    SERVICE_KINDS.iter().copied().filter(|k| *k != "service")
}
