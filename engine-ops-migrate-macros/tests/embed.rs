//! `embed!` as a user's crate sees it, built by a real `cargo build` of a
//! scratch crate (these are compile-fail tests: trybuild's harness, written
//! out, because the cases need directories of migration files and a
//! rebuild after a file is added, edited or removed):
//!
//! - every broken rule is a compile error naming the file, with the same
//!   message `load_dir` gives at run time;
//! - a crate with the one-line build script is rebuilt when a migration is
//!   added, edited or removed, and the new binary runs the new list;
//! - without the build script, a debug binary started after a migration
//!   was added stops with a message saying so.
//!
//! The scratch crate builds in `<target dir>/embed-scratch` (the first run
//! compiles engine-ops-migrate's dependencies there once; later runs only
//! the scratch crate).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Scratch {
    _root: tempfile::TempDir,
    dir: PathBuf,
    target: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

impl Scratch {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("probe");
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.join("migrations")).expect("mkdir");
        let migrate = workspace().join("engine-ops-migrate");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"embed-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\nengine-ops-migrate = {{ path = {:?} }}\n\n[workspace]\n",
                migrate.display().to_string()
            ),
        )
        .expect("manifest");
        // The workspace's versions, already downloaded.
        std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
        std::fs::write(
            dir.join("src/main.rs"),
            "fn main() {\n    let migrations = engine_ops_migrate::embed!(\"migrations\");\n    \
             for m in &migrations {\n        println!(\"{} {} {}\", m.version(), m.name(), m.source_text().trim());\n    }\n}\n",
        )
        .expect("main");
        // target/<profile>/deps/embed-<hash> -> target
        let exe = std::env::current_exe().expect("test binary");
        let target = exe
            .ancestors()
            .nth(3)
            .expect("the test binary sits in <target>/<profile>/deps")
            .join("embed-scratch");
        Self {
            _root: root,
            dir,
            target,
        }
    }

    fn migrations(&self) -> PathBuf {
        self.dir.join("migrations")
    }

    /// Replaces the migrations with `files`.
    fn set(&self, files: &[(&str, &[u8])]) {
        let _ = std::fs::remove_dir_all(self.migrations());
        std::fs::create_dir_all(self.migrations()).expect("mkdir");
        for (name, text) in files {
            std::fs::write(self.migrations().join(name), text).expect("write");
        }
    }

    fn build(&self) -> Output {
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet"])
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("cargo runs")
    }

    fn run(&self) -> Output {
        Command::new(self.target.join("debug").join("embed-probe"))
            .output()
            .expect("the probe runs")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds, expects a compile error that contains `load_dir`'s message for
/// the same directory and names `file`.
fn refused(scratch: &Scratch, files: &[(&str, &[u8])], file: &str) {
    scratch.set(files);
    let expected = match engine_ops_migrate::load_dir(scratch.migrations()) {
        Err(engine_ops_migrate::SourceError::Invalid { message, .. }) => message,
        Err(engine_ops_migrate::SourceError::NotUtf8 { .. }) => format!(
            "migration file {} is not UTF-8 text",
            scratch.migrations().join(file).display()
        ),
        other => panic!("load_dir should refuse {files:?}: {other:?}"),
    };
    let out = scratch.build();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{file}: the build should fail");
    assert!(
        stderr.contains(&expected),
        "the compile error should carry load_dir's message {expected:?}; stderr:\n{stderr}"
    );
    assert!(stderr.contains(file), "{stderr}");
    assert!(
        stderr.contains("embed!(\"migrations\")"),
        "the error points at the macro call: {stderr}"
    );
}

fn lines(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).lines().map(str::to_owned).collect()
}

fn build_and_run(scratch: &Scratch) -> Vec<String> {
    let built = scratch.build();
    assert!(built.status.success(), "{}", text(&built.stderr));
    lines(&scratch.run())
}

/// Cargo compares modification times: make the next change newer than
/// the last build.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn broken_rules_are_compile_errors_and_added_files_are_seen() {
    let scratch = Scratch::new();

    // Compile errors, each with the run-time loader's message.
    refused(
        &scratch,
        &[("0001_a.sql", b"SELECT 1;"), ("1_b.sql", b"SELECT 2;")],
        "1_b.sql",
    );
    refused(
        &scratch,
        &[("create_users.sql", b"SELECT 1;")],
        "create_users.sql",
    );
    refused(
        &scratch,
        &[("0002_idx.up.sql", b"SELECT 1;")],
        "0002_idx.up.sql",
    );
    refused(
        &scratch,
        &[("0001_a.sql", b"-- engine-ops: no-transactoin\nSELECT 1;")],
        "0001_a.sql",
    );
    refused(
        &scratch,
        &[("0001_latin1.sql", b"SELECT '\xe9';")],
        "0001_latin1.sql",
    );
    let _ = std::fs::remove_dir_all(scratch.migrations());
    let out = scratch.build();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read the migrations directory")
            && text(&out.stderr).contains("relative to the crate's Cargo.toml"),
        "{}",
        text(&out.stderr)
    );

    // Without a build script: edits rebuild (include_str!), an added file
    // does not, and the stale debug binary says so instead of running.
    scratch.set(&[("0001_a.sql", b"SELECT 1;")]);
    assert_eq!(build_and_run(&scratch), ["1 a SELECT 1;"]);
    tick();
    std::fs::write(scratch.migrations().join("0001_a.sql"), "SELECT 11;").expect("edit");
    assert_eq!(
        build_and_run(&scratch),
        ["1 a SELECT 11;"],
        "an edit rebuilds"
    );
    tick();
    std::fs::write(scratch.migrations().join("0002_b.sql"), "SELECT 2;").expect("add");
    assert!(scratch.build().status.success());
    let stale = scratch.run();
    assert!(
        !stale.status.success(),
        "a stale binary must not run the old list"
    );
    let stderr = text(&stale.stderr);
    assert!(
        stderr.contains("changed after this binary was built (0002_b.sql was added)")
            && stderr.contains("cargo::rerun-if-changed=migrations"),
        "{stderr}"
    );

    // With the one-line build script: added, edited and removed files are
    // all seen by the next `cargo build`.
    std::fs::write(
        scratch.dir.join("build.rs"),
        "fn main() {\n    println!(\"cargo::rerun-if-changed=migrations\");\n}\n",
    )
    .expect("build.rs");
    assert_eq!(build_and_run(&scratch), ["1 a SELECT 11;", "2 b SELECT 2;"]);
    tick();
    std::fs::write(scratch.migrations().join("0010_c.up.sql"), "SELECT 10;").expect("add");
    std::fs::write(scratch.migrations().join("0010_c.down.sql"), "SELECT -10;").expect("add");
    assert_eq!(
        build_and_run(&scratch),
        ["1 a SELECT 11;", "2 b SELECT 2;", "10 c SELECT 10;"],
        "an added pair is seen"
    );
    tick();
    std::fs::remove_file(scratch.migrations().join("0002_b.sql")).expect("remove");
    assert_eq!(
        build_and_run(&scratch),
        ["1 a SELECT 11;", "10 c SELECT 10;"],
        "a removed file is seen"
    );
}
