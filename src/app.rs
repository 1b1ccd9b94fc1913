//! The edge service's state. One `App` (cheap to clone) holds the key ring, the Cattle
//! client and every cache; there are no other globals but metrics. It holds state only:
//! requests are dispatched by [`crate::router`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::cattle::{AnswerExpiry, Auth, Cattle, CattleError};
use crate::config::Limits;
use crate::drivers::States;
use crate::error::Error;
use crate::fresh::FreshMap;
use crate::http::{Conn, Surface};
use crate::jwt::RancherKey;
use crate::keyed::{KeyedState, Lease};
use crate::legacy::LegacyReceivers;
use crate::pair::Pair;
use crate::policy::ReceiverState;
use crate::receiver::ReceiverId;
use crate::token::KeyRing;

/// What the edge service needs to know besides its key ring and Cattle.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of the trigger URLs handed out; `None`: from the request.
    pub public_url: Option<String>,
    /// Take scheme and host from `X-Forwarded-Proto`/`-Host` (behind a proxy you control).
    pub trust_forwarded_headers: bool,
    /// How long a receiver's existence (or absence) is trusted without asking Cattle.
    pub revocation_ttl: Duration,
    /// What the drivers' own state is built from (the scale cache's TTL).
    pub drivers: crate::drivers::Settings,
    pub limits: Limits,
    /// Execute Rancher's `?key=` URLs (`--legacy-key-urls`).
    pub legacy_key_urls: bool,
    /// The Rancher installation's RSA public key: Rancher 1.4's `?token=<JWT>` URLs run
    /// only with it (`--rsa-public-key-file`).
    pub rancher_key: Option<Arc<RancherKey>>,
}

/// How many receivers' policy memories are kept while idle, and for how long.
const REMEMBERED_RECEIVERS: u64 = 100_000;
const REMEMBER_IDLE_FOR: Duration = Duration::from_secs(86_400);

/// The edge service. Clone freely: everything is behind one `Arc`.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub keys: KeyRing,
    /// The only way upstream.
    pub cattle: Cattle,
    pub settings: Settings,
    /// Rancher's own receivers, reached by key URL.
    pub legacy: LegacyReceivers,
    /// (project, receiver id) → does its generic object exist? Both answers are cached for
    /// the revocation TTL and Cattle errors briefly, so a flood of triggers for a deleted
    /// receiver, or during an outage, costs one Cattle look-up per interval. Read by every
    /// trigger: a [`FreshMap`], not a general cache. Its keys come from verified tokens only,
    /// never from a stranger.
    revocations: FreshMap<(String, ReceiverId), Result<bool, CattleError>>,
    /// Each driver's own state (the scale cache and the batches in flight, per-project
    /// locks for host scaling, ...).
    pub drivers: States,
    /// Per-receiver policy memory (dedupe, cooldown, steps to reverse), leased and locked
    /// where policy needs it (`trigger::run`); bounded, and never evicted while leased.
    receivers: KeyedState<ReceiverId, ReceiverState>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub fn new(keys: KeyRing, cattle: Cattle, settings: Settings) -> Self {
        let revocations = FreshMap::new(100_000);
        App(Arc::new(Inner {
            keys,
            cattle,
            legacy: LegacyReceivers::new(settings.legacy_key_urls, settings.revocation_ttl),
            drivers: States::new(&settings.drivers),
            settings,
            revocations,
            receivers: KeyedState::remembering(REMEMBERED_RECEIVERS, REMEMBER_IDLE_FOR),
        }))
    }

    /// Whether the receiver's generic object still exists in its project, holding the URL of
    /// this very `token` — so a record made later from the receiver id alone (which every
    /// answer shows) revives nothing. Cached both ways; a Cattle error is cached briefly and
    /// fails the trigger closed.
    pub async fn receiver_exists(
        &self,
        project: &str,
        id: ReceiverId,
        token: &str,
    ) -> Result<bool, Error> {
        self.record_exists(project, id, None, Some(token)).await
    }

    /// Whether a receiver record with `key` (`None`: the receiver id itself, written out only
    /// on a cache miss) exists in `project`: one the management API lists
    /// ([`crate::legacy::listed`]), and, given a `token`, whose stored URL carries it. Cached
    /// under the receiver's id as [`App::receiver_exists`] is. A project the service account
    /// cannot reach (or that is gone) holds no receiver: `false`, not a Cattle error to retry.
    pub async fn record_exists(
        &self,
        project: &str,
        id: ReceiverId,
        key: Option<&str>,
        token: Option<&str>,
    ) -> Result<bool, Error> {
        let name = (project, id);
        if let Some(v) = self
            .revocations
            .get(&name as &dyn Pair<ReceiverId>, Instant::now())
        {
            crate::metrics::count_cache("revocation", true);
            return v.map_err(Error::Cattle);
        }
        crate::metrics::count_cache("revocation", false);
        // The look-up (a Cattle call, several KiB of future state) lives on the heap, so
        // that the cache hit above — every trigger but one per interval — does not carry it.
        Box::pin(self.look_up_record(project, id, key, token)).await
    }

    /// [`App::record_exists`] on a cache miss: concurrent misses share one look-up.
    async fn look_up_record(
        &self,
        project: &str,
        id: ReceiverId,
        key: Option<&str>,
        token: Option<&str>,
    ) -> Result<bool, Error> {
        let look_up = async {
            let own_key;
            let key = match key {
                Some(k) => k,
                None => {
                    own_key = id.to_string();
                    own_key.as_str()
                }
            };
            let found = match self
                .cattle
                .list_generic_objects(
                    Auth::Service,
                    project,
                    &[("key", key), ("kind", crate::legacy::KIND)],
                )
                .await
            {
                Ok(found) => found,
                Err(CattleError::Rejected {
                    status: 403 | 404, ..
                }) => return Ok(false),
                Err(e) => return Err(e),
            };
            Ok(found.iter().any(|go| {
                crate::legacy::listed(go).is_some_and(|(_, url)| {
                    token.is_none_or(|t| crate::legacy::url_token(url) == Some(t))
                })
            }))
        };
        let expiry = AnswerExpiry {
            ttl: self.settings.revocation_ttl,
        };
        let name = (project, id);
        self.revocations
            .get_with(
                &name as &dyn Pair<ReceiverId>,
                || (project.to_owned(), id),
                look_up,
                |v| expiry.of(v),
            )
            .await
            .map_err(Error::Cattle)
    }

    /// Marks a receiver deleted on this replica at once.
    pub fn forget_receiver(&self, project: &str, id: ReceiverId) {
        self.file_receiver(project, id, false);
    }

    /// Marks a just-created receiver as existing, sparing its first trigger a look-up.
    pub fn remember_receiver(&self, project: &str, id: ReceiverId) {
        self.file_receiver(project, id, true);
    }

    fn file_receiver(&self, project: &str, id: ReceiverId, exists: bool) {
        let until = crate::fresh::until(Instant::now(), self.settings.revocation_ttl);
        // Over any look-up in flight, which may have read Cattle before the change.
        self.revocations
            .overrule((project.to_owned(), id), Ok(exists), until);
    }

    /// The public base URL for links and trigger URLs: `--public-url`; else, where
    /// forwarded headers are trusted (`--trust-forwarded-headers`, or the internal listener
    /// behind Cattle's proxy), what they say; else the request's `Host` and scheme.
    pub fn public_base(&self, headers: &HeaderMap, conn: Conn) -> String {
        if let Some(u) = &self.settings.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
        };
        let trusted = self.settings.trust_forwarded_headers || conn.surface == Surface::CattleProxy;
        let forwarded = |name| header(name).filter(|_| trusted);
        let proto = match forwarded("x-forwarded-proto") {
            Some(p @ ("http" | "https")) => p,
            _ if conn.tls => "https",
            _ => "http",
        };
        let host = forwarded("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|h| {
                h.parse::<http::uri::Authority>()
                    .is_ok_and(|a| a.as_str() == *h)
            })
            .unwrap_or("localhost");
        format!("{proto}://{host}")
    }

    /// A receiver's policy memory, leased for one trigger.
    pub fn receiver_state(&self, id: ReceiverId) -> Lease<ReceiverId, ReceiverState> {
        self.receivers.lease(&id)
    }

    /// Keyed state in use right now: (receivers, services). Bounded by requests in flight.
    pub fn leases_in_use(&self) -> (usize, usize) {
        (self.receivers.in_use(), self.drivers.scale_service.in_use())
    }
}
