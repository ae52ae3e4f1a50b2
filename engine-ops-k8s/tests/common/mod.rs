//! The applications the tests render, shared by the test files.

#![allow(dead_code, unreachable_pub)]

use engine_ops_k8s::manifest::{
    App, AppBuilder, Autoscaling, Disruption, EnvValue, IntOrPercent, Port, Probe, Prometheus,
    Resources, ScalingPolicy, ScalingRules,
};

/// A digest that names no real image (the test cluster's fake nodes never
/// pull one).
pub const DIGEST: &str = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

pub fn image(repo: &str) -> String {
    format!("registry.example/{repo}@{DIGEST}")
}

/// The original system's application, described the way its Helm chart
/// meant to: the probe paths it really serves (`/api/v1/health/*`), on a
/// port of their own.
pub fn engine_ops(namespace: &str) -> AppBuilder {
    App::builder("engine-ops", namespace, image("engine-ops"))
        .version("0.3.0")
        .part_of("engine-ops")
        .component("api")
        .port(Port::new("http", 3000).service_port(80))
        .port(Port::new("health", 9464))
        .startup(
            Probe::http("/api/v1/health/live")
                .port("health")
                .period_seconds(2)
                .failure_threshold(30),
        )
        .readiness(
            Probe::http("/api/v1/health/ready")
                .port("health")
                .period_seconds(5),
        )
        .liveness(
            Probe::http("/api/v1/health/live")
                .port("health")
                .period_seconds(10),
        )
        .resources(
            Resources::new()
                .cpu_request("250m")
                .memory_request("256Mi")
                .cpu_limit("1")
                .memory_limit("512Mi"),
        )
        .env("NODE_ENV", "production")
        .env_from("POD_NAME", EnvValue::Field("metadata.name".to_owned()))
        .config("LOG_LEVEL", "info")
        .config("RATE_LIMIT_MAX", "100")
        .prometheus(Prometheus::new("health"))
        .termination_grace_period_seconds(45)
        .label("team", "platform")
        .annotation("example.com/owner", "platform-team")
}

/// The rolling application of the golden file: autoscaled 3..10 on CPU and
/// memory with explicit behaviour, a budget of minAvailable 2.
pub fn rolling_app(namespace: &str) -> App {
    engine_ops(namespace)
        .autoscaling(
            Autoscaling::new(3, 10)
                .cpu_utilization(70)
                .memory_utilization(80)
                .scale_up(ScalingRules::new(0).policy(ScalingPolicy::Pods {
                    value: 2,
                    period_seconds: 30,
                }))
                .scale_down(ScalingRules::new(300).policy(ScalingPolicy::Percent {
                    value: 50,
                    period_seconds: 60,
                })),
        )
        .disruption(Disruption::MinAvailable(IntOrPercent::Count(2)))
        .change_cause("deploy 0.3.0")
        .build()
        .expect("the rolling test app is valid")
}

/// The blue-green application of the golden file: 3 fixed replicas per
/// track, at most one evicted at a time.
pub fn blue_green_app(namespace: &str) -> App {
    engine_ops(namespace)
        .replicas(3)
        .disruption(Disruption::MaxUnavailable(IntOrPercent::Count(1)))
        .change_cause("deploy 0.3.0")
        .build()
        .expect("the blue-green test app is valid")
}

/// Strings that change meaning when written unquoted.
pub const TRICKY: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "NO",
    "~",
    "null",
    "Null",
    "",
    "0755",
    "0o17",
    "0x1F",
    "1e3",
    "1_000",
    ".inf",
    "-.inf",
    ".NaN",
    "2024-01-01",
    "12:30:00",
    "1:20",
    "- a",
    ": b",
    "#c",
    "a #b",
    " lead",
    "trail ",
    "a\nb",
    "a\n",
    "\ta",
    "\"q\"",
    "'s'",
    "=",
    "<<",
    "*alias",
    "&anchor",
    "!tag",
    "%YAML",
    "@at",
    "`tick",
    "{a: 1}",
    "[1]",
    "---",
    "...",
    "? k",
    "| x",
    "> y",
    "é ü ✓",
    "\u{0}",
    "\u{7f}",
    "\u{feff}bom",
    "\\",
    "a\\nb",
];

pub mod cluster;
