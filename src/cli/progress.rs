//! Feedback while a run of several groups lasts: a bar with count, rate and ETA on a terminal,
//! a progress line every 10 s elsewhere (Kubernetes logs), and one hint when a long run works
//! on one group at a time.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::args::LogFormat;
use crate::cli::logging;

/// How often a run that is not on a terminal says how far it is.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// A run of at least this many groups, working on one at a time, that
/// takes at least [`HINT_AFTER`], gets the `--parallel-groups` hint.
const HINT_GROUPS: usize = 50;
/// See [`HINT_GROUPS`].
const HINT_AFTER: Duration = Duration::from_secs(10);

/// The progress of one run of `total` groups.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    started: Instant,
    counts: Arc<Counts>,
    parallel_groups: usize,
    bar: Option<ProgressBar>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

/// Groups finished, and how many of them were not done.
#[derive(Debug, Default)]
struct Counts {
    finished: AtomicUsize,
    not_done: AtomicUsize,
}

impl Progress {
    /// Starts showing the progress of `total` groups worked on up to
    /// `parallel_groups` at a time: a bar when stderr is a terminal and
    /// logs are text, progress lines otherwise; nothing for one group, or
    /// with `-q`.
    pub fn start(total: usize, parallel_groups: usize) -> Self {
        let counts = Arc::new(Counts::default());
        let mut progress = Self {
            total,
            started: Instant::now(),
            counts: Arc::clone(&counts),
            parallel_groups,
            bar: None,
            ticker: None,
        };
        if total <= 1 || !logging::shows_progress() {
            return progress;
        }
        // Note: JSON logs promise one object per stderr line; a redrawn bar
        // would break that, so they get the progress lines instead.
        let terminal =
            std::io::stderr().is_terminal() && logging::active_format() == LogFormat::Text;
        if terminal {
            progress.bar = Some(bar(total));
            logging::set_bar(progress.bar.clone());
        } else {
            progress.ticker = Some(ticker(total, counts, progress.started));
        }
        progress
    }

    /// One more group finished; `done` says whether it was.
    pub fn advance(&self, done: bool) {
        self.counts.finished.fetch_add(1, Ordering::SeqCst);
        if !done {
            self.counts.not_done.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
            let not_done = self.counts.not_done.load(Ordering::SeqCst);
            if not_done > 0 {
                bar.set_message(format!("{not_done} not done"));
            }
        }
    }

    /// Clears the bar, stops the progress lines, and gives the hint when
    /// the run was long and worked on one group at a time.
    pub fn finish(mut self) {
        if let Some(bar) = self.bar.take() {
            logging::set_bar(None);
            bar.finish_and_clear();
        }
        if let Some((stop, thread)) = self.ticker.take() {
            drop(stop);
            let _ = thread.join();
        }
        let took = self.started.elapsed();
        if self.parallel_groups == 1 && self.total >= HINT_GROUPS && took >= HINT_AFTER {
            log::warn!(
                "hint: {} groups took {:.1}s one group at a time; --parallel-groups 32 works on \
                 32 at once, each still all-or-nothing (docs/benchmarks.md: 1,000 groups on \
                 50 nodes at 10 ms took 557 s at 1 and 25 s at 32)",
                self.total,
                took.as_secs_f64()
            );
        }
    }
}

/// The bar: count, rate and ETA, and how many groups were not done.
fn bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} groups  {per_sec}  ETA {eta}  {msg}")
    {
        bar.set_style(style);
    }
    // Note: groups are reported as their batch of 32 (or 4 × --parallel-groups)
    // ends; the tick keeps the rate and ETA moving in between.
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A thread that says every [`INTERVAL`] how far the run is, until the
/// sender it returns is dropped.
fn ticker(
    total: usize,
    counts: Arc<Counts>,
    started: Instant,
) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
            line(total, &counts, started.elapsed());
        }
    });
    (stop, thread)
}

/// "progress: 32/60 groups, 6 not done, 3.1 groups/s, about 9s left".
fn line(total: usize, counts: &Counts, elapsed: Duration) {
    let finished = counts.finished.load(Ordering::SeqCst);
    let not_done = counts.not_done.load(Ordering::SeqCst);
    let rate = finished as f64 / elapsed.as_secs_f64().max(0.001);
    let left = if rate > 0.0 {
        format!(", about {:.0}s left", (total - finished) as f64 / rate)
    } else {
        String::new()
    };
    logging::progress(
        &format!(
            "progress: {finished}/{total} groups, {not_done} not done, {rate:.1} groups/s{left}"
        ),
        &[
            ("finished", log::kv::Value::from(finished)),
            ("total", log::kv::Value::from(total)),
            ("not_done", log::kv::Value::from(not_done)),
        ],
    );
}
