//! ferrolb's Prometheus metrics, in the text format Prometheus scrapes.
//!
//! Every metric MetalLB's controller and speaker export keeps MetalLB's
//! name, type and labels, so that its dashboards and alerts work unchanged:
//! the allocator's (`metallb_allocator_*`), the configuration's
//! (`metallb_k8s_client_*`), the speaker's announcements
//! (`metallb_speaker_announced`), the native BGP speaker's
//! (`metallb_bgp_session_up`, `_updates_total`, `_announced_prefixes_total`,
//! `_pending_prefixes_total`) with the message counters of its FRR mode
//! (`metallb_bgp_opens_sent`...), BFD (`metallb_bfd_*`) and L2
//! (`metallb_layer2_*`). A BGP peer is labelled `ADDRESS:PORT`, as
//! MetalLB's native speaker does. ferrolb's own are under `ferrolb_`.
//!
//! The metrics are rendered from a snapshot of what the process does
//! ([`Speaker`], [`Controller`]) at each scrape, not kept as live counters:
//! the runtime keeps its counts once, where it acts, and nothing can drift.

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The content type of [`Speaker::render`] and [`Controller::render`] (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Messages of each BGP type (RFC 4271 §4, RFC 2918).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Messages {
    /// OPENs.
    pub opens: u64,
    /// UPDATEs.
    pub updates: u64,
    /// NOTIFICATIONs.
    pub notifications: u64,
    /// KEEPALIVEs.
    pub keepalives: u64,
    /// ROUTE-REFRESHes.
    pub route_refreshes: u64,
}

impl Messages {
    fn total(&self) -> u64 {
        self.opens + self.updates + self.notifications + self.keepalives + self.route_refreshes
    }
}

/// One BGP session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpSession {
    /// The peer's `ADDRESS:PORT`.
    pub peer: String,
    /// Whether it is Established.
    pub up: bool,
    /// Messages sent.
    pub sent: Messages,
    /// Messages received.
    pub received: Messages,
    /// Prefixes advertised now.
    pub announced_prefixes: u64,
    /// Prefixes that should be advertised.
    pub pending_prefixes: u64,
}

/// One BFD session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BfdSession {
    /// The peer's address.
    pub peer: String,
    /// Whether it is Up.
    pub up: bool,
    /// Times it came Up.
    pub up_events: u64,
    /// Times it left Up.
    pub down_events: u64,
    /// Control packets received and taken by the session.
    pub control_packets_received: u64,
    /// Control packets sent.
    pub control_packets_sent: u64,
}

/// One VIP the speaker announces (desired state: the routing protocols may not have converged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// `namespace/name`.
    pub service: String,
    /// `bgp` or `layer2`.
    pub protocol: &'static str,
    /// The VIP.
    pub ip: String,
}

/// ARP/NDP exchanged for one VIP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer2 {
    /// The VIP.
    pub ip: String,
    /// ARP requests and Neighbor Solicitations for it that were answered.
    pub requests_received: u64,
    /// Answers sent.
    pub responses_sent: u64,
    /// Gratuitous ARPs and unsolicited Neighbor Advertisements sent.
    pub gratuitous_sent: u64,
}

/// The configuration the process runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    /// Configurations processed (MetalLB: object updates processed).
    pub updates: u64,
    /// Configurations refused.
    pub update_errors: u64,
    /// A configuration was loaded at least once.
    pub loaded: bool,
    /// The last one failed to load: the one before runs.
    pub stale: bool,
    /// How many configurations were taken into force.
    pub generation: u64,
    /// When the last one was taken, in seconds since the epoch.
    pub last_taken_unix_seconds: Option<u64>,
}

impl Configuration {
    /// A configuration was taken into force, now: the `generation`-th.
    pub fn taken(&mut self, generation: u64) {
        self.updates += 1;
        self.loaded = true;
        self.stale = false;
        self.generation = generation;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        self.last_taken_unix_seconds = now.ok().map(|d| d.as_secs());
    }

    /// A configuration was refused: the last one taken keeps running, and is now stale.
    pub fn refused(&mut self) {
        self.updates += 1;
        self.update_errors += 1;
        self.stale = self.loaded;
    }
}

/// The upper bounds of a plan's buckets, in seconds: a plan of one Service
/// takes microseconds, of 100,000 about half a second.
pub const PLAN_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The upper bounds of an L2 failover outage's buckets, in seconds: tens of
/// milliseconds when the runner-up's pings go unanswered, seconds when only
/// the gossip's verdict moves the VIP.
pub const OUTAGE_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How long something took, each time, counted in buckets (a Prometheus
/// histogram kept where the work is done).
#[derive(Clone, Debug, PartialEq)]
pub struct Durations {
    /// The buckets' upper bounds, in seconds.
    bounds: &'static [f64],
    /// How many took at most each bound (not cumulative).
    within: Vec<u64>,
    /// How many took longer than the last bound.
    over: u64,
    sum_seconds: f64,
}

impl Durations {
    /// None yet, in buckets up to each of `bounds` (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Durations {
        Durations { bounds, within: vec![0; bounds.len()], over: 0, sum_seconds: 0.0 }
    }

    /// One more that took `took`.
    pub fn observe(&mut self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        match self.bounds.iter().position(|bound| seconds <= *bound) {
            Some(i) => self.within[i] += 1,
            None => self.over += 1,
        }
        self.sum_seconds += seconds;
    }

    /// How many were observed.
    pub fn count(&self) -> u64 {
        self.within.iter().sum::<u64>() + self.over
    }

    /// The series of histogram `name` in the text format, with `labels` (`kind="bgp"`, or none).
    fn render(&self, name: &str, labels: &str, out: &mut String) {
        use std::fmt::Write as _;
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.within) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count());
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{labels} {}", self.count());
    }
}

/// The head of histogram `name`, for [`Durations::render`]'s series (the
/// registry of the `prometheus` crate takes no histogram counted elsewhere:
/// these are appended to its rendering).
fn histogram_head(name: &str, help: &str, out: &mut String) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
}

/// `work()`, and how long it took: timed where it runs (off the runtime's
/// threads), for [`Plans::planned`].
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let started = std::time::Instant::now();
    (work(), started.elapsed())
}

/// How long plans took, by kind (`allocation`, `bgp`, `l2`), each kind once, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plans(Vec<(&'static str, Durations)>);

impl Plans {
    /// One more plan of `kind` that took `took`.
    pub fn planned(&mut self, kind: &'static str, took: std::time::Duration) {
        match self.0.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, durations)) => durations.observe(took),
            None => {
                let mut durations = Durations::new(PLAN_BUCKETS);
                durations.observe(took);
                self.0.push((kind, durations));
                self.0.sort_by_key(|(k, _)| *k);
            }
        }
    }

    /// As the histogram `ferrolb_plan_duration_seconds`, appended to `out`.
    fn render(&self, out: &mut String) {
        const NAME: &str = "ferrolb_plan_duration_seconds";
        if self.0.is_empty() {
            return;
        }
        histogram_head(
            NAME,
            "How long planning took: the allocation (controller, run), the BGP routes and the L2 elections (speakers).",
            out,
        );
        for (kind, durations) in &self.0 {
            durations.render(NAME, &format!("kind=\"{kind}\""), out);
        }
    }
}

/// The L2 failovers of one speaker: the times it took over VIPs whose
/// leader had stopped answering.
#[derive(Clone, Debug, PartialEq)]
pub struct Failovers {
    /// Takeovers: one per leader replaced (however many VIPs it led), per election.
    pub count: u64,
    /// VIPs taken over.
    pub vips: u64,
    /// For the takeovers from a leader this speaker watched (it was the
    /// runner-up), the time from the leader's last answer to the takeover:
    /// about the outage its clients saw (the leader died after that answer,
    /// within one heartbeat; measured 28 ms where a client probing every 10 ms
    /// lost 30 ms).
    pub outages: Durations,
}

impl Default for Failovers {
    fn default() -> Self {
        Failovers { count: 0, vips: 0, outages: Durations::new(OUTAGE_BUCKETS) }
    }
}

impl Failovers {
    /// One takeover of `vips` VIPs, `outage` after the leader's last answer when known.
    pub fn took_over(&mut self, vips: u64, outage: Option<std::time::Duration>) {
        self.count += 1;
        self.vips += vips;
        if let Some(outage) = outage {
            self.outages.observe(outage);
        }
    }

    /// As the histogram `ferrolb_layer2_failover_outage_seconds`, appended to `out`.
    fn render(&self, out: &mut String) {
        const NAME: &str = "ferrolb_layer2_failover_outage_seconds";
        histogram_head(
            NAME,
            "L2 takeovers from a leader this speaker watched: the time from the leader's last answer to the takeover, about the outage its clients saw.",
            out,
        );
        self.outages.render(NAME, "", out);
    }
}

/// What a speaker (`ferrolb run`, `ferrolb speaker`) reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Speaker {
    /// This node.
    pub node: String,
    /// The configuration it runs on.
    pub configuration: Configuration,
    /// Its BGP sessions.
    pub bgp: Vec<BgpSession>,
    /// Its BFD sessions.
    pub bfd: Vec<BfdSession>,
    /// What it announces.
    pub announced: Vec<Announced>,
    /// What it answered and announced per VIP in L2 mode.
    pub layer2: Vec<Layer2>,
    /// Speakers the gossip sees alive, this one included; `None` without gossip.
    pub gossip_members_alive: Option<u64>,
    /// The VIPs of L2 mode that no node can answer for (every node counts
    /// the same); `None` without L2 mode.
    pub layer2_without_leader: Option<u64>,
    /// The L2 takeovers of this speaker; `None` without L2 mode.
    pub layer2_failovers: Option<Failovers>,
    /// The pools, where the speaker allocates too (`ferrolb run`); none in a cluster,
    /// where the controller allocates.
    pub pools: Vec<Pool>,
    /// How long its plans took, by kind (`bgp`, `l2`, `allocation`).
    pub plans: Plans,
}

/// One address pool, as the allocator sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// The pool.
    pub name: String,
    /// Its IPv4 addresses.
    pub ipv4_total: u64,
    /// Its IPv6 addresses (saturated).
    pub ipv6_total: u64,
    /// IPv4 addresses held by Services.
    pub ipv4_in_use: u64,
    /// IPv6 addresses held by Services.
    pub ipv6_in_use: u64,
    /// Services holding addresses of it.
    pub services: u64,
}

/// What the controller reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Controller {
    /// The configuration it runs on.
    pub configuration: Configuration,
    /// Every pool.
    pub pools: Vec<Pool>,
    /// How long its allocations took (kind `allocation`).
    pub plans: Plans,
}

/// What one of a session's counters counts.
type Count = fn(&BgpSession) -> u64;

/// Metric families registered on one registry, for one scrape.
struct Families(Registry);

impl Families {
    fn new() -> Families {
        Families(Registry::new())
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let family = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name and labels");
        self.0.register(Box::new(family.clone())).expect("each metric registered once");
        family
    }

    /// A gauge whose value may exceed an i64 (an IPv6 pool's size).
    fn float_gauge(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        let family = GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name and labels");
        self.0.register(Box::new(family.clone())).expect("each metric registered once");
        family
    }

    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let family =
            IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name and labels");
        self.0.register(Box::new(family.clone())).expect("each metric registered once");
        family
    }

    fn render(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec fails only on a metric the registry already refused.
        let _ = TextEncoder::new().encode(&self.0.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A gauge's value from a count.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn configuration(families: &Families, c: &Configuration) {
    let none: &[&str] = &[];
    families
        .gauge(
            "ferrolb_config_last_reload_successful",
            "1 if the last configuration read was taken into force, 0 if it was refused (or none was read yet).",
            none,
        )
        .with_label_values(none)
        .set(i64::from(c.loaded && !c.stale));
    if let Some(at) = c.last_taken_unix_seconds {
        families
            .gauge(
                "ferrolb_config_last_reload_success_timestamp_seconds",
                "When the configuration in force was taken, in seconds since the epoch.",
                none,
            )
            .with_label_values(none)
            .set(int(at));
    }
    families
        .counter(
            "metallb_k8s_client_updates_total",
            "Number of k8s object updates that have been processed.",
            none,
        )
        .with_label_values(none)
        .inc_by(c.updates);
    families
        .counter(
            "metallb_k8s_client_update_errors_total",
            "Number of k8s object updates that failed for some reason.",
            none,
        )
        .with_label_values(none)
        .inc_by(c.update_errors);
    families
        .gauge(
            "metallb_k8s_client_config_loaded_bool",
            "1 if the MetalLB configuration was successfully loaded at least once.",
            none,
        )
        .with_label_values(none)
        .set(i64::from(c.loaded));
    families
        .gauge(
            "metallb_k8s_client_config_stale_bool",
            "1 if running on a stale configuration, because the latest config failed to load.",
            none,
        )
        .with_label_values(none)
        .set(i64::from(c.stale));
    families
        .gauge("ferrolb_config_generation", "How many configurations were taken into force.", none)
        .with_label_values(none)
        .set(int(c.generation));
}

impl Speaker {
    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let f = Families::new();
        configuration(&f, &self.configuration);
        allocator(&f, &self.pools);
        self.render_bgp(&f);
        self.render_bfd(&f);
        let announced = f.gauge(
            "metallb_speaker_announced",
            "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
            &["service", "protocol", "node", "ip"],
        );
        for a in &self.announced {
            announced.with_label_values(&[a.service.as_str(), a.protocol, &self.node, &a.ip]).set(1);
        }
        let ip = &["ip"];
        let requests = f.counter(
            "metallb_layer2_requests_received",
            "Number of layer2 requests received for owned IPs",
            ip,
        );
        let responses = f.counter(
            "metallb_layer2_responses_sent",
            "Number of layer2 responses sent for owned IPs in response to requests",
            ip,
        );
        let gratuitous = f.counter(
            "metallb_layer2_gratuitous_sent",
            "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers",
            ip,
        );
        for l in &self.layer2 {
            requests.with_label_values(&[&l.ip]).inc_by(l.requests_received);
            responses.with_label_values(&[&l.ip]).inc_by(l.responses_sent);
            gratuitous.with_label_values(&[&l.ip]).inc_by(l.gratuitous_sent);
        }
        if let Some(count) = self.layer2_without_leader {
            f.gauge(
                "ferrolb_layer2_vips_without_leader",
                "L2 VIPs that no node can answer ARP/NDP for (no eligible node alive).",
                &[],
            )
            .with_label_values(&[] as &[&str])
            .set(int(count));
        }
        if let Some(failovers) = &self.layer2_failovers {
            f.counter(
                "ferrolb_layer2_failovers_total",
                "L2 takeovers by this speaker: one per leader replaced after it stopped answering, however many VIPs it led.",
                &[],
            )
            .with_label_values(&[] as &[&str])
            .inc_by(failovers.count);
            f.counter(
                "ferrolb_layer2_failover_vips_total",
                "VIPs this speaker took over from a leader that stopped answering.",
                &[],
            )
            .with_label_values(&[] as &[&str])
            .inc_by(failovers.vips);
        }
        if let Some(alive) = self.gossip_members_alive {
            f.gauge(
                "ferrolb_gossip_members_alive",
                "Speakers the L2 gossip sees alive, this one included.",
                &[],
            )
            .with_label_values(&[] as &[&str])
            .set(int(alive));
        }
        let mut out = f.render();
        self.plans.render(&mut out);
        if let Some(failovers) = &self.layer2_failovers {
            failovers.render(&mut out);
        }
        out
    }

    fn render_bgp(&self, f: &Families) {
        let peer = &["peer"];
        let up = f.gauge("metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)", peer);
        let prefixes = f.gauge(
            "metallb_bgp_announced_prefixes_total",
            "Number of prefixes currently being advertised on the BGP session",
            peer,
        );
        let pending = f.gauge(
            "metallb_bgp_pending_prefixes_total",
            "Number of prefixes that should be advertised on the BGP session",
            peer,
        );
        let counters: [(&str, &str, Count); 9] = [
            ("metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", |s| s.sent.updates),
            ("metallb_bgp_updates_total_received", "Number of BGP UPDATE messages received", |s| {
                s.received.updates
            }),
            ("metallb_bgp_opens_sent", "Number of BGP open messages sent", |s| s.sent.opens),
            ("metallb_bgp_opens_received", "Number of BGP open messages received", |s| s.received.opens),
            ("metallb_bgp_notifications_sent", "Number of BGP notification messages sent", |s| {
                s.sent.notifications
            }),
            ("metallb_bgp_keepalives_sent", "Number of BGP keepalive messages sent", |s| s.sent.keepalives),
            ("metallb_bgp_keepalives_received", "Number of BGP keepalive messages received", |s| {
                s.received.keepalives
            }),
            ("metallb_bgp_route_refresh_sent", "Number of BGP route refresh messages sent", |s| {
                s.sent.route_refreshes
            }),
            ("metallb_bgp_total_sent", "Number of total BGP messages sent", |s| s.sent.total()),
        ];
        let counters: Vec<(IntCounterVec, Count)> =
            counters.into_iter().map(|(name, help, value)| (f.counter(name, help, peer), value)).collect();
        let received = f.counter("metallb_bgp_total_received", "Number of total BGP messages received", peer);
        for s in &self.bgp {
            let labels = &[s.peer.as_str()];
            up.with_label_values(labels).set(i64::from(s.up));
            prefixes.with_label_values(labels).set(int(s.announced_prefixes));
            pending.with_label_values(labels).set(int(s.pending_prefixes));
            for (family, value) in &counters {
                family.with_label_values(labels).inc_by(value(s));
            }
            received.with_label_values(labels).inc_by(s.received.total());
        }
    }

    fn render_bfd(&self, f: &Families) {
        let peer = &["peer"];
        let up = f.gauge("metallb_bfd_session_up", "BFD session state (1 is up, 0 is down)", peer);
        let ups = f.counter("metallb_bfd_session_up_events", "Number of BFD session up events", peer);
        let downs = f.counter("metallb_bfd_session_down_events", "Number of BFD session down events", peer);
        let control_in =
            f.counter("metallb_bfd_control_packet_input", "Number of received BFD control packets", peer);
        let control_out =
            f.counter("metallb_bfd_control_packet_output", "Number of sent BFD control packets", peer);
        // ferrolb does not run echo (RFC 5880 §6.4): none is sent or received, as counted.
        let echo_in = f.counter("metallb_bfd_echo_packet_input", "Number of received BFD echo packets", peer);
        let echo_out = f.counter("metallb_bfd_echo_packet_output", "Number of sent BFD echo packets", peer);
        for s in &self.bfd {
            let labels = &[s.peer.as_str()];
            up.with_label_values(labels).set(i64::from(s.up));
            ups.with_label_values(labels).inc_by(s.up_events);
            downs.with_label_values(labels).inc_by(s.down_events);
            control_in.with_label_values(labels).inc_by(s.control_packets_received);
            control_out.with_label_values(labels).inc_by(s.control_packets_sent);
            echo_in.with_label_values(labels).inc_by(0);
            echo_out.with_label_values(labels).inc_by(0);
        }
    }
}

impl Controller {
    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let f = Families::new();
        configuration(&f, &self.configuration);
        allocator(&f, &self.pools);
        let mut out = f.render();
        self.plans.render(&mut out);
        out
    }
}

/// The allocator's metrics: each pool's size and addresses in use, in all and per family.
fn allocator(f: &Families, pools: &[Pool]) {
    let pool = &["pool"];
    let total =
        f.float_gauge("metallb_allocator_addresses_total", "Number of usable IP addresses, per pool", pool);
    let v4_total = f.float_gauge(
        "metallb_allocator_ipv4_addresses_total",
        "Number of usable IPV4 addresses, per pool",
        pool,
    );
    let v6_total = f.float_gauge(
        "metallb_allocator_ipv6_addresses_total",
        "Number of usable IPV6 addresses, per pool",
        pool,
    );
    let in_use =
        f.gauge("metallb_allocator_addresses_in_use_total", "Number of IP addresses in use, per pool", pool);
    let v4_in_use = f.gauge(
        "metallb_allocator_ipv4_addresses_in_use_total",
        "Number of IPV4 addresses in use, per pool",
        pool,
    );
    let v6_in_use = f.gauge(
        "metallb_allocator_ipv6_addresses_in_use_total",
        "Number of IPV6 addresses in use, per pool",
        pool,
    );
    let services =
        f.gauge("metallb_allocator_services_allocated_total", "Number of services allocated, per pool", pool);
    for p in pools {
        let labels = &[p.name.as_str()];
        // As floats: an IPv6 pool's size goes beyond any integer type Prometheus has.
        total.with_label_values(labels).set(p.ipv4_total as f64 + p.ipv6_total as f64);
        v4_total.with_label_values(labels).set(p.ipv4_total as f64);
        v6_total.with_label_values(labels).set(p.ipv6_total as f64);
        in_use.with_label_values(labels).set(int(p.ipv4_in_use + p.ipv6_in_use));
        v4_in_use.with_label_values(labels).set(int(p.ipv4_in_use));
        v6_in_use.with_label_values(labels).set(int(p.ipv6_in_use));
        services.with_label_values(labels).set(int(p.services));
    }
}

/// The allocator's counts of every pool, as metrics (the pool's size is what
/// is held plus what is free).
pub fn pools(stats: &[ferrolb_ipam::PoolStats]) -> Vec<Pool> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    stats
        .iter()
        .map(|p| Pool {
            name: p.name.clone(),
            ipv4_total: count(p.assigned_ipv4).saturating_add(count(p.available_ipv4)),
            ipv6_total: count(p.assigned_ipv6).saturating_add(count(p.available_ipv6)),
            ipv4_in_use: count(p.assigned_ipv4),
            ipv6_in_use: count(p.assigned_ipv6),
            services: count(p.services),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `# TYPE` of each family in `text`, by name.
    fn types(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
            .collect()
    }

    fn speaker() -> Speaker {
        Speaker {
            node: "node1".into(),
            configuration: Configuration {
                updates: 3,
                update_errors: 1,
                loaded: true,
                stale: true,
                generation: 2,
                last_taken_unix_seconds: Some(1_765_000_000),
            },
            bgp: vec![BgpSession {
                peer: "192.0.2.1:179".into(),
                up: true,
                sent: Messages { opens: 1, updates: 4, notifications: 0, keepalives: 10, route_refreshes: 0 },
                received: Messages {
                    opens: 1,
                    updates: 0,
                    notifications: 0,
                    keepalives: 9,
                    route_refreshes: 1,
                },
                announced_prefixes: 2,
                pending_prefixes: 2,
            }],
            bfd: vec![BfdSession {
                peer: "192.0.2.1".into(),
                up: true,
                up_events: 2,
                down_events: 1,
                control_packets_received: 120,
                control_packets_sent: 121,
            }],
            announced: vec![Announced {
                service: "default/web".into(),
                protocol: "bgp",
                ip: "203.0.113.10".into(),
            }],
            layer2: vec![Layer2 {
                ip: "198.51.100.200".into(),
                requests_received: 7,
                responses_sent: 7,
                gratuitous_sent: 5,
            }],
            gossip_members_alive: Some(3),
            plans: {
                let mut plans = Plans::default();
                for took in [300, 30_000, 9_000_000] {
                    plans.planned("bgp", std::time::Duration::from_micros(took));
                }
                plans
            },
            layer2_without_leader: Some(0),
            layer2_failovers: Some({
                let mut failovers = Failovers::default();
                failovers.took_over(2, Some(std::time::Duration::from_millis(40)));
                failovers.took_over(1, None);
                failovers
            }),
            pools: pools(&[ferrolb_ipam::PoolStats {
                name: "vips".into(),
                assigned_ipv4: 1,
                assigned_ipv6: 0,
                available_ipv4: 9,
                available_ipv6: 0,
                services: 1,
            }]),
        }
    }

    #[test]
    fn the_speaker_has_metallbs_names_types_and_labels() {
        let text = speaker().render();
        let types = types(&text);
        for (name, kind) in [
            ("metallb_bgp_session_up", "gauge"),
            ("metallb_bgp_updates_total", "counter"),
            ("metallb_bgp_announced_prefixes_total", "gauge"),
            ("metallb_bgp_pending_prefixes_total", "gauge"),
            ("metallb_bgp_opens_sent", "counter"),
            ("metallb_bgp_keepalives_received", "counter"),
            ("metallb_bgp_total_received", "counter"),
            ("metallb_bfd_session_up", "gauge"),
            ("metallb_bfd_session_down_events", "counter"),
            ("metallb_bfd_control_packet_input", "counter"),
            ("metallb_bfd_control_packet_output", "counter"),
            ("metallb_speaker_announced", "gauge"),
            ("metallb_layer2_requests_received", "counter"),
            ("metallb_layer2_responses_sent", "counter"),
            ("metallb_layer2_gratuitous_sent", "counter"),
            ("metallb_k8s_client_config_stale_bool", "gauge"),
            ("metallb_k8s_client_updates_total", "counter"),
            ("ferrolb_gossip_members_alive", "gauge"),
            ("ferrolb_layer2_failovers_total", "counter"),
            ("ferrolb_layer2_failover_vips_total", "counter"),
            ("ferrolb_layer2_failover_outage_seconds", "histogram"),
        ] {
            assert!(types.contains(&(name.to_owned(), kind.to_owned())), "{name} {kind} missing in\n{text}");
        }
        for sample in [
            "metallb_bgp_session_up{peer=\"192.0.2.1:179\"} 1",
            "metallb_bgp_updates_total{peer=\"192.0.2.1:179\"} 4",
            "metallb_bgp_announced_prefixes_total{peer=\"192.0.2.1:179\"} 2",
            "metallb_bgp_total_sent{peer=\"192.0.2.1:179\"} 15",
            "metallb_bgp_total_received{peer=\"192.0.2.1:179\"} 11",
            "metallb_bfd_session_up_events{peer=\"192.0.2.1\"} 2",
            "metallb_bfd_control_packet_input{peer=\"192.0.2.1\"} 120",
            "metallb_bfd_control_packet_output{peer=\"192.0.2.1\"} 121",
            "metallb_speaker_announced{ip=\"203.0.113.10\",node=\"node1\",protocol=\"bgp\",service=\"default/web\"} 1",
            "metallb_layer2_gratuitous_sent{ip=\"198.51.100.200\"} 5",
            "metallb_k8s_client_config_stale_bool 1",
            "metallb_k8s_client_update_errors_total 1",
            "ferrolb_config_generation 2",
            "ferrolb_gossip_members_alive 3",
            "ferrolb_config_last_reload_successful 0",
            "ferrolb_config_last_reload_success_timestamp_seconds 1765000000",
            "ferrolb_plan_duration_seconds_bucket{kind=\"bgp\",le=\"0.0005\"} 1",
            "ferrolb_plan_duration_seconds_bucket{kind=\"bgp\",le=\"0.025\"} 1",
            "ferrolb_plan_duration_seconds_bucket{kind=\"bgp\",le=\"0.05\"} 2",
            "ferrolb_plan_duration_seconds_bucket{kind=\"bgp\",le=\"2.5\"} 2",
            "ferrolb_plan_duration_seconds_bucket{kind=\"bgp\",le=\"+Inf\"} 3",
            "ferrolb_plan_duration_seconds_count{kind=\"bgp\"} 3",
            "ferrolb_layer2_vips_without_leader 0",
            "ferrolb_layer2_failovers_total 2",
            "ferrolb_layer2_failover_vips_total 3",
            "ferrolb_layer2_failover_outage_seconds_bucket{le=\"0.025\"} 0",
            "ferrolb_layer2_failover_outage_seconds_bucket{le=\"0.05\"} 1",
            "ferrolb_layer2_failover_outage_seconds_bucket{le=\"+Inf\"} 1",
            "ferrolb_layer2_failover_outage_seconds_sum 0.04",
            "ferrolb_layer2_failover_outage_seconds_count 1",
            "metallb_allocator_addresses_total{pool=\"vips\"} 10",
            "metallb_allocator_addresses_in_use_total{pool=\"vips\"} 1",
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} missing in\n{text}");
        }
    }

    #[test]
    fn the_controller_has_the_allocators_metrics_per_pool() {
        let controller = Controller {
            configuration: Configuration { loaded: true, ..Configuration::default() },
            plans: Plans::default(),
            pools: vec![Pool {
                name: "v6".into(),
                ipv4_total: 0,
                ipv6_total: 1 << 62,
                ipv4_in_use: 0,
                ipv6_in_use: 3,
                services: 2,
            }],
        };
        let text = controller.render();
        for sample in [
            "metallb_allocator_addresses_in_use_total{pool=\"v6\"} 3",
            "metallb_allocator_ipv6_addresses_in_use_total{pool=\"v6\"} 3",
            "metallb_allocator_services_allocated_total{pool=\"v6\"} 2",
            "metallb_allocator_ipv6_addresses_total{pool=\"v6\"} 4611686018427388000",
            "metallb_k8s_client_config_loaded_bool 1",
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} missing in\n{text}");
        }
        assert!(types(&text).contains(&("metallb_allocator_addresses_total".into(), "gauge".into())));
    }

    #[test]
    fn a_refused_configuration_makes_the_last_one_stale_until_the_next_is_taken() {
        let mut c = Configuration::default();
        c.refused();
        assert_eq!((c.loaded, c.stale, c.update_errors), (false, false, 1), "nothing ran yet: not stale");
        c.taken(1);
        c.refused();
        assert_eq!((c.loaded, c.stale, c.updates, c.generation), (true, true, 3, 1));
        c.taken(2);
        assert!(!c.stale);
    }

    #[test]
    fn nothing_to_report_still_says_how_the_configuration_is() {
        let text = Speaker::default().render();
        assert!(text.contains("metallb_k8s_client_config_loaded_bool 0"), "{text}");
        assert!(!text.contains("ferrolb_gossip_members_alive"), "{text}");
    }
}
