//! The rolling and Recreate planner against a real Deployment controller.
//!
//! Two kinds of recordings, both from kube-controller-manager v1.35.4:
//!
//! - `fixtures/rolling-10-25-25*.jsonl` (this first half): the sizes of the
//!   old and new ReplicaSets of one 10-replica update, line by line;
//! - `fixtures/replay/*.jsonl` (the second half, module `scenarios`): whole
//!   scenarios recorded by `tools/k8s-testenv/record` as kubectl's watch
//!   events and read with the public `engine_ops_rollout::replay`. Every write
//!   of the controller (a ReplicaSet created, resized, re-annotated, given a
//!   revision or minReadySeconds, deleted) is compared with the planner's
//!   decision from the step before it (with the same informer-lag window as
//!   below), and the whole recording is replayed through one persisted
//!   planner state, as a tool runs it, ending with the Deployment's
//!   conditions. `fixtures/validation.jsonl` holds the API server's verdicts
//!   on budgets and deadlines for the spec builder.
//!
//! `tools/k8s-testenv/e2e` rolls a 10-replica Deployment (maxSurge 25 %,
//! maxUnavailable 25 %, minReadySeconds 0) from `v1` to `v2` on a real
//! kube-controller-manager and records, in watch (resourceVersion) order, one
//! line per change of the old and new ReplicaSets' `spec.replicas`,
//! `status.replicas`, `readyReplicas` and `availableReplicas`. Every
//! `tools/k8s-testenv/fixtures/rolling-10-25-25*.jsonl` is one such run; each
//! run interleaves the status updates differently.
//!
//! A change of `spec` is a decision of the controller; a change of status is
//! the world. For every decision this test rebuilds the planner's view from
//! the line recorded just before it ([`RolloutState::adopt`] with both
//! ReplicaSets, an [`Observation`] of their counts), runs [`plan`] with the
//! Deployment's spec and requires the planner to set that ReplicaSet to the
//! size the controller set.
//!
//! **Which status did the controller see?** A write that the watch reports at
//! resourceVersion R was computed from events the controller had received, all
//! committed before R: its view can never be *fresher* than the line before the
//! write. It can be *staler*: the controller reads an informer cache that may
//! lag the watch. Two facts bound that staleness:
//!
//! - the written ReplicaSet must be the latest version (the update carries the
//!   resourceVersion of the copy read; a stale copy is rejected as a conflict
//!   and nothing is recorded), so its recorded counts at the view equal those
//!   just before the write;
//! - the controller's cache holds its own previous write (the sync that made it
//!   returned, and the next sync is queued by that write's own watch event or a
//!   later one), so the view is not older than the line of its previous write.
//!
//! So a decision matches exactly when the planner, from the line just before
//! it, sets the same size; failing that it is accepted only as *explained by
//! informer lag* when some line in that window gives the planner the same
//! answer. Both are reported; a decision explained by neither fails the test
//! with a table of every decision (step, observed, planner).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine_ops_rollout::{
    Action, Decision, Observation, Phase, RolloutSpec, RolloutState, Strategy, Timestamp, TrackId,
    decision::{ConditionKind, ConditionStatus},
    observation::TrackObs,
    plan,
    spec::{Fenceposts, IntOrPercent, RollingStrategy},
    state::AdoptedTrack,
};
use serde::Deserialize;

/// The ReplicaSet of the original template (revision 1).
const OLD: TrackId = TrackId(0);
/// The ReplicaSet the update creates (revision 2).
const NEW: TrackId = TrackId(1);
/// Pod templates as the e2e script sets them.
const V1: &str = "registry.invalid/engine-ops/web:v1";
const V2: &str = "registry.invalid/engine-ops/web:v2";

// ----- the fixture format (see tools/k8s-testenv/README.md) -----

#[derive(Debug, Deserialize)]
struct Header {
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Meta {
    kubernetes: String,
    deployment: DeploymentMeta,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentMeta {
    replicas: u32,
    strategy: String,
    max_surge: String,
    max_unavailable: String,
    min_ready_seconds: u64,
}

/// Counts of one ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rs {
    spec: u32,
    replicas: u32,
    ready: u32,
    available: u32,
}

/// One observed change. Unknown fields are refused: a third ReplicaSet
/// (`"other:<hash>"`) would make the two-track comparison meaningless.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    step: usize,
    changed: String,
    old: Rs,
    new: Rs,
}

impl Line {
    fn rs(&self, t: TrackId) -> Rs {
        if t == OLD { self.old } else { self.new }
    }
}

fn show(rs: Rs) -> String {
    format!("{}/{}/{}/{}", rs.spec, rs.replicas, rs.ready, rs.available)
}

fn name(t: TrackId) -> &'static str {
    if t == OLD { "old" } else { "new" }
}

/// One recorded rollout.
struct Fixture {
    file: String,
    kubernetes: String,
    /// The Deployment's spec after the update (template `V2`).
    spec: RolloutSpec,
    fence: Fenceposts,
    lines: Vec<Line>,
    /// Index of the line at which the new ReplicaSet first appears.
    created: usize,
}

impl Fixture {
    fn new_exists(&self, line: usize) -> bool {
        line >= self.created
    }

    /// Indices of the lines where the controller changed a ReplicaSet's spec,
    /// with the track it changed.
    fn decisions(&self) -> Vec<(usize, TrackId)> {
        (1..self.lines.len())
            .filter_map(|k| {
                let (a, b) = (&self.lines[k - 1], &self.lines[k]);
                if b.old.spec != a.old.spec {
                    Some((k, OLD))
                } else if b.new.spec != a.new.spec {
                    Some((k, NEW))
                } else {
                    None
                }
            })
            .collect()
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/k8s-testenv/fixtures")
}

fn load_all() -> Vec<Fixture> {
    let dir = fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list the fixtures in {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rolling-10-25-25") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    assert!(
        files.iter().any(|p| p.ends_with("rolling-10-25-25.jsonl")),
        "the committed fixture rolling-10-25-25.jsonl is missing from {}",
        dir.display()
    );
    files.iter().map(|p| load(p)).collect()
}

fn load(path: &Path) -> Fixture {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(file, &text)
}

fn parse(file: String, text: &str) -> Fixture {
    let mut it = text.lines().filter(|l| !l.trim().is_empty());
    let header: Header =
        serde_json::from_str(it.next().expect("a header line")).unwrap_or_else(|e| {
            panic!("{file}: the first line is not a {{\"meta\": ...}} header: {e}")
        });
    let lines: Vec<Line> = it
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{file}: line {} is not a step: {e}", i + 2))
        })
        .collect();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.step, i, "{file}: steps are not numbered 0, 1, 2, ...");
        if i == 0 {
            assert_eq!(l.changed, "initial", "{file}: step 0");
            continue;
        }
        // Exactly the ReplicaSet named in `changed` differs from the line before.
        let p = &lines[i - 1];
        let ok = match l.changed.as_str() {
            "old" => l.old != p.old && l.new == p.new,
            "new" => l.new != p.new && l.old == p.old,
            _ => false,
        };
        assert!(
            ok,
            "{file}: step {i} (`changed` = {:?}) does not change exactly that ReplicaSet",
            l.changed
        );
    }

    let d = &header.meta.deployment;
    assert_eq!(d.strategy, "RollingUpdate", "{file}: not a rolling update");
    let surge: IntOrPercent = d.max_surge.parse().expect("maxSurge parses");
    let unavailable: IntOrPercent = d.max_unavailable.parse().expect("maxUnavailable parses");
    let v1 = RolloutSpec::builder(V1, d.replicas)
        .strategy(Strategy::Rolling(RollingStrategy::new(surge, unavailable)))
        .min_ready(Duration::from_secs(d.min_ready_seconds))
        .build()
        .expect("the recorded Deployment spec is valid");
    let spec = v1.with_template(V2).expect("valid template");
    let fence = Fenceposts::resolve(d.replicas, surge, unavailable);
    let created = lines
        .iter()
        .position(|l| l.changed == "new")
        .unwrap_or_else(|| panic!("{file}: the new ReplicaSet never appears"));
    Fixture {
        file,
        kubernetes: header.meta.kubernetes,
        spec,
        fence,
        lines,
        created,
    }
}

// ----- the planner's view of one recorded line -----

fn adopted(f: &Fixture, line: usize) -> RolloutState {
    let mut tracks = vec![AdoptedTrack::new(OLD, 1, V1)];
    if f.new_exists(line) {
        tracks.push(AdoptedTrack::new(NEW, 2, V2));
    }
    RolloutState::adopt(&f.spec, tracks)
}

fn observation(f: &Fixture, line: usize) -> Observation {
    let l = &f.lines[line];
    // The Deployment's replicas never change in these recordings: every
    // ReplicaSet carries the annotations of 10 replicas with maxSurge 3.
    let obs = |t: TrackId, rs: Rs| {
        TrackObs::new(t, rs.spec, rs.ready, rs.available)
            .with_replicas(rs.replicas)
            .with_annotations(f.fence.replicas, f.fence.max_total())
    };
    let mut o = Observation::new(Timestamp::from_secs(line as u64)).with_track(obs(OLD, l.old));
    if f.new_exists(line) {
        o = o.with_track(obs(NEW, l.new));
    }
    o
}

/// The planner's decision from a fresh adoption of the line's two ReplicaSets.
fn decide(f: &Fixture, line: usize) -> Decision {
    plan(&f.spec, &adopted(f, line), &observation(f, line))
        .unwrap_or_else(|e| panic!("{}: plan from line {line} failed: {e}", f.file))
}

/// The size the decision gives `track` (its last create or scale), if any.
fn target(d: &Decision, track: TrackId) -> Option<u32> {
    d.actions.iter().rev().find_map(|a| match &a.action {
        Action::CreateTrack {
            track: t, replicas, ..
        }
        | Action::ScaleTrack {
            track: t, replicas, ..
        } if *t == track => Some(*replicas),
        _ => None,
    })
}

fn show_target(t: Option<u32>) -> String {
    t.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

/// Every scale or create in a decision, in order, for the failure table.
fn show_actions(d: &Decision) -> String {
    let v: Vec<String> = d
        .actions
        .iter()
        .filter_map(|a| match a.action {
            Action::CreateTrack {
                track, replicas, ..
            }
            | Action::ScaleTrack {
                track, replicas, ..
            } => Some(format!("{}→{replicas}", name(track))),
            _ => None,
        })
        .collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(", ")
    }
}

// ----- the comparison -----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// The planner sets the same size from the line just before the write.
    Exact,
    /// Only from this earlier line (the controller's informer cache lagged).
    Lagged(usize),
    Mismatch,
}

struct Row {
    step: usize,
    track: TrackId,
    before: usize,
    controller: u32,
    planner: Option<u32>,
    planner_actions: String,
    verdict: Verdict,
}

fn compare(f: &Fixture) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut previous_write = 0;
    for (k, track) in f.decisions() {
        let set = f.lines[k].rs(track).spec;
        let before = k - 1;
        let d = decide(f, before);
        let planner = target(&d, track);
        if track == NEW && k == f.created {
            // The creation: revision 2, from the adopted revision 1.
            assert!(
                d.actions.iter().any(|a| matches!(
                    a.action,
                    Action::CreateTrack {
                        track: NEW,
                        revision: 2,
                        ..
                    }
                )),
                "{}: at step {k} the controller created the new ReplicaSet; the planner did: {}",
                f.file,
                show_actions(&d)
            );
        }
        let verdict = if planner == Some(set) {
            Verdict::Exact
        } else {
            // The window of views the controller could have used (see the module
            // docs above): not before its previous write, and with the written
            // ReplicaSet exactly as it was just before the write.
            let latest = f.lines[before].rs(track);
            (previous_write..before)
                .rev()
                .filter(|&j| f.lines[j].rs(track) == latest)
                .find(|&j| target(&decide(f, j), track) == Some(set))
                .map_or(Verdict::Mismatch, Verdict::Lagged)
        };
        rows.push(Row {
            step: k,
            track,
            before,
            controller: set,
            planner,
            planner_actions: show_actions(&d),
            verdict,
        });
        previous_write = k;
    }
    rows
}

fn table(f: &Fixture, rows: &[Row]) -> String {
    let mut s = format!(
        "{} (Kubernetes {}): every spec change of the real controller vs the planner\n\
         counts are spec/replicas/ready/available\n\
         {:>4}  {:<3}  {:<22}  {:>10}  {:>7}  {:<18}  verdict\n",
        f.file,
        f.kubernetes,
        "step",
        "rs",
        "view (old | new)",
        "controller",
        "planner",
        "planner's actions"
    );
    for r in rows {
        let l = &f.lines[r.before];
        let view = format!("{} | {}", show(l.old), show(l.new));
        let verdict = match r.verdict {
            Verdict::Exact => "exact".to_owned(),
            Verdict::Lagged(j) => format!(
                "informer lag: same answer from line {j} ({} | {})",
                show(f.lines[j].old),
                show(f.lines[j].new)
            ),
            Verdict::Mismatch => "MISMATCH".to_owned(),
        };
        let _ = writeln!(
            s,
            "{:>4}  {:<3}  {:<22}  {:>10}  {:>7}  {:<18}  {verdict}",
            r.step,
            name(r.track),
            view,
            r.controller,
            show_target(r.planner),
            r.planner_actions
        );
    }
    s
}

#[test]
fn every_spec_change_of_the_real_controller_is_the_planners_decision() {
    let mut failures = String::new();
    let mut exact = 0;
    let mut total = 0;
    for f in load_all() {
        let rows = compare(&f);
        assert!(
            rows.len() >= 4,
            "{}: only {} decisions recorded",
            f.file,
            rows.len()
        );
        total += rows.len();
        exact += rows.iter().filter(|r| r.verdict == Verdict::Exact).count();
        let t = table(&f, &rows);
        println!("{t}");
        if rows.iter().any(|r| r.verdict == Verdict::Mismatch) {
            failures.push_str(&t);
        }
    }
    assert!(
        failures.is_empty(),
        "the planner disagrees with the real Deployment controller:\n{failures}"
    );
    println!("{exact} of {total} decisions matched exactly from the line before them");
}

#[test]
fn recorded_rollouts_stay_within_surge_and_unavailability_bounds() {
    for f in load_all() {
        // 10 replicas, 25 % / 25 %: at most 13 desired, at least 8 available.
        assert_eq!(
            (f.fence.max_total(), f.fence.min_available()),
            (13, 8),
            "{}",
            f.file
        );
        let (first, last) = (&f.lines[0], &f.lines[f.lines.len() - 1]);
        let full = Rs {
            spec: 10,
            replicas: 10,
            ready: 10,
            available: 10,
        };
        let zero = Rs {
            spec: 0,
            replicas: 0,
            ready: 0,
            available: 0,
        };
        assert_eq!(
            (first.old, first.new),
            (full, zero),
            "{}: first line",
            f.file
        );
        assert_eq!((last.old, last.new), (zero, full), "{}: last line", f.file);
        for (i, l) in f.lines.iter().enumerate() {
            assert!(
                l.old.spec + l.new.spec <= f.fence.max_total(),
                "{}: step {i} wants {} + {} replicas, above {}",
                f.file,
                l.old.spec,
                l.new.spec,
                f.fence.max_total()
            );
            if f.new_exists(i) {
                assert!(
                    l.old.available + l.new.available >= f.fence.min_available(),
                    "{}: step {i} has {} + {} available, below {}",
                    f.file,
                    l.old.available,
                    l.new.available,
                    f.fence.min_available()
                );
            }
        }
    }
}

/// From every recorded line, what the planner would do keeps the same bounds:
/// at most 13 desired, and a scale-down of the old ReplicaSet leaves at least
/// 8 available (the ReplicaSet controller removes unavailable pods first).
#[test]
fn the_planners_decision_from_any_recorded_line_keeps_the_bounds() {
    for f in load_all() {
        for i in 0..f.lines.len() {
            let l = &f.lines[i];
            let d = decide(&f, i);
            let old = target(&d, OLD).unwrap_or(l.old.spec);
            let new = target(&d, NEW).unwrap_or(l.new.spec);
            assert!(
                old + new <= f.fence.max_total(),
                "{}: from step {i} the planner wants {old} + {new} replicas: {}",
                f.file,
                show_actions(&d)
            );
            if old < l.old.spec {
                let left = l.old.available.min(old) + l.new.available;
                assert!(
                    left >= f.fence.min_available(),
                    "{}: from step {i} the planner scales old to {old}, leaving {left} available",
                    f.file
                );
            }
        }
    }
}

/// Where the controller stayed idle (before the update, and from its last
/// write to the end of the recording) the planner has nothing to do either;
/// at the end the planner reports the rollout complete.
#[test]
fn where_the_controller_stays_idle_the_planner_does_too_and_ends_healthy() {
    for f in load_all() {
        // Before the update: the v1 spec over the v1 ReplicaSet alone.
        let v1 = f.spec.with_template(V1).expect("valid template");
        let state = RolloutState::adopt(&v1, [AdoptedTrack::new(OLD, 1, V1)]);
        let d = plan(&v1, &state, &observation(&f, 0)).expect("plan");
        assert!(
            d.actions.is_empty(),
            "{}: before the update the planner wants {}",
            f.file,
            show_actions(&d)
        );
        assert_eq!(d.phase, Phase::Healthy, "{}", f.file);

        let last_write = f.decisions().last().map_or(0, |&(k, _)| k);
        for i in last_write..f.lines.len() {
            let d = decide(&f, i);
            assert_eq!(
                show_actions(&d),
                "-",
                "{}: the controller made no further change after step {last_write}, \
                 but from step {i} the planner wants one",
                f.file
            );
        }
        let end = decide(&f, f.lines.len() - 1);
        assert_eq!(end.phase, Phase::Healthy, "{}: {:?}", f.file, end.explain);
        let available = end
            .condition(ConditionKind::Available)
            .expect("an Available condition");
        assert_eq!(available.status, ConditionStatus::True, "{}", f.file);
        let progressing = end
            .condition(ConditionKind::Progressing)
            .expect("a Progressing condition");
        assert_eq!(
            (progressing.status, &*progressing.reason),
            (ConditionStatus::True, "NewReplicaSetAvailable"),
            "{}",
            f.file
        );
    }
}

/// The same recording replayed through one persisted planner state, as a tool
/// would run it: the planner creates the new track itself, then at every
/// controller decision that matched exactly proposes the size the controller
/// set (its persisted memory changes nothing), and ends Healthy with revision 2
/// stable and revision 1 kept at 0.
#[test]
fn a_continuous_replay_through_persisted_state_ends_where_the_controller_did() {
    for f in load_all() {
        let v1 = f.spec.with_template(V1).expect("valid template");
        let mut state = RolloutState::adopt(&v1, [AdoptedTrack::new(OLD, 1, V1)]);
        let decisions = f.decisions();
        let rows = compare(&f);
        let mut last = None;
        for i in 0..f.lines.len() {
            let d = plan(&f.spec, &state, &observation(&f, i))
                .unwrap_or_else(|e| panic!("{}: replay at step {i}: {e}", f.file));
            if let Some(pos) = decisions.iter().position(|&(k, _)| k == i + 1) {
                let (k, track) = decisions[pos];
                if rows[pos].verdict == Verdict::Exact {
                    assert_eq!(
                        target(&d, track),
                        Some(f.lines[k].rs(track).spec),
                        "{}: replaying, from step {i} the planner wants {} where the controller set {} to {}\n{}",
                        f.file,
                        show_actions(&d),
                        name(track),
                        f.lines[k].rs(track).spec,
                        table(&f, &rows)
                    );
                }
            }
            state = d.state.clone();
            last = Some(d);
        }
        let end = last.expect("at least one line");
        assert_eq!(end.phase, Phase::Healthy, "{}: {:?}", f.file, end.explain);
        assert!(end.actions.is_empty(), "{}: {}", f.file, show_actions(&end));
        assert_eq!(state.stable(), Some(NEW), "{}", f.file);
        let revisions: Vec<(TrackId, u64)> =
            state.tracks().iter().map(|t| (t.id, t.revision)).collect();
        assert_eq!(revisions, vec![(OLD, 1), (NEW, 2)], "{}", f.file);
        let progressing = end
            .condition(ConditionKind::Progressing)
            .expect("a Progressing condition");
        assert_eq!(&*progressing.reason, "NewReplicaSetAvailable", "{}", f.file);
    }
}

/// The guard the recordings revealed: `cleanupUnhealthyReplicas` refuses an
/// old ReplicaSet whose status still reports more available pods than its spec
/// (pods of the previous scale-down not yet gone), and nothing old is scaled
/// down in that sync. No recorded old scale-down was ever decided from such a
/// line, and from such a line the planner does not scale old down either,
/// although the Go arithmetic beyond the guard would (counting the doomed pods
/// as available, below the availability floor).
#[test]
fn no_old_scale_down_while_the_old_status_still_counts_removed_pods() {
    let mut guarded = 0;
    for f in load_all() {
        for (k, track) in f.decisions() {
            let view = f.lines[k - 1].old;
            if track == OLD {
                assert!(
                    view.available <= view.spec,
                    "{}: the controller scaled old down at step {k} from {}",
                    f.file,
                    show(view)
                );
            }
        }
        for (i, l) in f.lines.iter().enumerate() {
            if !f.new_exists(i) || l.old.spec == 0 || l.old.available <= l.old.spec {
                continue;
            }
            let d = decide(&f, i);
            let old = target(&d, OLD);
            assert!(
                old.is_none_or(|v| v >= l.old.spec),
                "{}: from step {i} ({} | {}) the planner scales old down: {}",
                f.file,
                show(l.old),
                show(l.new),
                show_actions(&d)
            );
            // Lines where only the guard stops a scale-down: the new
            // ReplicaSet cannot grow (desired total at the surge limit) and
            // maxScaledDown is positive.
            let total = l.old.spec + l.new.spec;
            let new_unavailable = l.new.spec - l.new.available;
            if total == f.fence.max_total() && total > f.fence.min_available() + new_unavailable {
                guarded += 1;
            }
        }
    }
    assert!(guarded >= 1, "no recorded line exercises the guard");
}

/// The comparison itself can fail: a size the planner would not choose is a
/// mismatch, and a size it would choose only from an earlier status of the
/// other ReplicaSet is accepted as informer lag (and only then).
#[test]
fn the_comparison_flags_a_wrong_size_and_accepts_a_lagged_view_only_within_its_window() {
    let header = std::fs::read_to_string(fixtures_dir().join("rolling-10-25-25.jsonl"))
        .expect("the committed fixture")
        .lines()
        .next()
        .expect("a header")
        .to_owned();
    let rs = |s: [u32; 4]| {
        format!(
            r#"{{"spec":{},"replicas":{},"ready":{},"available":{}}}"#,
            s[0], s[1], s[2], s[3]
        )
    };
    // old 8/8/8/8 and new 5/5/5/5 (line 6) give old -> 3; with the new
    // ReplicaSet's previous status 5/5/2/2 (line 5) the answer is old -> 6.
    let synthetic = |last_old: u32| {
        let rows: [(&str, [u32; 4], [u32; 4]); 8] = [
            ("initial", [10, 10, 10, 10], [0, 0, 0, 0]),
            ("new", [10, 10, 10, 10], [3, 0, 0, 0]),
            ("old", [8, 10, 10, 10], [3, 0, 0, 0]),
            ("old", [8, 8, 8, 8], [3, 0, 0, 0]),
            ("new", [8, 8, 8, 8], [5, 0, 0, 0]),
            ("new", [8, 8, 8, 8], [5, 5, 2, 2]),
            ("new", [8, 8, 8, 8], [5, 5, 5, 5]),
            ("old", [last_old, 8, 8, 8], [5, 5, 5, 5]),
        ];
        let mut text = header.clone();
        for (i, (changed, old, new)) in rows.iter().enumerate() {
            let _ = write!(
                text,
                "\n{{\"step\":{i},\"changed\":\"{changed}\",\"old\":{},\"new\":{}}}",
                rs(*old),
                rs(*new)
            );
        }
        parse(format!("synthetic (old -> {last_old})"), &text)
    };
    let verdict = |last_old: u32| {
        let f = synthetic(last_old);
        let rows = compare(&f);
        assert_eq!(rows.last().map(|r| r.step), Some(7));
        rows.last().map(|r| r.verdict.clone())
    };
    assert_eq!(verdict(3), Some(Verdict::Exact));
    assert_eq!(verdict(6), Some(Verdict::Lagged(5)));
    assert_eq!(verdict(7), Some(Verdict::Mismatch));
    let f = synthetic(7);
    assert!(table(&f, &compare(&f)).contains("MISMATCH"));
}

// =====================================================================
// Recorded scenarios (tools/k8s-testenv/record), read with the public
// replay path (engine_ops_rollout::replay), compared per write and as one
// continuous replay.
// =====================================================================

mod scenarios {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    use engine_ops_rollout::replay::{Change, Recording, ReplayStep, Write};
    use engine_ops_rollout::{
        Action, Command, Decision, Error, Observation, RolloutState,
        decision::{ConditionKind, ConditionStatus},
        plan,
    };

    /// A recorded scenario.
    pub(super) struct Scenario {
        pub(super) file: String,
        pub(super) recording: Recording,
    }

    pub(super) fn load() -> Vec<Scenario> {
        let dir = super::fixtures_dir().join("replay");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let file = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("?")
                    .to_owned();
                let text = std::fs::read_to_string(p).expect("readable fixture");
                let recording = Recording::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                Scenario { file, recording }
            })
            .collect()
    }

    /// The planner's view of a step, adopted afresh: the Deployment's spec,
    /// its ReplicaSets as tracks, and a `Pause` when it is paused.
    pub(super) fn decide(step: &ReplayStep) -> Result<Decision, Error> {
        let state = RolloutState::adopt(&step.spec, step.tracks.clone());
        let mut obs: Observation = step.observation.clone();
        if step.paused {
            obs = obs.with_command(Command::Pause);
        }
        plan(&step.spec, &state, &obs)
    }

    /// The step as it was before the track existed (for a creation seen
    /// from a later step).
    pub(super) fn without(step: &ReplayStep, track: engine_ops_rollout::TrackId) -> ReplayStep {
        let mut s = step.clone();
        s.observation.tracks.retain(|t| t.track != track);
        s.tracks.retain(|t| t.id != track);
        s
    }

    /// Whether the decision makes the write (every field the write set).
    pub(super) fn makes(d: &Decision, w: &Write, before: &ReplayStep) -> bool {
        let has = |f: &dyn Fn(&Action) -> bool| d.actions.iter().any(|a| f(&a.action));
        let current = before
            .observation
            .tracks
            .iter()
            .find(|t| t.track == w.track)
            .map(|t| t.spec_replicas);
        if w.deleted {
            return has(&|a| matches!(a, Action::DeleteTrack { track } if *track == w.track));
        }
        if w.created {
            return has(&|a| {
                matches!(a, Action::CreateTrack { track, replicas, revision, desired_replicas, max_replicas, .. }
                    if *track == w.track
                        && Some(*replicas) == w.replicas
                        && w.revision.is_none_or(|r| r == *revision)
                        && w.desired_replicas.is_none_or(|x| x == *desired_replicas)
                        && w.max_replicas.is_none_or(|x| x == *max_replicas))
            });
        }
        let scaled =
            w.replicas.is_some() || w.desired_replicas.is_some() || w.max_replicas.is_some();
        let size = w.replicas.or(current);
        (!scaled
            || has(&|a| {
                matches!(a, Action::ScaleTrack { track, replicas, desired_replicas, max_replicas }
                    if *track == w.track
                        && Some(*replicas) == size
                        && w.desired_replicas.is_none_or(|x| x == *desired_replicas)
                        && w.max_replicas.is_none_or(|x| x == *max_replicas))
            }))
            && w.revision.is_none_or(|r| {
                has(&|a| matches!(a, Action::SetRevision { track, revision } if *track == w.track && *revision == r))
            })
            && w.min_ready.is_none_or(|m| {
                has(&|a| matches!(a, Action::SetMinReady { track, min_ready } if *track == w.track && *min_ready == m))
            })
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Verdict {
        /// The planner makes the write from the step just before it.
        Exact,
        /// Only from this earlier step (the controller's informer cache lagged).
        Lagged(usize),
        /// Recreate: the controller creates the new ReplicaSet once its pod
        /// informer has no old pod; the old ReplicaSet's status reports the
        /// last pods terminating a little longer, and the planner (which sees
        /// ReplicaSets, not pods) creates it from this later step, the first
        /// whose status shows no old pod, before any other write.
        PodsAhead(usize),
        Mismatch,
    }

    pub(super) struct Row {
        pub(super) step: usize,
        pub(super) write: Write,
        pub(super) verdict: Verdict,
        pub(super) planner: String,
    }

    /// Every write of the controller, with the planner's verdict. The view the
    /// controller acted on is no fresher than the step before the write and
    /// no older than its previous write; the written ReplicaSet is exactly as
    /// it was just before the write (a stale copy is rejected as a conflict).
    pub(super) fn compare(s: &Scenario) -> Vec<Row> {
        let steps = s.recording.steps();
        let mut rows = Vec::new();
        let mut previous_write = 0;
        for (k, step) in steps.iter().enumerate() {
            let Change::Write(w) = &step.change else {
                continue;
            };
            let before = k - 1;
            let rs_at = |j: usize| {
                steps[j]
                    .observation
                    .tracks
                    .iter()
                    .find(|t| t.track == w.track)
                    .copied()
            };
            let d = decide(&steps[before]);
            let planner = match &d {
                Ok(d) => show_actions(d),
                Err(e) => format!("error: {e}"),
            };
            let next_write = (k + 1..steps.len())
                .find(|&j| matches!(steps[j].change, Change::Write(_)))
                .unwrap_or(steps.len());
            let recreate = matches!(step.spec.strategy(), engine_ops_rollout::Strategy::Recreate);
            let verdict = if d.as_ref().is_ok_and(|d| makes(d, w, &steps[before])) {
                Verdict::Exact
            } else if let Some(j) = (previous_write..before)
                .rev()
                .filter(|&j| rs_at(j) == rs_at(before))
                .find(|&j| decide(&steps[j]).is_ok_and(|d| makes(&d, w, &steps[j])))
            {
                Verdict::Lagged(j)
            } else if let Some(j) = (k..next_write)
                .filter(|_| recreate && w.created)
                .find(|&j| {
                    let view = without(&steps[j], w.track);
                    decide(&view).is_ok_and(|d| makes(&d, w, &view))
                })
            {
                Verdict::PodsAhead(j)
            } else {
                Verdict::Mismatch
            };
            rows.push(Row {
                step: k,
                write: w.clone(),
                verdict,
                planner,
            });
            previous_write = k;
        }
        rows
    }

    pub(super) fn show_actions(d: &Decision) -> String {
        let v: Vec<String> = d.actions.iter().map(|a| a.action.to_string()).collect();
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    }

    pub(super) fn show_write(w: &Write) -> String {
        let mut s = format!("#{}", w.track.0);
        if w.created {
            s.push_str(" created");
        }
        if w.deleted {
            s.push_str(" deleted");
        }
        if let Some(r) = w.replicas {
            let _ = write!(s, " replicas={r}");
        }
        if let Some(r) = w.revision {
            let _ = write!(s, " revision={r}");
        }
        if w.desired_replicas.is_some() || w.max_replicas.is_some() {
            let show = |x: Option<u32>| x.map_or_else(|| "-".to_owned(), |x| x.to_string());
            let _ = write!(
                s,
                " annotations={}/{}",
                show(w.desired_replicas),
                show(w.max_replicas)
            );
        }
        if let Some(m) = w.min_ready {
            let _ = write!(s, " minReady={}s", m.as_secs());
        }
        s
    }

    pub(super) fn show_view(step: &ReplayStep) -> String {
        step.observation
            .tracks
            .iter()
            .map(|t| {
                format!(
                    "#{}:{}/{}/{}/{}",
                    t.track.0, t.spec_replicas, t.replicas, t.ready, t.available
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn table(s: &Scenario, rows: &[Row]) -> String {
        let mut out = format!(
            "{}: every write of the real Deployment controller vs the planner\n\
             tracks are #id:spec/replicas/ready/available\n",
            s.file
        );
        for r in rows {
            let verdict = match r.verdict {
                Verdict::Exact => "exact".to_owned(),
                Verdict::Lagged(j) => format!("informer lag: from step {j}"),
                Verdict::PodsAhead(j) => {
                    format!("pods gone before the status said so: from step {j}")
                }
                Verdict::Mismatch => "MISMATCH".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:>4}  {:<38}  view {:<40}  planner: {:<60}  {verdict}",
                r.step,
                show_write(&r.write),
                show_view(&s.recording.steps()[r.step - 1]),
                r.planner
            );
        }
        out
    }

    /// One persisted state through every step, as a tool runs it (a change of
    /// `paused` delivered as `Pause` / `Resume`). Returns, per write, whether
    /// the decision from the step before it made it, and the last decision.
    pub(super) fn continuous(s: &Scenario) -> Result<(Vec<(usize, bool)>, Decision), String> {
        let steps = s.recording.steps();
        let first = &steps[0];
        let mut state = RolloutState::adopt(&first.spec, first.tracks.clone());
        let mut paused = false;
        let mut made = Vec::new();
        let mut last = None;
        for (k, step) in steps.iter().enumerate() {
            let mut obs = step.observation.clone();
            // A track the controller created before the planner planned it
            // (Recreate: see Verdict::PodsAhead) is not shown until it does.
            obs.tracks.retain(|t| state.track(t.track).is_some());
            if step.paused != paused {
                obs = obs.with_command(if step.paused {
                    Command::Pause
                } else {
                    Command::Resume
                });
                paused = step.paused;
            }
            let d = plan(&step.spec, &state, &obs)
                .map_err(|e| format!("{}: continuous replay at step {k}: {e}", s.file))?;
            if let Some(next) = steps.get(k + 1)
                && let Change::Write(w) = &next.change
            {
                made.push((k + 1, makes(&d, w, step)));
            }
            // The creation it planned late.
            for a in &d.actions {
                if let Action::CreateTrack { track, .. } = a.action
                    && step.observation.tracks.iter().any(|t| t.track == track)
                    && let Some(m) = made.iter_mut().rev().find(|(j, _)| {
                        matches!(&steps[*j].change, Change::Write(w) if w.created && w.track == track)
                    })
                {
                    m.1 = m.1 || makes(&d, match &steps[m.0].change {
                        Change::Write(w) => w,
                        _ => unreachable!("a write"),
                    }, &without(step, track));
                }
            }
            state = d.state.clone();
            last = Some(d);
        }
        Ok((made, last.expect("at least the initial step")))
    }

    /// The planner's `Progressing` reason and `Available` status of a decision.
    pub(super) fn conditions(d: &Decision) -> (Option<String>, Option<bool>) {
        (
            d.condition(ConditionKind::Progressing)
                .map(|c| c.reason.to_string()),
            d.condition(ConditionKind::Available)
                .map(|c| c.status == ConditionStatus::True),
        )
    }
}

/// At least ten scenarios beyond the first recordings: budgets, scaling while
/// paused, rollover, undo, never-ready pods past the deadline, history limits,
/// Recreate, maxSurge over 100 %, minReadySeconds alone.
#[test]
fn the_recorded_scenarios_are_there_and_parse() {
    let all = scenarios::load();
    let names: Vec<&str> = all.iter().map(|s| s.file.as_str()).collect();
    assert!(
        all.len() >= 10,
        "only {} recorded scenarios: {names:?}",
        all.len()
    );
    for s in &all {
        let writes = s
            .recording
            .steps()
            .iter()
            .filter(|st| matches!(st.change, engine_ops_rollout::replay::Change::Write(_)))
            .count();
        assert!(writes >= 2, "{}: only {writes} controller writes", s.file);
    }
}

/// Every write of the real Deployment controller in every recorded scenario
/// is the planner's decision from the step before it, or (informer lag) from
/// an earlier step in its window.
#[test]
fn every_write_of_the_recorded_scenarios_is_the_planners_decision() {
    let mut failures = String::new();
    let (mut exact, mut lagged, mut ahead, mut total) = (0, 0, 0, 0);
    let all = scenarios::load();
    for s in &all {
        let rows = scenarios::compare(s);
        total += rows.len();
        exact += rows
            .iter()
            .filter(|r| r.verdict == scenarios::Verdict::Exact)
            .count();
        lagged += rows
            .iter()
            .filter(|r| matches!(r.verdict, scenarios::Verdict::Lagged(_)))
            .count();
        ahead += rows
            .iter()
            .filter(|r| matches!(r.verdict, scenarios::Verdict::PodsAhead(_)))
            .count();
        let t = scenarios::table(s, &rows);
        println!("{t}");
        if rows
            .iter()
            .any(|r| r.verdict == scenarios::Verdict::Mismatch)
        {
            failures.push_str(&t);
        }
    }
    println!(
        "per write ({} recordings): {exact} of {total} writes exact, {lagged} explained by informer lag, \
         {ahead} by pods gone before their ReplicaSet's status said so",
        all.len()
    );
    assert!(
        failures.is_empty(),
        "the planner disagrees with the real Deployment controller:\n{failures}"
    );
}

/// Each recording replayed through one persisted planner state: every write
/// that the planner makes exactly from a fresh view it also makes in the
/// continuous replay, and it ends with the Deployment's conditions.
#[test]
fn every_recorded_scenario_replays_through_one_persisted_state() {
    let mut failures = String::new();
    let (mut made, mut total) = (0, 0);
    for s in scenarios::load() {
        let rows = scenarios::compare(&s);
        let (writes, last) = match scenarios::continuous(&s) {
            Ok(x) => x,
            Err(e) => {
                failures.push_str(&format!("{e}\n"));
                continue;
            }
        };
        total += writes.len();
        made += writes.iter().filter(|(_, ok)| *ok).count();
        for (k, ok) in &writes {
            let exact = rows
                .iter()
                .find(|r| r.step == *k)
                .is_some_and(|r| r.verdict == scenarios::Verdict::Exact);
            if exact && !ok {
                let _ = writeln!(
                    failures,
                    "{}: at step {k} the continuous replay does not make the write it makes from a fresh view",
                    s.file
                );
            }
        }
        let end = s.recording.steps().last().expect("steps");
        let (progressing, available) = scenarios::conditions(&last);
        if (progressing.clone(), available) != (end.progressing.clone(), end.available) {
            let _ = writeln!(
                failures,
                "{}: ends with Progressing {progressing:?} / Available {available:?}, the Deployment with {:?} / {:?}",
                s.file, end.progressing, end.available
            );
        }
        if !last.actions.is_empty() {
            let _ = writeln!(
                failures,
                "{}: the continuous replay still wants {}",
                s.file,
                scenarios::show_actions(&last)
            );
        }
    }
    println!("continuous replay: {made} of {total} writes made by the persisted planner");
    assert!(failures.is_empty(), "{failures}");
}

/// The scenario comparison can fail: the same recording with one write of
/// the controller altered (the new ReplicaSet created at 4 instead of 3, and
/// scaled to 6 instead of 5 later) is flagged as a mismatch at those steps,
/// and the rest still matches.
#[test]
fn the_scenario_comparison_flags_an_altered_write() {
    let path = fixtures_dir().join("replay/scale-down-mid-rollout.jsonl");
    let text = std::fs::read_to_string(&path).expect("the committed fixture");
    let new_rs = {
        let r = engine_ops_rollout::replay::Recording::parse(&text).expect("parses");
        r.replica_sets()[1].name.clone()
    };
    // Every event of the new ReplicaSet whose spec.replicas is 3 says 4 instead.
    let altered: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            if v.pointer("/object/metadata/name").and_then(|n| n.as_str()) == Some(new_rs.as_str())
                && v.pointer("/object/spec/replicas")
                    .and_then(serde_json::Value::as_u64)
                    == Some(3)
            {
                v["object"]["spec"]["replicas"] = 4.into();
            }
            v.to_string() + "\n"
        })
        .collect();
    let s = scenarios::Scenario {
        file: "altered".into(),
        recording: engine_ops_rollout::replay::Recording::parse(&altered).expect("parses"),
    };
    let rows = scenarios::compare(&s);
    let mismatches: Vec<usize> = rows
        .iter()
        .filter(|r| r.verdict == scenarios::Verdict::Mismatch)
        .map(|r| r.step)
        .collect();
    assert!(!mismatches.is_empty(), "{}", scenarios::table(&s, &rows));
    assert!(
        rows.iter().any(|r| r.verdict == scenarios::Verdict::Exact),
        "the unaltered writes still match"
    );
}

/// `tools/k8s-testenv/record --validation`: what the real API server accepts
/// and refuses of a Deployment's rolling-update budget and deadline (a server
/// dry run per case). The spec builder accepts and refuses the same, naming
/// the same field.
#[test]
fn the_spec_is_accepted_and_refused_as_the_api_server_does() {
    let text = std::fs::read_to_string(fixtures_dir().join("validation.jsonl"))
        .expect("the committed fixture");
    let field_of = |k8s: &str| match k8s {
        "spec.strategy.rollingUpdate.maxUnavailable" => "strategy.rolling.max_unavailable",
        "spec.strategy.rollingUpdate.maxSurge" => "strategy.rolling.max_surge",
        "spec.progressDeadlineSeconds" => "progress_deadline",
        other => panic!("no counterpart for the API server's field {other}"),
    };
    let value = |v: &serde_json::Value| -> IntOrPercent {
        match v {
            serde_json::Value::Number(n) => {
                IntOrPercent::Count(u32::try_from(n.as_u64().expect("a count")).expect("small"))
            }
            serde_json::Value::String(s) => s.parse().expect("a percentage"),
            other => panic!("unexpected value {other}"),
        }
    };
    let (mut accepted, mut refused) = (0, 0);
    for line in text.lines().skip(1) {
        let case: serde_json::Value = serde_json::from_str(line).expect("json line");
        let built = RolloutSpec::builder("app:v1", 4)
            .strategy(Strategy::Rolling(RollingStrategy::new(
                value(&case["max_surge"]),
                value(&case["max_unavailable"]),
            )))
            .min_ready(Duration::from_secs(
                case["min_ready_seconds"].as_u64().expect("seconds"),
            ))
            .progress_deadline(Some(Duration::from_secs(
                case["progress_deadline_seconds"].as_u64().expect("seconds"),
            )))
            .build();
        if case["accepted"] == true {
            accepted += 1;
            assert!(
                built.is_ok(),
                "the API server accepts {case}, the builder refuses: {built:?}"
            );
        } else {
            refused += 1;
            let want = field_of(case["field"].as_str().expect("a field"));
            match built {
                Err(engine_ops_rollout::Error::InvalidSpec { field, .. }) => {
                    assert_eq!(field, want, "{case}")
                }
                other => panic!("the API server refuses {case}, the builder gives {other:?}"),
            }
        }
    }
    assert!(
        accepted >= 30 && refused >= 8,
        "{accepted} accepted, {refused} refused"
    );
}
