//! Golden files of the rendered YAML: any change to what users would
//! commit to git fails here until it is reviewed and accepted.
//!
//! To accept an intended change: `ENGINE_OPS_ACCEPT_GOLDEN=1 cargo test -p
//! engine-ops-k8s --test golden`, then review `git diff
//! engine-ops-k8s/tests/golden/` and commit it.

mod common;

use std::path::PathBuf;

use engine_ops_k8s::manifest::{self, BlueGreen, IntOrPercent, Object, Rolling, Track};

const ACCEPT: &str = "ENGINE_OPS_ACCEPT_GOLDEN";

fn golden(file: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let how = format!(
        "if the change is intended, run `{ACCEPT}=1 cargo test -p engine-ops-k8s --test golden`, \
         review `git diff {}` and commit it",
        path.display()
    );
    if std::env::var_os(ACCEPT).is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden file {} cannot be read ({e}); {how}", path.display()));
    if expected == actual {
        return;
    }
    let (line, (want, got)) = expected
        .lines()
        .chain(std::iter::repeat("<end of file>"))
        .zip(actual.lines().chain(std::iter::repeat("<end of file>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .expect("texts differ, so some line differs");
    panic!(
        "rendered YAML differs from {} at line {}:\n  golden:   {want}\n  rendered: {got}\n{how}",
        path.display(),
        line + 1
    );
}

#[test]
fn rolling_yaml_is_unchanged() {
    let set = Rolling::new()
        .max_surge(IntOrPercent::Count(1))
        .max_unavailable(IntOrPercent::Count(0))
        .render(&common::rolling_app("shop"))
        .expect("render");
    golden("rolling.yaml", &set.to_yaml().expect("yaml"));
}

#[test]
fn blue_green_yaml_is_unchanged() {
    let set = BlueGreen::new(Track::Blue)
        .render(&common::blue_green_app("shop"))
        .expect("render");
    let mut objects = set.objects();
    objects.push(Object::ReplicaSet(set.replica_set(Track::Blue, Some(3))));
    objects.push(Object::ReplicaSet(set.replica_set(Track::Green, Some(0))));
    golden(
        "blue-green.yaml",
        &manifest::to_yaml(&objects).expect("yaml"),
    );
}

#[test]
fn json_is_the_same_objects_as_yaml() {
    let set = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    let from_json = engine_ops_k8s::manifest::RollingSet::from_json(&set.to_json().expect("json"))
        .expect("read json");
    let from_yaml = engine_ops_k8s::manifest::RollingSet::from_yaml(&set.to_yaml().expect("yaml"))
        .expect("read yaml");
    assert_eq!(from_json, set);
    assert_eq!(from_yaml, set);
}

#[test]
fn rendering_is_deterministic() {
    let a = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    let b = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    assert_eq!(a.to_yaml().expect("yaml"), b.to_yaml().expect("yaml"));
    assert_eq!(a.to_json().expect("json"), b.to_json().expect("json"));
}
