//! The binary as a user runs it, one test binary (STYLE 16).

mod bgp;
mod cli;
mod run;
