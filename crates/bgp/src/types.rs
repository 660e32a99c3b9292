//! Validated protocol values, defined once in `ferrolb-types` and shared with
//! the configuration layers.

pub use ferrolb_types::{AfiSafi, Asn, HoldTime, RouterId};
