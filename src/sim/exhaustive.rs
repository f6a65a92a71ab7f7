//! Bounded exhaustive exploration: every schedule of a small hostile world, through the real engine and journal.
//!
//! A schedule is the list of choices made at the world's choice points (see
//! `world.rs`): at each request, one of 15 outcomes for a write (served;
//! 500, time-out or reset, each applied or not; a time-out the node applies
//! late; a 400 refusal; another client's write on this node or the other
//! one just before; a crash before or after; a signal; a stretch of 429s
//! with `Retry-After`, after which the node comes back) or 10 for a read
//! (a stretch of silence among them); at
//! each journal write, one of 5 (written; ENOSPC before the rename; EIO
//! after it; a crash on either side); and, while a node holds a late write,
//! whether it lands there. A depth-first search over the choice points replays the real
//! engine from scratch for every schedule, so it needs no model of it.
//!
//! Bounds: every schedule whose first `depth` choice points hold at most
//! `faults` non-default choices (later choice points are served normally).
//! The ordinary `cargo test` explores depth 16 with 3 faults, 2 for worlds
//! of two invocations or two groups (72,134 schedules in about 50 s); set
//! `CLUSTER_CLIENT_EXHAUSTIVE=<depth>:<faults>` for a deeper search, which
//! gives every world the same bounds (16:3 is 569,557 schedules in about two
//! minutes):
//!
//! ```sh
//! CLUSTER_CLIENT_EXHAUSTIVE=16:3 cargo test --release --bin cluster-client exhaustive -- --nocapture
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::cli::exit::ExitStatus;
use crate::cli::world::{self, Spec};
use cluster_client::vocab::change::Operation;

/// The environment variable that sets `<depth>:<faults>` for a deep search.
const BOUNDS_VAR: &str = "CLUSTER_CLIENT_EXHAUSTIVE";

/// The search's bounds.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Choice points that may hold a fault.
    depth: usize,
    /// Faults at most per schedule.
    faults: usize,
}

fn bounds() -> Bounds {
    match std::env::var(BOUNDS_VAR) {
        Ok(value) => {
            let parsed = value
                .split_once(':')
                .and_then(|(d, f)| Some((d.trim().parse().ok()?, f.trim().parse().ok()?)));
            let (depth, faults) = parsed.unwrap_or_else(|| {
                panic!("{BOUNDS_VAR} must be <depth>:<faults>, such as 16:3, not {value:?}")
            });
            Bounds { depth, faults }
        }
        Err(_) => Bounds {
            depth: 16,
            faults: 3,
        },
    }
}

/// What a search found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Explored {
    schedules: usize,
    crashed: usize,
    by_status: [usize; 4],
}

/// Explores every schedule of `spec` within `bounds`; `Err` is the first
/// violation, with the schedule that shows it.
fn explore(spec: &Spec, bounds: Bounds, dir: &Path) -> Result<Explored, String> {
    let mut explored = Explored::default();
    let mut prefix: Vec<usize> = Vec::new();
    loop {
        let trail: Arc<Mutex<Vec<(usize, usize)>>> = Arc::new(Mutex::new(Vec::new()));
        let chooser = {
            let trail = Arc::clone(&trail);
            let prefix = prefix.clone();
            Box::new(move |arity: usize| {
                let mut trail = trail.lock().unwrap_or_else(|e| e.into_inner());
                let choice = prefix.get(trail.len()).copied().unwrap_or(0);
                trail.push((choice, arity));
                choice
            })
        };
        let ran = world::run(spec, chooser, dir);
        let trail = trail.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ran = ran.map_err(|violation| {
            let schedule: Vec<(usize, usize)> = trail
                .iter()
                .enumerate()
                .filter(|(_, (choice, _))| *choice != 0)
                .map(|(point, (choice, _))| (point, *choice))
                .collect();
            format!("{spec:?}, schedule (choice point, option) {schedule:?}: {violation}")
        })?;
        explored.schedules += 1;
        match ran.status {
            None => explored.crashed += 1,
            Some(status) => explored.by_status[usize::from(status.code())] += 1,
        }
        // The next schedule: the deepest choice point that can take its next
        // option within the bounds; everything after it starts over at 0.
        let next = (0..trail.len().min(bounds.depth)).rev().find(|&point| {
            let (choice, arity) = trail[point];
            let used = trail[..point].iter().filter(|(c, _)| *c != 0).count();
            choice + 1 < arity && used < bounds.faults
        });
        let Some(point) = next else {
            return Ok(explored);
        };
        prefix = trail[..point].iter().map(|(choice, _)| *choice).collect();
        prefix.push(trail[point].0 + 1);
    }
}

/// One invocation of `operation` on groups that start as `initial`: two
/// nodes one at a time, one retry, nothing else going on. Every spec
/// below is this with one thing changed.
fn plain(initial: Vec<Vec<bool>>, operation: Operation) -> Spec {
    Spec {
        initial,
        operation,
        then: None,
        retries: 1,
        concurrency: 1,
        parallel_groups: 1,
        stdout_fails: false,
        sibling: false,
        held: false,
    }
}

fn specs() -> Vec<Spec> {
    let mut specs = Vec::new();
    for operation in [Operation::Create, Operation::Delete] {
        let there = operation == Operation::Delete;
        for initial in [[false, false], [true, false], [false, true], [true, true]] {
            specs.push(plain(vec![initial.to_vec()], operation));
        }
        // Two invocations on one group: the second meets the first one's
        // verifications and late writes, and turns the group either way.
        for then in [Operation::Create, Operation::Delete] {
            specs.push(Spec {
                then: Some(then),
                ..plain(vec![vec![there, there]], operation)
            });
        }
        // Another journal of the set holds a repair for g0: refused, while g1
        // of the same invocation goes through every schedule.
        specs.push(Spec {
            sibling: true,
            ..plain(vec![vec![false, false], vec![false, false]], operation)
        });
        // A stopped process holds the lock: the first invocation sends
        // nothing and exits 2; once it is gone, the second goes through
        // every schedule.
        specs.push(Spec {
            then: Some(operation),
            held: true,
            ..plain(vec![vec![there, !there]], operation)
        });
        // Two groups in one invocation, one of them half there; stdout fails.
        specs.push(Spec {
            stdout_fails: true,
            ..plain(vec![vec![false, false], vec![true, false]], operation)
        });
    }
    // Note: the largest worlds (two groups) first, so the threads finish together.
    specs.sort_by_key(|spec| std::cmp::Reverse(spec.initial.len()));
    specs
}

/// The bounds for `spec`: two invocations, or two groups, have about twice
/// the choice points, so they take one fault fewer, unless a deep search was
/// asked for.
fn bounds_for(spec: &Spec, bounds: Bounds, deep: bool) -> Bounds {
    if (spec.then.is_some() || spec.initial.len() > 1) && !deep {
        Bounds {
            faults: bounds.faults.saturating_sub(1),
            ..bounds
        }
    } else {
        bounds
    }
}

#[test]
fn every_schedule_of_a_small_world_keeps_all_or_nothing() {
    let bounds = bounds();
    let deep = std::env::var(BOUNDS_VAR).is_ok();
    let specs = specs();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = Mutex::new(Explored::default());
    // Note: the specs are independent worlds; one thread per core explores them.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let dir = cluster_client::sim::temp_dir();
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(spec) = specs.get(index) else { break };
                    let bounds = bounds_for(spec, bounds, deep);
                    let started = std::time::Instant::now();
                    let explored =
                        explore(spec, bounds, dir.path()).unwrap_or_else(|e| panic!("{e}"));
                    if std::env::var_os("CLUSTER_CLIENT_EXHAUSTIVE_SPECS").is_some() {
                        #[allow(clippy::print_stdout)]
                        {
                            println!(
                                "{spec:?}: {} schedules in {:?}",
                                explored.schedules,
                                started.elapsed()
                            );
                        }
                    }
                    let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
                    total.schedules += explored.schedules;
                    total.crashed += explored.crashed;
                    for (sum, n) in total.by_status.iter_mut().zip(explored.by_status) {
                        *sum += n;
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap_or_else(|e| e.into_inner());
    #[allow(clippy::print_stdout)]
    {
        println!(
            "exhaustive: {} schedules (depth {}, up to {} faults; {} for two invocations or \
             groups), 0 violations; exit 0/1/2/3: {:?}, crashed: {}",
            total.schedules,
            bounds.depth,
            bounds.faults,
            if deep {
                bounds.faults
            } else {
                bounds.faults.saturating_sub(1)
            },
            total.by_status,
            total.crashed
        );
    }
    assert!(total.schedules > 1000, "the search explored too little");
    assert!(total.by_status[usize::from(ExitStatus::RepairsPending.code())] > 0);
    assert!(total.crashed > 0);
}
