//! Which address families a Service wants, from `spec.ipFamilyPolicy`,
//! `spec.ipFamilies` and, failing those, its cluster IPs.

use std::fmt;
use std::net::IpAddr;

use ferrolb_api::service::LbService;
use ferrolb_types::IpFamily;

/// The address families a Service asks for, each with the family it lists first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Families {
    /// One address of this family (`SingleStack`, the default).
    Single(IpFamily),
    /// One address of each family, from one pool; this family first
    /// (`RequireDualStack`).
    RequireDual(IpFamily),
    /// One address of each family when one pool has both, else one address,
    /// of this family if possible (`PreferDualStack`).
    PreferDual(IpFamily),
}

impl Families {
    /// What `spec` asks for.
    ///
    /// The family list is `spec.ipFamilies`; when that is absent, the families
    /// of `spec.clusterIPs` (or `spec.clusterIP`), as MetalLB reads them; when
    /// those are absent too (a Service from a file, which no API server has
    /// seen), IPv4. `PreferDualStack` with a single listed family and cluster
    /// IPs is single-stack: the API server lists every family the cluster has,
    /// so the cluster has only that one.
    pub fn of(service: &LbService) -> Families {
        let listed = listed_families(service);
        let cluster = cluster_families(service);
        let families = match (listed, cluster) {
            (FamilyList { first: Some(_), .. }, _) => listed,
            (_, FamilyList { first: Some(_), .. }) => cluster,
            _ => FamilyList { first: Some(IpFamily::V4), both: false },
        };
        let primary = families.first.unwrap_or(IpFamily::V4);
        match service.ip_family_policy.as_deref() {
            Some("RequireDualStack") => Families::RequireDual(primary),
            Some("PreferDualStack") if !families.both && cluster.first.is_some() => Families::Single(primary),
            Some("PreferDualStack") => Families::PreferDual(primary),
            _ => Families::Single(primary),
        }
    }

    /// The family listed first.
    pub fn primary(self) -> IpFamily {
        match self {
            Families::Single(f) | Families::RequireDual(f) | Families::PreferDual(f) => f,
        }
    }

    /// Whether the Service may hold exactly `ips`: one address of its family
    /// when single-stack, one of each when dual-stack is required, one or one
    /// of each when it is preferred.
    pub fn accepts(self, ips: &[IpAddr]) -> bool {
        match (self, ips) {
            (Families::Single(f), [ip]) => IpFamily::of(*ip) == f,
            (Families::PreferDual(_), [_]) => true,
            (Families::RequireDual(_) | Families::PreferDual(_), [a, b]) => {
                IpFamily::of(*a) != IpFamily::of(*b)
            }
            _ => false,
        }
    }

    /// The phrase for what the Service needs, in "no pool has {...}".
    pub(crate) fn wanted(self) -> &'static str {
        match self {
            Families::Single(IpFamily::V4) => "a free IPv4 address",
            Families::Single(IpFamily::V6) => "a free IPv6 address",
            Families::RequireDual(_) => "both a free IPv4 and a free IPv6 address",
            Families::PreferDual(_) => "a free address",
        }
    }
}

impl fmt::Display for Families {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Families::Single(family) => write!(f, "{family}"),
            Families::RequireDual(_) => f.write_str("dual-stack (RequireDualStack)"),
            Families::PreferDual(_) => f.write_str("dual-stack (PreferDualStack)"),
        }
    }
}

/// The other family.
pub(crate) fn other(family: IpFamily) -> IpFamily {
    match family {
        IpFamily::V4 => IpFamily::V6,
        IpFamily::V6 => IpFamily::V4,
    }
}

/// A list of families, as far as it matters: which comes first, and
/// whether both are there.
#[derive(Clone, Copy, Debug, Default)]
struct FamilyList {
    first: Option<IpFamily>,
    both: bool,
}

impl FamilyList {
    fn push(&mut self, family: IpFamily) {
        match self.first {
            None => self.first = Some(family),
            Some(first) => self.both |= first != family,
        }
    }
}

/// `spec.ipFamilies`, known names only.
fn listed_families(service: &LbService) -> FamilyList {
    let mut out = FamilyList::default();
    for name in &service.ip_families {
        match &**name {
            "IPv4" => out.push(IpFamily::V4),
            "IPv6" => out.push(IpFamily::V6),
            _ => {}
        }
    }
    out
}

/// Families of `spec.clusterIPs`, or of `spec.clusterIP` when that list is
/// empty; none when an address does not parse (`None`, for one).
fn cluster_families(service: &LbService) -> FamilyList {
    let ips = &service.cluster_ips;
    let mut out = FamilyList::default();
    for text in ips {
        let Ok(ip) = text.trim().parse::<IpAddr>() else {
            return FamilyList::default();
        };
        out.push(IpFamily::of(crate::request::canonical(ip)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Service, ServiceSpec};

    /// The Service with `spec`, as IPAM sees it.
    fn of(spec: ServiceSpec) -> Families {
        Families::of(&LbService::from(Service { spec: Some(spec), ..Service::default() }))
    }

    fn spec(policy: Option<&str>, families: &[&str], cluster_ips: &[&str]) -> ServiceSpec {
        ServiceSpec {
            ip_family_policy: policy.map(str::to_owned),
            ip_families: (!families.is_empty()).then(|| families.iter().map(|s| (*s).to_owned()).collect()),
            cluster_ips: (!cluster_ips.is_empty())
                .then(|| cluster_ips.iter().map(|s| (*s).to_owned()).collect()),
            ..ServiceSpec::default()
        }
    }

    #[test]
    fn ipv4_single_stack_without_families_or_cluster_ips() {
        assert_eq!(of(spec(None, &[], &[])), Families::Single(IpFamily::V4));
    }

    #[test]
    fn ip_families_decide_before_cluster_ips() {
        let s = spec(None, &["IPv6"], &["192.0.2.1"]);
        assert_eq!(of(s), Families::Single(IpFamily::V6));
    }

    #[test]
    fn cluster_ips_give_the_family_when_ip_families_are_absent() {
        assert_eq!(of(spec(None, &[], &["2001:db8::1"])), Families::Single(IpFamily::V6));
        let single = ServiceSpec { cluster_ip: Some("2001:db8::2".into()), ..ServiceSpec::default() };
        assert_eq!(of(single), Families::Single(IpFamily::V6));
    }

    #[test]
    fn headless_cluster_ip_falls_back_to_ipv4() {
        let s = ServiceSpec { cluster_ip: Some("None".into()), ..ServiceSpec::default() };
        assert_eq!(of(s), Families::Single(IpFamily::V4));
    }

    #[test]
    fn prefer_dual_stack_in_a_single_stack_cluster_is_single_stack() {
        let s = spec(Some("PreferDualStack"), &["IPv6"], &["2001:db8::1"]);
        assert_eq!(of(s), Families::Single(IpFamily::V6));
    }

    #[test]
    fn prefer_dual_stack_from_a_file_is_dual_stack() {
        assert_eq!(of(spec(Some("PreferDualStack"), &[], &[])), Families::PreferDual(IpFamily::V4));
        assert_eq!(
            of(spec(Some("PreferDualStack"), &["IPv6", "IPv4"], &[])),
            Families::PreferDual(IpFamily::V6)
        );
    }

    #[test]
    fn require_dual_stack_keeps_the_first_listed_family_first() {
        assert_eq!(
            of(spec(Some("RequireDualStack"), &["IPv6", "IPv4"], &[])),
            Families::RequireDual(IpFamily::V6)
        );
    }

    #[test]
    fn accepts_only_the_families_asked_for() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(Families::Single(IpFamily::V4).accepts(&[v4]));
        assert!(!Families::Single(IpFamily::V4).accepts(&[v6]));
        assert!(!Families::Single(IpFamily::V4).accepts(&[v4, v6]));
        assert!(Families::RequireDual(IpFamily::V4).accepts(&[v6, v4]));
        assert!(!Families::RequireDual(IpFamily::V4).accepts(&[v4]));
        assert!(Families::PreferDual(IpFamily::V4).accepts(&[v6]));
        assert!(!Families::PreferDual(IpFamily::V4).accepts(&[v4, v4]));
        assert!(!Families::PreferDual(IpFamily::V4).accepts(&[]));
    }
}
