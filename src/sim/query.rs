//! Listing a collection as Cattle does (docs/cattle.md, "Collections"): filters with
//! modifiers, sorting, `limit`/`marker` pagination, removed rows hidden.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::schema::{self, Kind, TypeInfo};
use super::store::{Row, World};

impl World {
    /// Lists a collection: filters, sort, pagination (§3). `self_url` is the request's URL.
    pub fn list(
        &self,
        ty: &'static TypeInfo,
        project: &str,
        query: &[(String, String)],
        scope: &str,
        self_url: &str,
    ) -> Value {
        let show_removed = query.iter().any(|(k, _)| k == "_removed");
        let mut filters: BTreeMap<(&'static str, &str), Vec<&str>> = BTreeMap::new();
        let (mut sort, mut desc, mut limit, mut offset) = (None, false, 100usize, 0usize);
        for (k, v) in query {
            match k.as_str() {
                "sort" => sort = ty.field(v).filter(|f| f.filter),
                "order" => desc = v == "desc",
                "limit" => {
                    limit = match v.parse::<i64>() {
                        Ok(n) if n <= 0 => 3000,
                        Ok(n) => usize::try_from(n).unwrap_or(3000).min(3000),
                        Err(_) => 100,
                    }
                }
                "marker" => {
                    offset = v
                        .strip_prefix('m')
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                }
                _ => {
                    let (name, modifier) = split_modifier(k);
                    // Unknown or non-filterable parameters are silently ignored (§3.2).
                    if let Some(f) = ty.field(name).filter(|f| f.filter) {
                        if schema::modifiers(f.kind).contains(&modifier) {
                            filters.entry((f.name, modifier)).or_default().push(v);
                        }
                    }
                }
            }
        }
        let mut rows: Vec<&Row> = self
            .rows
            .range((ty.plural, 0)..=(ty.plural, u64::MAX))
            .map(|(_, r)| r)
            .filter(|r| r.project == project)
            .filter(|r| show_removed || r.data.get("removed").is_none_or(Value::is_null))
            .filter(|r| {
                filters.iter().all(|((name, m), values)| {
                    let kind = ty.field(name).map_or(Kind::Str, |f| f.kind);
                    matches(r.data.get(*name), kind, m, values)
                })
            })
            .collect();
        if let Some(f) = sort {
            rows.sort_by(|a, b| {
                let o = compare(a.data.get(f.name), b.data.get(f.name));
                if desc { o.reverse() } else { o }.then(a.num.cmp(&b.num))
            });
        }
        let total = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| self.render(r, scope))
            .collect();
        let partial = offset + limit < total;
        let next = partial.then(|| with_marker(self_url, offset + limit));
        let filter_doc: Map<String, Value> = ty
            .all_fields()
            .filter(|f| f.filter)
            .map(|f| {
                let used: Vec<Value> = filters
                    .iter()
                    .filter(|((n, _), _)| *n == f.name)
                    .flat_map(|((_, m), vs)| {
                        vs.iter().map(move |v| json!({"modifier": m, "value": v}))
                    })
                    .collect();
                let v = if used.is_empty() {
                    Value::Null
                } else {
                    Value::Array(used)
                };
                (f.name.to_owned(), v)
            })
            .collect();
        let sort_links: Map<String, Value> = ty
            .all_fields()
            .filter(|f| f.filter)
            .map(|f| {
                (
                    f.name.to_owned(),
                    format!("{}/{}?sort={}", scope, ty.plural, f.name).into(),
                )
            })
            .collect();
        json!({
            "type": "collection",
            "resourceType": ty.id,
            "links": {"self": self_url},
            "createTypes": {},
            "actions": {},
            "createDefaults": {},
            "data": page,
            "sortLinks": sort_links,
            "pagination": {"first": null, "previous": null, "next": next, "limit": limit,
                           "total": null, "partial": partial},
            "sort": sort.map(|f| json!({"name": f.name, "order": if desc {"desc"} else {"asc"}, "reverse": null})),
            "filters": filter_doc,
        })
    }
}

/// `name_ne` → (`name`, `ne`); a suffix that is no modifier is part of the name.
fn split_modifier(param: &str) -> (&str, &str) {
    const MODS: &[&str] = &[
        "ne", "lt", "lte", "gt", "gte", "prefix", "like", "notlike", "null", "notnull", "eq",
    ];
    match param.rsplit_once('_') {
        Some((name, m)) if MODS.contains(&m) && !name.is_empty() => (name, m),
        _ => (param, "eq"),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn matches(v: Option<&Value>, kind: Kind, modifier: &str, values: &[&str]) -> bool {
    let text = v.and_then(as_text);
    match modifier {
        "null" => text.is_none(),
        "notnull" => text.is_some(),
        "eq" => text.is_some_and(|t| values.contains(&t.as_str())),
        "ne" => text.is_none_or(|t| !values.contains(&t.as_str())),
        "prefix" => text.is_some_and(|t| values.iter().any(|p| t.starts_with(p))),
        "like" => text.is_some_and(|t| values.iter().any(|p| like(p, &t))),
        "notlike" => text.is_none_or(|t| !values.iter().any(|p| like(p, &t))),
        _ => {
            let Some(t) = text else { return false };
            values.iter().all(|want| {
                let ord = if kind == Kind::Int {
                    match (t.parse::<i64>(), want.parse::<i64>()) {
                        (Ok(a), Ok(b)) => a.cmp(&b),
                        _ => return false,
                    }
                } else {
                    t.as_str().cmp(want)
                };
                match modifier {
                    "lt" => ord.is_lt(),
                    "lte" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            })
        }
    }
}

/// SQL LIKE: `%` any run, `_` any one character.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_i64), b.and_then(Value::as_i64)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.and_then(as_text).cmp(&b.and_then(as_text)),
    }
}

/// The request URL with `marker` set to `m<offset>`.
fn with_marker(url: &str, offset: usize) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("marker="))
        .map(str::to_owned)
        .collect();
    parts.push(format!("marker=m{offset}"));
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_and_modifiers() {
        assert!(like("we%", "web"));
        assert!(like("w_b", "web"));
        assert!(!like("w_b", "webs"));
        assert_eq!(split_modifier("name_ne"), ("name", "ne"));
        assert_eq!(split_modifier("scale_gte"), ("scale", "gte"));
        assert_eq!(split_modifier("host_template"), ("host_template", "eq"));
        assert!(matches(Some(&json!(3)), Kind::Int, "gt", &["2"]));
        assert!(matches(Some(&json!(3)), Kind::Int, "lt", &["20"]));
        assert!(!matches(Some(&json!(30)), Kind::Int, "lt", &["20"]));
        assert!(matches(None, Kind::Str, "null", &["x"]));
    }

    #[test]
    fn marker_replaces_marker() {
        assert_eq!(
            with_marker("http://h/x?limit=5&marker=m5", 10),
            "http://h/x?limit=5&marker=m10"
        );
        assert_eq!(with_marker("http://h/x", 100), "http://h/x?marker=m100");
    }
}
