//! `Service`s read from a file: the fields ferrolb accepts but does not act
//! on ([`NOT_ACTED_ON`](crate::service::NOT_ACTED_ON)) are warnings at their
//! line, never silence. A Service read from an API server has none: there
//! kube-proxy acts on them.

use super::Findings;
use crate::diagnostic::Diagnostic;
use crate::service::not_acted_on;
use crate::snapshot::Snapshot;

/// Warns at each field of a Service that ferrolb does not act on.
pub(super) fn check(snapshot: &Snapshot, findings: &mut Findings) {
    for service in &snapshot.services {
        for field in not_acted_on(service) {
            let message = format!("accepted but not acted on: {} (expected {})", field.why, field.expected);
            findings.add(Diagnostic::warning(
                service.location_of(field.field),
                format!("Service/{}", service.name),
                field.field,
                message,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    fn service(spec: &str) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n{spec}")
    }

    #[test]
    fn source_ranges_of_a_load_balancer_are_a_warning_at_their_line() {
        assert_problems(
            &service(
                "  type: LoadBalancer\n  ports: [{port: 80}]\n  loadBalancerSourceRanges:\n  - 198.51.100.0/24\n",
            ),
            &["t.yaml:9: warning: Service/web: spec.loadBalancerSourceRanges: accepted but not acted on: \
               without kube-proxy nothing filters clients by source range, so every client reaches the VIP \
               (expected a firewall on the hosts that allows these ranges only, or no loadBalancerSourceRanges)"],
        );
    }

    #[test]
    fn the_source_ranges_annotation_is_a_warning_at_its_line_too() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    \
                    service.beta.kubernetes.io/load-balancer-source-ranges: 198.51.100.0/24\nspec:\n  \
                    type: LoadBalancer\n";
        assert_problems(
            yaml,
            &["t.yaml:6: warning: Service/web: \
               metadata.annotations.service.beta.kubernetes.io/load-balancer-source-ranges: accepted but not \
               acted on: without kube-proxy nothing filters clients by source range, so every client reaches \
               the VIP (expected a firewall on the hosts that allows these ranges only, or no such annotation)"],
        );
        assert_clean(&yaml.replace("198.51.100.0/24", "''"));
    }

    #[test]
    fn no_source_ranges_empty_ones_or_another_type_are_clean() {
        assert_clean(&service("  type: LoadBalancer\n  ports: [{port: 80}]\n"));
        assert_clean(&service("  type: LoadBalancer\n  loadBalancerSourceRanges: []\n"));
        assert_clean(&service("  type: LoadBalancer\n  loadBalancerSourceRanges: null\n"));
        assert_clean(&service("  type: ClusterIP\n  loadBalancerSourceRanges: [198.51.100.0/24]\n"));
    }

    #[test]
    fn the_warning_follows_its_service_in_flow_style_too() {
        let yaml = format!(
            "{}---\n{}",
            service("  type: LoadBalancer\n"),
            service("  {type: LoadBalancer, loadBalancerSourceRanges: [203.0.113.0/24]}\n")
                .replace("web", "api")
        );
        let problems = crate::validate::testing::problems(&yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("t.yaml:15: warning: Service/api: spec.loadBalancerSourceRanges: "),
            "{problems:?}"
        );
    }
}
