//! Handles that stay safe to use after the object behind them is gone.
//!
//! A response handle is freed by `nhttps_server_response_end`, yet a C
//! program may still call `write` or `end` on it (Node answers that with
//! `ERR_STREAM_WRITE_AFTER_END`). So the handle given to C is not a pointer
//! but a number: a slot's index and the slot's generation when the handle
//! was made. Slots are never freed, only reused, and a reused slot has a new
//! generation, so an old handle finds either its own object or nothing —
//! never freed memory and never another response. Any other non-NULL value
//! is also just "nothing".
//!
//! Free slots wait in a lock-free queue (crossbeam-channel), so making and
//! ending a response takes no lock shared by all connections; each slot's
//! own mutex is only ever contended by a program that misuses one handle
//! from two threads.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

/// Half the bits of a handle hold the slot's index (plus one, so no handle
/// is NULL), half its generation: 2^32 reuses of one slot before a stale
/// handle could match again on 64-bit targets, 2^16 on 32-bit ones.
const HALF: u32 = usize::BITS / 2;
const GENERATION_MASK: usize = (1 << HALF) - 1;
const SLOTS_PER_CHUNK: usize = 256;
const CHUNKS: usize = 4096;
/// At most this many objects live at once (about a million on 64-bit).
const CAPACITY: usize = if SLOTS_PER_CHUNK * CHUNKS < GENERATION_MASK {
    SLOTS_PER_CHUNK * CHUNKS
} else {
    GENERATION_MASK
};

struct Slot<T> {
    generation: usize,
    value: Option<T>,
}

pub(crate) struct Slots<T> {
    /// Chunks of `SLOTS_PER_CHUNK` slots, made when first needed, never freed.
    chunks: [AtomicPtr<Mutex<Slot<T>>>; CHUNKS],
    /// Slots made so far.
    made: AtomicUsize,
    free: LazyLock<(Sender<usize>, Receiver<usize>)>,
    /// The values move between threads: `Slots<T>` is shared only if `T` is `Send`.
    _values: PhantomData<Mutex<T>>,
}

impl<T> Slots<T> {
    pub(crate) const fn new() -> Slots<T> {
        Slots {
            chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
            made: AtomicUsize::new(0),
            free: LazyLock::new(crossbeam_channel::unbounded),
            _values: PhantomData,
        }
    }

    /// Stores `value` and returns its handle (never 0), or gives `value`
    /// back when a million objects are already alive.
    pub(crate) fn insert(&self, value: T) -> Result<usize, T> {
        let Some(index) = self.free.1.try_recv().ok().or_else(|| self.make_slot()) else {
            return Err(value);
        };
        let mut slot = self.lock(index);
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        slot.value = Some(value);
        Ok((index + 1) << HALF | slot.generation)
    }

    /// Runs `f` on the object behind `handle`, or returns None when the
    /// object was removed (or `handle` was never made here).
    pub(crate) fn with<R>(&self, handle: usize, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (_, mut slot) = self.find(handle)?;
        slot.value.as_mut().map(f)
    }

    /// Takes the object behind `handle` out; the handle then finds nothing.
    pub(crate) fn remove(&self, handle: usize) -> Option<T> {
        let (index, mut slot) = self.find(handle)?;
        let value = slot.value.take()?;
        drop(slot);
        // The channel is unbounded and its receiver lives in `self`.
        let _ = self.free.0.send(index);
        Some(value)
    }

    /// The slot `handle` names, locked, if it still has the handle's generation.
    fn find(&self, handle: usize) -> Option<(usize, MutexGuard<'_, Slot<T>>)> {
        let index = (handle >> HALF).checked_sub(1)?;
        if index >= self.made.load(Ordering::Acquire) {
            return None;
        }
        let slot = self.lock(index);
        (slot.generation == handle & GENERATION_MASK).then_some((index, slot))
    }

    fn make_slot(&self) -> Option<usize> {
        let index = self.made.load(Ordering::Relaxed);
        if index >= CAPACITY {
            return None;
        }
        let chunk = &self.chunks[index / SLOTS_PER_CHUNK];
        if chunk.load(Ordering::Acquire).is_null() {
            let new: Box<[Mutex<Slot<T>>]> = (0..SLOTS_PER_CHUNK)
                .map(|_| {
                    Mutex::new(Slot {
                        generation: 0,
                        value: None,
                    })
                })
                .collect();
            let new = Box::into_raw(new).cast::<Mutex<Slot<T>>>();
            if chunk
                .compare_exchange(
                    std::ptr::null_mut(),
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // Another thread made this chunk first.
                // SAFETY: `new` came from Box::into_raw just above and was not shared.
                drop(unsafe {
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(new, SLOTS_PER_CHUNK))
                });
            }
        }
        // Claim the index only once its chunk exists, so `find` never sees
        // an index whose chunk is missing.
        match self
            .made
            .compare_exchange(index, index + 1, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => Some(index),
            Err(_) => self.make_slot(),
        }
    }

    /// The slot at `index`, which is below `made`.
    fn lock(&self, index: usize) -> MutexGuard<'_, Slot<T>> {
        let chunk = self.chunks[index / SLOTS_PER_CHUNK].load(Ordering::Acquire);
        // SAFETY: chunks are made before any of their indices is counted in
        // `made`, hold SLOTS_PER_CHUNK slots, and are never freed.
        let slot = unsafe { &*chunk.add(index % SLOTS_PER_CHUNK) };
        // A panic in a caller's closure poisons the lock; the slot is still whole.
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_finds_its_value_until_it_is_removed() {
        let slots = Slots::new();
        let handle = slots.insert(7).unwrap();
        assert_eq!(slots.with(handle, |v| *v), Some(7));
        assert_eq!(slots.remove(handle), Some(7));
        assert_eq!(slots.with(handle, |v| *v), None);
        assert_eq!(slots.remove(handle), None);
    }

    #[test]
    fn a_stale_handle_does_not_find_the_value_that_reused_its_slot() {
        let slots = Slots::new();
        let old = slots.insert(1).unwrap();
        slots.remove(old);
        let new = slots.insert(2).unwrap();
        assert_eq!(old >> HALF, new >> HALF, "the slot is reused");
        assert_eq!(slots.with(old, |v| *v), None);
        assert_eq!(slots.remove(old), None);
        assert_eq!(slots.with(new, |v| *v), Some(2));
    }

    #[test]
    fn handles_never_made_find_nothing() {
        let slots: Slots<u8> = Slots::new();
        for handle in [1, 0x1234, usize::MAX, 1 << HALF, 5 << HALF | 1] {
            assert_eq!(slots.with(handle, |_| ()), None);
            assert_eq!(slots.remove(handle), None);
        }
    }

    #[test]
    fn slots_are_made_across_chunks_and_reused() {
        let slots = Slots::new();
        let handles: Vec<usize> = (0..SLOTS_PER_CHUNK * 2 + 1)
            .map(|i| slots.insert(i).unwrap())
            .collect();
        for (i, &handle) in handles.iter().enumerate() {
            assert_eq!(slots.remove(handle), Some(i));
        }
        let made = slots.made.load(Ordering::Relaxed);
        for i in 0..100 {
            let handle = slots.insert(i).unwrap();
            slots.remove(handle);
        }
        assert_eq!(slots.made.load(Ordering::Relaxed), made);
    }
}
