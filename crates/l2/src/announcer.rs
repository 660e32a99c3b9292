//! The responder's state machine: answers requests for led VIPs and repeats the takeover
//! announcements on a schedule. The clock is passed in: [`Announcer::handle`] takes `now`,
//! [`Announcer::poll_timeout`] says when to call again with [`Input::Timeout`].
//!
//! MetalLB (`internal/layer2/announcer.go`, `spamLoop`) announces a newly led IP at once,
//! then every 1.1 s until 5 s have passed: five announcements. The 1.1 s is from MetalLB
//! issue #172 (a client that rate-limits ARP updates to one per second). The defaults of
//! [`AnnounceConfig`] do the same; unlike MetalLB, losing a VIP stops its repeats at once
//! (MetalLB has a TODO for that).
//!
//! For switches and hosts that forget (MetalLB's `--gratuitous-arp-interval`, v0.16.2),
//! [`AnnounceConfig::periodic`] announces every led VIP again at a fixed interval, off by
//! default. Its cost: per interval, one frame per led VIP and interface (a 60-octet
//! broadcast ARP, an 86-octet NA to all nodes) that every host of the segment receives
//! and processes; 1,000 VIPs every 10 s is 100 frames a second on the LAN.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::ethernet::MacAddr;
use crate::frame::{Frame, Payload};
use crate::leadership::{self, Leadership};

/// How takeover announcements are repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// Announcements per newly led VIP, the first one included (0: none at all).
    pub count: u32,
    /// Time between two announcements of one VIP.
    pub interval: Duration,
    /// Announce every led VIP again this often, whatever happens (`None`: never).
    pub periodic: Option<Duration>,
}

impl Default for AnnounceConfig {
    /// Five announcements 1.1 s apart, as MetalLB, and none periodic.
    fn default() -> Self {
        AnnounceConfig { count: 5, interval: Duration::from_millis(1100), periodic: None }
    }
}

/// What happened, for [`Announcer::handle`].
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// The whole leadership this node should now have.
    SetLeadership(Leadership),
    /// A frame received on interface `iface`.
    Received {
        /// The interface it came in on.
        iface: &'a str,
        /// The whole Ethernet frame.
        frame: &'a [u8],
    },
    /// The instant of [`Announcer::poll_timeout`] has come.
    Timeout,
    /// Announce every led VIP again, from the start of the schedule: another
    /// node may have announced one of them meanwhile (it took over while this
    /// node was unreachable, then handed back), so clients point elsewhere.
    AnnounceAgain,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `frame`, an answer to a request, out of `iface`.
    Answer {
        /// Interface to send on.
        iface: String,
        /// The VIP asked about.
        vip: IpAddr,
        /// The answer.
        frame: Frame,
    },
    /// Send `frame`, an announcement that this node now has `vip`, out of `iface`.
    Announce {
        /// Interface to send on.
        iface: String,
        /// The VIP announced.
        vip: IpAddr,
        /// Announcements of this VIP's takeover still to come after this one
        /// (0 for a periodic announcement).
        remaining: u32,
        /// One of [`AnnounceConfig::periodic`]'s, not of a takeover.
        periodic: bool,
        /// The gratuitous ARP or unsolicited NA.
        frame: Frame,
    },
}

#[derive(Debug, Clone, Copy)]
struct Repeat {
    mac: MacAddr,
    next: Instant,
    remaining: u32,
}

/// Answers for the led VIPs and announces takeovers; pure, see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    config: AnnounceConfig,
    leadership: Leadership,
    repeats: BTreeMap<(String, IpAddr), Repeat>,
    /// When every led VIP is announced next, with [`AnnounceConfig::periodic`].
    next_periodic: Option<Instant>,
}

impl Announcer {
    /// An announcer that leads nothing yet.
    pub fn new(config: AnnounceConfig) -> Self {
        Announcer { config, leadership: Leadership::new(), repeats: BTreeMap::new(), next_periodic: None }
    }

    /// The leadership it answers for.
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// When to call [`Self::handle`] with [`Input::Timeout`] next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.repeats.values().map(|r| r.next).chain(self.next_periodic).min()
    }

    /// Takes in what happened at `now`; returns the frames to send.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        match input {
            Input::SetLeadership(next) => self.set_leadership(now, next),
            Input::Received { iface, frame } => Frame::parse(frame)
                .ok()
                .and_then(|request| self.leadership.answer(iface, &request))
                .map(|frame| Output::Answer { iface: iface.to_owned(), vip: answered(&frame), frame })
                .into_iter()
                .collect(),
            Input::Timeout => {
                let mut out = self.repeat_due(now);
                self.announce_periodically(now, &mut out);
                out
            }
            Input::AnnounceAgain => {
                let mut out = Vec::new();
                // A schedule restarted less than one interval ago (its first repeat
                // still to come) is not restarted again: a watcher stalled by CPU
                // throttling asks many times a second, and the repeats already
                // correct the clients.
                let just_started = |r: &Repeat| r.remaining + 1 == self.config.count;
                let led: Vec<(String, MacAddr, IpAddr)> = self
                    .leadership
                    .pairs()
                    .filter(|(iface, _, vip)| {
                        !self.repeats.get(&((*iface).to_owned(), *vip)).is_some_and(just_started)
                    })
                    .map(|(iface, mac, vip)| (iface.to_owned(), mac, vip))
                    .collect();
                for (iface, mac, vip) in led {
                    self.start_announcing(now, &iface, mac, vip, &mut out);
                }
                out
            }
        }
    }

    /// Announces `vip` now and schedules the repeats.
    fn start_announcing(
        &mut self,
        now: Instant,
        iface: &str,
        mac: MacAddr,
        vip: IpAddr,
        out: &mut Vec<Output>,
    ) {
        if self.config.count == 0 {
            return;
        }
        let remaining = self.config.count - 1;
        out.push(Output::Announce {
            iface: iface.to_owned(),
            vip,
            remaining,
            periodic: false,
            frame: leadership::announcement(mac, vip),
        });
        if remaining > 0 {
            self.repeats
                .insert((iface.to_owned(), vip), Repeat { mac, next: now + self.config.interval, remaining });
        } else {
            self.repeats.remove(&(iface.to_owned(), vip));
        }
    }

    fn set_leadership(&mut self, now: Instant, next: Leadership) -> Vec<Output> {
        let mut out = Vec::new();
        // A VIP lost (or an interface gone) stops its repeats at once.
        self.repeats.retain(|(iface, vip), r| {
            next.interfaces.get(iface).is_some_and(|led| led.mac == r.mac && led.vips.contains(vip))
        });
        let new: Vec<(String, MacAddr, IpAddr)> = next
            .pairs()
            .filter(|(iface, mac, vip)| {
                let before = self.leadership.interfaces.get(*iface);
                !before.is_some_and(|led| led.mac == *mac && led.vips.contains(vip))
            })
            .map(|(iface, mac, vip)| (iface.to_owned(), mac, vip))
            .collect();
        self.leadership = next;
        for (iface, mac, vip) in new {
            self.start_announcing(now, &iface, mac, vip, &mut out);
        }
        if let Some(period) = self.config.periodic {
            self.next_periodic.get_or_insert(now + period);
        }
        out
    }

    /// With [`AnnounceConfig::periodic`], when it is time: every led VIP once, on each of
    /// its interfaces (those in the middle of their takeover announcements too, as
    /// MetalLB's ticker does).
    fn announce_periodically(&mut self, now: Instant, out: &mut Vec<Output>) {
        let (Some(period), Some(next)) = (self.config.periodic, self.next_periodic) else { return };
        if next > now {
            return;
        }
        for (iface, mac, vip) in self.leadership.pairs() {
            out.push(Output::Announce {
                iface: iface.to_owned(),
                vip,
                remaining: 0,
                periodic: true,
                frame: leadership::announcement(mac, vip),
            });
        }
        // From now: a late timer (a stalled host) does not make a burst to catch up.
        self.next_periodic = Some(now + period);
    }

    fn repeat_due(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let interval = self.config.interval;
        self.repeats.retain(|(iface, vip), r| {
            if r.next > now {
                return true;
            }
            r.remaining -= 1;
            out.push(Output::Announce {
                iface: iface.clone(),
                vip: *vip,
                remaining: r.remaining,
                periodic: false,
                frame: leadership::announcement(r.mac, *vip),
            });
            r.next = now + interval;
            r.remaining > 0
        });
        out
    }
}

/// The VIP an answer of [`Leadership::answer`] gives the address of: the
/// sender of an ARP reply, the target of a Neighbor Advertisement.
fn answered(frame: &Frame) -> IpAddr {
    match &frame.payload {
        Payload::Arp(arp) => IpAddr::V4(arp.sender_ip),
        Payload::Ndp(ndp) => IpAddr::V6(ndp.message.target()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::{NODE_MAC, VIP4, VIP6, arp_request};

    const OTHER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);

    fn leading(vips: &[IpAddr]) -> Leadership {
        vips.iter().fold(Leadership::new(), |l, v| l.lead("eth0", NODE_MAC, *v))
    }

    fn announced(out: &[Output]) -> Vec<(IpAddr, u32)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Announce { vip, remaining, .. } => Some((*vip, *remaining)),
                Output::Answer { .. } => None,
            })
            .collect()
    }

    #[test]
    fn announcing_again_restarts_the_schedule_of_every_led_vip() {
        let t0 = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(t0, Input::SetLeadership(leading(&[VIP4.into(), VIP6.into()])));
        let later = t0 + Duration::from_secs(10);
        run_timers(&mut a, later);
        assert_eq!(a.poll_timeout(), None, "the first schedule is over");
        let again = a.handle(later, Input::AnnounceAgain);
        assert_eq!(announced(&again), [(IpAddr::V4(VIP4), 4), (IpAddr::V6(VIP6), 4)]);
        assert_eq!(run_timers(&mut a, later + Duration::from_secs(10)).len(), 8);
        // Asked again before the first repeat: the running schedule is enough.
        let soon = later + Duration::from_secs(20);
        a.handle(soon, Input::AnnounceAgain);
        assert!(a.handle(soon + Duration::from_millis(500), Input::AnnounceAgain).is_empty());
        assert_eq!(run_timers(&mut a, soon + Duration::from_millis(1100)).len(), 2, "the first repeat");
        let restarted = a.handle(soon + Duration::from_millis(1200), Input::AnnounceAgain);
        assert_eq!(announced(&restarted), [(IpAddr::V4(VIP4), 4), (IpAddr::V6(VIP6), 4)]);
        // Nothing led, nothing announced.
        a.handle(later, Input::SetLeadership(Leadership::new()));
        assert!(a.handle(later, Input::AnnounceAgain).is_empty());
    }

    /// Runs the announcer's timers from `start` to `until`, collecting what it announces.
    fn run_timers(a: &mut Announcer, until: Instant) -> Vec<(Instant, IpAddr)> {
        let mut sent = Vec::new();
        while let Some(at) = a.poll_timeout().filter(|t| *t <= until) {
            for (vip, _) in announced(&a.handle(at, Input::Timeout)) {
                sent.push((at, vip));
            }
        }
        sent
    }

    #[test]
    fn gaining_a_vip_announces_it_at_once() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let out = a.handle(Instant::now(), Input::SetLeadership(leading(&[VIP4.into()])));
        assert_eq!(announced(&out), [(IpAddr::V4(VIP4), 4)]);
        let Output::Announce { frame, iface, .. } = &out[0] else { panic!() };
        assert_eq!(iface, "eth0");
        assert_eq!(*frame, leadership::gratuitous_arp(NODE_MAC, VIP4));
    }

    #[test]
    fn by_default_a_new_vip_is_announced_five_times_1100_ms_apart_as_metallb_does() {
        let t0 = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(t0, Input::SetLeadership(leading(&[VIP6.into()])));
        let repeats = run_timers(&mut a, t0 + Duration::from_secs(60));
        let offsets: Vec<u128> = repeats.iter().map(|(t, _)| (*t - t0).as_millis()).collect();
        assert_eq!(offsets, [1100, 2200, 3300, 4400]);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn periodic_announcements_repeat_every_led_vip_at_their_interval_for_ever() {
        let t0 = Instant::now();
        let periodic = Some(Duration::from_secs(10));
        let mut a = Announcer::new(AnnounceConfig { periodic, ..AnnounceConfig::default() });
        let vips: [IpAddr; 2] = [VIP4.into(), VIP6.into()];
        a.handle(t0, Input::SetLeadership(leading(&vips)));
        let sent = run_timers(&mut a, t0 + Duration::from_secs(35));
        let at = |secs: u64| -> Vec<(Instant, IpAddr)> {
            vips.iter().map(|v| (t0 + Duration::from_secs(secs), *v)).collect()
        };
        // The takeover's four repeats (1.1 s apart), then both VIPs at 10, 20 and 30 s.
        let periodic_ones: Vec<(Instant, IpAddr)> =
            sent.iter().copied().filter(|(t, _)| *t - t0 >= Duration::from_secs(10)).collect();
        assert_eq!(sent.len() - periodic_ones.len(), 8, "{sent:?}");
        assert_eq!(periodic_ones, [at(10), at(20), at(30)].concat());
        // A VIP lost is announced no more; one gained joins the next round.
        a.handle(t0 + Duration::from_secs(35), Input::SetLeadership(leading(&vips[1..])));
        let sent = run_timers(&mut a, t0 + Duration::from_secs(41));
        assert_eq!(sent, [(t0 + Duration::from_secs(40), vips[1])]);
    }

    #[test]
    fn without_periodic_announcements_nothing_is_due_after_the_takeover() {
        let t0 = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(t0, Input::SetLeadership(leading(&[VIP4.into()])));
        assert_eq!(run_timers(&mut a, t0 + Duration::from_secs(3600)).len(), 4);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn count_and_interval_are_configurable() {
        let t0 = Instant::now();
        let mut a =
            Announcer::new(AnnounceConfig { count: 3, interval: Duration::from_millis(200), periodic: None });
        a.handle(t0, Input::SetLeadership(leading(&[VIP4.into()])));
        let offsets: Vec<u128> = run_timers(&mut a, t0 + Duration::from_secs(60))
            .iter()
            .map(|(t, _)| (*t - t0).as_millis())
            .collect();
        assert_eq!(offsets, [200, 400]);
    }

    #[test]
    fn a_count_of_zero_announces_nothing_but_still_answers() {
        let mut a =
            Announcer::new(AnnounceConfig { count: 0, interval: Duration::from_secs(1), periodic: None });
        let now = Instant::now();
        assert!(a.handle(now, Input::SetLeadership(leading(&[VIP4.into()]))).is_empty());
        assert_eq!(a.poll_timeout(), None);
        let request = arp_request().to_bytes();
        let out = a.handle(now, Input::Received { iface: "eth0", frame: &request });
        // The answer names the VIP asked about (the metrics count answers per VIP).
        assert!(
            matches!(out.as_slice(), [Output::Answer { vip, .. }] if *vip == IpAddr::V4(VIP4)),
            "{out:?}"
        );
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into(), VIP6.into()])));
        let solicit = crate::golden::neighbor_solicit().to_bytes();
        let out = a.handle(now, Input::Received { iface: "eth0", frame: &solicit });
        assert!(
            matches!(out.as_slice(), [Output::Answer { vip, .. }] if *vip == IpAddr::V6(VIP6)),
            "{out:?}"
        );
    }

    #[test]
    fn setting_the_same_leadership_twice_sends_nothing_the_second_time() {
        let now = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        let again = a.handle(now + Duration::from_millis(10), Input::SetLeadership(leading(&[VIP4.into()])));
        assert!(again.is_empty());
        // And the schedule of the first is untouched.
        assert_eq!(a.poll_timeout(), Some(now + Duration::from_millis(1100)));
    }

    #[test]
    fn adding_a_vip_announces_only_the_new_one() {
        let now = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        let out = a.handle(now, Input::SetLeadership(leading(&[VIP4.into(), VIP6.into()])));
        assert_eq!(announced(&out), [(IpAddr::V6(VIP6), 4)]);
    }

    #[test]
    fn losing_a_vip_stops_its_repeats_at_once() {
        let t0 = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(t0, Input::SetLeadership(leading(&[VIP4.into(), VIP6.into()])));
        a.handle(t0 + Duration::from_millis(500), Input::SetLeadership(leading(&[VIP6.into()])));
        let repeats = run_timers(&mut a, t0 + Duration::from_secs(60));
        assert!(repeats.iter().all(|(_, vip)| *vip == IpAddr::V6(VIP6)), "{repeats:?}");
        assert_eq!(repeats.len(), 4);
    }

    #[test]
    fn losing_a_vip_stops_answering_for_it_at_once() {
        let now = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        let request = arp_request().to_bytes();
        assert_eq!(a.handle(now, Input::Received { iface: "eth0", frame: &request }).len(), 1);
        a.handle(now, Input::SetLeadership(Leadership::new()));
        assert!(a.handle(now, Input::Received { iface: "eth0", frame: &request }).is_empty());
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn regaining_a_lost_vip_announces_it_again() {
        let now = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        a.handle(now, Input::SetLeadership(Leadership::new()));
        let out = a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        assert_eq!(announced(&out), [(IpAddr::V4(VIP4), 4)]);
    }

    #[test]
    fn a_new_interface_mac_announces_the_vip_again_from_the_new_mac() {
        let now = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        let moved = Leadership::new().lead("eth0", OTHER_MAC, VIP4.into());
        let out = a.handle(now, Input::SetLeadership(moved));
        let [Output::Announce { frame, .. }] = &out[..] else { panic!("{out:?}") };
        assert_eq!(frame.src, OTHER_MAC);
    }

    #[test]
    fn frames_that_do_not_parse_are_ignored() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let now = Instant::now();
        a.handle(now, Input::SetLeadership(leading(&[VIP4.into()])));
        assert!(a.handle(now, Input::Received { iface: "eth0", frame: &[0xff; 20] }).is_empty());
    }

    #[test]
    fn a_late_timer_sends_what_is_due_and_keeps_the_interval_from_then() {
        let t0 = Instant::now();
        let mut a = Announcer::new(AnnounceConfig::default());
        a.handle(t0, Input::SetLeadership(leading(&[VIP4.into()])));
        let late = t0 + Duration::from_millis(3000);
        assert_eq!(announced(&a.handle(late, Input::Timeout)).len(), 1);
        assert_eq!(a.poll_timeout(), Some(late + Duration::from_millis(1100)));
    }
}
