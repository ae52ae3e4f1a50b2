//! Expand and contract runs: expand before the rollout, contract only with
//! the caller's proof that the old version is gone.

use engine_ops_migrate::{
    BoxError, Error, MemoryStore, Migration, MigrationState, Migrator, OldVersionGone, Phase,
};

struct Step(u64, Option<Phase>);

#[async_trait::async_trait]
impl Migration<Vec<u64>> for Step {
    fn version(&self) -> u64 {
        self.0
    }
    fn name(&self) -> &str {
        "step"
    }
    fn source(&self) -> &[u8] {
        b"step"
    }
    fn phase(&self) -> Option<Phase> {
        self.1
    }
    async fn up(&self, applied: &mut Vec<u64>) -> Result<(), BoxError> {
        applied.push(self.0);
        Ok(())
    }
    async fn down(&self, applied: &mut Vec<u64>) -> Result<(), BoxError> {
        applied.retain(|v| *v != self.0);
        Ok(())
    }
}

fn migrator(require_proof: bool) -> Migrator<MemoryStore<Vec<u64>>> {
    use Phase::{Contract, Expand};
    Migrator::builder(MemoryStore::with_context(Vec::new()))
        .migrations([
            Step(1, None),
            Step(2, Some(Expand)),
            Step(3, Some(Contract)),
            Step(4, Some(Contract)),
            Step(5, Some(Expand)),
            Step(6, Some(Contract)),
        ])
        .require_contract_proof(require_proof)
        .build()
        .expect("migrator")
}

fn proof() -> OldVersionGone {
    OldVersionGone::attest("v1", "rollout: v2 promoted, v1 has 0 replicas")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn a_deploy_alternates_expand_and_contract_runs_and_contract_needs_the_proof() {
    runtime().block_on(async {
        let mut m = migrator(true);
        // A contract run while expand migrations are pending before it: refused,
        // nothing applied.
        let err = m.run_contract(proof()).await.expect_err("expand first");
        assert!(
            matches!(
                err,
                Error::ExpandPending {
                    version: 1,
                    contract_version: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(m.store().context_ref().is_empty());

        let report = m.run_expand().await.expect("expand");
        assert_eq!(report.applied.len(), 2);
        assert_eq!(report.still_pending, 4);
        assert_eq!(report.contract_proof, None);
        // Again: nothing more to expand before the contract migrations.
        assert!(m.run_expand().await.expect("expand").applied.is_empty());

        // The whole-run entry point refuses the contract migration.
        let err = m.run().await.expect_err("no proof");
        assert!(
            matches!(err, Error::ContractNeedsProof { version: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("run_contract"), "{err}");

        let report = m.run_contract(proof()).await.expect("contract");
        let versions: Vec<u64> = report.applied.iter().map(|s| s.version).collect();
        assert_eq!(
            versions,
            [3, 4],
            "contract stops before the next expand migration"
        );
        assert_eq!(report.contract_proof, Some(proof()));
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["contract_proof"]["old_version"], "v1");

        assert_eq!(m.run_expand().await.expect("expand").applied.len(), 1);
        assert_eq!(
            m.run_contract(proof())
                .await
                .expect("contract")
                .applied
                .len(),
            1
        );
        assert_eq!(*m.store().context_ref(), [1, 2, 3, 4, 5, 6]);
        let status = m.status().await.expect("status");
        assert_eq!(status.count(MigrationState::Applied), 6);
    });
}

#[test]
fn without_the_requirement_run_ignores_phases() {
    runtime().block_on(async {
        let mut m = migrator(false);
        assert_eq!(m.run().await.expect("run").applied.len(), 6);
    });
}
