use kube_derive::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabelSelector;
use super::schema::{atomic_selectors, go_int};

/// Most address entries in one pool: the API server refuses a CRD whose CEL
/// rules may cost more than its budget, and an unbounded list (or string) is
/// estimated as 3 MiB long. kube-apiserver 1.37 estimates the address rule
/// over 4096 entries of 128 characters at 1.6 times its budget; the cost
/// grows with entries × length, and these bounds make it 0.6.
pub(crate) const MAX_POOL_ENTRIES: u32 = 2048;
/// Longest address entry: an IPv6 range is 91 characters at most (two
/// addresses written with an embedded IPv4), spaces aside.
pub(crate) const MAX_POOL_ENTRY_LEN: u32 = 96;

/// A pool of addresses that Services of type LoadBalancer get their IPs from.
// The `x_kube` rules are the per-object rules of `validate::pool`, as CEL
// that the API server checks; overlaps between entries stay in `validate`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    doc = "A pool of addresses that Services of type LoadBalancer get their IPs from.",
    plural = "ipaddresspools",
    namespaced,
    status = "IPAddressPoolStatus",
    printcolumn = r#"{"name":"Auto Assign","type":"boolean","jsonPath":".spec.autoAssign"}"#,
    printcolumn = r#"{"name":"Avoid Buggy IPs","type":"boolean","jsonPath":".spec.avoidBuggyIPs"}"#,
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".spec.addresses"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolSpec {
    /// Address ranges of the pool: each a CIDR (`192.0.2.0/28`) or an
    /// inclusive range (`192.0.2.10-192.0.2.20`); all share the pool's settings.
    #[schemars(length(max = MAX_POOL_ENTRIES), inner(length(max = MAX_POOL_ENTRY_LEN)))]
    #[x_kube(
        validation = Rule::new("self.size() > 0").message("no addresses (expected at least one CIDR or range)"),
        // The order of a range's ends is left to `validate`: CEL cannot compare addresses.
        validation = Rule::new(
            "self.all(a, isCIDR(a.trim()) || (a.split('-').size() == 2 && isIP(a.split('-')[0].trim()) \
             && isIP(a.split('-')[1].trim()) \
             && ip(a.split('-')[0].trim()).family() == ip(a.split('-')[1].trim()).family()))"
        )
        .message(
            "invalid address (expected a CIDR such as 192.0.2.0/28 or a range of one family such as \
             192.0.2.10-192.0.2.20)"
        )
    )]
    pub addresses: Vec<String>,
    /// Whether Services may get an address from this pool without asking for it
    /// by name or address. Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub auto_assign: Option<bool>,
    /// Skip addresses ending in `.0` and `.255`, which some old clients
    /// mistake for network or broadcast addresses.
    #[serde(default, rename = "avoidBuggyIPs", skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub avoid_buggy_ips: bool,
    /// Restricts the pool to some namespaces or Services and orders it
    /// against other pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

impl IPAddressPoolSpec {
    /// Whether the pool hands out addresses to Services that did not ask for it.
    pub fn auto_assign(&self) -> bool {
        self.auto_assign.unwrap_or(true)
    }
}

/// Which Services may take addresses from a pool, and how the pool ranks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Rank among the pools a Service matches: lower is tried first; a pool
    /// without a priority comes after every pool with one.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(transform = go_int)]
    pub priority: i32,
    /// Namespaces whose Services may use the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Label selectors on namespaces whose Services may use the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Label selectors on the Services that may use the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub service_selectors: Vec<LabelSelector>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// How many addresses of a pool are in use, written by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolStatus {
    /// IPv4 addresses assigned to Services.
    #[serde(rename = "assignedIPv4")]
    pub assigned_ipv4: i64,
    /// IPv6 addresses assigned to Services.
    #[serde(rename = "assignedIPv6")]
    pub assigned_ipv6: i64,
    /// IPv4 addresses still free.
    #[serde(rename = "availableIPv4")]
    pub available_ipv4: i64,
    /// IPv6 addresses still free (saturated at the largest i64).
    #[serde(rename = "availableIPv6")]
    pub available_ipv6: i64,
}
