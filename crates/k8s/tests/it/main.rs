//! Integration tests of ferrolb-k8s, in one binary (one link).

// The load test runs the controller in a process of this binary and
// measures its memory: it allocates as the shipped `ferrolb` binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod announcements;
mod configuration;
mod controller;
mod fake;
mod lease;
mod load;
mod watchers;
