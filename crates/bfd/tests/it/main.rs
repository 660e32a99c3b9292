//! Integration tests for ferrolb-bfd, one binary (STYLE 16).

mod captures;
mod codec;
#[cfg(feature = "driver")]
mod driver;
#[cfg(feature = "driver")]
mod interop;
#[cfg(feature = "driver")]
mod interop_bird;
#[cfg(feature = "driver")]
mod netns;
mod pair;
mod proptests;
mod session;

use std::num::{NonZeroU8, NonZeroU32};

use ferrolb_bfd::{ControlPacket, Diagnostic, Flags, State};

/// Bytes from hex written one field a line; everything after `#` is a comment.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A nonzero discriminator.
pub fn discr(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("nonzero discriminator")
}

/// A nonzero detect multiplier.
pub fn mult(n: u8) -> NonZeroU8 {
    NonZeroU8::new(n).expect("nonzero multiplier")
}

/// A packet from a peer with discriminator `from` to `to` (0: not yet known), in `state`,
/// with 300 ms timers and multiplier 3.
pub fn peer_packet(state: State, from: u32, to: u32) -> ControlPacket {
    ControlPacket {
        diagnostic: Diagnostic::None,
        state,
        flags: Flags::default(),
        detect_mult: mult(3),
        my_discriminator: discr(from),
        your_discriminator: to,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}
