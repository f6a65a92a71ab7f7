//! One whole invocation in a scripted, hostile world, checked against the all-or-nothing invariants.
//!
//! The world is the simulated cluster with every request a choice point
//! (faults applied or not, odd 4xx refusals, another client's write just
//! before it, a crash, a signal), and every journal write one too (it fails
//! with ENOSPC before the rename or EIO after it, or the client crashes on
//! either side of the rename). The invocation goes through [`app::run`], as
//! the binary runs it, with stdout that may fail. Then the world heals, the
//! journal is reopened from disk and replayed, and the checks run.
//!
//! [`check`] states the invariants. The random campaign (`campaign.rs`)
//! draws choices; the exhaustive exploration (`exhaustive.rs`) enumerates
//! them.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::app;
use crate::cli::args::OutputFormat;
use crate::cli::config::Task;
use crate::cli::exit::ExitStatus;
use crate::cli::signals;
use cluster_client::engine::Cluster;
use cluster_client::journal::{Entry, Journal, WriteHook};
use cluster_client::retry::RetryPolicy;
use cluster_client::sim::{Answer, Chooser, Seen, SimCluster};
use cluster_client::transport::{Failure, Reply, Transport};
use cluster_client::vocab::cancel::Cancel;
use cluster_client::vocab::change::{Action, Operation};
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::Node;

/// The world before the invocation, and the invocation.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Per group, per node: whether the group is there beforehand. Groups
    /// are `g0`, `g1`, ...; the invocation names all of them, in order.
    pub initial: Vec<Vec<bool>>,
    /// Create or delete.
    pub operation: Operation,
    /// `RetryPolicy::retries`; backoff is always zero.
    pub retries: u32,
    /// Nodes worked on at a time.
    pub concurrency: usize,
    /// Groups worked on at a time.
    pub parallel_groups: usize,
    /// Whether writing the result to stdout fails.
    pub stdout_fails: bool,
}

/// What one world did, for the explorer's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ran {
    /// The exit status, or `None` when the client crashed.
    pub status: Option<ExitStatus>,
}

/// Options at a journal write; 0 writes normally.
const JOURNAL_OPTIONS: usize = 5;

/// What the journal hook does to the write in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum JournalFault {
    BeforeRenameFails,
    AfterRenameFails,
    CrashBeforeRename,
    CrashAfterRename,
}

/// stdout on a full disk or a closed pipe.
struct FailingStdout;

impl Write for FailingStdout {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

struct Shared(Arc<SimCluster>);

impl Transport for Shared {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        self.0.send(node, action, group)
    }
}

/// The hook that makes every journal write a choice point. `failed` is set
/// once a write was made to fail.
fn journal_hook(
    sim: &Arc<SimCluster>,
    failed: &Arc<AtomicBool>,
    crashed: &Arc<AtomicBool>,
) -> WriteHook {
    let sim = Arc::clone(sim);
    let failed = Arc::clone(failed);
    let crashed = Arc::clone(crashed);
    let current: Mutex<Option<JournalFault>> = Mutex::new(None);
    Arc::new(move |point: &'static str| {
        let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(point, "journal-before-temp" | "journal-before-remove") {
            *current = match sim.choose(JOURNAL_OPTIONS) {
                1 => Some(JournalFault::BeforeRenameFails),
                2 => Some(JournalFault::AfterRenameFails),
                3 => Some(JournalFault::CrashBeforeRename),
                4 => Some(JournalFault::CrashAfterRename),
                _ => None,
            };
        }
        let before = matches!(point, "journal-before-temp" | "journal-before-remove");
        let after = matches!(point, "journal-after-rename" | "journal-after-remove");
        match *current {
            Some(JournalFault::BeforeRenameFails) if before => {
                failed.store(true, Ordering::SeqCst);
                Err(io::Error::from_raw_os_error(28)) // ENOSPC
            }
            Some(JournalFault::AfterRenameFails) if after => {
                failed.store(true, Ordering::SeqCst);
                Err(io::Error::from_raw_os_error(5)) // EIO
            }
            Some(JournalFault::CrashBeforeRename) if before => {
                drop(current);
                crashed.store(true, Ordering::SeqCst);
                sim.crash_now()
            }
            Some(JournalFault::CrashAfterRename) if after => {
                drop(current);
                crashed.store(true, Ordering::SeqCst);
                sim.crash_now()
            }
            _ => Ok(()),
        }
    })
}

/// Runs one invocation of `spec` in a world whose choices `chooser` makes,
/// with the journal in `dir`, then heals, replays and checks. `Err` names
/// the first invariant broken.
pub(crate) fn run(spec: &Spec, chooser: Chooser, dir: &Path) -> Result<Ran, String> {
    let path = dir.join("journal.json");
    let _ = std::fs::remove_file(&path);
    let n = spec.initial[0].len();
    let cancel = Cancel::new();
    let (sim, nodes) = SimCluster::new(n);
    let sim = Arc::new(sim.script(chooser, &cancel));
    let groups: Vec<GroupId> = (0..spec.initial.len())
        .map(|g| GroupId::new(format!("g{g}")).expect("group"))
        .collect();
    for (g, on) in spec.initial.iter().enumerate() {
        for (i, &present) in on.iter().enumerate() {
            if present {
                sim.seed(&nodes[i], groups[g].as_str());
            }
        }
    }
    let policy = RetryPolicy {
        retries: spec.retries,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let journal_failed = Arc::new(AtomicBool::new(false));
    let crashed_in_journal = Arc::new(AtomicBool::new(false));
    let mut journal = Journal::open(&path, &cancel).map_err(|e| format!("open: {e}"))?;
    journal.set_write_hook(journal_hook(&sim, &journal_failed, &crashed_in_journal));
    let cluster = Cluster::new(nodes.clone(), Shared(Arc::clone(&sim)), policy.clone())
        .with_cancel(cancel.clone())
        .with_concurrency(spec.concurrency)
        .with_parallel_groups(spec.parallel_groups)
        // Note: one read at a time with --concurrency 1, so that the order of
        // choice points, and so the exhaustive search, is deterministic.
        .with_read_width(if spec.concurrency == 1 {
            1
        } else {
            cluster_client::engine::READ_WIDTH
        })
        .with_shutdown_grace(Duration::from_secs(3600));
    let task = Task::Change {
        operation: spec.operation,
        list: groups.len() > 1,
        groups: groups.clone(),
        shard: None,
        nodes: nodes.clone(),
        dry_run: false,
    };
    let stdout_fails = spec.stdout_fails;
    let cancel_after = cancel.clone();
    let invocation = move || {
        let mut journal = journal;
        let mut buffer = Vec::new();
        let out: &mut dyn Write = if stdout_fails {
            &mut FailingStdout
        } else {
            &mut buffer
        };
        app::run(
            &cluster,
            &cancel,
            &mut journal,
            &task,
            OutputFormat::Json,
            out,
        )
    };
    let status = sim.catch_crash(invocation);
    let trace = sim.seen();
    let crashed_at = sim.crashed_at();

    let world = World {
        spec,
        sim: &sim,
        nodes: &nodes,
        groups: &groups,
        path: &path,
        journal_failed: journal_failed.load(Ordering::SeqCst),
        signalled: cancel_after.is_cancelled(),
    };
    let on_disk = world.journal_on_disk();
    let before_heal = world.states();
    match status {
        Some(status) => world.check_claim(status, &trace, &on_disk, &before_heal)?,
        // Note: a crash inside a journal write is a SIGKILL or a power cut:
        // a second signal waits for the write to finish.
        None if crashed_in_journal.load(Ordering::SeqCst) => {}
        None => {
            // Note: a second signal ends the process at once, anywhere a
            // request can be cut off; the status it exits with must be true.
            let claim = signals::second_signal_exit(&cancel_after);
            world.check_claim(claim, &trace, &on_disk, &before_heal)?;
        }
    }

    // The world heals; the next invocation reopens the journal and replays it.
    sim.heal();
    let mut journal = Journal::open(&path, &Cancel::new()).map_err(|e| format!("reopen: {e}"))?;
    let replay = Cluster::new(nodes.clone(), Shared(Arc::clone(&sim)), policy).replay(&mut journal);
    if !journal.entries().is_empty() || !world.journal_on_disk().is_empty() {
        return Err(format!(
            "a healthy replay left {:?} (report: {replay:?})",
            journal.entries()
        ));
    }
    drop(journal);
    let after = world.states();
    for (g, state) in after.iter().enumerate() {
        let excluded = world.touched_by_others(g);
        let want = spec.operation == Operation::Create;
        let all_wanted = (0..n).all(|i| excluded[i] || state[i] == want);
        let as_before = (0..n).all(|i| excluded[i] || state[i] == spec.initial[g][i]);
        if !all_wanted && !as_before {
            return Err(format!(
                "after the replay g{g} is {state:?}: neither everywhere nor as before ({:?})",
                spec.initial[g]
            ));
        }
        if status == Some(ExitStatus::Done) && !all_wanted {
            return Err(format!("exit 0, but after the replay g{g} is {state:?}"));
        }
    }
    world.others_groups_survive(&sim.seen(), crashed_at)?;
    Ok(Ran { status })
}

struct World<'w> {
    spec: &'w Spec,
    sim: &'w SimCluster,
    nodes: &'w [Node],
    groups: &'w [GroupId],
    path: &'w Path,
    journal_failed: bool,
    /// Whether a signal came during the invocation.
    signalled: bool,
}

impl World<'_> {
    fn states(&self) -> Vec<Vec<bool>> {
        self.sim.states(self.nodes, self.groups)
    }

    fn journal_on_disk(&self) -> Vec<Entry> {
        cluster_client::sim::load_entries(self.path)
    }

    /// Per node: whether another client wrote `g` there; such nodes are
    /// left out of the state checks (their state is the other client's).
    fn touched_by_others(&self, g: usize) -> Vec<bool> {
        let third = self.sim.third_party();
        self.nodes
            .iter()
            .map(|n| {
                third
                    .iter()
                    .any(|t| t.node == n.base() && t.group == self.groups[g].as_str())
            })
            .collect()
    }

    /// The exit status claims no more than is true.
    fn check_claim(
        &self,
        status: ExitStatus,
        trace: &[Seen],
        on_disk: &[Entry],
        state: &[Vec<bool>],
    ) -> Result<(), String> {
        let writes = trace.iter().filter(|s| s.action != Action::Read).count();
        let want = self.spec.operation == Operation::Create;
        let n = self.nodes.len();
        let wanted_or_before = |g: usize| {
            let excluded = self.touched_by_others(g);
            let all = (0..n).all(|i| excluded[i] || state[g][i] == want);
            let before = (0..n).all(|i| excluded[i] || state[g][i] == self.spec.initial[g][i]);
            (all, before)
        };
        match status {
            ExitStatus::BadInput if writes > 0 => Err(format!(
                "exit 2 (no change sent), but {writes} writes were sent"
            )),
            ExitStatus::Failed if self.signalled && writes == 0 => Err(
                "exit 1 after a signal that came before any change was sent: the table says 2"
                    .to_owned(),
            ),
            ExitStatus::Done => {
                for (g, now) in state.iter().enumerate() {
                    if !wanted_or_before(g).0 {
                        return Err(format!("exit 0, but g{g} is {now:?}"));
                    }
                }
                if !on_disk.is_empty() {
                    return Err(format!("exit 0, but the journal holds {on_disk:?}"));
                }
                Ok(())
            }
            ExitStatus::Failed => {
                if !on_disk.is_empty() {
                    return Err(format!("exit 1, but the journal holds {on_disk:?}"));
                }
                for (g, now) in state.iter().enumerate() {
                    let (all, before) = wanted_or_before(g);
                    if !all && !before {
                        return Err(format!(
                            "exit 1 with nothing pending, but g{g} is {now:?} (was {:?})",
                            self.spec.initial[g]
                        ));
                    }
                }
                Ok(())
            }
            ExitStatus::RepairsPending if on_disk.is_empty() => {
                Err("exit 3 (repairs pending), but the journal is empty".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// A group another client created is never deleted by us, but in the
    /// documented windows: (a) a crash between a node's definite 4xx and
    /// the journal write that forgets its entry; (b) a crash after the
    /// write-ahead, before the change was sent to that node and before
    /// the group's rollback began; (c) an ambiguous answer (time-out,
    /// reset, 5xx) to one of our writes of the group there, after which a
    /// group found on the node is taken as ours and an undo is sent again;
    /// (d) a journal that could not be written; (e) the other client
    /// deleted the group there and created its own in its place; (f) a
    /// crash between a rollback's undos and the journal write that forgets
    /// the ones applied.
    fn others_groups_survive(
        &self,
        trace: &[Seen],
        crashed_at: Option<usize>,
    ) -> Result<(), String> {
        if self.spec.operation != Operation::Create || self.journal_failed {
            return Ok(());
        }
        let others = self.sim.third_party();
        for (deleted_at, deletion) in trace.iter().enumerate() {
            if deletion.action != Action::Delete || !deletion.changed {
                continue;
            }
            let here = |node: &str, group: &str| node == deletion.node && group == deletion.group;
            // Whose group was it? The last write that created it there.
            let theirs = others
                .iter()
                .filter(|t| t.create && t.at <= deleted_at && here(&t.node, &t.group))
                .map(|t| t.at)
                .max();
            let Some(created_at) = theirs else { continue };
            let ours_since = trace[created_at..deleted_at]
                .iter()
                .any(|s| here(&s.node, &s.group) && s.action == Action::Create && s.changed);
            if ours_since {
                continue;
            }
            let ambiguous_write = trace[..deleted_at].iter().any(|s| {
                here(&s.node, &s.group) && s.action != Action::Read && s.answer.ambiguous()
            });
            let replaced = others
                .iter()
                .any(|t| !t.create && here(&t.node, &t.group) && t.at <= created_at);
            if ambiguous_write || replaced {
                continue;
            }
            if let Some(crash) = crashed_at
                && (self.in_window_a(trace, crash, &deletion.node, &deletion.group)
                    || self.in_window_b(trace, crash, &deletion.node, &deletion.group)
                    || self.in_window_f(trace, crash, &deletion.node, &deletion.group))
            {
                continue;
            }
            return Err(format!(
                "another client created {} on {} (before our request {created_at}), and we \
                 deleted it (request {deleted_at}); crash at {crashed_at:?}; trace: {:?}",
                deletion.group,
                deletion.node,
                trace
                    .iter()
                    .map(|s| (s.node.as_str(), s.action, s.group.as_str(), s.answer))
                    .collect::<Vec<_>>()
            ));
        }
        Ok(())
    }

    /// Window (a): the crash came after a definite 4xx to our create on
    /// `node` with only the reads that settle it in between (on that node,
    /// when several nodes are worked on at a time).
    fn in_window_a(&self, trace: &[Seen], crash: usize, node: &str, group: &str) -> bool {
        let last_create = trace[..crash.min(trace.len())]
            .iter()
            .rposition(|s| s.node == node && s.group == group && s.action == Action::Create);
        let Some(i) = last_create else { return false };
        // Note: with several nodes or groups at a time, their requests can
        // come between; the guarantee is that this group's worker for this
        // node sends nothing else before the journal forgets the entry.
        let nodes_interleave = self.spec.concurrency > 1;
        let groups_interleave = self.spec.parallel_groups > 1;
        matches!(trace[i].answer, Answer::Status(s) if (400..500).contains(&s))
            && trace[i + 1..crash.min(trace.len())]
                .iter()
                .filter(|s| !nodes_interleave || s.node == node)
                .filter(|s| !groups_interleave || s.group == group)
                .all(|s| s.node == node && s.group == group && s.action == Action::Read)
    }

    /// Window (f): the crash came right after the group's rollback undid
    /// `node`, before the journal write that forgets the undos applied:
    /// only the rollback's own requests for the group came in between.
    fn in_window_f(&self, trace: &[Seen], crash: usize, node: &str, group: &str) -> bool {
        let before = &trace[..crash.min(trace.len())];
        let undo = before.iter().rposition(|s| {
            s.node == node && s.group == group && s.action == Action::Delete && s.changed
        });
        let Some(i) = undo else { return false };
        let groups_interleave = self.spec.parallel_groups > 1;
        before[i + 1..]
            .iter()
            .filter(|s| !groups_interleave || s.group == group)
            .all(|s| s.group == group && s.action != Action::Create)
    }

    /// Window (b): no create was sent to `node` and no undo of the group
    /// was sent anywhere before the crash.
    fn in_window_b(&self, trace: &[Seen], crash: usize, node: &str, group: &str) -> bool {
        let before = &trace[..crash.min(trace.len())];
        !before
            .iter()
            .any(|s| s.group == group && s.node == node && s.action == Action::Create)
            && !before
                .iter()
                .any(|s| s.group == group && s.action == Action::Delete)
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;
    use cluster_client::sim::{cases, temp_dir};

    // Whole invocations in the hostile world of `world.rs`, with random choices:
    // more nodes than the exhaustive search, parallel fan-out, and bulk runs past
    // one journal batch (32 groups) with faults in a later batch.

    /// A world to draw: per group, per node presence; the operation; retries;
    /// concurrency; whether stdout fails; a seed and a fault rate for the choices.
    fn hostile_world(
        groups: std::ops::RangeInclusive<usize>,
    ) -> impl Strategy<Value = (Spec, u64, u32)> {
        (1_usize..=4).prop_flat_map(move |n| {
            (
                prop::collection::vec(prop::collection::vec(any::<bool>(), n), groups.clone()),
                prop_oneof![Just(Operation::Create), Just(Operation::Delete)],
                0_u32..=2,
                prop_oneof![Just(1_usize), 2_usize..=3],
                prop_oneof![Just(1_usize), 2_usize..=4],
                prop::bool::weighted(0.2),
                any::<u64>(),
                1_u32..=25,
            )
                .prop_map(
                    |(
                        initial,
                        operation,
                        retries,
                        concurrency,
                        parallel_groups,
                        stdout_fails,
                        seed,
                        rate,
                    )| {
                        let spec = Spec {
                            initial,
                            operation,
                            retries,
                            concurrency,
                            parallel_groups,
                            stdout_fails,
                        };
                        (spec, seed, rate)
                    },
                )
        })
    }

    /// Choices drawn from `seed`: each choice point holds a fault (any
    /// non-default option, uniformly) with probability `rate` percent.
    fn random_chooser(seed: u64, rate: u32) -> Chooser {
        let mut rng = fastrand::Rng::with_seed(seed);
        Box::new(move |arity| {
            if arity > 1 && rng.u32(0..100) < rate {
                rng.usize(1..arity)
            } else {
                0
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases(3000)))]

        /// One to three groups, another client writing, odd refusals, failing
        /// journal writes and stdout, signals and crashes, all at random.
        #[test]
        fn whole_invocations_in_a_hostile_world_keep_all_or_nothing(
            (spec, seed, rate) in hostile_world(1..=3),
        ) {
            let dir = temp_dir();
            run(&spec, random_chooser(seed, rate), dir.path()).map_err(TestCaseError::fail)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases(200)))]

        /// Bulk runs of more than one batch, with faults that may land in a later batch.
        #[test]
        fn bulk_runs_past_one_batch_keep_all_or_nothing(
            (spec, seed, rate) in hostile_world(33..=40),
        ) {
            let dir = temp_dir();
            // Note: a low rate, so that most runs reach the second batch.
            run(&spec, random_chooser(seed, rate / 8), dir.path()).map_err(TestCaseError::fail)?;
        }
    }
}
