//! What the user asks for: replicas, template and strategy, validated at construction.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A count or a percentage of the desired replicas, like Kubernetes' `IntOrString`.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::IntOrPercent;
///
/// let surge: IntOrPercent = "25%".parse()?;
/// assert_eq!(surge.resolve(10, true), 3); // ceil(2.5)
/// assert_eq!(surge.resolve(10, false), 2); // floor(2.5)
/// assert_eq!("3".parse::<IntOrPercent>()?, IntOrPercent::Count(3));
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A percentage of the desired replicas.
    Percent(u32),
}

impl IntOrPercent {
    /// Resolves against `total` replicas: a count is itself, a percentage
    /// rounds up when `round_up` (maxSurge) and down otherwise (maxUnavailable),
    /// as `intstr.GetScaledValueFromIntOrPercent` does.
    #[must_use]
    pub const fn resolve(self, total: u32, round_up: bool) -> u32 {
        match self {
            Self::Count(c) => c,
            Self::Percent(p) => {
                let x = p as u64 * total as u64;
                let v = if round_up { x.div_ceil(100) } else { x / 100 };
                if v > u32::MAX as u64 {
                    u32::MAX
                } else {
                    v as u32
                }
            }
        }
    }

    const fn is_zero(self) -> bool {
        matches!(self, Self::Count(0) | Self::Percent(0))
    }
}

impl FromStr for IntOrPercent {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let parse = |digits: &str| {
            digits.parse::<u32>().map_err(|e| Error::Parse {
                input: s.to_owned(),
                reason: format!("expected a whole number such as `3` or `25%` ({e})"),
            })
        };
        match t.strip_suffix('%') {
            Some(p) => parse(p).map(Self::Percent),
            None => parse(t).map(Self::Count),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(c) => write!(f, "{c}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// maxSurge and maxUnavailable resolved for a replica count, as the
/// Deployment controller's `ResolveFenceposts`, `MaxSurge` and `MaxUnavailable` do.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{Fenceposts, IntOrPercent};
///
/// let pct = IntOrPercent::Percent(25);
/// let f = Fenceposts::resolve(10, pct, pct);
/// assert_eq!((f.max_surge, f.max_unavailable), (3, 2));
/// assert_eq!((f.min_available(), f.max_total()), (8, 13));
///
/// // n = 1 with 0 / 25 %: both resolve to zero, so maxUnavailable becomes 1.
/// let f = Fenceposts::resolve(1, IntOrPercent::Count(0), pct);
/// assert_eq!((f.max_surge, f.max_unavailable, f.both_zero_rule), (0, 1, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fenceposts {
    /// Desired replicas the values were resolved against.
    pub replicas: u32,
    /// Pods allowed above `replicas` (not clamped, as in the controller).
    pub max_surge: u32,
    /// Pods allowed to be unavailable, clamped to `replicas`.
    pub max_unavailable: u32,
    /// True when both resolved to zero and maxUnavailable was set to 1.
    pub both_zero_rule: bool,
}

impl Fenceposts {
    /// The fenceposts of a `Recreate` Deployment: no surge, and none
    /// unavailable counted (`MaxSurge` and `MaxUnavailable` are 0 when the
    /// strategy is not a rolling update).
    #[must_use]
    pub const fn recreate(replicas: u32) -> Self {
        Self {
            replicas,
            max_surge: 0,
            max_unavailable: 0,
            both_zero_rule: false,
        }
    }

    /// Resolves both fenceposts for `replicas` desired pods.
    #[must_use]
    pub const fn resolve(
        replicas: u32,
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
    ) -> Self {
        let s = max_surge.resolve(replicas, true);
        let mut u = max_unavailable.resolve(replicas, false);
        let both_zero_rule = s == 0 && u == 0;
        if both_zero_rule {
            u = 1;
        }
        let u = if u < replicas { u } else { replicas };
        Self {
            replicas,
            max_surge: s,
            max_unavailable: u,
            both_zero_rule,
        }
    }

    /// `replicas - max_unavailable`: fewer available pods than this is never planned.
    #[must_use]
    pub const fn min_available(&self) -> u32 {
        self.replicas - self.max_unavailable
    }

    /// `replicas + max_surge`: the ceiling on the sum of all tracks' sizes.
    #[must_use]
    pub const fn max_total(&self) -> u32 {
        self.replicas.saturating_add(self.max_surge)
    }
}

/// What to do when a rollout makes no progress for `progress_deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadlineAction {
    /// Report `ProgressDeadlineExceeded` and keep trying (the Deployment controller's behaviour).
    #[default]
    Report,
    /// Abort: return to the stable revision and stay degraded until `Retry` or a new template.
    Abort,
    /// Undo: roll forward to the previous revision, as `kubectl rollout undo` would.
    Undo,
}

/// A named check (health check, smoke test, analysis) that gates a stage.
///
/// The caller runs the check when asked ([`Action::StartCheck`](crate::Action::StartCheck))
/// and reports its status in each [`Observation`](crate::Observation). The check fails when
/// its status is `Failed`, when `failure_threshold` failed measurements have been counted
/// (Flagger's failed-check threshold), or when `timeout` passes without a verdict.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::CheckSpec;
///
/// let smoke = CheckSpec::new("smoke").failure_threshold(2).timeout(Duration::from_secs(120));
/// assert_eq!(smoke.name, "smoke");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckSpec {
    /// Name, unique within its list; it becomes part of every [`CheckRun`](crate::CheckRun).
    pub name: String,
    /// Failed measurements that fail the check (at least 1; default 1).
    pub failure_threshold: u32,
    /// Time after which a check without a verdict counts as failed.
    pub timeout: Option<Duration>,
}

impl CheckSpec {
    /// A check that fails on the first failed measurement and never times out.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            failure_threshold: 1,
            timeout: None,
        }
    }

    /// Sets the number of failed measurements that fail the check.
    #[must_use]
    pub const fn failure_threshold(mut self, threshold: u32) -> Self {
        self.failure_threshold = threshold;
        self
    }

    /// Sets the time after which a check without a verdict counts as failed.
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Rolling update parameters (Kubernetes `RollingUpdateDeployment`).
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{IntOrPercent, RollingStrategy};
///
/// let r = RollingStrategy::new(IntOrPercent::Count(1), IntOrPercent::Count(0));
/// assert_eq!(RollingStrategy::default().max_surge, IntOrPercent::Percent(25));
/// # let _ = r;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RollingStrategy {
    /// Pods allowed above the desired count (percentages round up, and may be
    /// above 100 %, as the API server allows). Default 25 %.
    pub max_surge: IntOrPercent,
    /// Pods allowed to be unavailable (percentages round down; at most 100 %).
    /// Default 25 %.
    pub max_unavailable: IntOrPercent,
}

impl RollingStrategy {
    /// A rolling strategy with the given fenceposts.
    #[must_use]
    pub const fn new(max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> Self {
        Self {
            max_surge,
            max_unavailable,
        }
    }
}

impl Default for RollingStrategy {
    fn default() -> Self {
        Self::new(IntOrPercent::Percent(25), IntOrPercent::Percent(25))
    }
}

/// How a blue-green candidate gets promoted once it passed its pre-promotion checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Promotion {
    /// Promote as soon as the gates pass.
    #[default]
    Automatic,
    /// Wait for a [`Command::Promote`](crate::Command::Promote).
    Manual,
    /// Promote this long after the gates pass, or earlier on `Promote`.
    After(Duration),
}

/// Blue-green parameters (Argo Rollouts' `blueGreen` strategy, made explicit).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::{BlueGreenStrategy, CheckSpec, Promotion};
///
/// let bg = BlueGreenStrategy::new()
///     .pre_promotion(CheckSpec::new("smoke"))
///     .post_promotion(CheckSpec::new("error-rate"))
///     .promotion(Promotion::Manual)
///     .scale_down_delay(Duration::from_secs(60));
/// assert_eq!(bg.pre_promotion.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlueGreenStrategy {
    /// Replicas of the new colour before promotion; `None` means the full count.
    pub preview_replicas: Option<u32>,
    /// How promotion happens once the pre-promotion checks passed.
    pub promotion: Promotion,
    /// Checks (smoke tests) run against the preview before the switch.
    pub pre_promotion: Vec<CheckSpec>,
    /// Checks run after the switch; a failure switches traffic back.
    pub post_promotion: Vec<CheckSpec>,
    /// How long the old colour is kept at full size after the post-promotion checks pass.
    pub scale_down_delay: Duration,
    /// How long an aborted new colour is kept before it is scaled to zero.
    pub abort_scale_down_delay: Duration,
}

impl BlueGreenStrategy {
    /// Full-size preview, automatic promotion, no checks, 30 s delays (Argo's defaults).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            preview_replicas: None,
            promotion: Promotion::Automatic,
            pre_promotion: Vec::new(),
            post_promotion: Vec::new(),
            scale_down_delay: Duration::from_secs(30),
            abort_scale_down_delay: Duration::from_secs(30),
        }
    }

    /// Sets the replica count of the new colour before promotion.
    #[must_use]
    pub const fn preview_replicas(mut self, replicas: u32) -> Self {
        self.preview_replicas = Some(replicas);
        self
    }

    /// Sets how promotion happens.
    #[must_use]
    pub const fn promotion(mut self, promotion: Promotion) -> Self {
        self.promotion = promotion;
        self
    }

    /// Adds a pre-promotion check (smoke test).
    #[must_use]
    pub fn pre_promotion(mut self, check: CheckSpec) -> Self {
        self.pre_promotion.push(check);
        self
    }

    /// Adds a post-promotion check.
    #[must_use]
    pub fn post_promotion(mut self, check: CheckSpec) -> Self {
        self.post_promotion.push(check);
        self
    }

    /// Sets how long the old colour stays up after a successful switch.
    #[must_use]
    pub const fn scale_down_delay(mut self, delay: Duration) -> Self {
        self.scale_down_delay = delay;
        self
    }

    /// Sets how long an aborted new colour stays up.
    #[must_use]
    pub const fn abort_scale_down_delay(mut self, delay: Duration) -> Self {
        self.abort_scale_down_delay = delay;
        self
    }
}

impl Default for BlueGreenStrategy {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of a canary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CanaryStep {
    /// Send this percentage (0–100) of traffic, or of replicas without a router, to the canary.
    SetWeight(u32),
    /// Wait: for a duration, or (`None`) until [`Command::Promote`](crate::Command::Promote).
    Pause(Option<Duration>),
    /// Run a check; failure aborts, an inconclusive result waits for `Promote` or `Abort`.
    Analysis(CheckSpec),
}

/// Canary parameters.
///
/// Without a traffic router (`traffic_routing = false`, the default) the weight is
/// carried by replica counts, with Argo Rollouts' current basic-canary
/// arithmetic (`CalculateReplicaCountsForBasicCanary`): the (canary, stable)
/// split over `n` pods, or `n + 1` when surge is allowed, that comes closest
/// to the weight (for weights 1–99 neither side is empty unless `n` is 1
/// without surge; a tie keeps the larger canary). Each decision resizes one
/// thing, in Argo's order: the stable track, else the canary, else the older
/// tracks. Scale-ups stay within `n + maxSurge` (stable first), scale-downs
/// within `Σ available − (n − maxUnavailable)`; older tracks (superseded
/// canaries, the previous stable after promotion, a canary whose template was
/// reverted) lose their unavailable pods first and are then drained newest
/// revision first. A step is done when both sides hold their counts, every
/// canary pod is available and no older track has an available pod; the
/// canary becomes stable once its `n` pods are available after the last step.
/// With a router the canary gets `ceil(w·n/100)` replicas beside a full-size
/// stable and the router's weight is raised only once those are available.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::{CanaryStep, CanaryStrategy, CheckSpec};
///
/// let canary = CanaryStrategy::new([
///     CanaryStep::SetWeight(20),
///     CanaryStep::Pause(Some(Duration::from_secs(60))),
///     CanaryStep::Analysis(CheckSpec::new("error-rate")),
///     CanaryStep::SetWeight(50),
/// ])
/// .traffic_routing(true)
/// .analysis(CheckSpec::new("latency").failure_threshold(3));
/// assert_eq!(canary.steps.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CanaryStrategy {
    /// The steps, in order.
    pub steps: Vec<CanaryStep>,
    /// Whether a traffic router sets weights (otherwise replicas carry the weight).
    pub traffic_routing: bool,
    /// Pods allowed above the desired count without a router. Default 25 %.
    pub max_surge: IntOrPercent,
    /// Pods allowed to be unavailable without a router. Default 0.
    pub max_unavailable: IntOrPercent,
    /// A background analysis run for the whole canary; it aborts at its failure threshold.
    pub analysis: Option<CheckSpec>,
    /// With a router: how long the old stable stays up after promotion.
    pub scale_down_delay: Duration,
    /// With a router: how long an aborted canary stays up (at weight 0).
    pub abort_scale_down_delay: Duration,
}

impl CanaryStrategy {
    /// A replica-weighted canary with these steps, 25 % / 0 budget, 30 s delays.
    #[must_use]
    pub fn new(steps: impl IntoIterator<Item = CanaryStep>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            traffic_routing: false,
            max_surge: IntOrPercent::Percent(25),
            max_unavailable: IntOrPercent::Count(0),
            analysis: None,
            scale_down_delay: Duration::from_secs(30),
            abort_scale_down_delay: Duration::from_secs(30),
        }
    }

    /// Selects router-weighted (`true`) or replica-weighted (`false`) traffic.
    #[must_use]
    pub const fn traffic_routing(mut self, routed: bool) -> Self {
        self.traffic_routing = routed;
        self
    }

    /// Sets the surge / unavailable budget used without a router.
    #[must_use]
    pub const fn budget(mut self, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> Self {
        self.max_surge = max_surge;
        self.max_unavailable = max_unavailable;
        self
    }

    /// Sets the background analysis.
    #[must_use]
    pub fn analysis(mut self, check: CheckSpec) -> Self {
        self.analysis = Some(check);
        self
    }

    /// Sets the scale-down delays after promotion and after abort (router only).
    #[must_use]
    pub const fn delays(mut self, scale_down: Duration, abort_scale_down: Duration) -> Self {
        self.scale_down_delay = scale_down;
        self.abort_scale_down_delay = abort_scale_down;
        self
    }
}

/// The rollout strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Kubernetes-exact rolling update.
    Rolling(RollingStrategy),
    /// Blue-green with preview, gates and instant rollback.
    BlueGreen(BlueGreenStrategy),
    /// Canary with weight steps, pauses and analysis.
    Canary(CanaryStrategy),
    /// Kubernetes' `Recreate`: every old track goes to 0, the new track is
    /// created (or scaled) to the full count only once no old pod is left,
    /// terminating ones included. There is downtime by design; the progress
    /// deadline, pause, proportional scaling, history and undo work as for a
    /// rolling update.
    Recreate,
}

impl Strategy {
    pub(crate) const fn name(&self) -> &'static str {
        match self {
            Self::Rolling(_) => "rolling",
            Self::BlueGreen(_) => "blue-green",
            Self::Canary(_) => "canary",
            Self::Recreate => "recreate",
        }
    }
}

/// A validated rollout spec: the desired replicas, the pod template (an opaque
/// string such as an image digest) and the strategy.
///
/// Built with [`RolloutSpec::builder`]; every invalid field is refused at
/// [`build`](RolloutSpecBuilder::build) with an error naming it. Deserialising
/// validates too, and fills in the builder's defaults for missing fields.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{RolloutSpec, RollingStrategy, Strategy};
///
/// let spec = RolloutSpec::builder("registry/app@sha256:aa", 10)
///     .strategy(Strategy::Rolling(RollingStrategy::default()))
///     .build()?;
/// let next = spec.with_template("registry/app@sha256:bb")?;
/// assert_eq!(next.replicas(), 10);
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RolloutSpecBuilder")]
pub struct RolloutSpec {
    replicas: u32,
    template: String,
    strategy: Strategy,
    min_ready: Duration,
    progress_deadline: Option<Duration>,
    on_deadline: DeadlineAction,
    revision_history_limit: Option<u32>,
}

impl RolloutSpec {
    /// Starts a spec with Kubernetes defaults: rolling 25 % / 25 %, `minReadySeconds` 0,
    /// a 600 s progress deadline that only reports, and a history of 10 revisions.
    pub fn builder(template: impl Into<String>, replicas: u32) -> RolloutSpecBuilder {
        RolloutSpecBuilder {
            replicas,
            template: template.into(),
            strategy: default_strategy(),
            min_ready: Duration::ZERO,
            progress_deadline: default_progress_deadline(),
            on_deadline: DeadlineAction::Report,
            revision_history_limit: default_revision_history_limit(),
        }
    }

    /// Returns a builder holding this spec's values.
    pub fn to_builder(&self) -> RolloutSpecBuilder {
        RolloutSpecBuilder {
            replicas: self.replicas,
            template: self.template.clone(),
            strategy: self.strategy.clone(),
            min_ready: self.min_ready,
            progress_deadline: self.progress_deadline,
            on_deadline: self.on_deadline,
            revision_history_limit: self.revision_history_limit,
        }
    }

    /// The same spec with another template (a new version to roll out).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSpec`] if the template is empty.
    pub fn with_template(&self, template: impl Into<String>) -> Result<Self, Error> {
        let mut b = self.to_builder();
        b.template = template.into();
        b.build()
    }

    /// The same spec with another replica count (a scaling event).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSpec`] if the new count makes the spec invalid
    /// (for instance a blue-green preview count above it).
    pub fn with_replicas(&self, replicas: u32) -> Result<Self, Error> {
        let mut b = self.to_builder();
        b.replicas = replicas;
        b.build()
    }

    /// Desired replicas.
    #[must_use]
    pub const fn replicas(&self) -> u32 {
        self.replicas
    }

    /// The pod template identity.
    #[must_use]
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The strategy.
    #[must_use]
    pub const fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// How long a pod must be ready before it counts as available.
    #[must_use]
    pub const fn min_ready(&self) -> Duration {
        self.min_ready
    }

    /// Progress deadline; `None` means no deadline.
    #[must_use]
    pub const fn progress_deadline(&self) -> Option<Duration> {
        self.progress_deadline
    }

    /// What happens when the progress deadline passes.
    #[must_use]
    pub const fn on_deadline(&self) -> DeadlineAction {
        self.on_deadline
    }

    /// Old revisions kept for undo; `None` keeps all.
    #[must_use]
    pub const fn revision_history_limit(&self) -> Option<u32> {
        self.revision_history_limit
    }
}

/// Builder of [`RolloutSpec`]; [`build`](Self::build) validates.
///
/// A serialised spec deserialises through this builder: a missing field takes
/// the default [`RolloutSpec::builder`] gives it (an explicit `null` deadline
/// or history limit means none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct RolloutSpecBuilder {
    replicas: u32,
    template: String,
    #[serde(default = "default_strategy")]
    strategy: Strategy,
    #[serde(default)]
    min_ready: Duration,
    #[serde(default = "default_progress_deadline")]
    progress_deadline: Option<Duration>,
    #[serde(default)]
    on_deadline: DeadlineAction,
    #[serde(default = "default_revision_history_limit")]
    revision_history_limit: Option<u32>,
}

fn default_strategy() -> Strategy {
    Strategy::Rolling(RollingStrategy::default())
}

/// Kubernetes' `progressDeadlineSeconds` default.
const fn default_progress_deadline() -> Option<Duration> {
    Some(Duration::from_secs(600))
}

/// Kubernetes' `revisionHistoryLimit` default.
const fn default_revision_history_limit() -> Option<u32> {
    Some(10)
}

impl RolloutSpecBuilder {
    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets `minReadySeconds`: how long a pod must be ready to count as available.
    pub const fn min_ready(mut self, min_ready: Duration) -> Self {
        self.min_ready = min_ready;
        self
    }

    /// Sets the progress deadline (`None`: no deadline).
    pub const fn progress_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.progress_deadline = deadline;
        self
    }

    /// Sets what happens at the progress deadline.
    pub const fn on_deadline(mut self, action: DeadlineAction) -> Self {
        self.on_deadline = action;
        self
    }

    /// Sets how many old revisions are kept (`None`: all).
    pub const fn revision_history_limit(mut self, limit: Option<u32>) -> Self {
        self.revision_history_limit = limit;
        self
    }

    /// Validates and returns the spec.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSpec`], naming the field, when: the template is empty; a
    /// rolling update's maxUnavailable is over 100 % (maxSurge is not bounded,
    /// as the API server does not bound it); maxSurge and maxUnavailable are
    /// both zero; the
    /// progress deadline is not longer than `min_ready`; a blue-green preview count
    /// exceeds the replicas; a canary weight is over 100 %; a check name is empty or
    /// repeated, or its failure threshold is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_rollout::{Error, IntOrPercent, RollingStrategy, RolloutSpec, Strategy};
    ///
    /// let err = RolloutSpec::builder("app:v1", 3)
    ///     .strategy(Strategy::Rolling(RollingStrategy::new(IntOrPercent::Count(0), IntOrPercent::Percent(0))))
    ///     .build()
    ///     .expect_err("must be refused");
    /// assert!(matches!(err, Error::InvalidSpec { ref field, .. } if field == "strategy.rolling.max_unavailable"));
    /// ```
    pub fn build(self) -> Result<RolloutSpec, Error> {
        let invalid = |field: &str, reason: String| Error::InvalidSpec {
            field: field.to_owned(),
            reason,
        };
        if self.template.trim().is_empty() {
            return Err(invalid(
                "template",
                "is empty; name the pod template (an image digest, say)".into(),
            ));
        }
        if let Some(d) = self.progress_deadline
            && d <= self.min_ready
        {
            return Err(invalid(
                "progress_deadline",
                format!(
                    "({} s) must be longer than min_ready ({} s); raise the deadline, lower min_ready or set no deadline",
                    d.as_secs_f64(),
                    self.min_ready.as_secs_f64()
                ),
            ));
        }
        match &self.strategy {
            Strategy::Rolling(r) => check_budget(
                "strategy.rolling",
                r.max_surge,
                r.max_unavailable,
                Some("spec.strategy.rollingUpdate"),
            )?,
            Strategy::BlueGreen(bg) => {
                if let Some(p) = bg.preview_replicas
                    && p > self.replicas
                {
                    return Err(invalid(
                        "strategy.blue_green.preview_replicas",
                        format!(
                            "({p}) is above replicas ({}); lower it or leave it unset",
                            self.replicas
                        ),
                    ));
                }
                check_names("strategy.blue_green.pre_promotion", &bg.pre_promotion)?;
                check_names("strategy.blue_green.post_promotion", &bg.post_promotion)?;
                let mut all: Vec<&str> = bg.pre_promotion.iter().map(|c| c.name.as_str()).collect();
                for c in &bg.post_promotion {
                    if all.contains(&c.name.as_str()) {
                        return Err(invalid(
                            "strategy.blue_green.post_promotion",
                            format!(
                                "reuses the check name `{}` of a pre-promotion check; give it its own name",
                                c.name
                            ),
                        ));
                    }
                    all.push(&c.name);
                }
            }
            Strategy::Canary(c) => {
                check_budget("strategy.canary", c.max_surge, c.max_unavailable, None)?;
                let mut checks = Vec::new();
                for (i, step) in c.steps.iter().enumerate() {
                    match step {
                        CanaryStep::SetWeight(w) if *w > 100 => {
                            return Err(invalid(
                                &format!("strategy.canary.steps[{i}].weight"),
                                format!("({w}%) is over 100%; use a weight from 0 to 100"),
                            ));
                        }
                        CanaryStep::Analysis(check) => checks.push(check.clone()),
                        _ => {}
                    }
                }
                if let Some(a) = &c.analysis {
                    checks.push(a.clone());
                }
                check_names("strategy.canary.checks", &checks)?;
            }
            Strategy::Recreate => {}
        }
        Ok(RolloutSpec {
            replicas: self.replicas,
            template: self.template,
            strategy: self.strategy,
            min_ready: self.min_ready,
            progress_deadline: self.progress_deadline,
            on_deadline: self.on_deadline,
            revision_history_limit: self.revision_history_limit,
        })
    }
}

impl TryFrom<RolloutSpecBuilder> for RolloutSpec {
    type Error = Error;
    fn try_from(b: RolloutSpecBuilder) -> Result<Self, Error> {
        b.build()
    }
}

/// The budget checks of the API server (rolling: `ValidateRollingUpdateDeployment`)
/// or of Argo Rollouts (canary): maxSurge has no upper bound; maxUnavailable
/// above 100 % is refused for a rolling update only (Argo clamps it to the
/// replicas); both may not be zero.
fn check_budget(
    prefix: &str,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    kubernetes_path: Option<&str>,
) -> Result<(), Error> {
    let as_kubernetes = |field: &str| {
        kubernetes_path.map_or_else(String::new, |k| {
            format!(" (as the API server refuses `{k}.{field}`)")
        })
    };
    if kubernetes_path.is_some()
        && let IntOrPercent::Percent(p) = unavailable
        && p > 100
    {
        return Err(Error::InvalidSpec {
            field: format!("{prefix}.max_unavailable"),
            reason: format!(
                "({p}%) must not be greater than 100%{}; use at most 100% or an absolute count",
                as_kubernetes("maxUnavailable")
            ),
        });
    }
    if surge.is_zero() && unavailable.is_zero() {
        return Err(Error::InvalidSpec {
            field: format!("{prefix}.max_unavailable"),
            reason: format!(
                "may not be 0 when max_surge is 0{}: the rollout could never replace a pod; allow at least one surge or one unavailable pod",
                as_kubernetes("maxUnavailable")
            ),
        });
    }
    Ok(())
}

fn check_names(field: &str, checks: &[CheckSpec]) -> Result<(), Error> {
    for (i, c) in checks.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(Error::InvalidSpec {
                field: format!("{field}[{i}].name"),
                reason: "is empty; name the check".into(),
            });
        }
        if c.failure_threshold == 0 {
            return Err(Error::InvalidSpec {
                field: format!("{field}[{i}].failure_threshold"),
                reason: "is 0; use 1 to fail on the first failed measurement".into(),
            });
        }
        if checks[..i].iter().any(|o| o.name == c.name) {
            return Err(Error::InvalidSpec {
                field: format!("{field}[{i}].name"),
                reason: format!("`{}` is used twice; check names must be unique", c.name),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_match_the_controller_examples() {
        let p = IntOrPercent::Percent(25);
        let f = Fenceposts::resolve(10, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (3, 2));
        let f = Fenceposts::resolve(1, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (1, 0));
        let f = Fenceposts::resolve(3, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (1, 0));
        let f = Fenceposts::resolve(0, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (0, 0));
        let f = Fenceposts::resolve(2, IntOrPercent::Count(0), IntOrPercent::Count(5));
        assert_eq!(f.max_unavailable, 2, "clamped to n");
    }

    #[test]
    fn max_unavailable_over_100_percent_is_refused_with_its_field_max_surge_is_not() {
        let err = RolloutSpec::builder("a", 1)
            .strategy(Strategy::Rolling(RollingStrategy::new(
                IntOrPercent::Percent(300),
                IntOrPercent::Percent(101),
            )))
            .build()
            .expect_err("must be refused");
        assert!(
            err.to_string()
                .contains("`strategy.rolling.max_unavailable` (101%) must not be greater than 100% (as the API server refuses `spec.strategy.rollingUpdate.maxUnavailable`)"),
            "{err}"
        );
        // Argo Rollouts bounds neither for a canary (maxUnavailable is clamped to the replicas).
        let canary = RolloutSpec::builder("a", 4)
            .strategy(Strategy::Canary(
                CanaryStrategy::new([])
                    .budget(IntOrPercent::Percent(300), IntOrPercent::Percent(150)),
            ))
            .build()
            .expect("valid canary");
        assert_eq!(canary.replicas(), 4);
    }

    #[test]
    fn deadline_must_exceed_min_ready() {
        let err = RolloutSpec::builder("a", 1)
            .min_ready(Duration::from_secs(30))
            .progress_deadline(Some(Duration::from_secs(30)))
            .build()
            .expect_err("must be refused");
        assert!(err.to_string().contains("progress_deadline"), "{err}");
    }

    #[test]
    fn canary_weight_over_100_is_refused() {
        let err = RolloutSpec::builder("a", 1)
            .strategy(Strategy::Canary(CanaryStrategy::new([
                CanaryStep::SetWeight(10),
                CanaryStep::SetWeight(120),
            ])))
            .build()
            .expect_err("must be refused");
        assert!(
            err.to_string().contains("strategy.canary.steps[1].weight"),
            "{err}"
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!("x%".parse::<IntOrPercent>().is_err());
        assert_eq!("40%".parse::<IntOrPercent>(), Ok(IntOrPercent::Percent(40)));
    }

    #[test]
    fn deserialising_validates() {
        let json = r#"{"replicas":1,"template":"","strategy":{"rolling":{"max_surge":{"count":1},"max_unavailable":{"count":0}}}}"#;
        let err = serde_json::from_str::<RolloutSpec>(json).expect_err("must be refused");
        assert!(
            err.to_string()
                .contains("invalid rollout spec: `template` is empty"),
            "{err}"
        );
    }

    #[test]
    fn deserialising_fills_in_the_builder_defaults() {
        let spec: RolloutSpec =
            serde_json::from_str(r#"{"replicas":4,"template":"app:v1"}"#).expect("valid spec");
        assert_eq!(
            spec,
            RolloutSpec::builder("app:v1", 4)
                .build()
                .expect("valid spec")
        );
        let none: RolloutSpec = serde_json::from_str(
            r#"{"replicas":4,"template":"app:v1","progress_deadline":null,"revision_history_limit":null}"#,
        )
        .expect("valid spec");
        assert_eq!(
            (none.progress_deadline(), none.revision_history_limit()),
            (None, None)
        );
        let round_trip: RolloutSpec =
            serde_json::from_str(&serde_json::to_string(&none).expect("serialises"))
                .expect("valid spec");
        assert_eq!(round_trip, none);
    }
}
