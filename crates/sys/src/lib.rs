//! The kernel interfaces ferrolb needs that no maintained crate wraps, each
//! behind a safe function. This is the only crate of the workspace with
//! `unsafe` code, and only in [`md5`]'s call to `setsockopt`.

pub mod md5;
