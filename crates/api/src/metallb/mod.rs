//! The `metallb.io` custom resources, field for field as MetalLB defines them.
//!
//! Every kind is declared with kube's `CustomResource` derive, so the CRDs that
//! `ferrolb crds` prints come from these types and existing MetalLB YAML applies
//! unchanged. `BGPPeer` exists in two versions: `v1beta2` (stored) and the
//! older `v1beta1`, which converts into it.

/// A standard community whose parts are numbers from 0 to 65535, or a large
/// one whose parts are numbers from 0 to 4294967295, as CEL over `c` (the
/// text), for the CRDs of `BGPAdvertisement` and `Community`. The digit
/// counts after leading zeros keep `int()` from overflowing; only functions
/// every API server since Kubernetes 1.31 has are used (no `slice`).
macro_rules! cel_community_literal {
    () => {
        "(c.matches('^0*[0-9]{1,5}:0*[0-9]{1,5}$') && c.split(':').all(p, int(p) <= 65535)) \
         || (c.matches('^large:0*[0-9]{1,10}:0*[0-9]{1,10}:0*[0-9]{1,10}$') \
         && c.split(':').all(p, p == 'large' || int(p) <= 4294967295))"
    };
}

mod bfdprofile;
mod bgpadvertisement;
mod bgppeer;
mod community;
mod duration;
mod ipaddresspool;
mod l2advertisement;
mod schema;
mod status;

pub use bfdprofile::{BFDProfile, BFDProfileSpec};
pub use bgpadvertisement::{BGPAdvertisement, BGPAdvertisementSpec};
pub use bgppeer::{BGPPeer, BGPPeerSpec, DynamicAsnMode, SecretReference, v1beta1};
pub use community::{Community, CommunityAlias, CommunitySpec};
pub use ipaddresspool::{IPAddressPool, IPAddressPoolSpec, IPAddressPoolStatus, ServiceAllocation};
pub use l2advertisement::{L2Advertisement, L2AdvertisementSpec, PreferredNodeSelector};
pub use status::{
    ConfigurationResult, ConfigurationState, ConfigurationStateSpec, ConfigurationStateStatus, InterfaceInfo,
    ServiceBGPStatus, ServiceBGPStatusSpec, ServiceBGPStatusStatus, ServiceL2Status, ServiceL2StatusSpec,
    ServiceL2StatusStatus,
};

/// The API group of every MetalLB resource.
pub const GROUP: &str = "metallb.io";
/// The apiVersion of every MetalLB kind (and the older `BGPPeer`).
pub const V1BETA1: &str = "metallb.io/v1beta1";
/// The apiVersion of the stored `BGPPeer`.
pub const V1BETA2: &str = "metallb.io/v1beta2";

/// A Kubernetes label selector (`metav1.LabelSelector`), as MetalLB uses it.
pub type LabelSelector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
