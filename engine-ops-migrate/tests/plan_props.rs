//! Property tests of the pure planner over random declared / applied sets.

use std::collections::{BTreeMap, BTreeSet};

use engine_ops_migrate::{
    AppliedMigration, Checksum, Direction, History, InDoubt, MigrationInfo, plan,
};
use proptest::prelude::*;

/// How a recorded entry relates to the declared migration of its version.
#[derive(Debug, Clone, Copy)]
enum Rec {
    Same,
    Renamed,
    Edited,
    InDoubt,
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    prop_oneof![
        6 => Just(Rec::Same),
        1 => Just(Rec::Renamed),
        1 => Just(Rec::Edited),
        1 => Just(Rec::InDoubt),
    ]
}

fn info(v: u64) -> MigrationInfo {
    MigrationInfo::new(v, format!("m{v}"), format!("source of {v}\r\n").as_bytes())
}

prop_compose! {
    fn inputs()(
        declared in proptest::collection::btree_set(0_u64..200, 0..40),
        recorded in proptest::collection::btree_map(0_u64..200, rec_strategy(), 0..40),
        target in proptest::option::of(0_u64..200),
    ) -> (BTreeSet<u64>, BTreeMap<u64, Rec>, Option<u64>) {
        (declared, recorded, target)
    }
}

fn build(declared: &BTreeSet<u64>, recorded: &BTreeMap<u64, Rec>) -> (Vec<MigrationInfo>, History) {
    // Declared order is scrambled on purpose: plan must sort numerically.
    let mut infos: Vec<MigrationInfo> = declared.iter().map(|&v| info(v)).collect();
    infos.sort_by_key(|m| m.version.to_string());
    let mut applied = Vec::new();
    let mut in_doubt = Vec::new();
    for (&v, &r) in recorded {
        let base = info(v);
        match r {
            Rec::Same => applied.push(AppliedMigration::new(&base, 0, 0)),
            Rec::Renamed => {
                applied.push(AppliedMigration::new(
                    &MigrationInfo::new(v, "renamed", format!("source of {v}\n").as_bytes()),
                    0,
                    0,
                ));
            }
            Rec::Edited => applied.push(AppliedMigration::new(
                &MigrationInfo::new(v, format!("m{v}"), b"edited"),
                0,
                0,
            )),
            Rec::InDoubt => in_doubt.push(InDoubt::new(&base, Direction::Up, 0)),
        }
    }
    (infos, History::new(applied, in_doubt))
}

proptest! {
    #[test]
    fn plan_invariants((declared, recorded, target) in inputs()) {
        let (infos, history) = build(&declared, &recorded);
        let mut p = plan(&infos, &history);
        if let Some(t) = target {
            p = p.with_target(t);
        }

        let applied: BTreeSet<u64> = history.applied.iter().map(|a| a.version).collect();
        let doubt: BTreeSet<u64> = history.in_doubt.iter().map(|d| d.version).collect();
        let highest = applied.iter().next_back().copied();

        // Never schedules an applied or in-doubt version.
        for m in &p.pending {
            prop_assert!(!applied.contains(&m.version), "applied {} scheduled", m.version);
            prop_assert!(!doubt.contains(&m.version), "in-doubt {} scheduled", m.version);
            prop_assert!(declared.contains(&m.version));
            if let Some(t) = target {
                prop_assert!(m.version <= t);
            }
        }
        // Pending strictly ascending; rollback strictly descending.
        prop_assert!(p.pending.windows(2).all(|w| w[0].version < w[1].version));
        let rb: Vec<u64> = p.rollback_order().map(|a| a.version).collect();
        prop_assert!(rb.windows(2).all(|w| w[0] > w[1]));
        prop_assert_eq!(rb.iter().copied().collect::<BTreeSet<_>>(), applied.clone());

        // Every divergence is reported, and only divergences.
        let expected_divergent: BTreeSet<u64> = recorded
            .iter()
            .filter(|(v, r)| declared.contains(v) && matches!(r, Rec::Renamed | Rec::Edited))
            .map(|(v, _)| *v)
            .collect();
        let got_divergent: BTreeSet<u64> = p.divergent.iter().map(|d| d.version).collect();
        prop_assert_eq!(&got_divergent, &expected_divergent);
        for d in &p.divergent {
            match recorded[&d.version] {
                Rec::Renamed => prop_assert!(d.name_changed() && !d.checksum_changed()),
                Rec::Edited => prop_assert!(!d.name_changed() && d.checksum_changed()),
                _ => prop_assert!(false, "unexpected divergence"),
            }
        }

        // Missing = applied and not declared.
        let expected_missing: BTreeSet<u64> = applied.difference(&declared).copied().collect();
        prop_assert_eq!(p.missing.iter().map(|m| m.version).collect::<BTreeSet<_>>(), expected_missing);

        // Out of order = declared, never applied, not in doubt, below the highest applied.
        let expected_ooo: BTreeSet<u64> = declared
            .iter()
            .filter(|v| !applied.contains(v) && !doubt.contains(v) && highest.is_some_and(|h| **v < h))
            .copied()
            .collect();
        prop_assert_eq!(p.out_of_order.iter().map(|m| m.version).collect::<BTreeSet<_>>(), expected_ooo.clone());

        // Every declared version lands in exactly one bucket.
        for v in &declared {
            let buckets = usize::from(p.pending.iter().any(|m| m.version == *v))
                + usize::from(p.above_target.iter().any(|m| m.version == *v))
                + usize::from(applied.contains(v))
                + usize::from(doubt.contains(v))
                + usize::from(expected_ooo.contains(v));
            prop_assert_eq!(buckets, 1, "version {} in {} buckets", v, buckets);
        }

        // Problems list every divergence, missing, in-doubt and out-of-order entry.
        prop_assert_eq!(
            p.problems().len(),
            p.divergent.len() + p.missing.len() + p.in_doubt.len() + p.out_of_order.len()
        );
        prop_assert!(p.duplicates.is_empty());
    }

    #[test]
    fn duplicates_are_reported(versions in proptest::collection::vec(0_u64..20, 0..30)) {
        let infos: Vec<MigrationInfo> = versions.iter().map(|&v| info(v)).collect();
        let p = plan(&infos, &History::default());
        let mut counts = BTreeMap::new();
        for v in &versions {
            *counts.entry(*v).or_insert(0_usize) += 1;
        }
        let dups: BTreeMap<u64, usize> = counts.into_iter().filter(|(_, c)| *c > 1).collect();
        prop_assert_eq!(p.duplicates.len(), dups.len());
        for d in &p.duplicates {
            prop_assert_eq!(d.names.len(), dups[&d.version]);
        }
        // Each version is scheduled at most once.
        prop_assert!(p.pending.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn checksum_ignores_crlf_only(lf in "[a-z \n]{0,64}", at in 0_usize..65) {
        let crlf = lf.replace('\n', "\r\n");
        prop_assert_eq!(Checksum::of_source(lf.as_bytes()), Checksum::of_source(crlf.as_bytes()));
        // Any real edit, including a lone carriage return, changes it.
        let at = at.min(lf.len());
        for insert in ["x", "\r", " "] {
            let mut edited = lf.clone();
            edited.insert_str(at, insert);
            if insert == "\r" && edited[at + 1..].starts_with('\n') {
                continue; // That one is a CRLF: normalised on purpose.
            }
            prop_assert_ne!(Checksum::of_source(lf.as_bytes()), Checksum::of_source(edited.as_bytes()));
        }
    }
}
