//! Integration tests of the configuration crate, one binary (STYLE 16).

mod conformance;
mod crd_parity;
mod robustness;
