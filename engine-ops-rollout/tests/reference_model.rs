//! A direct port of the Kubernetes Deployment controller's rolling update and
//! Recreate (`pkg/controller/deployment/{sync,rolling,recreate}.go`,
//! `util/deployment_util.go`),
//! kept deliberately close to the Go code, and a differential proptest showing
//! the planner sizes tracks exactly as it does.
//!
//! Both sides act on the same simulated world. Pods exist right after a sync
//! (`status.replicas` = spec, removed pods no longer count as available),
//! except after [`Event::SyncStatusLags`]: then every ReplicaSet's status keeps
//! what it reported before that sync until the next sync or a status event of
//! its own, so an old ReplicaSet can report more available pods than its spec
//! asks for, as `tests/k8s_fixture.rs` recorded from a real controller, and a
//! `status.observedGeneration` below `metadata.generation` keeps an empty
//! ReplicaSet from `cleanupDeployment` (the planner sees
//! `TrackObs::status_stale`).

use engine_ops_rollout::{
    Action, Command, Observation, Phase, RolloutSpec, RolloutState, Strategy, Timestamp, TrackId,
    observation::TrackObs,
    plan,
    spec::{IntOrPercent, RollingStrategy},
};
use proptest::prelude::*;
use proptest::strategy::Strategy as PropStrategy;

// ---------------------------------------------------------------- the port

#[derive(Debug, Clone)]
struct ReplicaSet {
    name: u64, // creation order stands for creationTimestamp
    template: String,
    revision: u64,
    spec: i32,
    status_replicas: i32,
    available: i32,
    desired_annotation: Option<i32>,
    max_annotation: Option<i32>,
    /// `metadata.generation`: bumped by every spec change.
    generation: i64,
    /// `status.observedGeneration`: the generation the status reflects.
    observed_generation: i64,
}

#[derive(Debug, Clone)]
struct Deployment {
    replicas: i32,
    template: String,
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    paused: bool,
    revision_history_limit: Option<i32>,
    status_replicas: i32,
    /// `strategy.type: Recreate` (otherwise RollingUpdate).
    recreate: bool,
}

#[derive(Debug, Clone, Default)]
struct Controller {
    rss: Vec<ReplicaSet>,
    next_name: u64,
    /// Syncs whose scale-down `cleanupUnhealthyReplicas` refused (a status
    /// reporting more available pods than the spec asks for).
    invalid_scale_downs: usize,
}

fn get_scaled_value(v: IntOrPercent, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrPercent::Count(c) => c as i32,
        IntOrPercent::Percent(p) => {
            let x = f64::from(p) * f64::from(total) / 100.0;
            if round_up {
                x.ceil() as i32
            } else {
                x.floor() as i32
            }
        }
        _ => unreachable!(),
    }
}

fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let surge = get_scaled_value(d.max_surge, d.replicas, true);
    let mut unavailable = get_scaled_value(d.max_unavailable, d.replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn max_surge(d: &Deployment) -> i32 {
    if d.recreate {
        return 0;
    }
    resolve_fenceposts(d).0
}

fn max_unavailable(d: &Deployment) -> i32 {
    if d.recreate || d.replicas == 0 {
        return 0;
    }
    let (_, u) = resolve_fenceposts(d);
    u.min(d.replicas)
}

impl Controller {
    fn by_name(&self, name: u64) -> usize {
        self.rss
            .iter()
            .position(|r| r.name == name)
            .expect("present")
    }

    fn spec_sum(&self, names: &[u64]) -> i32 {
        names.iter().map(|&n| self.rss[self.by_name(n)].spec).sum()
    }

    /// `getAllReplicaSetsAndSyncRevision`: (new, old) by name.
    fn get_all(&mut self, d: &Deployment, create: bool) -> (Option<u64>, Vec<u64>) {
        let mut sorted: Vec<u64> = self.rss.iter().map(|r| r.name).collect();
        sorted.sort_unstable();
        let new = sorted
            .iter()
            .copied()
            .find(|&n| self.rss[self.by_name(n)].template == d.template);
        let old: Vec<u64> = sorted.iter().copied().filter(|&n| Some(n) != new).collect();
        let max_old = old
            .iter()
            .map(|&n| self.rss[self.by_name(n)].revision)
            .max()
            .unwrap_or(0);
        match new {
            Some(n) => {
                let i = self.by_name(n);
                if self.rss[i].revision < max_old + 1 {
                    self.rss[i].revision = max_old + 1;
                }
                (Some(n), old)
            }
            None if create => {
                // NewRSNewReplicas
                let current: i32 = self.spec_sum(&old);
                let max_total = d.replicas + max_surge(d);
                let replicas = if d.recreate {
                    d.replicas
                } else if current >= max_total {
                    0
                } else {
                    (max_total - current).min(d.replicas)
                };
                let name = self.next_name;
                self.next_name += 1;
                self.rss.push(ReplicaSet {
                    name,
                    template: d.template.clone(),
                    revision: max_old + 1,
                    spec: replicas,
                    status_replicas: 0,
                    available: 0,
                    desired_annotation: Some(d.replicas),
                    max_annotation: Some(d.replicas + max_surge(d)),
                    generation: 1,
                    observed_generation: 0,
                });
                (Some(name), old)
            }
            None => (None, old),
        }
    }

    /// `scaleReplicaSet`
    fn scale_rs(&mut self, name: u64, size: i32, d: &Deployment) -> bool {
        let i = self.by_name(name);
        let size_change = self.rss[i].spec != size;
        let ann = self.rss[i].desired_annotation != Some(d.replicas)
            || self.rss[i].max_annotation != Some(d.replicas + max_surge(d));
        if size_change || ann {
            if size_change {
                self.rss[i].generation += 1;
            }
            self.rss[i].spec = size;
            self.rss[i].desired_annotation = Some(d.replicas);
            self.rss[i].max_annotation = Some(d.replicas + max_surge(d));
        }
        size_change
    }

    /// `scaleReplicaSetAndRecordEvent`
    fn scale_and_record(&mut self, name: u64, size: i32, d: &Deployment) -> bool {
        if self.rss[self.by_name(name)].spec == size {
            return false;
        }
        self.scale_rs(name, size, d)
    }

    fn sync_deployment(&mut self, d: &mut Deployment) -> bool {
        if d.paused {
            self.sync(d);
            return false;
        }
        if self.is_scaling_event(d) {
            self.sync(d);
            return false;
        }
        if d.recreate {
            return self.rollout_recreate(d);
        }
        self.rollout_rolling(d)
    }

    /// `rolloutRecreate`; returns whether the deployment is complete.
    fn rollout_recreate(&mut self, d: &mut Deployment) -> bool {
        let (mut new, mut old) = self.get_all(d, false);
        // scaleDownOldReplicaSetsForRecreate
        let mut scaled = false;
        for &o in &old {
            if self.rss[self.by_name(o)].spec > 0 && self.scale_and_record(o, 0, d) {
                scaled = true;
            }
        }
        if scaled {
            self.sync_status(d);
            return false;
        }
        // oldPodsRunning: the old ReplicaSets' pods still exist.
        let old_pods: i32 = old
            .iter()
            .map(|&o| self.rss[self.by_name(o)].status_replicas)
            .sum();
        if old_pods > 0 {
            self.sync_status(d);
            return false;
        }
        if new.is_none() {
            (new, old) = self.get_all(d, true);
        }
        let new = new.expect("created");
        // scaleUpNewReplicaSetForRecreate
        self.scale_and_record(new, d.replicas, d);
        let ni = self.by_name(new);
        let updated = self.rss[ni].status_replicas;
        let replicas: i32 = self.rss.iter().map(|r| r.status_replicas).sum();
        let available: i32 = self.rss.iter().map(|r| r.available).sum();
        let complete = updated == d.replicas && replicas == d.replicas && available == d.replicas;
        if complete {
            self.cleanup_deployment(&old, d);
        }
        self.sync_status(d);
        complete
    }

    fn is_scaling_event(&mut self, d: &Deployment) -> bool {
        let (new, old) = self.get_all(d, false);
        let all: Vec<u64> = old.into_iter().chain(new).collect();
        all.iter().any(|&n| {
            let rs = &self.rss[self.by_name(n)];
            rs.spec > 0 && rs.desired_annotation.is_some_and(|x| x != d.replicas)
        })
    }

    fn sync(&mut self, d: &mut Deployment) {
        let (new, old) = self.get_all(d, false);
        self.scale(d, new, &old);
        if d.paused {
            self.cleanup_deployment(&old, d);
        }
        self.sync_status(d);
    }

    fn scale(&mut self, d: &Deployment, new: Option<u64>, old: &[u64]) {
        // FindActiveOrLatest
        let mut old_desc = old.to_vec();
        old_desc.sort_unstable_by(|a, b| b.cmp(a));
        let all: Vec<u64> = old_desc.iter().copied().chain(new).collect();
        let active: Vec<u64> = all
            .iter()
            .copied()
            .filter(|&n| self.rss[self.by_name(n)].spec > 0)
            .collect();
        let active_or_latest = match active.len() {
            0 => new.or_else(|| old_desc.first().copied()),
            1 => Some(active[0]),
            _ => None,
        };
        if active.len() <= 1 {
            if let Some(rs) = active_or_latest {
                if self.rss[self.by_name(rs)].spec == d.replicas {
                    return;
                }
                self.scale_and_record(rs, d.replicas, d);
            }
            return;
        }
        if let Some(nw) = new {
            let rs = &self.rss[self.by_name(nw)];
            if rs.spec == d.replicas
                && rs.desired_annotation == Some(d.replicas)
                && rs.available == d.replicas
            {
                for &o in old {
                    if self.rss[self.by_name(o)].spec > 0 {
                        self.scale_and_record(o, 0, d);
                    }
                }
                return;
            }
        }
        let mut all_rss: Vec<u64> = active;
        let all_replicas: i32 = self.spec_sum(&all_rss);
        let allowed = if d.replicas > 0 {
            d.replicas + max_surge(d)
        } else {
            0
        };
        let to_add = allowed - all_replicas;
        let key = |c: &Controller, n: u64| c.rss[c.by_name(n)].spec;
        if to_add > 0 {
            all_rss.sort_by(|&a, &b| key(self, b).cmp(&key(self, a)).then(b.cmp(&a)));
        } else if to_add < 0 {
            all_rss.sort_by(|&a, &b| key(self, b).cmp(&key(self, a)).then(a.cmp(&b)));
        }
        let mut added = 0;
        let mut sizes = Vec::new();
        for &n in &all_rss {
            let rs = self.rss[self.by_name(n)].clone();
            if to_add != 0 {
                let p = self.proportion(&rs, d, to_add, added);
                sizes.push(rs.spec + p);
                added += p;
            } else {
                sizes.push(rs.spec);
            }
        }
        for (i, &n) in all_rss.iter().enumerate() {
            if i == 0 && to_add != 0 {
                let leftover = to_add - added;
                sizes[0] += leftover;
                if sizes[0] < 0 {
                    sizes[0] = 0;
                }
            }
            self.scale_rs(n, sizes[i], d);
        }
    }

    fn proportion(&self, rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
        if rs.spec == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if d.replicas == 0 {
            -rs.spec
        } else {
            let max_replicas = d.replicas + max_surge(d);
            let mut before = rs.max_annotation.unwrap_or(0);
            if before == 0 {
                before = d.status_replicas;
                if before == 0 {
                    before = rs.spec;
                }
            }
            let new_size = f64::from(rs.spec * max_replicas) / f64::from(before);
            new_size.round() as i32 - rs.spec
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Returns whether the rolling path ran to its end with a complete deployment.
    fn rollout_rolling(&mut self, d: &mut Deployment) -> bool {
        let (new, old) = self.get_all(d, true);
        let new = new.expect("present");
        if self.reconcile_new(d, new, &old) {
            self.sync_status(d);
            return false;
        }
        if self.reconcile_old(d, new, &old) {
            self.sync_status(d);
            return false;
        }
        let ni = self.by_name(new);
        let updated = self.rss[ni].status_replicas;
        let replicas: i32 = self.rss.iter().map(|r| r.status_replicas).sum();
        let available: i32 = self.rss.iter().map(|r| r.available).sum();
        let complete = updated == d.replicas && replicas == d.replicas && available == d.replicas;
        if complete {
            self.cleanup_deployment(&old, d);
        }
        self.sync_status(d);
        complete
    }

    fn reconcile_new(&mut self, d: &Deployment, new: u64, old: &[u64]) -> bool {
        let cur = self.rss[self.by_name(new)].spec;
        if cur == d.replicas {
            return false;
        }
        if cur > d.replicas {
            return self.scale_and_record(new, d.replicas, d);
        }
        let mut all = old.to_vec();
        all.push(new);
        let current = self.spec_sum(&all);
        let max_total = d.replicas + max_surge(d);
        let target = if current >= max_total {
            cur
        } else {
            cur + (max_total - current).min(d.replicas - cur)
        };
        self.scale_and_record(new, target, d)
    }

    fn reconcile_old(&mut self, d: &Deployment, new: u64, old: &[u64]) -> bool {
        let old_pods = self.spec_sum(old);
        if old_pods == 0 {
            return false;
        }
        let mut all = old.to_vec();
        all.push(new);
        let all_pods = self.spec_sum(&all);
        let min_available = d.replicas - max_unavailable(d);
        let nrs = &self.rss[self.by_name(new)];
        let new_unavailable = nrs.spec - nrs.available;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut sorted = old.to_vec();
        sorted.sort_unstable();
        let cleaned = match self.cleanup_unhealthy(&sorted, d, max_scaled_down) {
            Ok(cleaned) => cleaned,
            // reconcileOldReplicaSets: `if err != nil { return false, nil }`.
            Err(_) => {
                self.invalid_scale_downs += 1;
                return false;
            }
        };
        // scaleDownOldReplicaSetsForRollingUpdate
        let available: i32 = all
            .iter()
            .map(|&n| self.rss[self.by_name(n)].available)
            .sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for &n in &sorted {
                if scaled >= total {
                    break;
                }
                let rs = self.rss[self.by_name(n)].clone();
                if rs.spec == 0 {
                    continue;
                }
                let k = rs.spec.min(total - scaled);
                self.scale_and_record(n, rs.spec - k, d);
                scaled += k;
            }
        }
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas` (rolling.go): oldest first, removes pods
    /// that are not available, at most `max_cleanup` in all. A status that
    /// reports more available pods than the spec asks for gives a negative
    /// count: the error ends the sync's scale-down (earlier cleanups stand).
    fn cleanup_unhealthy(
        &mut self,
        old_sorted: &[u64],
        d: &Deployment,
        max_cleanup: i32,
    ) -> Result<i32, String> {
        let mut total_scaled_down = 0;
        for &n in old_sorted {
            if total_scaled_down >= max_cleanup {
                break;
            }
            let rs = self.rss[self.by_name(n)].clone();
            if rs.spec == 0 {
                continue;
            }
            if rs.spec == rs.available {
                continue;
            }
            let scaled_down_count = (max_cleanup - total_scaled_down).min(rs.spec - rs.available);
            let new_replicas_count = rs.spec - scaled_down_count;
            if new_replicas_count > rs.spec {
                return Err(format!(
                    "when cleaning up unhealthy replicas, got invalid request to scale down rs-{n} {} -> {new_replicas_count}",
                    rs.spec
                ));
            }
            self.scale_and_record(n, new_replicas_count, d);
            total_scaled_down += scaled_down_count;
        }
        Ok(total_scaled_down)
    }

    fn cleanup_deployment(&mut self, old: &[u64], d: &Deployment) {
        let Some(limit) = d.revision_history_limit else {
            return;
        };
        let mut cleanable: Vec<u64> = old.to_vec();
        let diff = cleanable.len() as i32 - limit;
        if diff <= 0 {
            return;
        }
        cleanable.sort_by_key(|&n| self.rss[self.by_name(n)].revision);
        for &n in cleanable.iter().take(diff as usize) {
            // The sizes are this sync's (Go reads the copies listed before
            // `scale`): a ReplicaSet scaled up in the same sync is kept, as the
            // planner keeps it.
            let rs = &self.rss[self.by_name(n)];
            if rs.status_replicas != 0 || rs.spec != 0 || rs.generation > rs.observed_generation {
                continue;
            }
            let i = self.by_name(n);
            self.rss.remove(i);
        }
    }

    fn sync_status(&self, d: &mut Deployment) {
        d.status_replicas = self.rss.iter().map(|r| r.status_replicas).sum();
    }

    /// Pods exist at once; availability arrives with events.
    fn settle_pods(&mut self) {
        for r in &mut self.rss {
            r.status_replicas = r.spec;
            r.available = r.available.min(r.spec);
            r.observed_generation = r.generation;
        }
    }
}

// ---------------------------------------------------------------- the planner's side

#[derive(Debug, Clone)]
struct WorldTrack {
    id: TrackId,
    spec: u32,
    /// `status.replicas`.
    replicas: u32,
    available: u32,
    /// The spec changed since the status was last written.
    status_stale: bool,
    /// The desired-replicas and max-replicas annotations last written.
    annotations: (u32, u32),
}

#[derive(Debug, Clone)]
struct PlannerSide {
    state: RolloutState,
    world: Vec<WorldTrack>,
    commands: Vec<Command>,
}

impl PlannerSide {
    fn observe(&mut self) -> Observation {
        let mut obs = Observation::new(Timestamp::ZERO);
        for t in &self.world {
            obs = obs.with_track(
                TrackObs::new(t.id, t.spec, t.available, t.available)
                    .with_replicas(t.replicas)
                    .with_status_stale(t.status_stale)
                    .with_annotations(t.annotations.0, t.annotations.1),
            );
        }
        for c in self.commands.drain(..) {
            obs = obs.with_command(c);
        }
        obs
    }

    /// One decision, after which the pods exist (as `settle_pods`).
    fn sync(&mut self, spec: &RolloutSpec) -> (Vec<Vec<(u64, u32)>>, Phase) {
        let out = self.decide(spec);
        self.settle();
        out
    }

    /// Status catches up with the spec: pods exist, removed ones are gone.
    fn settle(&mut self) {
        for t in &mut self.world {
            t.replicas = t.spec;
            t.available = t.available.min(t.spec);
            t.status_stale = false;
        }
    }

    /// One decision whose actions change only the spec (the status keeps what
    /// it reported before); returns the (old..., new) sizes after each action,
    /// and the phase.
    fn decide(&mut self, spec: &RolloutSpec) -> (Vec<Vec<(u64, u32)>>, Phase) {
        let obs = self.observe();
        let d = match plan(spec, &self.state, &obs) {
            Ok(d) => d,
            Err(e) => panic!("planner error: {e}"),
        };
        let mut trace = Vec::new();
        for a in &d.actions {
            match &a.action {
                Action::CreateTrack {
                    track,
                    replicas,
                    desired_replicas,
                    max_replicas,
                    ..
                } => {
                    if !self.world.iter().any(|t| t.id == *track) {
                        self.world.push(WorldTrack {
                            id: *track,
                            spec: *replicas,
                            replicas: 0,
                            available: 0,
                            status_stale: true,
                            annotations: (*desired_replicas, *max_replicas),
                        });
                    }
                }
                Action::ScaleTrack {
                    track,
                    replicas,
                    desired_replicas,
                    max_replicas,
                } => {
                    let t = self
                        .world
                        .iter_mut()
                        .find(|t| t.id == *track)
                        .expect("present");
                    t.status_stale |= t.spec != *replicas;
                    t.spec = *replicas;
                    t.annotations = (*desired_replicas, *max_replicas);
                }
                Action::DeleteTrack { track } => self.world.retain(|t| t.id != *track),
                Action::SetRevision { .. } => {}
                other => panic!("a rolling update emitted {other}"),
            }
            trace.push(self.world.iter().map(|t| (t.id.0, t.spec)).collect());
        }
        self.state = d.state;
        (trace, d.phase)
    }
}

fn spec_of(d: &Deployment) -> RolloutSpec {
    let strategy = if d.recreate {
        Strategy::Recreate
    } else {
        Strategy::Rolling(RollingStrategy::new(d.max_surge, d.max_unavailable))
    };
    RolloutSpec::builder(d.template.clone(), d.replicas as u32)
        .strategy(strategy)
        .revision_history_limit(d.revision_history_limit.map(|l| l as u32))
        .build()
        .expect("valid spec")
}

#[derive(Debug, Clone)]
enum Event {
    Sync,
    /// A sync whose scale-downs the ReplicaSets' status has not caught up with
    /// yet: until the next sync (or a status event) an old ReplicaSet may
    /// report more available pods than its spec asks for.
    SyncStatusLags,
    Available {
        pick: usize,
        count: u32,
    },
    AllAvailable,
    Replicas(u32),
    NewTemplate,
    Pause,
    Resume,
    UndoPrevious,
}

fn event() -> impl PropStrategy<Value = Event> {
    prop_oneof![
        8 => Just(Event::Sync),
        3 => Just(Event::SyncStatusLags),
        4 => (0usize..8, 1u32..6).prop_map(|(pick, count)| Event::Available { pick, count }),
        2 => Just(Event::AllAvailable),
        1 => (0u32..25).prop_map(Event::Replicas),
        1 => Just(Event::NewTemplate),
        1 => Just(Event::Pause),
        1 => Just(Event::Resume),
        1 => Just(Event::UndoPrevious),
    ]
}

fn int_or_percent() -> impl PropStrategy<Value = IntOrPercent> {
    prop_oneof![
        (0u32..5).prop_map(IntOrPercent::Count),
        (0u32..=100).prop_map(IntOrPercent::Percent)
    ]
}

fn deployment() -> impl PropStrategy<Value = Deployment> {
    (
        0i32..25,
        int_or_percent(),
        int_or_percent(),
        prop::option::of(0i32..4),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(n, s, u, limit, recreate)| {
            let zero =
                |v: IntOrPercent| matches!(v, IntOrPercent::Count(0) | IntOrPercent::Percent(0));
            let u = if zero(s) && zero(u) {
                IntOrPercent::Count(1)
            } else {
                u
            };
            Deployment {
                replicas: n,
                template: "v1".into(),
                max_surge: s,
                max_unavailable: u,
                paused: false,
                revision_history_limit: limit,
                status_replicas: 0,
                recreate,
            }
        })
}

/// The worked example's deployment: 10 replicas, 25 % / 25 %, template v1.
fn n10_25_25() -> Deployment {
    Deployment {
        replicas: 10,
        template: "v1".into(),
        max_surge: IntOrPercent::Percent(25),
        max_unavailable: IntOrPercent::Percent(25),
        paused: false,
        revision_history_limit: Some(10),
        status_replicas: 0,
        recreate: false,
    }
}

fn sizes(c: &Controller) -> Vec<(u64, u32)> {
    let mut v: Vec<(u64, u32)> = c.rss.iter().map(|r| (r.name, r.spec as u32)).collect();
    v.sort_unstable();
    v
}

/// The desired-replicas and max-replicas annotations of every ReplicaSet.
fn annotations(c: &Controller) -> Vec<(u64, Option<u32>, Option<u32>)> {
    let mut v: Vec<_> = c
        .rss
        .iter()
        .map(|r| {
            let u = |x: Option<i32>| x.map(|x| x as u32);
            (r.name, u(r.desired_annotation), u(r.max_annotation))
        })
        .collect();
    v.sort_unstable();
    v
}

/// One sync on both sides; the status catches up afterwards unless `lag`.
fn sync_both(
    reference: &mut Controller,
    ours: &mut PlannerSide,
    d: &mut Deployment,
    lag: bool,
) -> Result<(), TestCaseError> {
    let verdict = reference.sync_deployment(d);
    let (_, phase) = ours.decide(&spec_of(d));
    if !lag {
        reference.settle_pods();
        ours.settle();
    }
    let mut planner_sizes: Vec<(u64, u32)> = ours.world.iter().map(|t| (t.id.0, t.spec)).collect();
    planner_sizes.sort_unstable();
    prop_assert_eq!(
        &planner_sizes,
        &sizes(reference),
        "sizes differ after a sync of {:?}",
        d
    );
    let mut planner_annotations: Vec<(u64, Option<u32>, Option<u32>)> = ours
        .world
        .iter()
        .map(|t| (t.id.0, Some(t.annotations.0), Some(t.annotations.1)))
        .collect();
    planner_annotations.sort_unstable();
    prop_assert_eq!(
        &planner_annotations,
        &annotations(reference),
        "replica annotations differ after a sync of {:?}",
        d
    );
    if !d.paused {
        prop_assert_eq!(
            phase == Phase::Healthy,
            verdict,
            "completion verdict differs"
        );
    }
    Ok(())
}

/// Runs the events on both sides; returns how many syncs ended their
/// scale-down at an old ReplicaSet whose status reported more available pods
/// than its spec (the `cleanupUnhealthyReplicas` error).
fn run_differential(mut d: Deployment, events: &[Event]) -> Result<usize, TestCaseError> {
    let mut reference = Controller::default();
    let mut ours = PlannerSide {
        state: RolloutState::new(),
        world: Vec::new(),
        commands: Vec::new(),
    };
    let mut version = 1;
    for ev in std::iter::once(&Event::Sync).chain(events) {
        match ev {
            Event::Sync => sync_both(&mut reference, &mut ours, &mut d, false)?,
            Event::SyncStatusLags => sync_both(&mut reference, &mut ours, &mut d, true)?,
            Event::Available { pick, count } => {
                if reference.rss.is_empty() {
                    continue;
                }
                let mut names: Vec<u64> = reference.rss.iter().map(|r| r.name).collect();
                names.sort_unstable();
                let name = names[pick % names.len()];
                let i = reference.by_name(name);
                // A status update: it reflects the spec, and more pods are available.
                let r = &mut reference.rss[i];
                r.status_replicas = r.spec;
                r.observed_generation = r.generation;
                r.available = (r.available + *count as i32).min(r.spec);
                let t = ours
                    .world
                    .iter_mut()
                    .find(|t| t.id.0 == name)
                    .expect("present");
                t.replicas = t.spec;
                t.available = (t.available + count).min(t.spec);
                t.status_stale = false;
            }
            Event::AllAvailable => {
                for r in &mut reference.rss {
                    r.status_replicas = r.spec;
                    r.available = r.spec;
                    r.observed_generation = r.generation;
                }
                for t in &mut ours.world {
                    t.replicas = t.spec;
                    t.available = t.spec;
                    t.status_stale = false;
                }
            }
            Event::Replicas(n) => d.replicas = *n as i32,
            Event::NewTemplate => {
                version += 1;
                d.template = format!("v{version}");
            }
            Event::Pause => {
                d.paused = true;
                ours.commands.push(Command::Pause);
            }
            Event::Resume => {
                d.paused = false;
                ours.commands.push(Command::Resume);
            }
            Event::UndoPrevious => {
                // kubectl rollout undo: client-side, refused while paused.
                if d.paused {
                    continue;
                }
                let mut revs: Vec<(u64, String)> = reference
                    .rss
                    .iter()
                    .map(|r| (r.revision, r.template.clone()))
                    .collect();
                revs.sort();
                if revs.len() < 2 {
                    continue;
                }
                d.template = revs[revs.len() - 2].1.clone();
                ours.commands.push(Command::Undo { to_revision: None });
                // The undo is a patch the controller sees at its next sync.
                sync_both(&mut reference, &mut ours, &mut d, false)?;
            }
        }
    }
    Ok(reference.invalid_scale_downs)
}

/// A deployment and the events of its world.
fn world() -> impl PropStrategy<Value = (Deployment, Vec<Event>)> {
    (deployment(), prop::collection::vec(event(), 0..80))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn planner_sizes_tracks_like_the_deployment_controller((d, events) in world()) {
        run_differential(d, &events)?;
    }
}

/// The scale-down the controller refuses: an old ReplicaSet asked for 2 pods
/// still reports 3 available (its status lags the last scale-down), so
/// `cleanupUnhealthyReplicas` errors and the sync scales nothing; once the
/// status caught up, the scale-down goes on.
#[test]
fn a_lagging_old_status_stops_the_scale_down_on_both_sides() {
    let d = n10_25_25();
    let new = |count| Event::Available { pick: 1, count };
    let events = [
        Event::AllAvailable,
        Event::Sync, // v1 complete: 10/10
        Event::NewTemplate,
        Event::Sync, // new 3, old 10 -> 8
        Event::AllAvailable,
        Event::Sync, // new 3 -> 5
        Event::Sync, // old 8 -> 5
        new(3),
        Event::Sync, // new 5 -> 8 (5 available)
        Event::Sync, // old 5 -> 3
        Event::Sync, // new 8 -> 10
        new(1),
        Event::SyncStatusLags, // old 3 -> 2, its status still says 3 available
        new(1),
        Event::Sync, // refused: old asks for 2 but reports 3 available
        Event::Sync, // caught up: old 2 -> 1
        Event::AllAvailable,
        Event::Sync, // old 1 -> 0
        Event::Sync, // complete
    ];
    let refused = run_differential(d, &events).expect("planner and controller agree");
    assert_eq!(refused, 1);
}

/// The random worlds of the differential proptest reach the refused
/// scale-down (so the proptest compares the planner with the controller there).
#[test]
fn random_worlds_reach_a_lagging_old_status() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let cases = world();
    let mut refused = 0;
    for _ in 0..100 {
        let (d, events) = cases.new_tree(&mut runner).expect("generates").current();
        refused += run_differential(d, &events).expect("planner and controller agree");
    }
    assert!(refused > 0, "no generated world refused a scale-down");
}

// ------------------------------------------- the worked example (n = 10, 25 % / 25 %)

#[test]
fn worked_example_n10_25_25_matches_table_row_by_row() {
    let spec_v1 = RolloutSpec::builder("v1", 10).build().expect("valid spec");
    let mut ours = PlannerSide {
        state: RolloutState::new(),
        world: Vec::new(),
        commands: Vec::new(),
    };
    ours.sync(&spec_v1);
    ours.world[0].available = 10;
    let (_, phase) = ours.sync(&spec_v1);
    assert_eq!(phase, Phase::Healthy);

    let spec = spec_v1.with_template("v2").expect("valid template");
    let mut rows: Vec<(u32, u32)> = Vec::new();
    let mut record = |trace: Vec<Vec<(u64, u32)>>| {
        for sizes in trace {
            rows.push((sizes[0].1, sizes.get(1).map_or(0, |s| s.1)));
        }
    };
    let (t, _) = ours.sync(&spec); // rows 1 and 2: create with 3, old -= 2
    record(t);
    let (t, _) = ours.sync(&spec); // row 3: new += 2
    record(t);
    let (t, phase) = ours.sync(&spec); // row 4: waits
    assert!(t.is_empty(), "row 4 waits while maxScaledDown = 0");
    assert_eq!(phase, Phase::Progressing);
    ours.world[1].available = 5;
    let (t, _) = ours.sync(&spec); // row 5: old -= 5
    record(t);
    let (t, _) = ours.sync(&spec); // row 6: new += 5
    record(t);
    ours.world[1].available = 10;
    let (t, _) = ours.sync(&spec); // row 7: old -= 3
    record(t);
    let (t, phase) = ours.sync(&spec);
    assert!(t.is_empty());
    assert_eq!(phase, Phase::Healthy);
    assert_eq!(
        rows,
        vec![(10, 3), (8, 3), (8, 5), (3, 5), (3, 10), (0, 10)]
    );

    // The reference model produces the same sizes at the same syncs.
    let mut d = n10_25_25();
    let mut c = Controller::default();
    c.sync_deployment(&mut d);
    c.settle_pods();
    c.rss[0].available = 10;
    assert!(c.sync_deployment(&mut d));
    d.template = "v2".into();
    let mut seen = Vec::new();
    for avail in [None, None, None, Some(5), None, Some(10), None] {
        if let Some(a) = avail {
            c.rss[1].available = a;
        }
        c.sync_deployment(&mut d);
        c.settle_pods();
        seen.push((c.rss[0].spec, c.rss[1].spec));
    }
    assert_eq!(
        seen,
        vec![(8, 3), (8, 5), (8, 5), (3, 5), (3, 10), (0, 10), (0, 10)]
    );
}

#[test]
fn n1_surge_first_and_zero_surge_one_unavailable_terminate() {
    for (s, u) in [
        (IntOrPercent::Percent(25), IntOrPercent::Percent(25)),
        (IntOrPercent::Count(0), IntOrPercent::Count(1)),
    ] {
        let spec = RolloutSpec::builder("v1", 1)
            .strategy(Strategy::Rolling(RollingStrategy::new(s, u)))
            .build()
            .expect("valid spec");
        let mut ours = PlannerSide {
            state: RolloutState::new(),
            world: Vec::new(),
            commands: Vec::new(),
        };
        ours.sync(&spec);
        ours.world[0].available = 1;
        ours.sync(&spec);
        let v2 = spec.with_template("v2").expect("valid template");
        let mut done = false;
        for _ in 0..10 {
            let (_, phase) = ours.sync(&v2);
            for t in &mut ours.world {
                t.available = t.spec;
            }
            if phase == Phase::Healthy {
                done = true;
                break;
            }
        }
        assert!(done, "n = 1 with {s}/{u} did not complete");
        assert_eq!(
            ours.world.iter().map(|t| t.spec).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }
}
