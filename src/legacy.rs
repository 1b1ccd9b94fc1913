//! Receivers created by Rancher's own webhook-service, reached by their key URLs
//! (`/v1-webhooks/endpoint?key=K&projectId=P`; docs/security.md, "Rancher's key URLs").
//!
//! Only records Rancher's service wrote can be executed this way: generic objects of kind
//! `webhookReceiver` whose `key` has Rancher's shape (40 characters `[A-Za-z0-9]`) and whose
//! stored config reads as a valid receiver. hookgate's own records carry a 32-character hex
//! key, so a receiver id — which appears in responses and logs — never works as a key: a
//! hookgate receiver's only capability is its token.
//!
//! Rancher 1.4's `?token=<JWT>` receivers (crate::jwt) are Rancher's too: their creation
//! checks are cached here, by token.
//!
//! A key URL needs no token, so a stranger can send any key. Keys are therefore looked up in
//! a per-project index (one Cattle list per project per TTL, however many keys are tried),
//! Cattle's answers and errors are cached, and index loads are rate-limited.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cattle::wire::GenericObject;
use crate::cattle::{AnswerExpiry, Auth, Cattle, CattleError};
use crate::drivers::DriverConfig;
use crate::error::Error;
use crate::receiver::ReceiverId;

/// The generic object kind both Rancher's service and hookgate store receivers as.
pub const KIND: &str = "webhookReceiver";

/// A receiver record as the management API lists it — a live `webhookReceiver` whose
/// `resourceData` holds a string `driver`, a string `url` and a `config` object: its driver
/// and stored URL. Only such a record keeps a receiver alive, so whatever keeps one alive can
/// be seen, and deleted, in the list.
pub fn listed(go: &GenericObject) -> Option<(&str, &str)> {
    if go.kind.as_deref() != Some(KIND) || !go.is_live() {
        return None;
    }
    let data = go.resource_data.as_ref()?;
    data.get("config")?.as_object()?;
    Some((data.get("driver")?.as_str()?, data.get("url")?.as_str()?))
}

/// The `token` parameter of a stored trigger URL.
pub fn url_token(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// Whether `key` has the shape of the keys Rancher's service made (`uniuri.NewLen(40)`).
pub fn rancher_key_shape(key: &str) -> bool {
    key.len() == 40 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The policy identity of a Rancher receiver: a stable id derived from its project and key
/// (its dedupe and cooldown state is keyed by it, like a token receiver's by its id).
pub fn receiver_id(project: &str, key: &str) -> ReceiverId {
    ReceiverId::derived("hookgate legacy receiver", project, key)
}

/// One Rancher receiver of a project.
pub struct Entry {
    pub id: ReceiverId,
    /// Its config, or why the stored config is not a usable receiver.
    pub config: Result<DriverConfig, String>,
    /// Whether the config passed the create-time checks against Cattle (once per index
    /// load); `Err` holds why not.
    pub checked: tokio::sync::OnceCell<Result<(), String>>,
}

/// A project's Rancher receivers, by key.
#[derive(Default)]
pub struct Index {
    by_key: HashMap<String, Arc<Entry>>,
}

impl Index {
    /// Builds the index from the project's `webhookReceiver` records. `parse` reads a
    /// stored `(driver, config)` pair leniently, as Rancher stored it. As Rancher's service
    /// did, the first record with a key wins.
    pub fn build(
        project: &str,
        records: &[GenericObject],
        parse: impl Fn(&str, &serde_json::Value) -> Result<DriverConfig, String>,
    ) -> Self {
        let mut by_key = HashMap::new();
        for go in records {
            let Some(key) = go.key.as_deref() else {
                continue;
            };
            if go.kind.as_deref() != Some(KIND) || !go.is_live() || !rancher_key_shape(key) {
                continue;
            }
            let data = go.resource_data.as_ref();
            let config = match (
                data.and_then(|d| d.get("driver")).and_then(|d| d.as_str()),
                data.and_then(|d| d.get("config")),
            ) {
                (Some(driver), Some(config)) => parse(driver, config),
                (None, _) => Err("No driver provided".into()),
                (Some(_), None) => Err("Driver config not found".into()),
            };
            by_key.entry(key.to_owned()).or_insert_with(|| {
                Arc::new(Entry {
                    id: receiver_id(project, key),
                    config,
                    checked: tokio::sync::OnceCell::new(),
                })
            });
        }
        Index { by_key }
    }

    pub fn get(&self, key: &str) -> Option<&Arc<Entry>> {
        self.by_key.get(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// A token bucket: at most `burst` at once, refilled at `per_second`. Bounds how often
/// strangers can make hookgate ask Cattle for a project's index.
pub struct Bucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *s;
        let refilled = (tokens
            + now.saturating_duration_since(last).as_secs_f64() * self.per_second)
            .min(self.burst);
        if refilled >= 1.0 {
            *s = (refilled - 1.0, now);
            true
        } else {
            *s = (refilled, now);
            false
        }
    }

    /// How long until a token is likely available, in whole seconds (at least 1).
    pub fn retry_after(&self) -> u32 {
        (1.0 / self.per_second).ceil().max(1.0) as u32
    }
}

/// The creation checks' verdict on a receiver of Rancher's: `Ok(Err(why))` for a refusal,
/// which is an answer about the receiver and may be kept; `Err` for a failure to check
/// (Cattle down), which is transient and must not be.
async fn verdict(
    validate: impl Future<Output = Result<(), Error>>,
) -> Result<Result<(), String>, Error> {
    match validate.await {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.status().is_client_error() => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

fn no_longer_passes(why: String) -> Error {
    Error::Unprocessable(format!(
        "this receiver no longer passes Rancher's creation checks: {why}"
    ))
}

/// Index loads allowed per second (and at once), whoever asks: a stranger trying projects
/// cannot make hookgate ask Cattle more often than this.
const LOADS_PER_SECOND: f64 = 10.0;
const LOAD_BURST: f64 = 20.0;
/// Most receivers held across all cached project indexes.
const MAX_INDEXED: u64 = 100_000;

/// An index load refused by the rate limit.
#[derive(Debug)]
struct Shed;

/// Rancher's receivers as this replica knows them: per-project indexes, cached.
pub struct LegacyReceivers {
    /// `--legacy-key-urls`: off refuses every key URL without asking Cattle.
    enabled: bool,
    /// project → its index (or the Cattle error loading it, briefly).
    indexes: moka::future::Cache<String, Result<Arc<Index>, CattleError>>,
    loads: Bucket,
    /// A Rancher 1.4 token's fingerprint → whether its config passes the creation checks
    /// (`Err`: why not).
    checks: moka::future::Cache<[u8; 16], Result<(), String>>,
}

impl LegacyReceivers {
    /// `ttl`: how long a project's index is trusted (the revocation TTL).
    pub fn new(enabled: bool, ttl: Duration) -> Self {
        let indexes = moka::future::Cache::builder()
            .max_capacity(MAX_INDEXED)
            .weigher(|_: &String, v: &Result<Arc<Index>, CattleError>| {
                v.as_ref()
                    .map_or(1, |i| u32::try_from(i.len()).unwrap_or(u32::MAX).max(1))
            })
            .expire_after(AnswerExpiry { ttl })
            .build();
        Self {
            enabled,
            indexes,
            loads: Bucket::new(LOADS_PER_SECOND, LOAD_BURST),
            checks: moka::future::Cache::builder()
                .max_capacity(MAX_INDEXED)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The receiver behind `key` in `project`, ready to run; `Ok(None)` when there is none
    /// (the caller answers 403, the same for every project and every key). `parse` reads a
    /// stored config leniently; `validate` applies the create-time checks against Cattle,
    /// once per index load.
    pub async fn find<V, F>(
        &self,
        cattle: &Cattle,
        project: &str,
        key: &str,
        parse: impl Fn(&str, &Value) -> Result<DriverConfig, String>,
        validate: V,
    ) -> Result<Option<(ReceiverId, DriverConfig)>, Error>
    where
        V: FnOnce(DriverConfig) -> F,
        F: Future<Output = Result<(), Error>>,
    {
        if !self.enabled || !rancher_key_shape(key) {
            return Ok(None);
        }
        let index = self.index(cattle, project, parse).await?;
        let Some(entry) = index.get(key) else {
            return Ok(None);
        };
        let config = entry.config.clone().map_err(|why| {
            Error::Unprocessable(format!(
                "this receiver's stored config cannot be used: {why}"
            ))
        })?;
        let checked = entry
            .checked
            .get_or_try_init(|| verdict(validate(config.clone())))
            .await?;
        checked.clone().map_err(no_longer_passes)?;
        Ok(Some((entry.id, config)))
    }

    /// Whether a Rancher 1.4 receiver's config passes the creation checks, by its token's
    /// fingerprint: a pass and a refusal are both kept for the TTL, like an index load's; a
    /// failure to check (Cattle down) is not kept, and fails the trigger closed.
    pub async fn token_checked(
        &self,
        fingerprint: [u8; 16],
        validate: impl Future<Output = Result<(), Error>>,
    ) -> Result<(), Error> {
        let checked = match self.checks.get(&fingerprint).await {
            Some(v) => v,
            None => {
                let v = verdict(validate).await?;
                self.checks.insert(fingerprint, v.clone()).await;
                v
            }
        };
        checked.map_err(no_longer_passes)
    }

    async fn index(
        &self,
        cattle: &Cattle,
        project: &str,
        parse: impl Fn(&str, &Value) -> Result<DriverConfig, String>,
    ) -> Result<Arc<Index>, Error> {
        if let Some(v) = self.indexes.get(project).await {
            crate::metrics::count_cache("legacy", true);
            return v.map_err(Error::Cattle);
        }
        crate::metrics::count_cache("legacy", false);
        // Concurrent misses for one project share one load; only a real load spends a
        // token, and a refused load is not cached.
        let load = async {
            if !self.loads.take() {
                return Err(Shed);
            }
            Ok(
                match cattle
                    .list_generic_objects(Auth::Service, project, &[("kind", KIND)])
                    .await
                {
                    Ok(records) => Ok(Arc::new(Index::build(project, &records, parse))),
                    // The service account cannot see this project, or there is no such
                    // project: it holds no receiver hookgate can run. The caller gets the
                    // same 403 as for an unknown key, so projects cannot be told apart.
                    Err(CattleError::Rejected {
                        status: 403 | 404, ..
                    }) => Ok(Arc::new(Index::default())),
                    Err(e) => Err(e),
                },
            )
        };
        match self.indexes.try_get_with_by_ref(project, load).await {
            Ok(index) => index.map_err(Error::Cattle),
            Err(_) => Err(Error::Busy {
                message: "too many key URL look-ups at once; retry later".into(),
                retry_after: self.loads.retry_after(),
            }),
        }
    }

    /// Drops a project's index (after a delete through this replica): the next key URL
    /// reloads it.
    pub async fn forget(&self, project: &str) {
        self.indexes.invalidate(project).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn go(v: serde_json::Value) -> GenericObject {
        serde_json::from_value(v).expect("generic object")
    }

    #[test]
    fn only_rancher_records_are_indexed() {
        let rancher_key = "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
        let cfg = json!({"driver": "scaleService", "url": "u", "config": {"serviceId": "1s1"}});
        let records = [
            go(json!({"id": "1go1", "kind": KIND, "key": rancher_key, "resourceData": cfg})),
            // hookgate's own record: its key is a receiver id, never a capability.
            go(
                json!({"id": "1go2", "kind": KIND, "key": "00017f80abcdefff090a0b0c0d0e0f10", "resourceData": cfg}),
            ),
            // Another kind with a receiver's data in it.
            go(
                json!({"id": "1go3", "kind": "somethingElse", "key": "R8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a", "resourceData": cfg}),
            ),
            // Removed, or being removed.
            go(
                json!({"id": "1go4", "kind": KIND, "key": "S8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a", "resourceData": cfg, "removed": "2026-01-01T00:00:00Z"}),
            ),
            go(
                json!({"id": "1go5", "kind": KIND, "key": "T8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a", "resourceData": cfg, "state": "removing"}),
            ),
            // A Rancher record without a config is indexed as unusable.
            go(
                json!({"id": "1go6", "kind": KIND, "key": "U8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a", "resourceData": {"driver": "scaleService"}}),
            ),
        ];
        let index = Index::build("1a5", &records, |d, _| Err(format!("parsed {d}")));
        assert_eq!(index.len(), 2);
        assert!(index.get(rancher_key).is_some());
        assert_eq!(
            index
                .get("U8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a")
                .map(|e| e.config.clone().err()),
            Some(Some("Driver config not found".into()))
        );
    }

    #[test]
    fn key_shapes() {
        assert!(rancher_key_shape(
            "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a"
        ));
        for bad in [
            "",
            "00017f80abcdefff090a0b0c0d0e0f10",
            "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a-",
            "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz012345678-a",
        ] {
            assert!(!rancher_key_shape(bad), "{bad}");
        }
        assert_ne!(receiver_id("1a5", "k"), receiver_id("1a7", "k"));
    }

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let b = Bucket::new(10.0, 2.0);
        let t0 = Instant::now();
        assert!(b.take_at(t0) && b.take_at(t0));
        assert!(!b.take_at(t0), "burst spent");
        assert!(!b.take_at(t0 + Duration::from_millis(50)));
        assert!(b.take_at(t0 + Duration::from_millis(160)));
        assert_eq!(b.retry_after(), 1);
    }
}
