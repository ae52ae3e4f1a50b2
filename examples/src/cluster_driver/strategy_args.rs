//! Command-line options that describe a track-based strategy, shared by
//! the programs that start one (`blue_green deploy`, `canary deploy`,
//! `deploy_pipeline blue-green`), and their translation into the rollout
//! planner's spec.

use std::time::Duration;

use clap::{Args, ValueEnum};
use engine_ops_rollout::Strategy;
use engine_ops_rollout::spec::{BlueGreenStrategy, CheckSpec, DeadlineAction, Promotion};

use super::cli::{CheckArgs, parse_check, parse_duration};

/// What a track-based rollout does at its progress deadline
/// (`--on-deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDeadline {
    /// Report it and exit 1.
    Report,
    /// Abort: traffic back on the stable revision.
    Abort,
}

impl OnDeadline {
    /// The planner's action for this choice.
    #[must_use]
    pub fn action(self) -> DeadlineAction {
        match self {
            Self::Report => DeadlineAction::Report,
            Self::Abort => DeadlineAction::Abort,
        }
    }
}

/// A check's spec: its name and, when given, the time after which a check
/// without a verdict fails.
#[must_use]
pub fn check_spec(name: &str, timeout: Option<Duration>) -> CheckSpec {
    let spec = CheckSpec::new(name);
    match timeout {
        Some(t) => spec.timeout(t),
        None => spec,
    }
}

/// The blue-green options every program that rolls out a new colour takes
/// (`#[command(flatten)]` them; a program adds its own, such as a manual
/// gate).
#[derive(Debug, Clone, Args)]
pub struct BlueGreenOptions {
    /// Pods of the new colour before promotion (default: all).
    #[arg(long)]
    pub preview_replicas: Option<u32>,
    /// Promote this long after the pre-promotion checks passed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub promote_after: Option<Duration>,
    /// How long the old colour stays up after the switch, for an instant
    /// rollback.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub scale_down_delay: Duration,
    /// How long an aborted colour stays up.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub abort_scale_down_delay: Duration,
    /// A check against the preview before the switch (repeatable):
    /// `NAME` (defined with --check) or `NAME=COMMAND|URL`.
    #[arg(long, value_name = "NAME[=COMMAND]", value_parser = parse_check)]
    pub pre_check: Vec<(String, Option<String>)>,
    /// A check after the switch; a failure switches traffic back
    /// (repeatable).
    #[arg(long, value_name = "NAME[=COMMAND]", value_parser = parse_check)]
    pub post_check: Vec<(String, Option<String>)>,
    /// A check without a verdict this long fails.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub check_timeout: Option<Duration>,
    /// What happens at the progress deadline.
    #[arg(long, value_enum, default_value = "abort")]
    pub on_deadline: OnDeadline,
}

impl BlueGreenOptions {
    /// The planner's strategy: promotion at a manual gate when `manual`,
    /// else after `--promote-after`, else automatic. Checks defined inline
    /// (`--pre-check NAME=COMMAND`) are added to `checks`.
    #[must_use]
    pub fn strategy(&self, manual: bool, checks: &mut CheckArgs) -> Strategy {
        let promotion = match (manual, self.promote_after) {
            (true, _) => Promotion::Manual,
            (false, Some(d)) => Promotion::After(d),
            (false, None) => Promotion::Automatic,
        };
        let mut bg = BlueGreenStrategy::new()
            .scale_down_delay(self.scale_down_delay)
            .abort_scale_down_delay(self.abort_scale_down_delay)
            .promotion(promotion);
        if let Some(p) = self.preview_replicas {
            bg = bg.preview_replicas(p);
        }
        for (name, def) in &self.pre_check {
            bg = bg.pre_promotion(check_spec(name, self.check_timeout));
            checks.checks.extend(def.clone().map(|d| (name.clone(), d)));
        }
        for (name, def) in &self.post_check {
            bg = bg.post_promotion(check_spec(name, self.check_timeout));
            checks.checks.extend(def.clone().map(|d| (name.clone(), d)));
        }
        Strategy::BlueGreen(bg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bg: BlueGreenOptions,
    }

    #[test]
    fn inline_checks_are_defined_and_named_in_order() {
        let cli = Cli::try_parse_from([
            "bg",
            "--pre-check",
            "smoke=true",
            "--post-check",
            "errors",
            "--check-timeout",
            "5s",
            "--on-deadline",
            "report",
        ])
        .expect("valid options");
        let mut checks = CheckArgs { checks: Vec::new() };
        let Strategy::BlueGreen(bg) = cli.bg.strategy(false, &mut checks) else {
            panic!("not blue-green");
        };
        assert_eq!(checks.checks, vec![("smoke".into(), "true".into())]);
        assert_eq!(bg.pre_promotion.len(), 1);
        assert_eq!(bg.pre_promotion[0].name, "smoke");
        assert_eq!(bg.post_promotion[0].name, "errors");
        assert_eq!(bg.pre_promotion[0].timeout, Some(Duration::from_secs(5)));
        assert_eq!(cli.bg.on_deadline.action(), DeadlineAction::Report);
    }

    #[test]
    fn a_manual_gate_wins_over_a_promotion_delay() {
        let cli = Cli::try_parse_from(["bg", "--promote-after", "1m"]).expect("valid options");
        let mut checks = CheckArgs { checks: Vec::new() };
        let promotion = |manual| match cli
            .bg
            .strategy(manual, &mut CheckArgs { checks: Vec::new() })
        {
            Strategy::BlueGreen(bg) => bg.promotion,
            _ => panic!("not blue-green"),
        };
        assert_eq!(promotion(true), Promotion::Manual);
        assert_eq!(promotion(false), Promotion::After(Duration::from_secs(60)));
        let plain = Cli::try_parse_from(["bg"]).expect("valid options");
        let Strategy::BlueGreen(bg) = plain.bg.strategy(false, &mut checks) else {
            panic!("not blue-green");
        };
        assert_eq!(bg.promotion, Promotion::Automatic);
        assert_eq!(plain.bg.on_deadline, OnDeadline::Abort);
    }
}
