//! A witness independent of the driver: watches of the app's Services and
//! ReplicaSets, recorded as they arrive and replayed in `resourceVersion`
//! order (etcd's order of writes), with the traffic rule checked at every
//! moment: the active Service selects pods, and enough of them are
//! available.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use tokio::task::JoinHandle;

use crate::support::Ns;

/// One recorded change.
#[derive(Debug, Clone)]
enum Rec {
    Service {
        name: String,
        /// The selector's track; `None` for a selector of every track.
        track: Option<String>,
        has_selector: bool,
    },
    ReplicaSet {
        name: String,
        track: Option<String>,
        available: u32,
        deleted: bool,
    },
}

/// What the active Service must always satisfy.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// It selects one track, whose ReplicaSet has at least `n` available
    /// pods (blue-green).
    OneTrack { n: u32 },
    /// It selects every track of the app; together they have at least `n`
    /// available pods (a canary without a router).
    AllTracks { n: u32 },
    /// It selects the `rolling` track; the Deployment's ReplicaSets have
    /// at least `n` available pods together.
    Rolling { n: u32 },
}

/// The watches, recording until [`Recorder::check`].
pub struct Recorder {
    app: String,
    tasks: Vec<JoinHandle<()>>,
    events: Arc<Mutex<Vec<(u64, Rec)>>>,
    floor: u64,
}

fn rv(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    m.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Recorder {
    /// Starts watching the app; returns once both watches listed.
    pub async fn start(ns: &Ns, app: &str) -> Self {
        let events: Arc<Mutex<Vec<(u64, Rec)>>> = Arc::default();
        let labels = format!("app.kubernetes.io/instance={app}");
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(2);
        let mut tasks = Vec::new();
        {
            let events = events.clone();
            let tx = tx.clone();
            let api: Api<Service> = ns.api();
            let cfg = watcher::Config::default().labels(&labels);
            tasks.push(tokio::spawn(async move {
                let mut s = std::pin::pin!(watcher::watcher(api, cfg));
                let mut listed = 0;
                while let Some(e) = s.next().await {
                    let (svc, deleted) = match e {
                        Ok(Event::InitApply(s) | Event::Apply(s)) => (s, false),
                        Ok(Event::Delete(s)) => (s, true),
                        Ok(Event::InitDone) => {
                            let _ = tx.send(listed).await;
                            continue;
                        }
                        _ => continue,
                    };
                    let r = rv(&svc.metadata);
                    listed = listed.max(r);
                    let selector = svc.spec.and_then(|s| s.selector).filter(|_| !deleted);
                    let rec = Rec::Service {
                        name: svc.metadata.name.unwrap_or_default(),
                        track: selector
                            .as_ref()
                            .and_then(|s| s.get("engine-ops.io/track").cloned()),
                        has_selector: selector.is_some_and(|s| !s.is_empty()),
                    };
                    events.lock().expect("lock").push((r, rec));
                }
            }));
        }
        {
            let events = events.clone();
            let api: Api<ReplicaSet> = ns.api();
            let cfg = watcher::Config::default().labels(&labels);
            tasks.push(tokio::spawn(async move {
                let mut s = std::pin::pin!(watcher::watcher(api, cfg));
                let mut listed = 0;
                while let Some(e) = s.next().await {
                    let (rs, deleted) = match e {
                        Ok(Event::InitApply(s) | Event::Apply(s)) => (s, false),
                        Ok(Event::Delete(s)) => (s, true),
                        Ok(Event::InitDone) => {
                            let _ = tx.send(listed).await;
                            continue;
                        }
                        _ => continue,
                    };
                    let r = rv(&rs.metadata);
                    listed = listed.max(r);
                    let rec = Rec::ReplicaSet {
                        name: rs.metadata.name.clone().unwrap_or_default(),
                        track: rs
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("engine-ops.io/track").cloned()),
                        available: rs
                            .status
                            .as_ref()
                            .and_then(|s| s.available_replicas)
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0),
                        deleted,
                    };
                    events.lock().expect("lock").push((r, rec));
                }
            }));
        }
        let mut floor = 0;
        for _ in 0..2 {
            floor = floor.max(
                tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
                    .await
                    .expect("the watches list in time")
                    .expect("a watch listed"),
            );
        }
        Self {
            app: app.to_owned(),
            tasks,
            events,
            floor,
        }
    }

    /// Stops the watches and checks `rule` at every moment after they
    /// listed; returns the number of moments checked, or the violations.
    pub fn check(self, service: &str, rule: Rule) -> Result<usize, Vec<String>> {
        for t in &self.tasks {
            t.abort();
        }
        let mut events = self.events.lock().expect("lock").clone();
        events.sort_by_key(|(rv, _)| *rv);
        let mut services: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
        let mut sets: BTreeMap<String, (Option<String>, u32)> = BTreeMap::new();
        let mut moments = 0;
        let mut violations = Vec::new();
        for (rv, rec) in events {
            match rec {
                Rec::Service {
                    name,
                    track,
                    has_selector,
                } => {
                    services.insert(name, (track, has_selector));
                }
                Rec::ReplicaSet {
                    name,
                    track,
                    available,
                    deleted,
                } => {
                    if deleted {
                        sets.remove(&name);
                    } else {
                        sets.insert(name, (track, available));
                    }
                }
            }
            if rv < self.floor {
                continue;
            }
            moments += 1;
            let Some((track, has_selector)) = services.get(service) else {
                violations.push(format!("rv {rv}: Service {service} is gone"));
                continue;
            };
            if !has_selector {
                violations.push(format!("rv {rv}: Service {service} selects nothing"));
                continue;
            }
            let problem = match (rule, track) {
                (Rule::OneTrack { n }, Some(t)) => {
                    let rs = format!("{}-{t}", self.app);
                    match sets.get(&rs) {
                        Some((_, a)) if *a >= n => None,
                        Some((_, a)) => {
                            Some(format!("selects {t} with {a} available pods (< {n})"))
                        }
                        None => Some(format!("selects {t}, which has no ReplicaSet")),
                    }
                }
                (Rule::AllTracks { n }, None) => {
                    let a: u32 = sets.values().map(|(_, a)| a).sum();
                    (a < n).then(|| format!("selects every track, with {a} available pods (< {n})"))
                }
                (Rule::Rolling { n }, Some(t)) if t == "rolling" => {
                    let a: u32 = sets
                        .values()
                        .filter(|(tr, _)| tr.as_deref() == Some("rolling"))
                        .map(|(_, a)| a)
                        .sum();
                    (a < n).then(|| format!("selects the rolling pods, {a} available (< {n})"))
                }
                (rule, t) => Some(format!("selects {t:?}, which {rule:?} does not allow")),
            };
            if let Some(p) = problem {
                violations.push(format!(
                    "rv {rv}: Service {service} {p}; ReplicaSets {sets:?}"
                ));
            }
        }
        if violations.is_empty() {
            Ok(moments)
        } else {
            Err(violations)
        }
    }
}
