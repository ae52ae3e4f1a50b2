//! The strategies: rolling, blue-green, canary and Recreate, with their
//! parameters and checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::budget::IntOrPercent;

/// A named check (health check, smoke test, analysis) that gates a stage.
///
/// The caller runs the check when asked ([`Action::StartCheck`](crate::decision::Action::StartCheck))
/// and reports its status in each [`Observation`](crate::observation::Observation). The check fails when
/// its status is `Failed`, when `failure_threshold` failed measurements have been counted
/// (Flagger's failed-check threshold), or when `timeout` passes without a verdict.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::spec::CheckSpec;
///
/// let smoke = CheckSpec::new("smoke").failure_threshold(2).timeout(Duration::from_secs(120));
/// assert_eq!(smoke.name, "smoke");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckSpec {
    /// Name, unique within its list; it becomes part of every [`CheckRun`](crate::observation::CheckRun).
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
/// use engine_ops_rollout::spec::{IntOrPercent, RollingStrategy};
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
    /// Wait for a [`Command::Promote`](crate::observation::Command::Promote).
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
/// use engine_ops_rollout::spec::{BlueGreenStrategy, CheckSpec, Promotion};
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
    /// Wait: for a duration, or (`None`) until [`Command::Promote`](crate::observation::Command::Promote).
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
/// use engine_ops_rollout::spec::{CanaryStep, CanaryStrategy, CheckSpec};
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
