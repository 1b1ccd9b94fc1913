//! The drivers: what a receiver does when triggered. A closed set, one module per driver
//! (docs/adding-a-driver.md). Each module implements [`Kind`]: its config type and Rancher's
//! JSON for it (parse, show, schema), its token encoding, its policy settings, its
//! creation checks against Cattle, its execution and its own per-replica state. The
//! [`drivers!`] invocation at the bottom lists them, one line each, and generates the
//! `Driver` and `DriverConfig` enums and the one dispatch for every operation.
//!
//! Nothing here knows the HTTP layer or the `App`: an execution gets a [`Cx`] with the
//! Cattle client and its driver's own state.

pub mod scale;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cattle::{Auth, Cattle};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;
pub use crate::policy::OnResolved;
use crate::receiver::ReceiverId;
pub use scale::ScaleAction;

/// Labels, kept sorted so that a config has exactly one encoding.
pub type Labels = BTreeMap<String, String>;

/// Labels as `k=v,k2=v2`, in key order (keys and values as given).
pub fn labels_text(labels: &Labels) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The routing parameter of a receiver's trigger URLs (`&route=`, written as 8 hex
/// characters): a digest of its project and target. Not a secret and not a capability — a
/// hint for a load balancer, checked against the token on every trigger.
pub fn route(project: &str, config: &DriverConfig) -> u32 {
    use sha2::Digest as _;
    let (variant, target) = config.target();
    let d = sha2::Sha256::new()
        .chain_update(b"hookgate route\0")
        .chain_update(project.as_bytes())
        .chain_update(b"\0")
        .chain_update(variant.as_bytes())
        .chain_update(b":")
        .chain_update(target.as_bytes())
        .finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// How strictly a driver config is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// A create request: a field no Rancher version defined is refused (422 naming it).
    Create,
    /// A stored record (Rancher stored configs as its UI sent them): unknown fields ignored.
    Stored,
}

/// Which way a trigger moves its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The configured action.
    Forward,
    /// Undo earlier steps: change the target by `delta` (a resolved alert with
    /// `onResolved: reverse`).
    Reverse { delta: i64 },
}

/// A driver's policy settings: what a resolved alert does, and the cooldown. Drivers
/// without one act on every trigger, under no lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub on_resolved: OnResolved,
    pub cooldown_seconds: u32,
}

/// Settings the drivers' states are built from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a cached scale is trusted.
    pub scale_ttl: Duration,
    /// How often a background upgrade looks at its service while Cattle works.
    pub upgrade_poll: Duration,
    /// How long one service's upgrade may take, from start to finish.
    pub upgrade_timeout: Duration,
    /// Largest answer read from a forwardPost upstream.
    pub forward_max_reply: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scale_ttl: Duration::from_millis(100),
            upgrade_poll: Duration::from_secs(1),
            upgrade_timeout: Duration::from_secs(600),
            forward_max_reply: 1 << 20,
        }
    }
}

/// What the trigger's sender sent, for the drivers that read it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// An answer a driver passes back as it came (forwardPost's upstream).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
}

/// The outcome of a trigger that found nothing to do (docs/triggers.md, "Outcomes").
pub const UNCHANGED: &str = "unchanged";

/// The fields a driver adds to a trigger's JSON answer, in the order written. The names are
/// fixed in each driver's code (no name twice), so none is allocated per trigger.
pub type Details = Vec<(&'static str, Value)>;

/// What a driver did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The outcome's name: from a closed set per driver (it labels metrics).
    pub outcome: &'static str,
    /// For a person.
    pub message: String,
    /// Fields added to the trigger's JSON answer.
    pub details: Details,
    /// Before → after, for the log line.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The change made, which a reversal would undo (0: nothing changed). Non-zero also
    /// means an action was performed, which starts a cooldown.
    pub change: i64,
    /// An answer to pass back instead of hookgate's own JSON (forwardPost).
    pub reply: Option<Reply>,
}

impl Report {
    /// A report with no before → after and nothing to undo.
    pub fn new(outcome: &'static str, message: String, details: Details) -> Self {
        Self {
            outcome,
            message,
            details,
            from: None,
            to: None,
            change: 0,
            reply: None,
        }
    }
}

/// What a trigger did, or deliberately did not do.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Acted(Report),
    /// Every alert in the notification was already handled.
    Duplicate,
    /// A resolved notification that acts nothing; `note` says why.
    Resolved {
        note: &'static str,
    },
    /// Within the cooldown of the last performed action.
    Cooldown {
        eligible_at: u64,
    },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Acted(r) => r.outcome,
            Outcome::Duplicate => "duplicate",
            Outcome::Resolved { .. } => "resolved",
            Outcome::Cooldown { .. } => "skipped",
        }
    }

    pub fn change(&self) -> i64 {
        match self {
            Outcome::Acted(r) => r.change,
            _ => 0,
        }
    }

    pub fn from_to(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Outcome::Acted(r) => (r.from, r.to),
            _ => (None, None),
        }
    }

    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Outcome::Acted(r) => Cow::Borrowed(&r.message),
            Outcome::Duplicate => {
                Cow::Borrowed("every alert in this notification was already acted on")
            }
            Outcome::Resolved { note } => Cow::Borrowed(note),
            Outcome::Cooldown { eligible_at } => Cow::Owned(format!(
                "within the cooldown; eligible again at {}",
                crate::time::format_iso(*eligible_at as i64 * 1000)
            )),
        }
    }

    /// Nothing was done, and by design: at a bound, a duplicate, within the cooldown, a
    /// resolved notification with nothing to undo.
    pub fn changed_nothing(&self) -> bool {
        match self {
            Outcome::Acted(r) => r.outcome == UNCHANGED,
            Outcome::Duplicate | Outcome::Resolved { .. } | Outcome::Cooldown { .. } => true,
        }
    }

    /// Fields added to the response body.
    pub fn details(&self) -> Cow<'_, [(&'static str, Value)]> {
        match self {
            Outcome::Acted(r) => Cow::Borrowed(&r.details),
            Outcome::Cooldown { eligible_at } => Cow::Owned(vec![
                (
                    "nextEligibleAt",
                    crate::time::format_iso(*eligible_at as i64 * 1000).into(),
                ),
                ("nextEligibleAtTS", (eligible_at * 1000).into()),
            ]),
            Outcome::Duplicate | Outcome::Resolved { .. } => Cow::Borrowed(&[]),
        }
    }
}

/// What an execution can reach: the Cattle client, its driver's own state, whose receiver
/// it is (for logs), and what the sender sent.
pub struct Cx<'a, S> {
    pub cattle: &'a Cattle,
    pub state: &'a S,
    pub project: &'a str,
    pub receiver: ReceiverId,
    pub request: Request<'a>,
}

/// What every driver module implements (docs/adding-a-driver.md).
pub trait Kind {
    /// Rancher's name: the value of `driver` and of the config's nested `type`.
    const NAME: &'static str;
    /// The complete configuration, as a token seals it. No serde: Rancher's JSON is the
    /// driver's wire form, read by `parse` and written by `to_json`.
    type Config: Clone + std::fmt::Debug + PartialEq + Eq + Send + Sync + 'static;
    /// Per-replica state (caches, locks), built once.
    type State: Send + Sync + 'static;

    fn state(settings: &Settings) -> Self::State;

    /// Reads `<driver>Config` as Rancher's UI sent it, checking every field and naming the
    /// one at fault; `project` is the receiver's.
    fn parse(config: &Value, project: &str, mode: Parse) -> Result<Self::Config, Error>;

    /// The config in Rancher's field names (without the nested `type`).
    fn to_json(config: &Self::Config) -> Map<String, Value>;

    /// The fields of the driver's `/v1-webhooks/schemas` entry.
    fn schema_fields() -> Map<String, Value>;

    /// The invariants every sealed config keeps, whoever minted it.
    fn check(config: &Self::Config) -> Result<(), &'static str>;

    /// The config's canonical binary encoding inside a token.
    fn encode(config: &Self::Config, w: &mut Writer<'_>);
    fn decode(r: &mut Reader<'_>) -> Result<Self::Config, DecodeError>;

    /// Dedupe, resolved handling and cooldown, or `None`: every trigger acts, lock-free.
    fn policy(config: &Self::Config) -> Option<Policy>;

    /// What the receiver acts on, as text (a service, a host group, a selector): receivers
    /// with the same target share a routing parameter, so a load balancer sends them to
    /// one replica (docs/operating.md, "More than one replica").
    fn target(config: &Self::Config) -> Cow<'_, str>;

    /// Rancher's creation checks against Cattle, with the given credentials.
    fn validate(
        cattle: &Cattle,
        auth: Auth<'_>,
        project: &str,
        config: &Self::Config,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Performs the action (or its `step`); in a dry run, decides without changing anything.
    /// The trigger path asks [`Kind::at_once`] first (except in a dry run).
    fn execute(
        cx: &Cx<'_, Self::State>,
        config: &Self::Config,
        step: Step,
        dry_run: bool,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send;

    /// The outcome of `step` when it is known now, without I/O, and changes nothing (a
    /// scale trusted to be at the step's bound): the trigger is then answered at once,
    /// without `execute` (no task, no batch, nothing boxed). `None`: run `execute`.
    fn at_once(
        _state: &Self::State,
        _project: &str,
        _config: &Self::Config,
        _step: Step,
    ) -> Option<Outcome> {
        None
    }
}

/// A driver's config as `DriverConfig` holds it, and its execution's future: in place
/// (`plain`, the hot scaleService), or boxed so that `Claims`, which the trigger path moves
/// around, and the trigger's future, which every trigger allocates, stay small.
macro_rules! slot {
    (plain, $t:ty) => { $t };
    (boxed, $t:ty) => { Box<$t> };
}

macro_rules! put {
    (plain, $e:expr) => {
        $e
    };
    (boxed, $e:expr) => {
        Box::new($e)
    };
}

macro_rules! run {
    (plain, $f:expr) => {
        $f.await
    };
    (boxed, $f:expr) => {
        Box::pin($f).await
    };
}

/// Generates, from one line per driver, the `Driver` and `DriverConfig` enums, every
/// driver's state in `States`, and the dispatch of each [`Kind`] operation.
macro_rules! drivers {
    ($( $variant:ident => $module:ident :: $kind:ident, tag $tag:literal, $hold:ident; )+) => {
        $( pub mod $module; )+

        /// The drivers, by Rancher's names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Driver { $( $variant ),+ }

        impl Driver {
            pub const ALL: &'static [Driver] = &[ $( Driver::$variant ),+ ];

            /// Rancher's name: the value of `driver` and of the config's `type`.
            pub fn name(self) -> &'static str {
                match self { $( Driver::$variant => <$module::$kind as Kind>::NAME ),+ }
            }

            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|d| d.name() == s)
            }

            /// The fields of the driver's schema.
            pub fn schema_fields(self) -> Map<String, Value> {
                match self { $( Driver::$variant => <$module::$kind as Kind>::schema_fields() ),+ }
            }
        }

        /// The complete configuration of one receiver's driver.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum DriverConfig { $( $variant(slot!($hold, <$module::$kind as Kind>::Config)) ),+ }

        /// Every driver's per-replica state.
        pub struct States { $( pub $module: <$module::$kind as Kind>::State ),+ }

        impl States {
            pub fn new(settings: &Settings) -> Self {
                Self { $( $module: <$module::$kind as Kind>::state(settings) ),+ }
            }
        }

        impl DriverConfig {
            pub fn driver(&self) -> Driver {
                match self { $( DriverConfig::$variant(_) => Driver::$variant ),+ }
            }

            /// Reads the active driver's `<driver>Config` (see [`Kind::parse`]).
            pub fn parse(driver: Driver, config: &Value, project: &str, mode: Parse) -> Result<Self, Error> {
                match driver {
                    $( Driver::$variant => <$module::$kind as Kind>::parse(config, project, mode).map(|c| DriverConfig::$variant(put!($hold, c))) ),+
                }
            }

            /// A config as stored in a receiver's `resourceData` (`driver`, `config`): read by
            /// the same parser as a create request, except that fields unknown to hookgate
            /// (Rancher stored configs as its UI sent them) are ignored.
            pub fn from_stored(driver: &str, config: &Value, project: &str) -> Result<Self, Error> {
                let d = Driver::from_name(driver).ok_or_else(|| {
                    Error::invalid(400, "InvalidOption", "driver", format!("Driver {driver} is not registered"))
                })?;
                Self::parse(d, config, project, Parse::Stored)
            }

            /// Rancher's JSON for the config, with the nested `type`.
            pub fn to_json(&self) -> Value {
                let mut m = match self {
                    $( DriverConfig::$variant(c) => <$module::$kind as Kind>::to_json(c) ),+
                };
                m.insert("type".into(), self.driver().name().into());
                Value::Object(m)
            }

            pub fn check(&self) -> Result<(), &'static str> {
                match self { $( DriverConfig::$variant(c) => <$module::$kind as Kind>::check(c) ),+ }
            }

            /// A tag byte, then the driver's encoding.
            pub fn encode(&self, w: &mut Writer<'_>) {
                match self {
                    $( DriverConfig::$variant(c) => {
                        w.byte($tag);
                        <$module::$kind as Kind>::encode(c, w);
                    } ),+
                }
            }

            pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                match r.byte()? {
                    $( $tag => <$module::$kind as Kind>::decode(r).map(|c| DriverConfig::$variant(put!($hold, c))), )+
                    _ => Err(DecodeError::InvalidValue("driver")),
                }
            }

            pub fn policy(&self) -> Option<Policy> {
                match self { $( DriverConfig::$variant(c) => <$module::$kind as Kind>::policy(c) ),+ }
            }

            /// What the receiver acts on (see [`Kind::target`]), and its driver's name.
            pub fn target(&self) -> (&'static str, Cow<'_, str>) {
                match self { $( DriverConfig::$variant(c) => (stringify!($variant), <$module::$kind as Kind>::target(c)) ),+ }
            }

            /// Rancher's creation checks against Cattle, with the caller's credentials.
            pub async fn validate(&self, cattle: &Cattle, auth: Auth<'_>, project: &str) -> Result<(), Error> {
                match self {
                    $( DriverConfig::$variant(c) => <$module::$kind as Kind>::validate(cattle, auth, project, c).await ),+
                }
            }

            /// The outcome of `step` if it is known without I/O (see [`Kind::at_once`]).
            pub fn at_once(&self, states: &States, project: &str, step: Step) -> Option<Outcome> {
                match self {
                    $( DriverConfig::$variant(c) => <$module::$kind as Kind>::at_once(&states.$module, project, c, step) ),+
                }
            }

            /// Performs the receiver's action, or `step`.
            #[allow(clippy::too_many_arguments)] // the dispatch hands each part on as it is
            pub async fn execute(
                &self,
                cattle: &Cattle,
                states: &States,
                project: &str,
                receiver: ReceiverId,
                request: Request<'_>,
                step: Step,
                dry_run: bool,
            ) -> Result<Outcome, Error> {
                match self {
                    $( DriverConfig::$variant(c) => {
                        let cx = Cx { cattle, state: &states.$module, project, receiver, request };
                        run!($hold, <$module::$kind as Kind>::execute(&cx, c, step, dry_run))
                    } ),+
                }
            }
        }
    };
}

drivers! {
    ScaleService => scale_service::ScaleService, tag 0, plain;
    ScaleHost => scale_host::ScaleHost, tag 1, boxed;
    ServiceUpgrade => service_upgrade::ServiceUpgrade, tag 2, boxed;
    ForwardPost => forward_post::ForwardPost, tag 3, boxed;
}

pub use forward_post::ForwardPostConfig;
pub use scale_host::{DeleteOption, ScaleHostConfig};
pub use scale_service::ScaleServiceConfig;
pub use service_upgrade::{AddressType, PayloadFormat, ServiceUpgradeConfig};

/// Helpers every driver's wire form uses: Rancher's error shapes, and the refusal of fields
/// no Rancher version defined.
pub mod fields {
    use serde_json::{Map, Value};

    use super::Parse;
    use crate::error::Error;

    pub fn bad(field: &'static str, message: impl Into<String>) -> Error {
        Error::invalid(400, "InvalidOption", field, message)
    }

    pub fn missing(field: &'static str, message: impl Into<String>) -> Error {
        Error::invalid(400, "MissingRequired", field, message)
    }

    /// A non-blank string, or `missing(field, message)`.
    pub fn non_empty(v: Option<&str>, field: &'static str, message: &str) -> Result<String, Error> {
        match v {
            Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
            _ => Err(missing(field, message)),
        }
    }

    /// An integer field: at least `min`, and small enough for a `u32`.
    pub fn count(v: Option<i64>, field: &'static str, min: i64, what: &str) -> Result<u32, Error> {
        match v {
            None => Err(missing(field, format!("{what} not provided"))),
            Some(n) if n < min => Err(Error::invalid(
                400,
                "MinLimitExceeded",
                field,
                format!("{what} must be at least {min}, got {n}"),
            )),
            Some(n) => u32::try_from(n).map_err(|_| {
                Error::invalid(
                    400,
                    "MaxLimitExceeded",
                    field,
                    format!("{what} is too large: {n}"),
                )
            }),
        }
    }

    /// Deserializes a driver's wire struct from its config object.
    pub fn read<'a, T: serde::Deserialize<'a>>(config: &'a Value) -> Result<T, Error> {
        if !config.is_object() {
            return Err(missing("config", "Driver config not found"));
        }
        T::deserialize(config).map_err(|e| Error::BadRequest(format!("Bad request body: {e}")))
    }

    /// On create, a config must not carry fields no Rancher version defined.
    pub fn known_only(unknown: &Map<String, Value>, mode: Parse) -> Result<(), Error> {
        match (mode, unknown.keys().next()) {
            (Parse::Stored, _) | (_, None) => Ok(()),
            (Parse::Create, Some(name)) => {
                let name: String = name.chars().take(64).collect();
                Err(Error::invalid(
                    422,
                    "InvalidOption",
                    name.clone(),
                    format!("unknown field {name} in the driver config"),
                ))
            }
        }
    }

    /// A schema field: `{"type": kind, "create": true, "nullable": true}` plus `extra`.
    pub fn field(kind: &str, extra: Value) -> Value {
        let mut v = serde_json::json!({"type": kind, "create": true, "nullable": true});
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trigger URLs already handed out carry their route: its value never changes. The
    /// expected digests were computed outside this code, from the documented input
    /// (`hookgate route\0<project>\0<Driver>:<target>`).
    #[test]
    fn routes_of_handed_out_urls_stay_the_same() {
        let bounds = (ScaleAction::Up, 1, 0, 4, 0, OnResolved::Ignore);
        let service = DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: "1s1".into(),
            action: bounds.0,
            amount: bounds.1,
            min: bounds.2,
            max: bounds.3,
            cooldown_seconds: bounds.4,
            on_resolved: bounds.5,
        });
        let hosts = DriverConfig::ScaleHost(Box::new(ScaleHostConfig {
            host_selector: None,
            host_template_id: Some("1ht1".into()),
            action: bounds.0,
            amount: bounds.1,
            min: bounds.2,
            max: bounds.3,
            delete_option: None,
            cooldown_seconds: bounds.4,
            on_resolved: bounds.5,
        }));
        assert_eq!(format!("{:08x}", route("1a5", &service)), "63c9767e");
        assert_eq!(format!("{:08x}", route("1a5", &hosts)), "0b27fa60");
    }
}
