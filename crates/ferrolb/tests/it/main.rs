//! The binary as a user runs it, one test binary (STYLE 16).

mod bgp;
mod bgp_bfd;
mod bgp_families;
mod bgp_graceful_restart;
mod bgp_hostile;
mod bgp_interop;
mod bgp_malformed;
mod bgp_passive;
mod chaos;
mod cli;
mod demo;
mod deploy;
#[path = "../common/documents.rs"]
mod documents;
mod l2;
mod metrics;
mod monitoring;
mod router_config;
mod run;
mod status;
mod support;
