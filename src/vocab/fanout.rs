//! Bounded fan-out: work on up to N items at a time, results kept in item order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on each item, at most `concurrency` at a time, starting them
/// in item order. Before each start, `stop` is asked; once it says yes, no
/// new item starts, and the ones already running finish.
///
/// Returns one slot per item, in item order: `None` for items never started.
/// With `concurrency` 1 everything runs on the calling thread, one item after
/// another.
pub fn fan_out<T, R, S, W>(items: &[T], concurrency: usize, stop: S, work: W) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
    S: Fn() -> bool + Sync,
    W: Fn(&T) -> R + Sync,
{
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    if concurrency <= 1 || items.len() <= 1 {
        for (slot, item) in results.iter_mut().zip(items) {
            if stop() {
                break;
            }
            *slot = Some(work(item));
        }
        return results;
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(results);
    let worker = || {
        loop {
            if stop() {
                break;
            }
            let index = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(index) else {
                break;
            };
            let result = work(item);
            results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        // Note: the calling thread is one of the workers: one thread start
        // fewer per fan-out, which bulk runs do for every group's reads.
        for _ in 1..concurrency.min(items.len()) {
            scope.spawn(worker);
        }
        worker();
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Condvar, mpsc};
    use std::time::Duration;

    #[test]
    fn keeps_item_order_whatever_the_finishing_order() {
        let items: Vec<u32> = (0..50).collect();
        let results = fan_out(&items, 8, || false, |x| x * 2);
        let expected: Vec<Option<u32>> = items.iter().map(|x| Some(x * 2)).collect();
        assert_eq!(results, expected);
    }

    #[test]
    fn runs_up_to_the_limit_at_the_same_time() {
        // Note: every wait has a wide timeout, so a wrong limit fails with a
        // message instead of hanging: each item reports its start and then
        // holds its slot until the test opens the gate. Items wait longer
        // than the test does, so none gives up its slot first.
        const LIMIT: usize = 4;
        const WAIT: Duration = Duration::from_secs(10);
        let (started_tx, started) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let run = {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            std::thread::spawn(move || {
                let items: Vec<usize> = (0..2 * LIMIT).collect();
                fan_out(
                    &items,
                    LIMIT,
                    || false,
                    |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        started_tx.send(()).expect("test is listening");
                        let (open, opened) = &*gate;
                        let open = open.lock().unwrap_or_else(|e| e.into_inner());
                        let (open, _) = opened
                            .wait_timeout_while(open, 3 * WAIT, |open| !*open)
                            .unwrap_or_else(|e| e.into_inner());
                        running.fetch_sub(1, Ordering::SeqCst);
                        *open
                    },
                )
            })
        };
        let open_gate = || {
            let (open, opened) = &*gate;
            *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
            opened.notify_all();
        };
        for n in 0..LIMIT {
            if started.recv_timeout(WAIT).is_err() {
                open_gate();
                panic!("only {n} items ran at the same time with a limit of {LIMIT}");
            }
        }
        // Note: an absence cannot be awaited; a short look for one more
        // start makes a too-high limit fail too (a slow machine can only
        // make this check miss it, never fail a correct limit).
        let extra = started.recv_timeout(Duration::from_millis(200));
        let at_once = most.load(Ordering::SeqCst);
        open_gate();
        assert!(
            extra.is_err(),
            "item {} started while {LIMIT} were running",
            LIMIT + 1
        );
        let results = run.join().expect("fan_out thread");
        assert_eq!(
            at_once, LIMIT,
            "items running at once before the gate opened"
        );
        assert!(
            most.load(Ordering::SeqCst) <= LIMIT,
            "more than {LIMIT} items ran at once"
        );
        assert!(
            results.iter().all(|r| *r == Some(true)),
            "every item ran, none timed out at the gate: {results:?}"
        );
    }

    #[test]
    fn stop_prevents_new_starts_but_not_running_ones() {
        let stopped = AtomicBool::new(false);
        let items: Vec<usize> = (0..10).collect();
        let results = fan_out(
            &items,
            1,
            || stopped.load(Ordering::SeqCst),
            |&i| {
                if i == 3 {
                    stopped.store(true, Ordering::SeqCst);
                }
                i
            },
        );
        assert_eq!(
            results,
            vec![
                Some(0),
                Some(1),
                Some(2),
                Some(3),
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn parallel_stop_leaves_later_items_unstarted() {
        let stopped = AtomicBool::new(false);
        let items: Vec<usize> = (0..100).collect();
        let results = fan_out(
            &items,
            4,
            || stopped.load(Ordering::SeqCst),
            |&i| {
                if i == 0 {
                    stopped.store(true, Ordering::SeqCst);
                }
            },
        );
        assert!(results[0].is_some());
        assert!(results.iter().filter(|r| r.is_some()).count() <= 4);
    }
}
