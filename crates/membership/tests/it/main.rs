//! Integration tests of ferrolb-membership, in one binary: the pure core on a fake clock and a
//! fake network (`sim`), and the UDP driver in a network namespace (`driver`).

#[cfg(feature = "driver")]
mod driver;
mod sim;
