//! Integration tests of ferrolb-k8s, in one binary (one link).

mod fake;
mod watchers;
