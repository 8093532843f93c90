//! The threads that carry requests ended with `end_async` from their turn
//! in an agent's queue to their callback. A request still waiting for a
//! connection holds none: when its turn comes, it is handed to an idle
//! thread here, or to a new one. A thread with nothing to do for
//! `IDLE_WAIT` exits. One pool serves every agent of the process.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

/// How long a thread waits for more work before it exits.
const IDLE_WAIT: Duration = Duration::from_secs(10);

/// Work for a thread of the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Sender<Job>,
    waiting: Receiver<Job>,
    /// Threads waiting for a job that no `run` has counted on yet. Each job
    /// sent is matched by one of these (taken by its `run`) or by a thread
    /// started for it, so a job never waits while its thread exits.
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, waiting) = unbounded();
        Pool {
            jobs,
            waiting,
            idle: AtomicUsize::new(0),
        }
    })
}

/// Runs `job` soon on a thread of the pool, never on the caller's: an idle
/// thread takes it, or a new one is started for it. If no thread can be
/// started (the process is out of threads), the job waits for the next
/// thread of the pool to become free.
pub(crate) fn run(job: Job) {
    let pool = pool();
    // The receiver lives as long as the pool: sending cannot fail.
    let _ = pool.jobs.send(job);
    if take_one(&pool.idle) {
        return;
    }
    let _ = thread::Builder::new()
        .name("nhttps-request".into())
        .spawn(move || work(pool));
}

/// Takes one from `count` unless it is 0; whether it did.
fn take_one(count: &AtomicUsize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

fn work(pool: &Pool) {
    loop {
        match pool.waiting.recv_timeout(IDLE_WAIT) {
            Ok(job) => {
                // A panic belongs to the job (its callback has its own
                // boundary); the thread goes on serving.
                let _ = catch_unwind(AssertUnwindSafe(job));
                pool.idle.fetch_add(1, Ordering::AcqRel);
            }
            // Exits only as a thread nobody counts on: when every idle
            // thread is promised a job, one of them is on its way.
            Err(RecvTimeoutError::Timeout) if take_one(&pool.idle) => return,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_off_the_callers_thread_and_each_once() {
        let (done, results) = mpsc::channel();
        let caller = thread::current().id();
        for i in 0..100 {
            let done = done.clone();
            run(Box::new(move || {
                done.send((i, thread::current().id() != caller)).unwrap();
            }));
        }
        let mut seen: Vec<(i32, bool)> = (0..100)
            .map(|_| results.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, (0..100).map(|i| (i, true)).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_job_leaves_the_pool_serving() {
        run(Box::new(|| panic!("a job's own failure")));
        let (done, result) = mpsc::channel();
        run(Box::new(move || done.send(()).unwrap()));
        result.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}
