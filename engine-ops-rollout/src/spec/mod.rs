//! What the user asks for: replicas, template and strategy, validated at
//! construction.
//!
//! [`RolloutSpec`] is built with [`RolloutSpec::builder`] and refuses every
//! invalid field, naming it. Its [`Strategy`] is one of those below;
//! maxSurge and maxUnavailable are [`IntOrPercent`]s, resolved for a replica
//! count as [`Fenceposts`].
//!
//! # Strategies
//!
//! [`RollingStrategy`], [`Strategy::Recreate`], [`BlueGreenStrategy`] (with
//! [`Promotion`]) and [`CanaryStrategy`] (with [`CanaryStep`]s); the gates of
//! the last two are [`CheckSpec`]s.

mod budget;
mod strategy;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::budget::{Fenceposts, IntOrPercent};
pub use self::strategy::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec, Promotion, RollingStrategy, Strategy,
};
use crate::error::Error;

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
/// use engine_ops_rollout::{RolloutSpec, Strategy, spec::RollingStrategy};
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
    /// use engine_ops_rollout::{Error, RolloutSpec, Strategy, spec::{IntOrPercent, RollingStrategy}};
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
