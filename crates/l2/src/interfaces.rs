//! Which host interfaces an `L2Advertisement` announces on.

/// What the selection needs to know of a host interface (read from `/sys/class/net` by the
/// driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterface {
    /// Its name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// `IFF_NOARP`: the interface has no link-layer addresses to resolve.
    pub noarp: bool,
    /// Enslaved to a bridge or bond (has a `master`): its master answers instead.
    pub enslaved: bool,
}

/// Name patterns MetalLB never announces on by default: the `metallb-excludel2` ConfigMap
/// (`excludel2.yaml`, `announcedInterfacesToExclude`) shipped with MetalLB's manifests and
/// Helm chart. A trailing `*` is a prefix; otherwise the name must match exactly.
pub const DEFAULT_EXCLUDED: &[&str] = &[
    "docker*",
    "cbr*",
    "dummy*",
    "virbr*",
    "lxcbr*",
    "veth*",
    "lo",
    "cali*",
    "tunl*",
    "flannel*",
    "kube-ipvs*",
    "cni*",
    "nodelocaldns*",
];

/// Whether `name` matches one of [`DEFAULT_EXCLUDED`].
pub fn excluded_by_default(name: &str) -> bool {
    DEFAULT_EXCLUDED.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    })
}

/// The interfaces to use, in the order of `host`: with an empty `requested` list (the
/// `L2Advertisement` names none) every interface that is up, can ARP, is not enslaved and is
/// not excluded by default (as MetalLB); otherwise exactly the requested ones that exist and
/// are up, whatever their name, so that a lab's `veth` interfaces can be chosen.
pub fn select<'a>(requested: &[String], host: &'a [HostInterface]) -> Vec<&'a HostInterface> {
    host.iter()
        .filter(|i| i.up)
        .filter(|i| {
            if requested.is_empty() {
                !i.noarp && !i.enslaved && !excluded_by_default(&i.name)
            } else {
                requested.contains(&i.name)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str) -> HostInterface {
        HostInterface { name: name.to_owned(), up: true, noarp: false, enslaved: false }
    }

    fn names(v: Vec<&HostInterface>) -> Vec<&str> {
        v.into_iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn without_a_list_metallbs_default_exclusions_apply() {
        let host = [
            iface("lo"),
            iface("eth0"),
            iface("docker0"),
            iface("veth12ab"),
            iface("kube-ipvs0"),
            iface("bond0"),
        ];
        assert_eq!(names(select(&[], &host)), ["eth0", "bond0"]);
    }

    #[test]
    fn without_a_list_down_noarp_and_enslaved_interfaces_are_skipped() {
        let host = [
            HostInterface { up: false, ..iface("eth0") },
            HostInterface { noarp: true, ..iface("wg0") },
            HostInterface { enslaved: true, ..iface("eth1") },
            iface("br0"),
        ];
        assert_eq!(names(select(&[], &host)), ["br0"]);
    }

    #[test]
    fn an_explicit_list_allows_any_name() {
        let host = [iface("eth0"), iface("veth-lab"), iface("lo")];
        assert_eq!(names(select(&["veth-lab".to_owned()], &host)), ["veth-lab"]);
    }

    #[test]
    fn an_explicit_list_skips_interfaces_that_are_missing_or_down() {
        let host = [HostInterface { up: false, ..iface("eth1") }];
        assert!(select(&["eth1".to_owned(), "eth9".to_owned()], &host).is_empty());
    }

    #[test]
    fn only_lo_itself_is_excluded_not_names_starting_with_lo() {
        assert!(excluded_by_default("lo"));
        assert!(!excluded_by_default("lom1"));
    }
}
