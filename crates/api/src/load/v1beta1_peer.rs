//! `metallb.io/v1beta1` `BGPPeer`: the rules of its own schema, then
//! MetalLB's conversion to `v1beta2` (`api/v1beta1/bgppeer_conversion.go`),
//! after which it is validated as any `v1beta2` peer.

use crate::diagnostic::Diagnostic;
use crate::metallb::{BGPPeer, v1beta1};
use crate::snapshot::Located;

/// Most `peerPort` of the v1beta1 schema.
const MAX_PEER_PORT: u16 = 16384;

/// The problems of `old` that only its version has: its schema, and what
/// the conversion makes of its timers.
pub(super) fn check(old: &Located<v1beta1::BGPPeer>) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let reference = crate::snapshot::object_ref("BGPPeer", &old.metadata);
    let mut error = |field: String, message: String| {
        problems.push(Diagnostic::error(old.location_of(&field), reference.clone(), field, message));
    };
    let spec = &old.spec;
    if spec.peer_port > MAX_PEER_PORT {
        error(
            "spec.peerPort".into(),
            format!("peerPort {} is out of range (expected 0 to {MAX_PEER_PORT} in v1beta1)", spec.peer_port),
        );
    }
    for (s, selector) in spec.node_selectors.iter().enumerate() {
        for (e, expression) in selector.match_expressions.iter().enumerate() {
            if expression.values.is_empty() {
                error(
                    format!("spec.nodeSelectors[{s}].matchExpressions[{e}].values"),
                    format!(
                        "v1beta1 expression on {:?} has no values (expected at least one value whatever the \
                         operator, as MetalLB's v1beta1 schema wants; v1beta2 label selectors do not)",
                        expression.key
                    ),
                );
            }
        }
    }
    // MetalLB's conversion turns a missing holdTime into 0s; a keepaliveTime
    // alone is then longer than the hold time, which v1beta2 refuses.
    if let (None, Some(keepalive)) = (&spec.hold_time, &spec.keepalive_time)
        && std::time::Duration::from(*keepalive) > std::time::Duration::ZERO
    {
        error(
            "spec.keepaliveTime".into(),
            format!(
                "keepaliveTime {} without holdTime: converting v1beta1 to v1beta2 makes holdTime 0s, which \
                 keepaliveTime must not exceed (expected a holdTime too, or apiVersion metallb.io/v1beta2, where \
                 holdTime defaults to three keepalives)",
                keepalive
            ),
        );
    }
    problems
}

/// The `v1beta2` peer MetalLB's conversion makes of `old`, at its place.
/// A `peerPort` of 0 is left out of the converted object, as Go's
/// `omitempty` leaves it out.
pub(super) fn convert(old: Located<v1beta1::BGPPeer>) -> Located<BGPPeer> {
    let port_zero = old.spec.peer_port == 0;
    let mut converted = old.map(BGPPeer::from);
    if port_zero {
        converted.fields.remove("spec.peerPort");
    }
    converted
}
