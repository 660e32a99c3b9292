//! Network tests: real processes in network namespaces. They need root and the Debian packages
//! frr, bird2, gobgpd, iproute2, iputils-ping and procps; without them they print why and skip,
//! except in CI (env `CI` set), where a test that cannot run fails.

mod bgp;
mod captures;
mod cgroup;
mod keepalived;
mod mrt;
mod netns;
mod support;
mod topology;
