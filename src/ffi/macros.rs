//! The panic boundary and the argument checks every `extern "C"` function
//! uses, so that each function body reads as its logic.

use std::ffi::{CStr, c_char};

use super::error::{ErrorReturn, FfiError, fail};
use crate::error::Error;

/// Runs the body of an `extern "C"` function, turning a panic into the
/// failure value of the function's return type (`NHTTPS_ERR_PANIC`, NULL,
/// false, 0) with the panic's message as the thread's last error.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::ffi::error::fail($crate::error::Error::from_panic(&*payload)),
        }
    };
}

/// Borrows a handle, or returns `NHTTPS_ERR_NULL_ARGUMENT` (or the return
/// type's failure value) when it is NULL.
macro_rules! try_ref {
    ($ptr:ident) => {
        match unsafe { $crate::ffi::handle::borrow($ptr) } {
            Some(value) => value,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// Borrows a handle mutably, or fails like `try_ref!`.
macro_rules! try_mut {
    ($ptr:ident) => {
        match unsafe { $crate::ffi::handle::borrow_mut($ptr) } {
            Some(value) => value,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// Takes back ownership of a handle C owned (`handle::take`), or fails
/// like `try_ref!`.
macro_rules! try_take {
    ($ptr:ident) => {
        match unsafe { $crate::ffi::handle::take($ptr) } {
            Some(value) => value,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// A new reference to a shared handle (`handle::arc_clone`), or fails like
/// `try_ref!`.
macro_rules! try_arc {
    ($ptr:ident) => {
        match unsafe { $crate::ffi::handle::arc_clone($ptr) } {
            Some(value) => value,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// A NUL-terminated UTF-8 argument as `&str`.
macro_rules! try_str {
    ($ptr:ident) => {
        match unsafe { $crate::ffi::macros::str_arg($ptr, stringify!($ptr)) } {
            Ok(value) => value,
            Err(error) => return $crate::ffi::error::fail(error),
        }
    };
}

/// `(pointer, length)` as a byte slice; NULL is allowed only with length 0.
macro_rules! try_slice {
    ($ptr:ident, $len:ident) => {
        match unsafe { $crate::ffi::macros::slice_arg($ptr, $len, stringify!($ptr)) } {
            Ok(value) => value,
            Err(error) => return $crate::ffi::error::fail(error),
        }
    };
}

/// An out-pointer as `&mut T`, to write the result through, or an early
/// return like `try_ref!` when it is NULL. Check it before doing the work
/// whose result it receives.
macro_rules! try_out {
    ($ptr:ident) => {
        match unsafe { $ptr.as_mut() } {
            Some(out) => out,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// `(pointer, capacity)` of a caller's buffer as a mutable byte slice; NULL
/// is allowed only with capacity 0.
macro_rules! try_slice_mut {
    ($ptr:ident, $len:ident) => {
        match unsafe { $crate::ffi::macros::slice_mut_arg($ptr, $len, stringify!($ptr)) } {
            Ok(value) => value,
            Err(error) => return $crate::ffi::error::fail(error),
        }
    };
}

/// The result of a core call, or an early return with its error mapped.
macro_rules! try_core {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => return $crate::ffi::error::fail(error),
        }
    };
}

pub(crate) use {
    ffi_boundary, try_arc, try_core, try_mut, try_out, try_ref, try_slice, try_slice_mut, try_str,
    try_take,
};

pub(crate) fn null_argument<T: ErrorReturn>(name: &str) -> T {
    fail(FfiError::null(name))
}

/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")).into())
}

/// # Safety
/// `ptr` is NULL or points to `len` readable elements that outlive `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    ptr: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], FfiError> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(FfiError::null(name))
        };
    }
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// `ptr` is NULL or points to `len` writable elements, used by nothing else
/// while `'a` lasts.
pub(crate) unsafe fn slice_mut_arg<'a, T>(
    ptr: *mut T,
    len: usize,
    name: &str,
) -> Result<&'a mut [T], FfiError> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(FfiError::null(name))
        };
    }
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}
