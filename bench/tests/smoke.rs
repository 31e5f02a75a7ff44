//! The organisation-scale rollout at small N — 20 resources across 4 member accounts,
//! through the hub, 4 factory processes, Graph writes throttled at 20 a second — as a
//! correctness check of the test command: every event answered SUCCESS, no duplicate
//! object after Create, nothing left after Delete; and the sweep and the audit at small N.
//! They assert nothing about time.
//!
//! They run the `bootstrap` and the operator's tool next to this test's own binary
//! (`target/<profile>/`, where `cargo test --workspace` builds them for the handler's
//! end-to-end tests), or those `EFR_BOOTSTRAP` and `EFR_CLI` name.

use std::path::PathBuf;

use entra_federated_role_bench::{
    audit_scale::{self, AuditScaleOptions},
    org_scale::{self, OrgScaleOptions},
    sweep_scale::{self, SweepScaleOptions},
};

fn bootstrap() -> PathBuf {
    built("EFR_BOOTSTRAP", "bootstrap")
}

/// The operator's tool, next to `bootstrap` (or where `EFR_CLI` says).
fn cli() -> PathBuf {
    built("EFR_CLI", "entra-federated-role")
}

fn built(variable: &str, binary: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/smoke-<hash> → target/<profile>/bootstrap
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join(binary);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (it builds it), or \
         `cargo build -p entra-federated-role --bin {binary}`, or set {variable}",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_rollout_through_the_hub_answers_everything_and_leaves_nothing() {
    let options = OrgScaleOptions::smoke();
    let figures = org_scale::run(&bootstrap(), &options)
        .await
        .expect("the rollout runs");
    eprintln!("{figures:#?}");

    assert_eq!(
        (figures.create.succeeded, figures.delete.succeeded),
        (options.resources, options.resources),
        "every event answered SUCCESS: {:?} {:?}",
        figures.create.failures,
        figures.delete.failures
    );
    assert_eq!(figures.success_rate, 1.0);
    assert_eq!(
        figures.duplicates, 0,
        "no duplicates: {:?}",
        figures.duplicate_details
    );
    assert_eq!(figures.missing, 0, "every object was made");
    assert_eq!(
        figures.leftovers, 0,
        "nothing left: {:?}",
        figures.leftover_details
    );
    assert!(
        figures.create.graph_writes_admitted >= 3 * options.resources,
        "each Create writes the app, its service principal and its credential: {}",
        figures.create.graph_writes_admitted
    );
}

/// The sweep at small N — 12 roles made by hand across 3 accounts, no event delivered,
/// Graph writes throttled — as a correctness check: every role federated, and a second
/// run with nothing to change writes nothing to Graph but the applications' re-upserts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_federates_every_role_that_asks_without_its_event() {
    let options = SweepScaleOptions::smoke();
    let figures = sweep_scale::run(&bootstrap(), &options)
        .await
        .expect("the sweep runs");
    eprintln!("{figures:#?}");
    assert_eq!(figures.federated, options.roles, "every role federated");
    assert_eq!(figures.steady.federated_after, options.roles);
    assert_eq!(figures.steady.answer, serde_json::json!({"swept": true}));
    assert!(
        figures.steady.graph_writes_admitted <= options.roles,
        "at most the application's upsert per role once nothing changes: {}",
        figures.steady.graph_writes_admitted
    );
}

/// The audit at small N — 12 roles federated by the sweep across 3 accounts — as a
/// correctness check: the tool reads every role and application, finds nothing wrong, and
/// reads Graph once for the list and twice for each application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_reads_a_small_organisation_clean() {
    let options = AuditScaleOptions::smoke();
    let figures = audit_scale::run(&bootstrap(), &cli(), &options)
        .await
        .expect("the audit runs");
    eprintln!("{figures:#?}");
    assert_eq!(
        (figures.exit_code, figures.findings),
        (0, 0),
        "{figures:#?}"
    );
    assert_eq!(figures.summary["roles"], options.roles);
    assert_eq!(figures.summary["applications"], options.roles);
    assert_eq!(figures.summary["accounts"], options.accounts);
    assert!(
        figures.graph_calls > 2 * options.roles,
        "the list, then each application's credentials and service principal: {}",
        figures.graph_calls
    );
}
