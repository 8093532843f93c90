//! Opaque C handles and the Rust objects behind them.
//!
//! Each C type is an empty, non-`repr(C)` struct (cbindgen declares it as an
//! incomplete type); a pointer to it is really a pointer to its
//! `Castable::Rust`. How C holds that pointer is the type's
//! `Castable::Ownership`, declared once beside the type:
//!
//! - `OwnershipBox` (`box_castable!`): C owns the object — `into_raw` gives
//!   it, `take` takes it back once, `borrow_mut` may change it. nhttps may
//!   also `lend` it (a server's request is lent, a client's response owned).
//! - `OwnershipArc` (`arc_castable!`): C holds counted references to a
//!   shared object — `arc_into_raw`, `arc_clone`, `arc_release`.
//! - `OwnershipRef` (`ref_castable!`): C only ever borrows it (`lend`).
//!
//! Every function here names the ownerships it is sound for, so a misuse —
//! `take` on a shared handle, `arc_release` on an owned one, `lend` of a
//! shared object that C could then release — does not compile.

use std::sync::Arc;

/// C owns the object: a `Box` it gives back once.
pub(crate) struct OwnershipBox;
/// C holds references to a shared object: an `Arc` per reference.
pub(crate) struct OwnershipArc;
/// C only borrows the object, for as long as the doc comment of the
/// function that lent it says.
pub(crate) struct OwnershipRef;

/// How C holds a handle's object: one of the three markers above.
pub(crate) trait Ownership {}
impl Ownership for OwnershipBox {}
impl Ownership for OwnershipArc {}
impl Ownership for OwnershipRef {}

/// The ownerships whose objects nhttps may lend to C as a plain pointer:
/// not `OwnershipArc`, whose pointers C may release.
pub(crate) trait Lendable: Ownership {}
impl Lendable for OwnershipBox {}
impl Lendable for OwnershipRef {}

/// Ties an opaque C type to the Rust type its pointers point to, and to
/// how C holds them.
pub(crate) trait Castable {
    type Ownership: Ownership;
    type Rust;
}

/// Declares `Castable` for a handle declared beside it. The handle itself is
/// declared in the open, not by these macros, so that cbindgen sees it:
/// `pub struct nhttps_x { _private: [u8; 0] }`.
macro_rules! castable {
    ($name:ident => $rust:ty, $ownership:ident) => {
        impl $crate::ffi::handle::Castable for $name {
            type Ownership = $crate::ffi::handle::$ownership;
            type Rust = $rust;
        }
    };
}

/// A handle C owns (`into_raw`, `take`).
macro_rules! box_castable {
    ($name:ident => $rust:ty) => {
        $crate::ffi::handle::castable!($name => $rust, OwnershipBox);
    };
}

/// A handle to a shared object C holds references to (`arc_*`).
macro_rules! arc_castable {
    ($name:ident => $rust:ty) => {
        $crate::ffi::handle::castable!($name => $rust, OwnershipArc);
    };
}

/// A handle C only borrows (`lend`).
macro_rules! ref_castable {
    ($name:ident => $rust:ty) => {
        $crate::ffi::handle::castable!($name => $rust, OwnershipRef);
    };
}

pub(crate) use {arc_castable, box_castable, castable, ref_castable};

/// # Safety
/// `ptr` is NULL or was made by this module's functions for this type and is still alive.
pub(crate) unsafe fn borrow<'a, C: Castable>(ptr: *const C) -> Option<&'a C::Rust> {
    unsafe { ptr.cast::<C::Rust>().as_ref() }
}

/// Only objects C owns may change through their handle: a shared one is
/// shared with other threads.
///
/// # Safety
/// As `borrow`, and no other reference to the object is in use.
pub(crate) unsafe fn borrow_mut<'a, C>(ptr: *mut C) -> Option<&'a mut C::Rust>
where
    C: Castable<Ownership = OwnershipBox>,
{
    unsafe { ptr.cast::<C::Rust>().as_mut() }
}

/// Moves `value` to the heap and gives its ownership to C.
pub(crate) fn into_raw<C>(value: C::Rust) -> *mut C
where
    C: Castable<Ownership = OwnershipBox>,
{
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back ownership of what `into_raw` gave out.
///
/// # Safety
/// `ptr` is NULL or came from `into_raw` for this type and was not taken back before.
pub(crate) unsafe fn take<C>(ptr: *mut C) -> Option<Box<C::Rust>>
where
    C: Castable<Ownership = OwnershipBox>,
{
    if ptr.is_null() {
        None
    } else {
        Some(unsafe { Box::from_raw(ptr.cast::<C::Rust>()) })
    }
}

/// Lends a Rust object to C as a handle that does not own it.
pub(crate) fn lend<C>(value: &C::Rust) -> *const C
where
    C: Castable,
    C::Ownership: Lendable,
{
    (value as *const C::Rust).cast()
}

/// Gives C one reference to a shared object.
pub(crate) fn arc_into_raw<C>(value: Arc<C::Rust>) -> *const C
where
    C: Castable<Ownership = OwnershipArc>,
{
    Arc::into_raw(value).cast()
}

/// A new reference to a shared object C holds a reference to; C keeps its own.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_raw` for this type and its reference is still held.
pub(crate) unsafe fn arc_clone<C>(ptr: *const C) -> Option<Arc<C::Rust>>
where
    C: Castable<Ownership = OwnershipArc>,
{
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr.cast::<C::Rust>();
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// Takes back the reference C held.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_raw` for this type and was not released before.
pub(crate) unsafe fn arc_release<C>(ptr: *const C)
where
    C: Castable<Ownership = OwnershipArc>,
{
    if !ptr.is_null() {
        drop(unsafe { Arc::from_raw(ptr.cast::<C::Rust>()) });
    }
}
