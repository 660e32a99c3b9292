//! Bad input gets diagnostics, never a panic.

use ferrolb_api::load::load_str;
use proptest::prelude::*;

const POOL: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: p
spec:
  addresses:
  - 192.0.2.0/28
  serviceAllocation:
    priority: 1
    namespaceSelectors:
    - matchExpressions: [{key: a, operator: In, values: [b]}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: r}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s}
";

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let (snapshot, _) = load_str("fuzz.yaml", &text);
        let _ = ferrolb_api::validate::validate(&snapshot);
    }

    #[test]
    fn damaged_config_never_panics(cut in 0..POOL.len(), insert in "[ :\\-\\[\\]{}#&*!|>'\"%@`a-z0-9\n]{0,8}") {
        let mut text = POOL.to_owned();
        if text.is_char_boundary(cut) {
            text.insert_str(cut, &insert);
        }
        let (snapshot, _) = load_str("fuzz.yaml", &text);
        let _ = ferrolb_api::validate::validate(&snapshot);
    }
}
