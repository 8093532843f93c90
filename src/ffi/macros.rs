//! The panic boundary and the argument checks every `extern "C"` function
//! uses, so that each function body reads as its logic.

use std::ffi::{CStr, c_char};

use super::error::{ErrorReturn, FfiError, fail};
use crate::error::Error;

/// Runs the body of an `extern "C"` function, turning a panic into the
/// failure value of the function's return type (`NHTTPS_ERR_PANIC`, NULL,
/// false, 0) with the panic's message as the thread's last error. The call
/// counts as in progress until it returns (`exit.rs`).
macro_rules! ffi_boundary {
    ($($body:tt)*) => {{
        let _call = $crate::ffi::exit::CallInProgress::enter();
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::ffi::error::fail($crate::error::Error::from_panic(&*payload)),
        }
    }};
}

/// The value in `$option`, or an early return of `NHTTPS_ERR_NULL_ARGUMENT`
/// (or the return type's failure value) naming the argument `$ptr` when it
/// is `None` (the pointer was NULL). The `try_*` handle macros below are
/// this with the conversion they make.
macro_rules! or_null_argument {
    ($option:expr, $ptr:ident) => {
        match $option {
            Some(value) => value,
            None => return $crate::ffi::macros::null_argument(stringify!($ptr)),
        }
    };
}

/// A handle argument passed through `handle::$convert` (`borrow`,
/// `borrow_mut`, `take` or `arc_clone`), or an early return like
/// `or_null_argument!` when it is NULL. `try_ref!` and `try_mut!` are the
/// two every function uses; `take` and `arc_clone` are called through it.
macro_rules! try_handle {
    ($convert:ident, $ptr:ident) => {
        $crate::ffi::macros::or_null_argument!(unsafe { $crate::ffi::handle::$convert($ptr) }, $ptr)
    };
}

/// Borrows a handle, or fails like `try_handle!`.
macro_rules! try_ref {
    ($ptr:ident) => {
        $crate::ffi::macros::try_handle!(borrow, $ptr)
    };
}

/// Borrows a handle mutably, or fails like `try_handle!`.
macro_rules! try_mut {
    ($ptr:ident) => {
        $crate::ffi::macros::try_handle!(borrow_mut, $ptr)
    };
}

/// A NUL-terminated UTF-8 argument as `&str`.
macro_rules! try_str {
    ($ptr:ident) => {
        $crate::ffi::macros::try_core!(unsafe {
            $crate::ffi::macros::str_arg($ptr, stringify!($ptr))
        })
    };
}

/// A C string as its bytes, in whatever encoding (for header values, which
/// go out as given).
macro_rules! try_cstr_bytes {
    ($ptr:ident) => {
        $crate::ffi::macros::try_core!(unsafe {
            $crate::ffi::macros::cstr_bytes_arg($ptr, stringify!($ptr))
        })
    };
}

/// `(pointer, length)` as a byte slice; NULL is allowed only with length 0.
/// `try_slice!(mut buffer, capacity)`: a caller's buffer to write into.
macro_rules! try_slice {
    ($ptr:ident, $len:ident) => {
        $crate::ffi::macros::try_core!(unsafe {
            $crate::ffi::macros::slice_arg($ptr, $len, stringify!($ptr))
        })
    };
    (mut $ptr:ident, $len:ident) => {
        $crate::ffi::macros::try_core!(unsafe {
            $crate::ffi::macros::slice_mut_arg($ptr, $len, stringify!($ptr))
        })
    };
}

/// An out-pointer as `&mut T`, to write the result through, or an early
/// return like `or_null_argument!` when it is NULL. Check it before doing
/// the work whose result it receives.
macro_rules! try_out {
    ($ptr:ident) => {
        $crate::ffi::macros::or_null_argument!(unsafe { $ptr.as_mut() }, $ptr)
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
    ffi_boundary, or_null_argument, try_core, try_cstr_bytes, try_handle, try_mut, try_out,
    try_ref, try_slice, try_str,
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
/// `ptr` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn cstr_bytes_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<&'a [u8], FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
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
