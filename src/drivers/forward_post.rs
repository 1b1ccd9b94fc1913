//! forwardPost (docs/triggers.md, "forwardPost"): forward the trigger's POST to a service
//! inside the receiver's own project, through Cattle's service proxy — a second upstream,
//! reached only through the Cattle client. Only the body, its content type and the user
//! agent travel: never the token, the query, cookies or authorization. The service's answer
//! comes back to the sender (a 5xx as 502).

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::fields::{bad, field, known_only, missing, non_empty, read};
use super::{Cx, Kind, Outcome, Parse, Policy, Reply, Report, Settings, Step};
use crate::cattle::{forward_path_ok, service_name_ok, Auth, Cattle};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;

pub struct ForwardPost;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardPostConfig {
    pub project_id: String,
    pub service_name: String,
    pub port: String,
    pub path: String,
}

mod wire {
    use serde::Deserialize;
    use serde_json::{Map, Value};

    /// `forwardPostConfig` as Rancher's UI sends it.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ForwardPostWire {
        pub project_id: Option<String>,
        pub service_name: Option<String>,
        /// Rancher's schema has a string; numbers are accepted too.
        pub port: Option<Value>,
        pub path: Option<String>,
        /// The nested `type` Rancher's UI sends; carries nothing.
        #[serde(rename = "type", default)]
        pub _type: Option<Value>,
        /// Fields no Rancher version defined.
        #[serde(flatten)]
        pub unknown: Map<String, Value>,
    }
}

impl Kind for ForwardPost {
    const NAME: &'static str = "forwardPost";
    type Config = ForwardPostConfig;
    /// The largest answer read from the service.
    type State = usize;

    fn state(settings: &Settings) -> usize {
        settings.forward_max_reply
    }

    fn parse(config: &Value, project: &str, mode: Parse) -> Result<ForwardPostConfig, Error> {
        let w: wire::ForwardPostWire = read(config)?;
        known_only(&w.unknown, mode)?;
        let port = match &w.port {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(missing("port", "port not provided")),
        };
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(bad("port", format!("Invalid port {port}")));
        }
        let project_id = w
            .project_id
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| project.to_owned());
        // A forward never leaves the receiver's own project.
        if project_id != project {
            return Err(bad(
                "projectId",
                "forwardPost can only target a service in the receiver's own project",
            ));
        }
        let path = w.path.unwrap_or_default();
        if !forward_path_ok(&path) {
            return Err(bad(
                "path",
                "path must start with / and hold plain segments (no .., no escapes, no query)",
            ));
        }
        let service_name = non_empty(
            w.service_name.as_deref(),
            "serviceName",
            "serviceName not provided",
        )?;
        if !service_name_ok(&service_name) {
            return Err(bad(
                "serviceName",
                format!("Invalid service name {service_name}"),
            ));
        }
        Ok(ForwardPostConfig {
            project_id,
            service_name,
            port,
            path,
        })
    }

    fn to_json(c: &ForwardPostConfig) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("projectId".into(), c.project_id.clone().into());
        m.insert("serviceName".into(), c.service_name.clone().into());
        m.insert("port".into(), c.port.clone().into());
        m.insert("path".into(), c.path.clone().into());
        m
    }

    fn schema_fields() -> Map<String, Value> {
        let fields = [
            ("projectId", field("string", json!({}))),
            ("serviceName", field("string", json!({"required": true}))),
            ("port", field("string", json!({"required": true}))),
            ("path", field("string", json!({}))),
            ("type", field("string", json!({}))),
        ];
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    fn check(c: &ForwardPostConfig) -> Result<(), &'static str> {
        if c.service_name.is_empty() || c.port.is_empty() {
            return Err("serviceName and port are required");
        }
        Ok(())
    }

    fn encode(c: &ForwardPostConfig, w: &mut Writer<'_>) {
        for f in [&c.project_id, &c.service_name, &c.port, &c.path] {
            w.str(f);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<ForwardPostConfig, DecodeError> {
        Ok(ForwardPostConfig {
            project_id: r.string()?,
            service_name: r.string()?,
            port: r.string()?,
            path: r.string()?,
        })
    }

    fn target(c: &ForwardPostConfig) -> Cow<'_, str> {
        Cow::Borrowed(&c.service_name)
    }

    fn policy(_: &ForwardPostConfig) -> Option<Policy> {
        None
    }

    /// The named service must exist in the project, seen with the caller's credentials.
    async fn validate(
        cattle: &Cattle,
        auth: Auth<'_>,
        project: &str,
        c: &ForwardPostConfig,
    ) -> Result<(), Error> {
        let found = cattle
            .list_services(auth, project, &[("name", c.service_name.as_str())])
            .await
            .map_err(Error::from_caller)?;
        if found.is_empty() {
            return Err(Error::invalid(
                400,
                "InvalidReference",
                "serviceName",
                format!("no service named {} in this project", c.service_name),
            ));
        }
        Ok(())
    }

    async fn execute(
        cx: &Cx<'_, usize>,
        c: &ForwardPostConfig,
        _step: Step,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        // A forward never leaves the receiver's own project, whatever a record says.
        if c.project_id != cx.project {
            return Err(Error::Unprocessable(
                "forwardPost can only reach a service in the receiver's own project".into(),
            ));
        }
        let port = c
            .port
            .parse::<u16>()
            .map_err(|_| Error::Unprocessable(format!("invalid port {}", c.port)))?;
        let target = format!("{}:{}{}", c.service_name, c.port, c.path);
        let details = vec![
            ("service", c.service_name.clone().into()),
            ("port", c.port.clone().into()),
            ("path", c.path.clone().into()),
        ];
        if dry_run {
            return Ok(Outcome::Acted(Report::new(
                "forwarded",
                format!("would forward the POST to {target}"),
                details,
            )));
        }
        let (status, content_type, body) = cx
            .cattle
            .forward(
                cx.project,
                &c.service_name,
                port,
                &c.path,
                cx.request.content_type,
                cx.request.user_agent,
                bytes::Bytes::copy_from_slice(cx.request.body),
                *cx.state,
            )
            .await?;
        Ok(Outcome::Acted(Report {
            reply: Some(Reply {
                status: status.as_u16(),
                content_type,
                body,
            }),
            ..Report::new(
                "forwarded",
                format!("forwarded the POST to {target}: {status}"),
                details,
            )
        }))
    }
}
