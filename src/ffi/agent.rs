//! `nhttps_agent`: Node's `https.Agent` and `https.globalAgent`.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use super::error::nhttps_result;
use super::handle::{
    arc_castable, arc_into_raw, arc_release, borrow, box_castable, into_raw, take,
};
use super::macros::{ffi_boundary, try_core, try_mut, try_out, try_ref, try_str};
use crate::client::{Agent, AgentOptions, Scheduling, global_agent};

/// Options for `nhttps_agent_new` (Node's `new https.Agent(options)`).
/// Made by `nhttps_agent_options_new`, freed by `nhttps_agent_options_free`;
/// copied by `nhttps_agent_new`. Every setter takes a value in its
/// documented range or refuses it with `NHTTPS_ERR_INVALID_ARGUMENT`,
/// leaving the option as it was: nothing is clamped or replaced.
pub struct nhttps_agent_options {
    _private: [u8; 0],
}
box_castable!(nhttps_agent_options => AgentOptions);

/// A pool of kept-alive connections (Node's `https.Agent`), shared by any
/// number of threads. Reference-counted: `nhttps_agent_new` gives the
/// caller one reference, released by `nhttps_agent_free`; requests hold
/// their own until they finish.
pub struct nhttps_agent {
    _private: [u8; 0],
}
arc_castable!(nhttps_agent => Agent);

/// Options with Node's defaults: maxSockets 5, maxFreeSockets 256, no total
/// limit, keep-alive on, idle connections kept 15 s, LIFO reuse. The caller
/// frees them with `nhttps_agent_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_new() -> *mut nhttps_agent_options {
    ffi_boundary! { into_raw::<nhttps_agent_options>(AgentOptions::default()) }
}

/// Frees agent options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_free(options: *mut nhttps_agent_options) {
    ffi_boundary! { drop(unsafe { take(options) }) }
}

/// Node's `maxSockets`: connections per host (default 5). At least 1: 0
/// is refused with `NHTTPS_ERR_INVALID_ARGUMENT` (no request could be sent).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_max_sockets(
    options: *mut nhttps_agent_options,
    max: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_mut!(options).set_max_sockets(max as usize));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `maxTotalSockets`: connections over all hosts. 0 (the default)
/// means no limit: C's spelling of Node's `Infinity`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_max_total_sockets(
    options: *mut nhttps_agent_options,
    max: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).max_total_sockets = max as usize;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `maxFreeSockets`: idle connections kept per host (default 256).
/// 0 keeps none: a connection closes when its response is done.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_max_free_sockets(
    options: *mut nhttps_agent_options,
    max: u32,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).max_free_sockets = max as usize;
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `keepAlive` (default true): keep connections for later requests.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_keep_alive(
    options: *mut nhttps_agent_options,
    keep_alive: bool,
) -> nhttps_result {
    ffi_boundary! {
        try_mut!(options).keep_alive = keep_alive;
        nhttps_result::NHTTPS_OK
    }
}

/// How long an idle connection is kept before it is closed (default 15000
/// ms). At least 1 ms: 0 is refused with `NHTTPS_ERR_INVALID_ARGUMENT` (to
/// keep no idle connection, set `max_free_sockets` to 0).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_free_socket_timeout_ms(
    options: *mut nhttps_agent_options,
    milliseconds: u32,
) -> nhttps_result {
    ffi_boundary! {
        let timeout = Duration::from_millis(u64::from(milliseconds));
        try_core!(try_mut!(options).set_free_socket_timeout(timeout));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `scheduling`: "lifo" (the default: reuse the most recent idle
/// connection) or "fifo" (the least recent), read now and not kept;
/// anything else is refused with `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_options_set_scheduling(
    options: *mut nhttps_agent_options,
    scheduling: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_mut!(options);
        options.scheduling = try_core!(Scheduling::from_node_name(try_str!(scheduling)));
        nhttps_result::NHTTPS_OK
    }
}

/// Creates an agent. `options` may be NULL for the defaults; they are
/// copied, so they may be freed right after. On success the caller owns
/// `*agent_out`, a reference it releases with `nhttps_agent_free` (which
/// also destroys the agent for every holder).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_new(
    options: *const nhttps_agent_options,
    agent_out: *mut *const nhttps_agent,
) -> nhttps_result {
    ffi_boundary! {
        let agent_out = try_out!(agent_out);
        let options = if options.is_null() { AgentOptions::default() } else { try_ref!(options).clone() };
        *agent_out = arc_into_raw::<nhttps_agent>(Arc::new(Agent::new(options)));
        nhttps_result::NHTTPS_OK
    }
}

/// Node's `agent.destroy()` and a release: closes the agent's idle
/// connections now (those in use close when their responses are freed) and
/// releases the caller's reference. Requests still waiting for a
/// connection fail with `NHTTPS_ERR_INVALID_STATE`: a blocked
/// `nhttps_client_request_end` returns it, and each waiting
/// `nhttps_client_request_end_async` callback gets it once, on a thread of
/// nhttps's; so do requests of this agent ended afterwards. NULL is a
/// no-op. Never pass the global agent.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_free(agent: *const nhttps_agent) {
    ffi_boundary! {
        if let Some(agent) = unsafe { borrow(agent) } {
            agent.destroy();
        }
        unsafe { arc_release(agent) }
    }
}

/// Node's `https.globalAgent`: the agent of requests that name none. It
/// lives as long as the program; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_global_agent() -> *const nhttps_agent {
    ffi_boundary! {
        // One reference, made once and never released: the global agent is never freed.
        static GLOBAL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *GLOBAL.get_or_init(|| arc_into_raw::<nhttps_agent>(global_agent()) as usize) as *const nhttps_agent
    }
}

/// Node's `agent.sockets`, `freeSockets` and `requests` for one host —
/// `name` is "host:port" ("[::1]:port" for IPv6, the path for a unix
/// socket) — or, with `name` NULL, over all hosts; `name` is read now, not
/// kept. Each out-pointer may be NULL. A host the agent does not know gives
/// zeros.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_agent_stats(
    agent: *const nhttps_agent,
    name: *const c_char,
    in_use_out: *mut usize,
    free_out: *mut usize,
    queued_out: *mut usize,
) -> nhttps_result {
    ffi_boundary! {
        let agent = try_ref!(agent);
        let wanted = if name.is_null() { "" } else { try_str!(name) };
        let stats = agent.stats();
        let found = stats.iter().find(|s| s.name == wanted).cloned().unwrap_or_default();
        // Each out-pointer is optional: NULL ones are skipped.
        for (out, value) in [(in_use_out, found.in_use), (free_out, found.free), (queued_out, found.queued)] {
            if let Some(out) = unsafe { out.as_mut() } {
                *out = value;
            }
        }
        nhttps_result::NHTTPS_OK
    }
}
