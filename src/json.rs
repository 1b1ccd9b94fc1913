//! JSON written field by field, for the answers every request may build (an error, a
//! trigger's result): serde's generic map path was a visible share of a refused trigger's
//! cost (docs/serving.md, "What a trigger costs"). The output is byte for byte what
//! `serde_json` writes for the same fields in the same order.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// A JSON object, its fields in the order written.
pub struct JsonObject {
    buf: Vec<u8>,
}

impl Default for JsonObject {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonObject {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.push(b'{');
        Self { buf }
    }

    /// Names are written as they are: they are literals of our code (`'static`), none of
    /// which needs escaping.
    fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key.as_bytes()), "{key:?}");
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        json_str(&mut self.buf, value);
        self
    }

    pub fn int(&mut self, key: &'static str, value: impl itoa::Integer) -> &mut Self {
        self.key(key);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.key(key);
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    pub fn value(&mut self, key: &'static str, value: &serde_json::Value) -> &mut Self {
        use serde_json::Value;
        // The scalars a trigger's details hold are written directly; serde's serializer
        // costs more than the field (docs/serving.md, "What a trigger costs").
        match value {
            Value::String(s) => self.str(key, s),
            Value::Bool(b) => self.bool(key, *b),
            Value::Number(n) if n.is_i64() => self.int(key, n.as_i64().unwrap_or_default()),
            Value::Number(n) if n.is_u64() => self.int(key, n.as_u64().unwrap_or_default()),
            _ => {
                self.key(key);
                // A Value always serializes.
                let _ = serde_json::to_writer(&mut self.buf, value);
                self
            }
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }

    /// The object as an answer's body.
    pub fn into_response(self, status: StatusCode) -> Response<Full<Bytes>> {
        response(status, self.finish())
    }
}

/// An answer whose JSON body is already written.
pub fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `s` as a JSON string. Strings with nothing to escape (the usual case: names, ids,
/// messages) are copied whole after one scan that vectorizes; the others go through
/// `serde_json`, so the escaping is always serde's.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // A str always serializes.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether JSON must escape any of these bytes (control characters, `"` and `\\`): one
/// pass without an early exit, so that it vectorizes.
fn needs_escape(s: &[u8]) -> bool {
    s.iter().fold(0u8, |n, &b| {
        n | u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
    }) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_exactly_as_serde_escapes_them() {
        let cases = [
            "",
            "plain text",
            "quote \" backslash \\ slash /",
            "control \u{0} \u{1f} \t \n \r, DEL \u{7f}, C1 \u{85}",
            "non-ASCII é → 💥",
        ];
        for s in cases {
            let mut out = Vec::new();
            json_str(&mut out, s);
            let want = serde_json::to_string(s).expect("serializes");
            assert_eq!(String::from_utf8_lossy(&out), want, "{s:?}");
        }
    }

    #[test]
    fn values_are_written_as_serde_writes_them() {
        use serde_json::json;
        let cases = [
            json!("plain"),
            json!("needs \\ escaping \u{1}"),
            json!(0),
            json!(-7),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5),
            json!(true),
            json!(false),
            json!(null),
            json!([1, "two", null]),
            json!({"k": {"n": -1}}),
        ];
        for v in cases {
            let mut o = JsonObject::new();
            o.value("v", &v);
            let want = format!(
                "{{\"v\":{}}}",
                serde_json::to_string(&v).expect("serializes")
            );
            assert_eq!(String::from_utf8(o.finish()).ok(), Some(want), "{v:?}");
        }
    }

    #[test]
    fn a_json_object_keeps_its_order_and_every_kind_of_field() {
        let mut o = JsonObject::new();
        o.str("b", "x\"y")
            .str("a", "plain")
            .str("c", "needs \\ escaping\n")
            .int("n", -42i64)
            .bool("t", true)
            .value("v", &serde_json::json!({"k": [1, "two"]}));
        let text = String::from_utf8(o.finish()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"b":"x\"y","a":"plain","c":"needs \\ escaping\n","n":-42,"t":true,"v":{"k":[1,"two"]}}"#
        );
        assert_eq!(
            String::from_utf8(JsonObject::new().finish())
                .ok()
                .as_deref(),
            Some("{}")
        );
    }
}
