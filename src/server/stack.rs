//! Giving an idle connection thread's stack pages back.
//!
//! A TLS handshake runs deep (OpenSSL's key exchange and signature touch
//! about 30 KiB of stack), and the pages it touched stay in the thread's
//! resident memory after it returns — the largest part of an idle
//! connection's cost. A thread about to idle tells the kernel it no longer
//! needs the pages below its current depth; they come back, zeroed, if it
//! goes deep again.
//!
//! The calls it takes (pthread's stack bounds, madvise, sysconf) have no
//! safe form in std: each `unsafe` block here says why it is sound. The
//! crate denies `unsafe` everywhere but in such modules.
#![allow(unsafe_code)]

use std::cell::Cell;

/// What is kept below the current stack pointer: the frames of the wait
/// that follows, and signal handlers.
const MARGIN: usize = 1024;

thread_local! {
    /// The lowest address of this thread's stack (0: not known yet or
    /// unavailable).
    static STACK_LOW: Cell<usize> = const { Cell::new(0) };
}

/// Releases the calling thread's stack pages below its current depth
/// (minus a margin). Does nothing where the stack's bounds are unknown.
pub(super) fn release_unused_stack() {
    let low = STACK_LOW.with(|low| {
        if low.get() == 0 {
            low.set(stack_low().unwrap_or(usize::MAX));
        }
        low.get()
    });
    let here = &low as *const usize as usize;
    let page = page_size();
    // From the first page above the guard page up to a page boundary
    // `MARGIN` below here.
    let start = low.saturating_add(page);
    let end = here.saturating_sub(MARGIN) & !(page - 1);
    if low == usize::MAX || end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside this thread's own stack, below
    // everything in use (the current frame and a margin for what follows);
    // MADV_DONTNEED on private anonymous memory only drops pages, which
    // read back as zeros when touched again.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

/// The lowest address of the calling thread's stack, from pthread.
fn stack_low() -> Option<usize> {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread, which
    // is destroyed after use; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        (ok && !addr.is_null()).then_some(addr as usize)
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn go_deep(depth: usize) -> u8 {
        let buffer = std::hint::black_box([depth as u8; 4096]);
        if depth == 0 {
            buffer[0]
        } else {
            go_deep(depth - 1).wrapping_add(buffer[1])
        }
    }

    #[test]
    fn a_thread_keeps_working_after_its_stack_is_released() {
        let result = std::thread::spawn(|| {
            let first = go_deep(32);
            release_unused_stack();
            let second = go_deep(32);
            release_unused_stack();
            (first, second)
        })
        .join()
        .unwrap();
        assert_eq!(result.0, result.1);
    }
}
