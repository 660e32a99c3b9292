//! Integration tests of ferrolb-k8s, in one binary (one link).

mod controller;
mod fake;
mod lease;
mod watchers;
