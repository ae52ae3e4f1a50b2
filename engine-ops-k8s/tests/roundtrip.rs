//! Property: any value a user can put in a set survives YAML and JSON
//! unchanged, including strings that YAML 1.1 readers such as kubectl
//! would otherwise take for booleans, numbers, nulls, dates or syntax.

mod common;

use engine_ops_k8s::manifest::{
    App, BlueGreen, BlueGreenSet, Port, Probe, Rolling, RollingSet, Track,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(common::TRICKY).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ -~]{0,40}",
    ]
}

fn app(config: Vec<(String, String)>, env: Vec<String>, note: String) -> App {
    let mut b = App::builder("shop", "shop", common::image("shop"))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .annotation("example.com/note", note)
        .change_cause("tricky");
    for (i, (k, v)) in config.into_iter().enumerate() {
        b = b.config(format!("{k}{i}"), v);
    }
    for (i, v) in env.into_iter().enumerate() {
        b = b.env(format!("E{i}"), v);
    }
    b.build().expect("keys are valid by construction")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sets_survive_yaml_and_json(
        config in proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_.-]{0,10}", value()), 0..6),
        env in proptest::collection::vec(value(), 0..4),
        note in value(),
        blue in any::<bool>(),
    ) {
        let app = app(config, env, note);
        let rolling = Rolling::new().render(&app).expect("render");
        let yaml = rolling.to_yaml().expect("yaml");
        prop_assert_eq!(&RollingSet::from_yaml(&yaml).expect("read yaml"), &rolling, "{}", yaml);
        prop_assert_eq!(&RollingSet::from_json(&rolling.to_json().expect("json")).expect("read json"), &rolling);
        let active = if blue { Track::Blue } else { Track::Green };
        let bg = BlueGreen::new(active).render(&app).expect("render");
        let yaml = bg.to_yaml().expect("yaml");
        prop_assert_eq!(&BlueGreenSet::from_yaml(&yaml).expect("read yaml"), &bg, "{}", yaml);
    }
}
