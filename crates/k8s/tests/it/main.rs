//! Integration tests of ferrolb-k8s, in one binary (one link).

mod announcements;
mod configuration;
mod controller;
mod fake;
mod lease;
mod load;
mod watchers;
