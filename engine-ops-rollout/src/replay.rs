//! Replaying what a real Deployment controller did, to check the planner
//! against a cluster.
//!
//! # The input
//!
//! What `kubectl` prints while it watches a Deployment and its ReplicaSets
//! with watch events, one watch per resource type (kubectl watches a single
//! type per command), both written to the same text:
//!
//! ```text
//! kubectl get deploy web -w -o json --output-watch-events >  web.json &
//! kubectl get rs -l app=web -w -o json --output-watch-events >> web.json &
//! ```
//!
//! Each event is a JSON object `{"type": "ADDED" | "MODIFIED" | "DELETED",
//! "object": {...}}`, pretty-printed or one per line, in any interleaving:
//! events are put in `metadata.resourceVersion` order (etcd's revision, the
//! order in which the API server stored them). Start both watches before the
//! change to replay: the `ADDED` events that come before any other event are
//! the state before it (a `{"meta": {"since_resource_version": N}}` line says
//! so explicitly: events up to resourceVersion N). An event may carry `"received_at"` (milliseconds since
//! the Unix epoch, as `tools/k8s-testenv/record` adds it); without it time
//! advances one second per event. Objects without an `object` (such as a
//! `{"meta": ...}` header line) are skipped, as are objects of other kinds and
//! ReplicaSets the Deployment does not own.
//!
//! # What comes out
//!
//! A [`Recording`]: the Deployment's ReplicaSets as tracks (ids in creation
//! order, templates identified by their content), and one [`ReplayStep`] per
//! event: what changed ([`Change`]: an operator's edit of the Deployment, the
//! Deployment controller's write to a ReplicaSet, a status report), the
//! Deployment's spec as a [`RolloutSpec`], and the [`Observation`] of every
//! ReplicaSet the planner would receive at that point.
//!
//! # Checking the planner against it
//!
//! For a controller write at step `k`, plan from step `k - 1`'s view
//! ([`RolloutState::adopt`](crate::state::RolloutState::adopt) with
//! [`ReplayStep::tracks`], [`ReplayStep::spec`], [`ReplayStep::observation`],
//! plus a `Pause` command when [`ReplayStep::paused`]) and compare the
//! decision's actions with [`Write`]. To replay as a tool runs, keep one
//! [`RolloutState`](crate::state::RolloutState) through every step instead (turning
//! a change of `paused` into `Pause` / `Resume`). The controller reads an
//! informer cache, so a write can follow from a view a few events older than
//! the one just before it; `tests/k8s_fixture.rs` shows both comparisons.
//!
//! # Examples
//!
//! ```
//! use engine_ops_rollout::replay::{Change, Recording};
//!
//! // A Deployment of 2 replicas and its ReplicaSet; an operator sets image
//! // v2; the controller creates a ReplicaSet for it (trimmed to the fields
//! // that matter here).
//! let text = r#"
//! {"type":"ADDED","object":{"kind":"Deployment","metadata":{"name":"web","generation":1,"resourceVersion":"9"},
//!   "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"app","image":"web:v1"}]}}}}}
//! {"type":"ADDED","object":{"kind":"ReplicaSet","metadata":{"name":"web-1","resourceVersion":"8","generation":1,
//!   "creationTimestamp":"2026-01-01T00:00:00Z","annotations":{"deployment.kubernetes.io/revision":"1"},
//!   "ownerReferences":[{"kind":"Deployment","name":"web"}]},
//!   "spec":{"replicas":2,"template":{"metadata":{"labels":{"pod-template-hash":"1"}},
//!   "spec":{"containers":[{"name":"app","image":"web:v1"}]}}},
//!   "status":{"replicas":2,"readyReplicas":2,"availableReplicas":2,"observedGeneration":1}}}
//! {"type":"MODIFIED","object":{"kind":"Deployment","metadata":{"name":"web","generation":2,"resourceVersion":"10"},
//!   "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"app","image":"web:v2"}]}}}}}
//! {"type":"ADDED","object":{"kind":"ReplicaSet","metadata":{"name":"web-2","resourceVersion":"11","generation":1,
//!   "creationTimestamp":"2026-01-01T00:01:00Z","annotations":{"deployment.kubernetes.io/revision":"2",
//!   "deployment.kubernetes.io/desired-replicas":"2","deployment.kubernetes.io/max-replicas":"3"},
//!   "ownerReferences":[{"kind":"Deployment","name":"web"}]},
//!   "spec":{"replicas":1,"template":{"metadata":{"labels":{"pod-template-hash":"2"}},
//!   "spec":{"containers":[{"name":"app","image":"web:v2"}]}}}}}
//! "#;
//! let recording = Recording::parse(text)?;
//! assert_eq!(recording.deployment(), "web");
//! assert_eq!(recording.replica_sets().len(), 2);
//! let steps = recording.steps();
//! assert_eq!((&steps[0].change, &steps[1].change), (&Change::Initial, &Change::DeploymentSpec));
//! match &steps[2].change {
//!     Change::Write(w) => assert_eq!((w.created, w.replicas, w.revision), (true, Some(1), Some(2))),
//!     other => panic!("{other:?}"),
//! }
//! // The new ReplicaSet holds the Deployment's template.
//! assert_eq!(steps[2].spec.template(), recording.replica_sets()[1].template);
//! assert_eq!(steps[2].observation.tracks.len(), 2);
//! # Ok::<(), engine_ops_rollout::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::observation::{Observation, TrackId, TrackObs};
use crate::spec::{IntOrPercent, RollingStrategy, RolloutSpec, Strategy};
use crate::state::AdoptedTrack;
use crate::time::Timestamp;

/// `progressDeadlineSeconds` and `revisionHistoryLimit` that mean "none".
const MAX_INT32: u64 = 2_147_483_647;

/// One ReplicaSet of the recorded Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedReplicaSet {
    /// Its track: ReplicaSets are numbered in creation order
    /// (`creationTimestamp`, then name, as the controller orders them).
    pub track: TrackId,
    /// Its name.
    pub name: String,
    /// Its pod template's identity: the container images and a digest of the
    /// template without the `pod-template-hash` label (equal to the
    /// Deployment's template identity when the templates are equal).
    pub template: String,
}

/// A write of the Deployment controller to one ReplicaSet. Each field is set
/// when the write set or changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Write {
    /// The ReplicaSet.
    pub track: TrackId,
    /// It was created (all its fields are set).
    pub created: bool,
    /// It was deleted.
    pub deleted: bool,
    /// Its new `spec.replicas`.
    pub replicas: Option<u32>,
    /// Its new `deployment.kubernetes.io/revision`.
    pub revision: Option<u64>,
    /// Its new `deployment.kubernetes.io/desired-replicas`.
    pub desired_replicas: Option<u32>,
    /// Its new `deployment.kubernetes.io/max-replicas`.
    pub max_replicas: Option<u32>,
    /// Its new `spec.minReadySeconds`.
    pub min_ready: Option<Duration>,
}

/// What one event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The state before the first recorded change.
    Initial,
    /// The Deployment's spec changed (an operator's or a tool's edit).
    DeploymentSpec,
    /// Only the Deployment's status or metadata changed (the controller's report).
    DeploymentStatus,
    /// The Deployment controller wrote a ReplicaSet.
    Write(Write),
    /// Only a ReplicaSet's status changed (the ReplicaSet controller's report).
    ReplicaSetStatus {
        /// The ReplicaSet.
        track: TrackId,
    },
}

/// The recording after one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStep {
    /// The event's `metadata.resourceVersion`.
    pub resource_version: u64,
    /// When it was received (`received_at`), or its index in seconds.
    pub at: Timestamp,
    /// What it changed.
    pub change: Change,
    /// The Deployment's spec at this point.
    pub spec: RolloutSpec,
    /// The Deployment's `spec.paused`.
    pub paused: bool,
    /// Every ReplicaSet of the Deployment as the planner observes it (no commands).
    pub observation: Observation,
    /// The same ReplicaSets with their revisions and templates, for
    /// [`RolloutState::adopt`](crate::state::RolloutState::adopt).
    pub tracks: Vec<AdoptedTrack>,
    /// The reason of the Deployment's `Progressing` condition, if any.
    pub progressing: Option<String>,
    /// The status of its `Available` condition, if any.
    pub available: Option<bool>,
}

/// A parsed recording of one Deployment; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    deployment: String,
    replica_sets: Vec<RecordedReplicaSet>,
    steps: Vec<ReplayStep>,
}

/// One watch event.
struct Event {
    kind: Kind,
    deleted: bool,
    added: bool,
    rv: u64,
    name: String,
    received_at: Option<u64>,
    object: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
    ReplicaSet,
}

impl Recording {
    /// Parses the output of the two watches (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRecording`] when the text is not a sequence of JSON
    /// objects, an event lacks its type, kind, name or resourceVersion, the
    /// recording holds no Deployment or several, or the Deployment's spec is
    /// one the planner refuses.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (events, since) = read_events(text)?;
        let names: Vec<&str> = {
            let mut v: Vec<&str> = events
                .iter()
                .filter(|e| e.kind == Kind::Deployment)
                .map(|e| e.name.as_str())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let deployment = match names[..] {
            [one] => one.to_owned(),
            [] => {
                return Err(invalid(
                    0,
                    "it holds no Deployment; watch the Deployment too",
                ));
            }
            _ => {
                return Err(invalid(
                    0,
                    format!(
                        "it holds several Deployments ({}); record one at a time",
                        names.join(", ")
                    ),
                ));
            }
        };
        let events: Vec<Event> = events
            .into_iter()
            .filter(|e| match e.kind {
                Kind::Deployment => e.name == deployment,
                Kind::ReplicaSet => owned_by(&e.object, &deployment),
            })
            .collect();
        let replica_sets = number_replica_sets(&events);
        let id_of: BTreeMap<&str, TrackId> = replica_sets
            .iter()
            .map(|r| (r.name.as_str(), r.track))
            .collect();

        // The state before any change: the events up to the header's
        // `since_resource_version`, or else the leading ADDED events.
        let initial = events
            .iter()
            .position(|e| since.map_or(!e.added, |s| e.rv > s))
            .unwrap_or(events.len());
        let mut deploy: Option<Value> = None;
        let mut live: BTreeMap<TrackId, Value> = BTreeMap::new();
        for e in &events[..initial] {
            match e.kind {
                Kind::Deployment => deploy = Some(e.object.clone()),
                Kind::ReplicaSet if e.deleted => {
                    live.remove(&id_of[e.name.as_str()]);
                }
                Kind::ReplicaSet => {
                    live.insert(id_of[e.name.as_str()], e.object.clone());
                }
            }
        }
        let mut steps = Vec::with_capacity(events.len() - initial + 1);
        let first = events.first().map_or(0, |e| e.rv);
        let base_rv = events[..initial]
            .iter()
            .map(|e| e.rv)
            .max()
            .unwrap_or(first);
        let base_at = events
            .get(..initial)
            .and_then(|es| es.iter().filter_map(|e| e.received_at).max())
            .map_or(Timestamp::ZERO, Timestamp::from_millis);
        let Some(d) = &deploy else {
            return Err(invalid(
                0,
                "the Deployment is not among the first events; start its watch before the change",
            ));
        };
        steps.push(view(0, base_rv, base_at, Change::Initial, d, &live)?);
        for (i, e) in events[initial..].iter().enumerate() {
            let index = initial + i;
            let at = e.received_at.map_or_else(
                || Timestamp::from_secs(index as u64),
                Timestamp::from_millis,
            );
            let change = match e.kind {
                Kind::Deployment => {
                    let before = deploy.replace(e.object.clone());
                    let spec_changed = before.is_none_or(|b| b.get("spec") != e.object.get("spec"));
                    if spec_changed {
                        Change::DeploymentSpec
                    } else {
                        Change::DeploymentStatus
                    }
                }
                Kind::ReplicaSet => {
                    let track = id_of[e.name.as_str()];
                    let before = if e.deleted {
                        live.remove(&track)
                    } else {
                        live.insert(track, e.object.clone())
                    };
                    replica_set_change(track, before.as_ref(), &e.object, e.deleted)
                }
            };
            let Some(d) = &deploy else {
                return Err(invalid(index, "the Deployment was never seen"));
            };
            steps.push(view(index, e.rv, at, change, d, &live)?);
        }
        Ok(Self {
            deployment,
            replica_sets,
            steps,
        })
    }

    /// The recorded Deployment's name.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// Its ReplicaSets, in creation order (the index is the track id).
    #[must_use]
    pub fn replica_sets(&self) -> &[RecordedReplicaSet] {
        &self.replica_sets
    }

    /// The state before the first change, then one step per event.
    #[must_use]
    pub fn steps(&self) -> &[ReplayStep] {
        &self.steps
    }
}

fn invalid(event: usize, reason: impl Into<String>) -> Error {
    Error::InvalidRecording {
        event,
        reason: reason.into(),
    }
}

/// The events of the text, in resourceVersion order, without repeats, and
/// the `meta.since_resource_version` of a header line, if any.
fn read_events(text: &str) -> Result<(Vec<Event>, Option<u64>), Error> {
    let mut events = Vec::new();
    let mut since = None;
    for (i, value) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let value = value.map_err(|e| invalid(i, format!("not JSON ({e})")))?;
        let Some(object) = value.get("object") else {
            if let Some(rv) = value
                .pointer("/meta/since_resource_version")
                .and_then(Value::as_u64)
            {
                since = Some(rv);
            }
            continue;
        };
        let kind = match object.get("kind").and_then(Value::as_str) {
            Some("Deployment") => Kind::Deployment,
            Some("ReplicaSet") => Kind::ReplicaSet,
            _ => continue,
        };
        let ty = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(i, "an event without a `type`; use --output-watch-events"))?;
        let (added, deleted) = match ty {
            "ADDED" => (true, false),
            "MODIFIED" => (false, false),
            "DELETED" => (false, true),
            other => return Err(invalid(i, format!("an event of type `{other}`"))),
        };
        let meta = object.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(i, "an object without `metadata.name`"))?
            .to_owned();
        let rv = meta
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                invalid(
                    i,
                    format!("`{name}` has no numeric `metadata.resourceVersion`"),
                )
            })?;
        events.push(Event {
            kind,
            deleted,
            added,
            rv,
            name,
            received_at: value.get("received_at").and_then(Value::as_u64),
            object: object.clone(),
        });
    }
    // Stable: two events of one resourceVersion keep their order.
    events.sort_by_key(|e| e.rv);
    events.dedup_by(|b, a| {
        a.rv == b.rv && a.kind == b.kind && a.name == b.name && a.deleted == b.deleted
    });
    Ok((events, since))
}

/// Whether the ReplicaSet's controller is the named Deployment.
fn owned_by(rs: &Value, deployment: &str) -> bool {
    rs.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|o| {
                o.get("kind").and_then(Value::as_str) == Some("Deployment")
                    && o.get("name").and_then(Value::as_str) == Some(deployment)
            })
        })
}

/// Tracks for every ReplicaSet of the recording, in creation order.
fn number_replica_sets(events: &[Event]) -> Vec<RecordedReplicaSet> {
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == Kind::ReplicaSet) {
        let created = e
            .object
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        seen.entry((created, e.name.clone()))
            .or_insert_with(|| template_identity(e.object.pointer("/spec/template")));
    }
    seen.into_iter()
        .enumerate()
        .map(|(i, ((_, name), template))| RecordedReplicaSet {
            track: TrackId(i as u64),
            name,
            template,
        })
        .collect()
}

/// A pod template's identity: its container images and a digest of its
/// canonical JSON (keys sorted), without the `pod-template-hash` label.
fn template_identity(template: Option<&Value>) -> String {
    let mut t = template.cloned().unwrap_or(Value::Null);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    // An emptied label map (or metadata) is no label map at all.
    if let Some(template) = t.as_object_mut()
        && let Some(meta) = template.get_mut("metadata").and_then(Value::as_object_mut)
    {
        if meta
            .get("labels")
            .and_then(Value::as_object)
            .is_some_and(|l| l.is_empty())
        {
            meta.remove("labels");
        }
        if meta.is_empty() {
            template.remove("metadata");
        }
    }
    let mut canonical = String::new();
    write_canonical(&t, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let images: Vec<&str> = t
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("image").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    format!("{}#{}", images.join(","), &hex::encode(digest)[..16])
}

/// JSON with object keys in sorted order, whatever map type serde_json uses.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn u32_at(v: &Value, pointer: &str) -> Option<u32> {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn annotation(v: &Value, key: &str) -> Option<u64> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// What an event did to a ReplicaSet: the Deployment controller writes its
/// spec and annotations, the ReplicaSet controller only its status.
fn replica_set_change(
    track: TrackId,
    before: Option<&Value>,
    now: &Value,
    deleted: bool,
) -> Change {
    let fields = |v: &Value| {
        (
            u32_at(v, "/spec/replicas"),
            annotation(v, "deployment.kubernetes.io/revision"),
            annotation(v, "deployment.kubernetes.io/desired-replicas")
                .and_then(|n| u32::try_from(n).ok()),
            annotation(v, "deployment.kubernetes.io/max-replicas")
                .and_then(|n| u32::try_from(n).ok()),
            u32_at(v, "/spec/minReadySeconds").unwrap_or(0),
        )
    };
    let (replicas, revision, desired, max, min_ready) = fields(now);
    if deleted {
        return Change::Write(Write {
            track,
            created: false,
            deleted: true,
            replicas: None,
            revision: None,
            desired_replicas: None,
            max_replicas: None,
            min_ready: None,
        });
    }
    let Some(before) = before else {
        return Change::Write(Write {
            track,
            created: true,
            deleted: false,
            replicas: Some(replicas.unwrap_or(1)),
            revision,
            desired_replicas: desired,
            max_replicas: max,
            min_ready: Some(Duration::from_secs(u64::from(min_ready))),
        });
    };
    let (b_replicas, b_revision, b_desired, b_max, b_min_ready) = fields(before);
    fn changed<T: PartialEq>(now: Option<T>, before: Option<T>) -> Option<T> {
        if now == before { None } else { now }
    }
    let write = Write {
        track,
        created: false,
        deleted: false,
        replicas: changed(replicas, b_replicas),
        revision: changed(revision, b_revision),
        desired_replicas: changed(desired, b_desired),
        max_replicas: changed(max, b_max),
        min_ready: (min_ready != b_min_ready).then(|| Duration::from_secs(u64::from(min_ready))),
    };
    let any = write.replicas.is_some()
        || write.revision.is_some()
        || write.desired_replicas.is_some()
        || write.max_replicas.is_some()
        || write.min_ready.is_some();
    if any {
        Change::Write(write)
    } else {
        Change::ReplicaSetStatus { track }
    }
}

/// A maxSurge / maxUnavailable value: a count, or a string `"25%"` or `"3"`.
fn int_or_percent(v: Option<&Value>, default: IntOrPercent) -> Result<IntOrPercent, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(IntOrPercent::Count)
            .ok_or_else(|| format!("`{n}` is not a count")),
        Some(Value::String(s)) => s.parse().map_err(|e: Error| e.to_string()),
        Some(other) => Err(format!("`{other}` is neither a count nor a percentage")),
    }
}

/// The Deployment's spec as the planner's.
fn spec_of(index: usize, d: &Value) -> Result<(RolloutSpec, bool), Error> {
    let spec = d.get("spec").unwrap_or(&Value::Null);
    let replicas = u32_at(spec, "/replicas").unwrap_or(1);
    let template = template_identity(spec.get("template"));
    let strategy = match spec.pointer("/strategy/type").and_then(Value::as_str) {
        Some("Recreate") => Strategy::Recreate,
        _ => {
            let quarter = IntOrPercent::Percent(25);
            let surge = int_or_percent(spec.pointer("/strategy/rollingUpdate/maxSurge"), quarter)
                .map_err(|e| invalid(index, format!("maxSurge: {e}")))?;
            let unavailable = int_or_percent(
                spec.pointer("/strategy/rollingUpdate/maxUnavailable"),
                quarter,
            )
            .map_err(|e| invalid(index, format!("maxUnavailable: {e}")))?;
            Strategy::Rolling(RollingStrategy::new(surge, unavailable))
        }
    };
    let seconds =
        |key: &str, default: u64| spec.get(key).and_then(Value::as_u64).unwrap_or(default);
    let deadline = match seconds("progressDeadlineSeconds", 600) {
        MAX_INT32 => None,
        s => Some(Duration::from_secs(s)),
    };
    let history = match seconds("revisionHistoryLimit", 10) {
        MAX_INT32 => None,
        n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
    };
    let spec_out = RolloutSpec::builder(template, replicas)
        .strategy(strategy)
        .min_ready(Duration::from_secs(seconds("minReadySeconds", 0)))
        .progress_deadline(deadline)
        .revision_history_limit(history)
        .build()
        .map_err(|e| invalid(index, format!("the Deployment's spec: {e}")))?;
    let paused = spec.get("paused").and_then(Value::as_bool).unwrap_or(false);
    Ok((spec_out, paused))
}

fn condition(d: &Value, ty: &str) -> Option<(String, String)> {
    d.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        .map(|c| {
            let field = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (field("status"), field("reason"))
        })
}

/// The view after an event.
fn view(
    index: usize,
    rv: u64,
    at: Timestamp,
    change: Change,
    deployment: &Value,
    live: &BTreeMap<TrackId, Value>,
) -> Result<ReplayStep, Error> {
    let (spec, paused) = spec_of(index, deployment)?;
    let mut observation = Observation::new(at);
    let mut tracks = Vec::with_capacity(live.len());
    for (&id, rs) in live {
        let status = |field: &str| u32_at(rs, &format!("/status/{field}")).unwrap_or(0);
        let mut t = TrackObs::new(
            id,
            u32_at(rs, "/spec/replicas").unwrap_or(1),
            status("readyReplicas"),
            status("availableReplicas"),
        )
        .with_replicas(status("replicas"))
        .with_terminating(status("terminatingReplicas"))
        .with_min_ready(Duration::from_secs(u64::from(
            u32_at(rs, "/spec/minReadySeconds").unwrap_or(0),
        )));
        let generation = rs.pointer("/metadata/generation").and_then(Value::as_u64);
        let observed = rs
            .pointer("/status/observedGeneration")
            .and_then(Value::as_u64);
        t = t.with_status_stale(observed.unwrap_or(0) < generation.unwrap_or(0));
        t.desired_replicas = annotation(rs, "deployment.kubernetes.io/desired-replicas")
            .and_then(|n| u32::try_from(n).ok());
        t.max_replicas = annotation(rs, "deployment.kubernetes.io/max-replicas")
            .and_then(|n| u32::try_from(n).ok());
        observation = observation.with_track(t);
        tracks.push(AdoptedTrack::new(
            id,
            annotation(rs, "deployment.kubernetes.io/revision").unwrap_or(0),
            template_identity(rs.pointer("/spec/template")),
        ));
    }
    let progressing = condition(deployment, "Progressing").map(|(_, reason)| reason);
    let available = condition(deployment, "Available").map(|(status, _)| status == "True");
    Ok(ReplayStep {
        resource_version: rv,
        at,
        change,
        spec,
        paused,
        observation,
        tracks,
        progressing,
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_the_same_with_or_without_the_hash_label() {
        let deploy: Value = serde_json::from_str(
            r#"{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"a:1","name":"c"}]}}"#,
        )
        .expect("json");
        let rs: Value = serde_json::from_str(
            r#"{"spec":{"containers":[{"name":"c","image":"a:1"}]},"metadata":{"labels":{"pod-template-hash":"x","app":"web"}}}"#,
        )
        .expect("json");
        assert_eq!(
            template_identity(Some(&deploy)),
            template_identity(Some(&rs))
        );
        assert!(template_identity(Some(&rs)).starts_with("a:1#"));
        let other: Value = serde_json::from_str(
            r#"{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"a:2","name":"c"}]}}"#,
        )
        .expect("json");
        assert_ne!(
            template_identity(Some(&deploy)),
            template_identity(Some(&other))
        );
    }
}
