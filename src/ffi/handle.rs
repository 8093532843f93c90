//! Opaque C handles and the Rust objects behind them.
//!
//! Each C type is an empty, non-`repr(C)` struct (cbindgen declares it as an
//! incomplete type); a pointer to it is really a pointer to its `Castable::Rust`.

/// Ties an opaque C type to the Rust type its pointers point to.
pub(crate) trait Castable {
    type Rust;
}

/// Ties a handle type declared beside it to its Rust type. The handle is
/// declared in the open, not by this macro, so that cbindgen sees it:
/// `pub struct nhttps_x { _private: [u8; 0] }`.
macro_rules! castable {
    ($name:ident => $rust:ty) => {
        impl $crate::ffi::handle::Castable for $name {
            type Rust = $rust;
        }
    };
}
pub(crate) use castable;

/// # Safety
/// `ptr` is NULL or was made by `lend` or `into_raw` for this type and is still alive.
pub(crate) unsafe fn borrow<'a, C: Castable>(ptr: *const C) -> Option<&'a C::Rust> {
    unsafe { ptr.cast::<C::Rust>().as_ref() }
}

/// # Safety
/// As `borrow`, and no other reference to the object is in use.
pub(crate) unsafe fn borrow_mut<'a, C: Castable>(ptr: *mut C) -> Option<&'a mut C::Rust> {
    unsafe { ptr.cast::<C::Rust>().as_mut() }
}

/// Moves `value` to the heap and gives its ownership to C.
pub(crate) fn into_raw<C: Castable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back ownership of what `into_raw` gave out.
///
/// # Safety
/// `ptr` is NULL or came from `into_raw` for this type and was not taken back before.
pub(crate) unsafe fn take<C: Castable>(ptr: *mut C) -> Option<Box<C::Rust>> {
    if ptr.is_null() {
        None
    } else {
        Some(unsafe { Box::from_raw(ptr.cast::<C::Rust>()) })
    }
}

/// Lends a Rust object to C as a handle that does not own it.
pub(crate) fn lend<C: Castable>(value: &C::Rust) -> *const C {
    (value as *const C::Rust).cast()
}

/// Gives C one reference to a shared object.
pub(crate) fn arc_into_raw<C: Castable>(value: std::sync::Arc<C::Rust>) -> *const C {
    std::sync::Arc::into_raw(value).cast()
}

/// A new reference to a shared object C holds a reference to; C keeps its own.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_raw` for this type and its reference is still held.
pub(crate) unsafe fn arc_clone<C: Castable>(ptr: *const C) -> Option<std::sync::Arc<C::Rust>> {
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr.cast::<C::Rust>();
    unsafe {
        std::sync::Arc::increment_strong_count(ptr);
        Some(std::sync::Arc::from_raw(ptr))
    }
}

/// Takes back the reference C held.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_raw` for this type and was not released before.
pub(crate) unsafe fn arc_release<C: Castable>(ptr: *const C) {
    if !ptr.is_null() {
        drop(unsafe { std::sync::Arc::from_raw(ptr.cast::<C::Rust>()) });
    }
}
