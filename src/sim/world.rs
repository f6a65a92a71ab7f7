//! One whole invocation in a scripted, hostile world, checked against the all-or-nothing invariants.
//!
//! The world is the simulated cluster with every request a choice point
//! (faults applied or not, odd 4xx refusals, another client's write just
//! before it, a crash, a signal, a stretch of 429s or silence after which
//! the node comes back), and every journal write one too (it fails
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli::app;
use crate::cli::args::OutputFormat;
use crate::cli::config::Task;
use crate::cli::exit::ExitStatus;
use crate::cli::signals;
use cluster_client::engine::{Cluster, ReplayReport};
use cluster_client::journal::{Entry, Journal, WriteHook};
use cluster_client::retry::RetryPolicy;
use cluster_client::sim::{Answer, Chooser, Seen, SimCluster};
use cluster_client::transport::{Failure, Reply, Transport};
use cluster_client::vocab::cancel::Cancel;
use cluster_client::vocab::change::{Action, Operation};
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::Node;
use cluster_client::vocab::time::Clock;

/// The world before the invocation, and the invocation.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Per group, per node: whether the group is there beforehand. Groups
    /// are `g0`, `g1`, ...; the invocation names all of them, in order.
    pub initial: Vec<Vec<bool>>,
    /// Create or delete.
    pub operation: Operation,
    /// A second invocation after the first, on the same groups and journal,
    /// with the world's faults going on (its late writes may land in it).
    pub then: Option<Operation>,
    /// `RetryPolicy::retries`; backoff is always zero.
    pub retries: u32,
    /// Nodes worked on at a time.
    pub concurrency: usize,
    /// Groups worked on at a time.
    pub parallel_groups: usize,
    /// Whether writing the result to stdout fails.
    pub stdout_fails: bool,
    /// Whether another journal of the set (another shard's, in the same
    /// directory) holds a repair for g0 on the first node: that shard's
    /// change had landed there, and its repair is pending. Every invocation
    /// must refuse g0; the settle replays that journal too.
    pub sibling: bool,
    /// Whether the first invocation finds the journal's lock held by a
    /// stopped process (a run paused with SIGSTOP, a hung NFS client): it
    /// waits no longer than its lock wait (none here), sends nothing and
    /// exits 2; then the holder goes and the next invocation runs.
    pub held: bool,
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
            sim.maybe_land_late();
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

/// The world's clock at the start: the settle horizon of every write sent
/// in the invocations ends [`HORIZON`] later.
const T0: u64 = 1_800_000_000;
/// The settle horizon the invocations use.
const HORIZON: Duration = Duration::from_secs(300);

/// Runs the invocations of `spec` (its operation, then `then`) in a world
/// whose choices `chooser` makes, with the journal in `dir`; then heals, lets
/// every late write land, replays within and past the settle horizon, and
/// checks. `Err` names the first invariant broken.
pub(crate) fn run(spec: &Spec, chooser: Chooser, dir: &Path) -> Result<Ran, String> {
    let setup = Setup::new(spec, chooser);
    run_in(spec, &setup, dir).map_err(|violation| {
        let trace: Vec<String> = setup
            .sim
            .seen()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} {:?}{}",
                    s.node,
                    s.action,
                    s.group,
                    s.answer,
                    if s.changed { " (changed)" } else { "" }
                )
            })
            .collect();
        format!("{violation}\n  trace: {trace:#?}")
    })
}

fn run_in(spec: &Spec, setup: &Setup, dir: &Path) -> Result<Ran, String> {
    let path = dir.join("journal.json");
    let _ = std::fs::remove_file(&path);
    plant_sibling(spec, setup, &path);
    let world = World {
        spec,
        sim: &setup.sim,
        nodes: &setup.nodes,
        groups: &setup.groups,
        path: &path,
        journal_failed: Arc::new(AtomicBool::new(false)),
        starts: std::cell::RefCell::new(Vec::new()),
    };
    let mut runs = Vec::new();
    for operation in std::iter::once(spec.operation).chain(spec.then) {
        let before = world.states();
        let journal_before = world.journal_on_disk();
        let from = setup.sim.seen().len();
        world.starts.borrow_mut().push(from);
        let held = spec.held && runs.is_empty();
        let ran = setup.invoke(spec, (operation, held), &path, &world.journal_failed)?;
        let trace = setup.sim.seen();
        let claim = Claim {
            operation,
            before: &before,
            journal_before: &journal_before,
            trace: &trace[from..],
            signalled: ran.signalled,
        };
        if let Some(status) = ran.claimed {
            world
                .check_claim(status, &claim, &world.journal_on_disk(), &world.states())
                .map_err(|e| format!("{operation:?} run: {e}\n  printed: {}", ran.printed))?;
        }
        runs.push((operation, ran.status, world.journal_on_disk().len()));
        setup.sim.revive();
    }
    world.settle(setup)?;
    world.check_final(&runs)?;
    world.others_groups_survive(&setup.sim.seen(), &setup.sim.crashes())?;
    Ok(Ran {
        status: runs.last().and_then(|(_, status, _)| *status),
    })
}

/// The world before the invocations: the simulated cluster with its
/// script, its nodes and groups, the policy and the clock.
struct Setup {
    sim: Arc<SimCluster>,
    nodes: Vec<Node>,
    groups: Vec<GroupId>,
    policy: RetryPolicy,
    time: Arc<AtomicU64>,
}

/// What one invocation came to.
struct Invoked {
    /// Its exit status; `None` when it crashed.
    status: Option<ExitStatus>,
    /// The status it claims: its own, or the one a second signal ends it
    /// with when it crashed outside a journal write; `None` for a crash in
    /// a journal write (a SIGKILL or power cut: no claim is made).
    claimed: Option<ExitStatus>,
    /// Whether a signal came during it.
    signalled: bool,
    /// What it printed on stdout (JSON).
    printed: String,
}

impl Setup {
    fn new(spec: &Spec, chooser: Chooser) -> Self {
        let n = spec.initial[0].len();
        let (sim, nodes) = SimCluster::new(n);
        let sim = Arc::new(sim.script(chooser, &Cancel::new()));
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
        Self {
            sim,
            nodes,
            groups,
            policy,
            time: Arc::new(AtomicU64::new(T0)),
        }
    }

    fn cluster(&self, spec: &Spec, cancel: &Cancel) -> Cluster<Shared> {
        let time = Arc::clone(&self.time);
        Cluster::new(
            self.nodes.clone(),
            Shared(Arc::clone(&self.sim)),
            self.policy.clone(),
        )
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
        .with_shutdown_grace(Duration::from_secs(3600))
        // Note: the same after a signal's undos, which otherwise go at once.
        .with_undo_width_after_signal(spec.concurrency)
        .with_settle_horizon(HORIZON)
        // Note: a node silent once is given up on at once, as a world with no
        // clock of its own cannot wait out a cool-down.
        .with_attempt_timeout(Duration::ZERO)
        .with_clock(Clock::new(move || time.load(Ordering::SeqCst)))
    }

    /// One invocation of `operation` on every group, as a new process: it
    /// opens the journal, replays it and runs, through [`app::run`].
    fn invoke(
        &self,
        spec: &Spec,
        (operation, held): (Operation, bool),
        path: &Path,
        journal_failed: &Arc<AtomicBool>,
    ) -> Result<Invoked, String> {
        let cancel = Cancel::new();
        self.sim.signal_to(&cancel);
        let crashed_in_journal = Arc::new(AtomicBool::new(false));
        let Some(mut journal) = open_unless_held(path, &cancel, held)? else {
            // Note: as the binary does with a journal it cannot open: exit 2,
            // before anything is sent.
            return Ok(Invoked {
                status: Some(ExitStatus::BadInput),
                claimed: Some(ExitStatus::BadInput),
                signalled: false,
                printed: String::new(),
            });
        };
        journal.set_write_hook(journal_hook(&self.sim, journal_failed, &crashed_in_journal));
        let cluster = self
            .cluster(spec, &cancel)
            .with_repairs_elsewhere(crate::cli::journals::repairs_elsewhere(path, &self.groups));
        let task = Task::Change {
            operation,
            list: self.groups.len() > 1,
            groups: self.groups.clone(),
            shard: None,
            nodes: self.nodes.clone(),
            dry_run: false,
        };
        let stdout_fails = spec.stdout_fails;
        let cancel_after = cancel.clone();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let output = Arc::clone(&printed);
        let invocation = move || {
            let mut journal = journal;
            let mut buffer = Vec::new();
            let out: &mut dyn Write = if stdout_fails {
                &mut FailingStdout
            } else {
                &mut buffer
            };
            let status = app::run(
                &cluster,
                &cancel,
                &mut journal,
                &task,
                OutputFormat::Json,
                out,
            );
            *output.lock().unwrap_or_else(|e| e.into_inner()) = buffer;
            status
        };
        let status = self.sim.catch_crash(invocation);
        let printed = String::from_utf8_lossy(&printed.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned();
        let claimed = match status {
            Some(status) => Some(status),
            // Note: a crash inside a journal write is a SIGKILL or a power cut:
            // a second signal waits for the write to finish.
            None if crashed_in_journal.load(Ordering::SeqCst) => None,
            // Note: a second signal ends the process at once, anywhere a
            // request can be cut off; the status it exits with must be true.
            None => Some(signals::second_signal_exit(&cancel_after)),
        };
        Ok(Invoked {
            status,
            claimed,
            signalled: cancel_after.is_cancelled(),
            printed,
        })
    }
}

/// Opens the journal as an invocation does (waiting no longer for its
/// lock); with `held`, while a stopped process holds the lock, which must
/// keep the invocation out (`None`).
fn open_unless_held(path: &Path, cancel: &Cancel, held: bool) -> Result<Option<Journal>, String> {
    let holder = if held {
        Some(Journal::open(path, &Cancel::new()).map_err(|e| format!("holder's open: {e}"))?)
    } else {
        None
    };
    match Journal::open_waiting(path, cancel, Duration::ZERO) {
        Ok(_) if holder.is_some() => {
            Err("the journal opened while a stopped process held its lock".to_owned())
        }
        Ok(journal) => Ok(Some(journal)),
        Err(cluster_client::error::JournalError::LockTimeout { .. }) if holder.is_some() => {
            Ok(None)
        }
        Err(e) => Err(format!("open: {e}")),
    }
}

/// One invocation, as its claim is checked.
struct Claim<'c> {
    operation: Operation,
    /// The groups' states when it started.
    before: &'c [Vec<bool>],
    /// The journal when it started: its replay may apply these first.
    journal_before: &'c [Entry],
    /// The requests it sent (and the late writes that landed meanwhile).
    trace: &'c [Seen],
    signalled: bool,
}

/// The other journal of the set, beside `journal`.
fn sibling_path(journal: &Path) -> std::path::PathBuf {
    journal.with_file_name("journal-other.json")
}

/// Another shard's change of g0 landed on the first node, and its repair is
/// pending in the other journal of the set (see [`Spec::sibling`]).
fn plant_sibling(spec: &Spec, setup: &Setup, journal: &Path) {
    let path = sibling_path(journal);
    let _ = std::fs::remove_file(&path);
    if !spec.sibling {
        return;
    }
    let (node, group) = (&setup.nodes[0], &setup.groups[0]);
    let was = spec.initial[0][0];
    if was {
        setup.sim.unseed(node, group.as_str());
    } else {
        setup.sim.seed(node, group.as_str());
    }
    let action = cluster_client::vocab::change::Repair::leaving(was);
    let entry = serde_json::json!({
        "group": group.as_str(), "host": node.base(), "action": action.name(),
        "operation": if was { "delete" } else { "create" }, "batch": "9@9.0",
        "recorded_at": "2027-01-15T08:00:00Z", "failed_replays": 0, "settled": true,
    });
    let text = serde_json::json!({"version": 3, "entries": [entry]}).to_string();
    std::fs::write(&path, text).expect("write the other journal");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Window (g): the crash came after a create of ours landed on `node`.
fn in_window_g(trace: &[Seen], crash: usize, node: &str, group: &str) -> bool {
    trace[..crash.min(trace.len())]
        .iter()
        .any(|s| s.node == node && s.group == group && s.action == Action::Create && s.changed)
}

struct World<'w> {
    spec: &'w Spec,
    sim: &'w SimCluster,
    nodes: &'w [Node],
    groups: &'w [GroupId],
    path: &'w Path,
    /// Set once a journal write was made to fail.
    journal_failed: Arc<AtomicBool>,
    /// Where each invocation's requests start in the trace.
    starts: std::cell::RefCell<Vec<usize>>,
}

impl World<'_> {
    fn states(&self) -> Vec<Vec<bool>> {
        self.sim.states(self.nodes, self.groups)
    }

    /// The invocations' journal on disk, and the other journal of its set when there is one.
    fn journal_on_disk(&self) -> Vec<Entry> {
        let mut entries = cluster_client::sim::load_entries(self.path);
        entries.extend(cluster_client::sim::load_entries(&sibling_path(self.path)));
        entries
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

    /// The exit status claims no more than is true. A repair or a
    /// verification on disk is pending work (exit 3); a watch is not.
    fn check_claim(
        &self,
        status: ExitStatus,
        claim: &Claim<'_>,
        on_disk: &[Entry],
        state: &[Vec<bool>],
    ) -> Result<(), String> {
        // Note: a late write that landed meanwhile was sent by an earlier invocation.
        let writes = claim
            .trace
            .iter()
            .filter(|s| s.action != Action::Read && s.answer != Answer::Late)
            .count();
        let want = claim.operation == Operation::Create;
        let n = self.nodes.len();
        // Note: exit 0 and 1 claim nothing of the other journal of the set,
        // whose repairs another run made; exit 3 may be for a group it refused.
        let own = cluster_client::sim::load_entries(self.path);
        let pending: Vec<&Entry> = own.iter().filter(|e| e.is_pending()).collect();
        let pending_anywhere = on_disk.iter().any(|e| e.is_pending());
        // Note: "as it was" is after the invocation's own replay, which may
        // have applied any repair or verification the journal held.
        let repaired = |g: usize, i: usize| {
            claim.journal_before.iter().any(|e| {
                e.is_pending()
                    && e.group == self.groups[g]
                    && e.host == self.nodes[i]
                    && e.action.leaves_present() == state[g][i]
            })
        };
        let wanted_or_before = |g: usize| {
            let excluded = self.touched_by_others(g);
            let all = (0..n).all(|i| excluded[i] || state[g][i] == want);
            let before =
                (0..n).all(|i| excluded[i] || state[g][i] == claim.before[g][i] || repaired(g, i));
            (all, before)
        };
        match status {
            ExitStatus::BadInput if writes > 0 => Err(format!(
                "exit 2 (no change sent), but {writes} writes were sent"
            )),
            ExitStatus::Failed if claim.signalled && writes == 0 => Err(
                "exit 1 after a signal that came before any change was sent: the table says 2"
                    .to_owned(),
            ),
            ExitStatus::Done | ExitStatus::Failed if !pending.is_empty() => Err(format!(
                "exit {}, but the journal holds pending work {pending:?}",
                status.code()
            )),
            ExitStatus::Done => match (0..state.len()).find(|&g| !wanted_or_before(g).0) {
                Some(g) => Err(format!("exit 0, but g{g} is {:?}", state[g])),
                None => Ok(()),
            },
            ExitStatus::Failed => match (0..state.len()).find(|&g| {
                let (all, before) = wanted_or_before(g);
                !all && !before
            }) {
                Some(g) => Err(format!(
                    "exit 1 with nothing pending, but g{g} is {:?} (was {:?})",
                    state[g], claim.before[g]
                )),
                None => Ok(()),
            },
            ExitStatus::RepairsPending if !pending_anywhere => Err(format!(
                "exit 3 (pending), but the journal holds no repair or verification: {on_disk:?}"
            )),
            _ => Ok(()),
        }
    }

    /// The world heals and the next invocations replay: one within the
    /// settle horizon while late writes are still held, one after they all
    /// landed, and one past the horizon, which must leave the journal empty.
    fn settle(&self, setup: &Setup) -> Result<(), String> {
        self.sim.heal();
        let replay = |at: u64| -> Result<ReplayReport, String> {
            setup.time.store(at, Ordering::SeqCst);
            let mut journal =
                Journal::open(self.path, &Cancel::new()).map_err(|e| format!("reopen: {e}"))?;
            Ok(setup
                .cluster(self.spec, &Cancel::new())
                .replay(&mut journal))
        };
        replay(T0)?;
        if self.spec.sibling {
            // Note: the rollback CronJob replays every journal of the set.
            let path = sibling_path(self.path);
            let mut other =
                Journal::open(&path, &Cancel::new()).map_err(|e| format!("reopen other: {e}"))?;
            setup.cluster(self.spec, &Cancel::new()).replay(&mut other);
        }
        self.sim.land_late();
        replay(T0)?;
        let report = replay(T0 + 10 * HORIZON.as_secs())?;
        let left = self.journal_on_disk();
        if !left.is_empty() {
            return Err(format!(
                "replays past the settle horizon left {left:?} (report: {report:?})"
            ));
        }
        Ok(())
    }

    /// After the replays: each group is on every node, on none, or as it
    /// was at first; and a group whose last invocation exited 0 is as that
    /// invocation left it.
    fn check_final(&self, runs: &[(Operation, Option<ExitStatus>, usize)]) -> Result<(), String> {
        let n = self.nodes.len();
        for (g, state) in self.states().iter().enumerate() {
            let excluded = self.touched_by_others(g);
            let everywhere = |present: bool| (0..n).all(|i| excluded[i] || state[i] == present);
            let as_first = (0..n).all(|i| excluded[i] || state[i] == self.spec.initial[g][i]);
            if !everywhere(true) && !everywhere(false) && !as_first {
                return Err(format!(
                    "after the replays g{g} is {state:?}: neither everywhere, nor nowhere, nor \
                     as it was ({:?}); runs: {runs:?}",
                    self.spec.initial[g]
                ));
            }
            if let Some((operation, Some(ExitStatus::Done), _)) = runs.last()
                && !everywhere(*operation == Operation::Create)
            {
                return Err(format!(
                    "the last run ({operation:?}) exited 0, but after the replays g{g} is \
                     {state:?}; runs: {runs:?}"
                ));
            }
        }
        Ok(())
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
    /// the ones applied; (g) a crash after one of our creates landed there:
    /// the next run cannot know whether the crashed one's changes are still
    /// in flight, so it verifies the node until the settle horizon, and takes
    /// a group found there meanwhile as one of ours that landed late.
    fn others_groups_survive(&self, trace: &[Seen], crashes: &[usize]) -> Result<(), String> {
        let creates_only = self.spec.operation == Operation::Create
            && self.spec.then.is_none_or(|then| then == Operation::Create);
        if !creates_only || self.journal_failed.load(Ordering::SeqCst) {
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
            let (node, group) = (&deletion.node, &deletion.group);
            if crashes.iter().any(|&crash| {
                // Note: each window is about the crashed invocation's own
                // requests, not an earlier one's, nor late writes landing.
                let (own, crash) = self.invocation_of(trace, crash);
                self.in_window_a(&own, crash, node, group)
                    || self.in_window_b(&own, crash, node, group)
                    || self.in_window_f(&own, crash, node, group)
                    || (in_window_g(&own, crash, node, group) && crash <= deleted_at)
            }) {
                continue;
            }
            return Err(format!(
                "another client created {} on {} (before our request {created_at}), and we \
                 deleted it (request {deleted_at}); crashes at {crashes:?}; trace: {:?}",
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

    /// The requests of the invocation a crash at `crash` ended, from its
    /// first on (late writes left out), and the crash's place among them.
    fn invocation_of(&self, trace: &[Seen], crash: usize) -> (Vec<Seen>, usize) {
        let start = self
            .starts
            .borrow()
            .iter()
            .copied()
            .filter(|&start| start <= crash)
            .max()
            .unwrap_or(0);
        let own = |s: &&Seen| s.answer != Answer::Late;
        let at = trace[start..crash.min(trace.len())]
            .iter()
            .filter(own)
            .count();
        (trace[start..].iter().filter(own).cloned().collect(), at)
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
                prop_oneof![
                    2 => Just(None),
                    1 => Just(Some(Operation::Create)),
                    1 => Just(Some(Operation::Delete)),
                ],
                0_u32..=2,
                prop_oneof![Just(1_usize), 2_usize..=3],
                prop_oneof![Just(1_usize), 2_usize..=4],
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.1),
                any::<u64>(),
                1_u32..=25,
            )
                .prop_map(
                    |(
                        initial,
                        operation,
                        then,
                        retries,
                        concurrency,
                        parallel_groups,
                        stdout_fails,
                        sibling,
                        held,
                        seed,
                        rate,
                    )| {
                        let spec = Spec {
                            initial,
                            operation,
                            then,
                            retries,
                            concurrency,
                            parallel_groups,
                            stdout_fails,
                            sibling,
                            held,
                        };
                        (spec, seed, rate)
                    },
                )
        })
    }

    /// Where failing cases are kept: beside the library's campaign's, as this
    /// file is reached through a `#[path]` from src/cli/.
    fn persistence() -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
        Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/sim/world.txt",
            ),
        ))
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
        #![proptest_config(ProptestConfig {
            failure_persistence: persistence(),
            ..ProptestConfig::with_cases(cases(3000))
        })]

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
        #![proptest_config(ProptestConfig {
            failure_persistence: persistence(),
            ..ProptestConfig::with_cases(cases(200))
        })]

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

#[cfg(test)]
mod debug_case {
    use super::*;

    #[test]
    fn debug_delete_then_delete() {
        let spec = Spec {
            initial: vec![vec![true], vec![true], vec![true]],
            operation: Operation::Delete,
            then: Some(Operation::Delete),
            retries: 0,
            concurrency: 1,
            parallel_groups: 1,
            stdout_fails: false,
            sibling: false,
            held: false,
        };
        let mut rng = fastrand::Rng::with_seed(10648239209630326509);
        let chooser: Chooser = Box::new(move |arity| {
            if arity > 1 && rng.u32(0..100) < 5 {
                rng.usize(1..arity)
            } else {
                0
            }
        });
        let dir = cluster_client::sim::temp_dir();
        run(&spec, chooser, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    }
}
