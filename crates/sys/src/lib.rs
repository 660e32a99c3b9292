//! The system interfaces ferrolb needs that no maintained crate wraps, each
//! behind a safe function. This is the only crate of the workspace with
//! `unsafe` code: [`md5`]'s call to `setsockopt`, [`packet`]'s link-layer sockets,
//! [`usage`]'s call to `getrusage` and [`allocator`]'s calls to mimalloc.

pub mod allocator;
pub mod cpu_quota;
pub mod md5;
pub mod packet;
pub mod usage;
