//! What L2Advertisements and BGPAdvertisements share: which pools and
//! Services an advertisement covers (MetalLB reads both the same way).

use ferrolb_api::labels::{LabelSet, Labels, any_matches};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether an advertisement naming `pools` and selecting `selectors` covers
/// `pool` (whose labels are `labels`); naming and selecting nothing covers every pool.
pub(crate) fn covers_pool(
    pools: &[String],
    selectors: &[LabelSelector],
    pool: &str,
    labels: &dyn LabelSet,
) -> bool {
    if pools.is_empty() && selectors.is_empty() {
        return true;
    }
    pools.iter().any(|p| p == pool) || any_matches(selectors, &labels)
}

/// Whether `serviceSelectors` select a Service with `labels`; none selects every Service.
pub(crate) fn selects_service(selectors: &[LabelSelector], labels: &Labels) -> bool {
    selectors.is_empty() || any_matches(selectors, labels)
}
