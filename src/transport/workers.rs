//! Threads for abandonable attempts: a blocking call cannot be interrupted, so it runs on a
//! worker while the caller waits only as long as the run's cancel allows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Failure, FailureKind};

/// One attempt, run on a worker thread.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// Long-lived threads for abandonable attempts: one per attempt in flight,
/// reused once it is answered, so a run does not start a thread per
/// request. A job never waits behind another: a worker is reserved for it,
/// or started.
#[derive(Debug)]
pub(super) struct Workers {
    jobs: Mutex<mpsc::Sender<Job>>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Workers waiting for a job, not yet reserved.
    pub(super) idle: Arc<AtomicUsize>,
}

impl Workers {
    pub(super) fn new() -> Self {
        let (jobs, queue) = mpsc::channel();
        Self {
            jobs: Mutex::new(jobs),
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `job` on a worker: an idle one, reserved now, or a new one.
    pub(super) fn run(&self, job: Job) -> std::io::Result<()> {
        let reserved = self
            .idle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !reserved {
            let (queue, idle) = (Arc::clone(&self.queue), Arc::clone(&self.idle));
            std::thread::Builder::new()
                .name("request".to_owned())
                .spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = next else { break };
                        job();
                        idle.fetch_add(1, Ordering::SeqCst);
                    }
                })?;
        }
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| std::io::Error::other("the request workers are gone"))
    }
}

/// How often a waiting request looks at the cancel flag.
pub(super) const ABANDON_POLL: Duration = Duration::from_millis(20);

/// The failure of an attempt given up on a signal.
pub(super) fn abandoned() -> Failure {
    Failure {
        kind: FailureKind::Abandoned,
        message: "abandoned: the run was interrupted while the request was in flight".to_owned(),
    }
}
