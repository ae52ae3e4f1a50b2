//! The whole engine-ops story on embedded defaults: no cluster, no server.
//!
//! A `users` service renames the field `name` to `full_name` without downtime:
//!
//! 1. **Expand** migrations run on the crash-safe JSON journal: the new column
//!    is added and backfilled while the old one stays, so v1 and v2 of the
//!    service can both run.
//! 2. The **versioned API** serves v1 (deprecated, with RFC 9745 / RFC 8594
//!    headers) and v2 from one set of v2 handlers; a registered change turns
//!    v2 bodies into v1 ones. Requests are answered in-process.
//! 3. A **blue-green rollout** of the new image runs in the simulator: the
//!    green colour comes up, the smoke test gates the switch, blue is scaled
//!    down after a delay.
//! 4. Only now, with the old version gone, the **contract** migration drops
//!    the old column.
//!
//! Run with `cargo run -p engine-ops-examples --example quickstart`.
//! The migration journal is written to a temporary directory (printed), or
//! to `$ENGINE_OPS_QUICKSTART_DIR` if set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use engine_ops_apiversion::VersionedBody;
use engine_ops_apiversion::transform::{Change, Changes, TransformLayer, json as edits};
use engine_ops_apiversion::{ApiVersionLayer, Missing, Policy, Scheme, Version, VersionSpec};
use engine_ops_migrate::{
    BoxError, FileStore, Migration, Migrator, Phase, Plan, Progress, Validation,
};
use engine_ops_rollout::{
    RolloutSpec,
    sim::{Simulator, World},
    spec::{BlueGreenStrategy, CheckSpec, Promotion},
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

/// The application's "database" for this example: table name → columns.
type Schema = BTreeMap<String, BTreeSet<String>>;

/// One schema change, described by the SQL it stands for (the bytes the
/// checksum covers).
struct SchemaChange {
    version: u64,
    name: &'static str,
    phase: Option<Phase>,
    sql: &'static str,
    apply: fn(&mut Schema),
    revert: fn(&mut Schema),
    check: fn(&Schema) -> bool,
}

#[engine_ops_migrate::async_trait]
impl Migration<Schema> for SchemaChange {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        self.name
    }
    fn source(&self) -> &[u8] {
        self.sql.as_bytes()
    }
    fn phase(&self) -> Option<Phase> {
        self.phase
    }
    async fn up(&self, schema: &mut Schema) -> Result<(), BoxError> {
        (self.apply)(schema);
        Ok(())
    }
    async fn down(&self, schema: &mut Schema) -> Result<(), BoxError> {
        (self.revert)(schema);
        Ok(())
    }
    async fn validate_up(&self, schema: &mut Schema) -> Result<Validation, BoxError> {
        Ok(Validation::check(
            (self.check)(schema),
            "the schema does not show the change",
        ))
    }
}

fn columns<'a>(schema: &'a mut Schema, table: &str) -> &'a mut BTreeSet<String> {
    schema.entry(table.to_owned()).or_default()
}

fn has_column(schema: &Schema, table: &str, column: &str) -> bool {
    schema.get(table).is_some_and(|c| c.contains(column))
}

fn migrations() -> Vec<Box<dyn Migration<Schema>>> {
    let changes = [
        SchemaChange {
            version: 1,
            name: "create_users",
            phase: None,
            sql: "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);",
            apply: |s| {
                columns(s, "users").extend(["id".to_owned(), "name".to_owned()]);
            },
            revert: |s| {
                s.remove("users");
            },
            check: |s| has_column(s, "users", "name"),
        },
        SchemaChange {
            version: 2,
            name: "add_users_full_name",
            phase: Some(Phase::Expand),
            sql: "ALTER TABLE users ADD COLUMN full_name text;\nUPDATE users SET full_name = name;",
            apply: |s| {
                columns(s, "users").insert("full_name".to_owned());
            },
            revert: |s| {
                columns(s, "users").remove("full_name");
            },
            check: |s| has_column(s, "users", "full_name"),
        },
        SchemaChange {
            version: 3,
            name: "drop_users_name",
            phase: Some(Phase::Contract),
            sql: "ALTER TABLE users DROP COLUMN name;",
            apply: |s| {
                columns(s, "users").remove("name");
            },
            revert: |s| {
                columns(s, "users").insert("name".to_owned());
            },
            check: |s| !has_column(s, "users", "name"),
        },
    ];
    changes
        .into_iter()
        .map(|m| Box::new(m) as Box<dyn Migration<Schema>>)
        .collect()
}

/// The highest version a pre-rollout run may reach: everything pending below
/// the first pending contract migration. `None` when nothing may run yet.
fn before_first_contract(plan: &Plan) -> Option<u64> {
    plan.pending
        .iter()
        .take_while(|m| m.phase != Some(Phase::Contract))
        .map(|m| m.version)
        .last()
}

/// Prints one line per migration step, as the CLI does.
struct PrintProgress;

impl engine_ops_migrate::Observer for PrintProgress {
    fn on_progress(&self, progress: &Progress) {
        match progress {
            Progress::Finished {
                version,
                name,
                direction,
                duration,
            } => println!(
                "    {direction:<4} {version:>3} {name:<22} {:>7.2} ms",
                duration.as_secs_f64() * 1000.0
            ),
            Progress::Failed {
                version,
                name,
                error,
                ..
            } => println!("    FAILED {version} {name}: {error}"),
            _ => {}
        }
    }
}

fn state_dir() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(dir) = std::env::var_os("ENGINE_OPS_QUICKSTART_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        return Ok((dir, None));
    }
    let temp = tempfile::tempdir()?;
    Ok((temp.path().to_owned(), Some(temp)))
}

/// The versioned API: v1 deprecated (sunset in 2027), v2 the head.
fn api_policy() -> anyhow::Result<Policy> {
    let v1 = VersionSpec::new(Version::int(1))
        .deprecated_at(UNIX_EPOCH + Duration::from_secs(1_767_225_600)) // 2026-01-01
        .sunset_at(UNIX_EPOCH + Duration::from_secs(1_798_761_600)) // 2027-01-01
        .deprecation_link("https://engine-ops.dev/changelog#v2")
        .successor_link("/api/v2");
    Ok(Policy::builder(Scheme::Integer)
        .version(v1)
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .on_missing(Missing::Latest)
        .neutral_path("/health")
        .build()?)
}

async fn api_demo() -> anyhow::Result<()> {
    let policy = api_policy()?;
    let changes = Changes::builder(&policy)
        .change(
            Change::new(Version::int(2), "users: `name` was renamed `full_name`")
                .routes(["/api/users"])
                .upgrade_request(|body| edits::rename_field(body, "name", "full_name"))
                .downgrade_response(|body| edits::rename_field(body, "full_name", "name")),
        )
        .build()?;
    // One handler, speaking only v2; the layers rewrite `/api/v1/...` to
    // `/api/...` and translate bodies for v1 callers.
    let handler = tower::service_fn(|request: Request<VersionedBody<Full<Bytes>>>| async move {
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await?.to_bytes();
        let (status, payload) = match path.as_str() {
            "/api/users/1" => (
                StatusCode::OK,
                json!({"id": 1, "full_name": "Ada Lovelace", "tags": ["math", null]}),
            ),
            "/health" => (StatusCode::OK, json!({"status": "ok"})),
            _ => (
                StatusCode::NOT_FOUND,
                json!({"error": format!("no route {path}"), "body_bytes": body.len()}),
            ),
        };
        let response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(payload.to_string())))?;
        Ok::<_, BoxError>(response)
    });
    let service = ServiceBuilder::new()
        .layer(ApiVersionLayer::new(policy.clone()))
        .layer(TransformLayer::new(changes))
        .service(handler);

    let requests: [(&str, Option<&str>); 5] = [
        ("/api/v2/users/1", None),
        ("/api/v1/users/1", None),
        ("/api/users/1", Some("1")),
        ("/api/v7/users/1", None),
        ("/health", Some("garbage")),
    ];
    for (path, header) in requests {
        let mut request = Request::builder().uri(path);
        if let Some(version) = header {
            request = request.header("x-api-version", version);
        }
        let request = request.body(Full::new(Bytes::new()))?;
        let response = service
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        let shown = header.map_or_else(String::new, |v| format!(" (X-API-Version: {v})"));
        println!("    GET {path}{shown} -> {status}");
        for name in ["api-version", "deprecation", "sunset", "link"] {
            for value in headers.get_all(name) {
                println!("        {name}: {}", value.to_str().unwrap_or("<binary>"));
            }
        }
        println!("        {}", String::from_utf8_lossy(&body));
    }
    let usage = policy.usage();
    println!("    usage by version (who still calls v1?):");
    for record in usage.records() {
        println!(
            "        version {:<4} source {:<7} outcome {:<10} count {}",
            record
                .version
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            record.source.map_or("-", |s| s.as_str()),
            record.outcome.as_str(),
            record.count
        );
    }
    Ok(())
}

fn rollout_demo() -> anyhow::Result<()> {
    let strategy = BlueGreenStrategy::new()
        .pre_promotion(CheckSpec::new("smoke").timeout(Duration::from_secs(120)))
        .promotion(Promotion::Automatic)
        .scale_down_delay(Duration::from_secs(30));
    let blue = RolloutSpec::builder("users@sha256:v1", 4)
        .strategy(engine_ops_rollout::Strategy::BlueGreen(strategy))
        .build()?;
    let world = World::new()
        .ready_after(Duration::from_secs(5))
        .check_duration(Duration::from_secs(10));
    let mut cluster = Simulator::deployed(blue.clone(), world)?;
    cluster.set_spec(blue.with_template("users@sha256:v2")?);
    let run = cluster.run()?;
    println!("{run}");
    for switch in cluster.state().switches() {
        let from = switch
            .from_revision
            .map_or_else(|| "nothing".to_owned(), |r| format!("revision {r}"));
        println!(
            "    switch at {}: {from} -> revision {} ({})",
            switch.at, switch.to_revision, switch.reason
        );
    }
    let live: Vec<_> = cluster
        .world()
        .tracks()
        .into_iter()
        .filter(|t| t.spec > 0)
        .map(|t| format!("{} ({} available)", t.template, t.available))
        .collect();
    println!("    running after the rollout: {}", live.join(", "));
    anyhow::ensure!(
        live.len() == 1 && live[0].starts_with("users@sha256:v2"),
        "the rollout did not end with only the new version running: {live:?}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (dir, _temp) = state_dir()?;
    let journal = dir.join("migrations.jsonl");
    println!("engine-ops quickstart: rename users.name to users.full_name without downtime");
    println!("  migration journal: {}\n", journal.display());

    let store = FileStore::builder(&journal)
        .context(Schema::new())
        .build()?;
    let mut migrator = Migrator::builder(store)
        .migrations(migrations())
        .observer(PrintProgress)
        .build()?;

    println!("1. expand migrations, before the rollout");
    let plan = migrator.plan(None).await?;
    match before_first_contract(&plan) {
        Some(target) => {
            let report = migrator.run_to(target).await?;
            println!("    {} applied\n", report.applied.len());
        }
        None => println!("    nothing to expand\n"),
    }

    println!("2. the versioned API serves v1 and v2 from one set of v2 handlers");
    api_demo().await?;

    println!("\n3. blue-green rollout of users@sha256:v2 (simulated cluster)");
    rollout_demo()?;

    println!("\n4. contract migrations, now that v1 pods are gone");
    let report = migrator.run().await?;
    println!("    {} applied", report.applied.len());

    let status = migrator.status().await?;
    let verify = migrator.verify().await?;
    println!("\nsummary");
    for entry in &status.entries {
        println!(
            "    {:>3} {:<22} {:?}",
            entry.version, entry.name, entry.state
        );
    }
    println!(
        "    verify: {}",
        if verify.is_ok() {
            "all checksums match"
        } else {
            "PROBLEMS"
        }
    );
    println!(
        "    schema now: {:?}",
        migrator.store().context_ref().get("users")
    );
    anyhow::ensure!(verify.is_ok(), "verification failed: {verify:?}");
    Ok(())
}
