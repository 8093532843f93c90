//! Process exit while other threads are inside nhttps calls.
//!
//! `exit()` runs OpenSSL's own `atexit` handler, which frees OpenSSL's
//! global state. A thread still inside an nhttps call at that moment — a
//! Python daemon thread making a request when the interpreter exits, a C
//! thread the program did not join — goes on using that state and crashes
//! the exiting process. So every call counts itself in progress (in
//! `ffi_boundary!`), and nhttps registers an `atexit` handler of its own
//! after OpenSSL's: handlers run in the reverse order, so it runs first and
//! waits, at most `EXIT_WAIT`, for the calls in progress on other threads
//! to return.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long `exit()` waits for calls in progress on other threads. Work
/// inside OpenSSL takes milliseconds; a call that waits for the network or
/// for a request holds the exit up this long, then is left behind.
const EXIT_WAIT: Duration = Duration::from_secs(1);

static REGISTER: Once = Once::new();

/// The calls in progress, counted in stripes: a thread counts in its own
/// (threads share them round-robin), so that threads calling at once do
/// not all write one cache line. Only `exit()` adds them up.
const STRIPES: usize = 64;

#[repr(align(64))]
struct Stripe(AtomicUsize);

static IN_PROGRESS: [Stripe; STRIPES] = [const { Stripe(AtomicUsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe.
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
    /// This thread's calls in progress (a callback may call back in, or
    /// call `exit()`).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

fn stripe() -> &'static AtomicUsize {
    // A thread being torn down (a `thread_exit` listener's calls) counts
    // in the first stripe.
    &IN_PROGRESS[STRIPE.try_with(|s| *s).unwrap_or(0)].0
}

fn in_progress() -> usize {
    IN_PROGRESS.iter().map(|s| s.0.load(Ordering::SeqCst)).sum()
}

/// One call into the library, counted from its start to its return.
pub(crate) struct CallInProgress(&'static AtomicUsize);

impl CallInProgress {
    pub(crate) fn enter() -> Self {
        REGISTER.call_once(register_exit_wait);
        let stripe = stripe();
        stripe.fetch_add(1, Ordering::SeqCst);
        let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
        CallInProgress(stripe)
    }
}

impl Drop for CallInProgress {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers `wait_for_other_calls` to run before OpenSSL's cleanup:
/// OpenSSL is initialized first, so that its handler (registered at its
/// initialization, by this library or by another user of OpenSSL in the
/// process) is the earlier one.
fn register_exit_wait() {
    openssl_sys::init();
    // SAFETY: registers a function that lives as long as the library. If
    // registering fails (no memory), exit() just does not wait.
    unsafe { libc::atexit(wait_for_other_calls) };
}

/// The `atexit` handler, on the thread that called `exit()`: returns when
/// no other thread is inside a call, or after `EXIT_WAIT`.
extern "C" fn wait_for_other_calls() {
    let own = DEPTH.try_with(Cell::get).unwrap_or(0);
    let deadline = Instant::now() + EXIT_WAIT;
    while in_progress() > own && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}
