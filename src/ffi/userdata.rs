//! `Userdata`: the `void *userdata` a caller registers beside a callback.

use std::ffi::c_void;

/// The userdata registered beside a callback, handed back to it.
#[derive(Clone, Copy)]
pub(crate) struct Userdata(pub(crate) *mut c_void);
// SAFETY: by registering a callback the caller accepts (as the header says)
// that it and its userdata are used from nhttps's threads; nhttps never
// dereferences userdata itself.
unsafe impl Send for Userdata {}
unsafe impl Sync for Userdata {}
