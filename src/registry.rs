//! Registry push notifications, read into what was pushed (docs/triggers.md,
//! "serviceUpgrade"), and Docker image references, compared as registries mean them. Pure:
//! no I/O. Each sender's format has its own parser; all of them produce [`Pushed`] images.

use serde_json::Value;

/// One image a notification says was pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Where it was pushed (`docker.io` for Docker Hub).
    pub registry: String,
    /// As the registry names it (`acme/web`).
    pub repository: String,
    /// `None` for a push by digest only.
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// The sender formats understood (`payloadFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker Hub's repository webhook.
    Dockerhub,
    /// Alibaba Cloud Container Registry; the image lives at
    /// `<addressType>.<region>.aliyuncs.com/<repo_full_name>`.
    Alicloud {
        address: &'static str,
    },
    /// Azure Container Registry.
    Azure,
    Quay,
    Harbor,
    /// The Docker distribution (registry:2) notification envelope.
    Registry,
}

/// Why a body is not a push notification of the configured format (a 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("No payload received from the registry webhook")]
    Empty,
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("not a {format} push notification: {missing} is missing")]
    Missing {
        format: &'static str,
        missing: &'static str,
    },
}

/// Reads a notification body in the given format.
pub fn parse(body: &[u8], format: Format) -> Result<Vec<Pushed>, PushError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(PushError::Empty);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| PushError::NotJson(e.to_string()))?;
    match format {
        Format::Dockerhub => dockerhub(&v),
        Format::Alicloud { address } => alicloud(&v, address),
        Format::Azure => azure(&v),
        Format::Quay => quay(&v),
        Format::Harbor => harbor(&v),
        Format::Registry => distribution(&v),
    }
}

fn text<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn need<'a>(
    v: &'a Value,
    path: &str,
    format: &'static str,
    missing: &'static str,
) -> Result<&'a str, PushError> {
    text(v, path).ok_or(PushError::Missing { format, missing })
}

/// `{"push_data": {"tag"}, "repository": {"repo_name"}}`; `pushed_at` may be an integer or
/// a float and is not needed.
fn dockerhub(v: &Value) -> Result<Vec<Pushed>, PushError> {
    let f = "Docker Hub";
    Ok(vec![Pushed {
        registry: DOCKER_HUB.into(),
        repository: need(v, "/repository/repo_name", f, "repository.repo_name")?.into(),
        tag: Some(need(v, "/push_data/tag", f, "push_data.tag")?.into()),
        digest: None,
    }])
}

/// `{"push_data": {"tag", "digest"}, "repository": {"repo_full_name", "region"}}`.
fn alicloud(v: &Value, address: &str) -> Result<Vec<Pushed>, PushError> {
    let f = "Alibaba Cloud";
    let region = need(v, "/repository/region", f, "repository.region")?;
    Ok(vec![Pushed {
        registry: format!("{address}.{region}.aliyuncs.com"),
        repository: need(
            v,
            "/repository/repo_full_name",
            f,
            "repository.repo_full_name",
        )?
        .into(),
        tag: Some(need(v, "/push_data/tag", f, "push_data.tag")?.into()),
        digest: text(v, "/push_data/digest").map(str::to_owned),
    }])
}

/// `{"action": "push", "target": {"repository", "tag", "digest"}, "request": {"host"}}`.
fn azure(v: &Value) -> Result<Vec<Pushed>, PushError> {
    let f = "Azure Container Registry";
    if text(v, "/action").is_some_and(|a| a != "push") {
        return Err(PushError::Missing {
            format: f,
            missing: "action push",
        });
    }
    Ok(vec![Pushed {
        registry: need(v, "/request/host", f, "request.host")?.into(),
        repository: need(v, "/target/repository", f, "target.repository")?.into(),
        tag: Some(need(v, "/target/tag", f, "target.tag")?.into()),
        digest: text(v, "/target/digest").map(str::to_owned),
    }])
}

/// `{"repository", "docker_url": "quay.io/acme/web", "updated_tags": [...]}`: one image per
/// updated tag.
fn quay(v: &Value) -> Result<Vec<Pushed>, PushError> {
    let f = "Quay";
    let repository = need(v, "/repository", f, "repository")?;
    let registry = text(v, "/docker_url")
        .and_then(|u| u.split('/').next())
        .unwrap_or("quay.io");
    let tags = v
        .get("updated_tags")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or(PushError::Missing {
            format: f,
            missing: "updated_tags",
        })?;
    Ok(tags
        .iter()
        .filter_map(Value::as_str)
        .map(|t| Pushed {
            registry: registry.into(),
            repository: repository.into(),
            tag: Some(t.into()),
            digest: None,
        })
        .collect())
}

/// `{"type": "PUSH_ARTIFACT", "event_data": {"resources": [{"tag", "digest",
/// "resource_url"}], "repository": {"repo_full_name"}}}`.
fn harbor(v: &Value) -> Result<Vec<Pushed>, PushError> {
    let f = "Harbor";
    if text(v, "/type").is_some_and(|t| t != "PUSH_ARTIFACT" && t != "pushImage") {
        return Err(PushError::Missing {
            format: f,
            missing: "type PUSH_ARTIFACT",
        });
    }
    let repository = need(
        v,
        "/event_data/repository/repo_full_name",
        f,
        "event_data.repository.repo_full_name",
    )?;
    let resources = v
        .pointer("/event_data/resources")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or(PushError::Missing {
            format: f,
            missing: "event_data.resources",
        })?;
    Ok(resources
        .iter()
        .map(|r| Pushed {
            // `harbor.acme.example/acme/web:stable`: the registry is its first part.
            registry: text(r, "/resource_url")
                .and_then(|u| u.split('/').next())
                .unwrap_or("")
                .into(),
            repository: repository.into(),
            tag: text(r, "/tag").map(str::to_owned),
            digest: text(r, "/digest").map(str::to_owned),
        })
        .collect())
}

/// `{"events": [{"action": "push", "target": {"repository", "tag", "digest"},
/// "request": {"host"}}]}`: every push event; pulls and the rest are ignored.
fn distribution(v: &Value) -> Result<Vec<Pushed>, PushError> {
    let f = "registry notification";
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .ok_or(PushError::Missing {
            format: f,
            missing: "events",
        })?;
    let pushed: Vec<Pushed> = events
        .iter()
        .filter(|e| text(e, "/action") == Some("push"))
        .filter_map(|e| {
            Some(Pushed {
                registry: text(e, "/request/host")?.into(),
                repository: text(e, "/target/repository")?.into(),
                tag: text(e, "/target/tag").map(str::to_owned),
                digest: text(e, "/target/digest").map(str::to_owned),
            })
        })
        .collect();
    if pushed.is_empty() {
        return Err(PushError::Missing {
            format: f,
            missing: "a push event",
        });
    }
    Ok(pushed)
}

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// An image reference as written in a launch config (`docker:` prefix removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The registry part as written, if any (`registry.acme.example:5000`).
    pub registry: Option<&'a str>,
    /// The path as written (`acme/web`).
    pub path: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// `[registry/]path[:tag][@digest]`; the first component is a registry when it has a
    /// `.` or a `:`, or is `localhost`.
    pub fn parse(image: &'a str) -> Option<Self> {
        let image = image.strip_prefix("docker:").unwrap_or(image);
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        let (registry, rest) = match rest.split_once('/') {
            Some((first, tail))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first), tail)
            }
            _ => (None, rest),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if path.is_empty() || tag == Some("") {
            return None;
        }
        Some(Self {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The repository as a registry means it: normalized registry and path, lower case
    /// (`docker.io/library/nginx` for `nginx`).
    pub fn repository(&self) -> (String, String) {
        normalize(self.registry.unwrap_or(DOCKER_HUB), self.path)
    }

    /// The same reference with another tag (and no digest), as a launch config writes it.
    pub fn with_tag(&self, tag: &str) -> String {
        match self.registry {
            Some(r) => format!("docker:{r}/{}:{tag}", self.path),
            None => format!("docker:{}:{tag}", self.path),
        }
    }
}

impl Pushed {
    /// The pushed repository, normalized like [`ImageRef::repository`].
    pub fn repository(&self) -> (String, String) {
        normalize(&self.registry, &self.repository)
    }
}

/// Docker Hub's aliases become `docker.io`; its one-part names get `library/`; a hub path
/// that repeats its registry (`docker.io/acme/web`) loses it; everything compares in lower
/// case.
fn normalize(registry: &str, path: &str) -> (String, String) {
    let registry = registry.to_ascii_lowercase();
    let hub = matches!(
        registry.as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | ""
    );
    let mut path = path.trim_matches('/').to_ascii_lowercase();
    if hub {
        for prefix in ["docker.io/", "index.docker.io/"] {
            if let Some(p) = path.strip_prefix(prefix) {
                path = p.to_owned();
            }
        }
        if !path.contains('/') {
            path = format!("library/{path}");
        }
        return (DOCKER_HUB.into(), path);
    }
    (registry, path)
}

/// A glob over a tag: `*` any run, `?` any one character. Linear backtracking to the last
/// star only, so a pattern of many stars costs at most pattern × text steps.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last star take one more character and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests;
