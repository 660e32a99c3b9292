//! The binary as a user runs it, one test binary (STYLE 16).

mod cli;
mod run;
