//! Integration tests of the configuration crate, one binary (STYLE 16).

mod crd_parity;
mod robustness;
