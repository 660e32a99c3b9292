//! Runs the L2 responder on one interface for a fixed list of VIPs, until SIGTERM or Ctrl-C.
//! Used by the crate's network tests; also handy by hand in a namespace:
//!
//! ```text
//! ip netns exec NS responder eth0 192.0.2.10 2001:db8::10 [--vips-file PATH] [--count N]
//!     [--interval-ms MS] [--no-arp-ignore]
//! ```
//! With no VIP the interface is still served (sockets open, `arp_ignore=1` set), as on a
//! node that leads nothing yet. With `--vips-file` the VIPs listed there (separated by
//! whitespace) are led too, and SIGHUP re-reads the file and hands the responder the new
//! whole leadership, as `ferrolb run` does when the election changes.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use ferrolb_l2::driver::{Responder, ResponderConfig, read_link};
use ferrolb_l2::{Leadership, LedInterface};

fn usage(reason: &str) -> ExitCode {
    eprintln!(
        "{reason}\nusage: responder IFACE [VIP...] [--vips-file PATH] [--count N] [--interval-ms MS] [--no-arp-ignore]"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Plain text in the tests' log files, which they read (`remaining=0`), as `ferrolb` does.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut args = std::env::args().skip(1);
    let Some(iface) = args.next() else { return usage("missing IFACE") };
    let mut config = ResponderConfig::default();
    let mut vips = BTreeSet::new();
    let mut vips_file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--vips-file" => match args.next() {
                Some(path) => vips_file = Some(PathBuf::from(path)),
                None => return usage("--vips-file needs a path"),
            },
            "--count" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => config.announce.count = n,
                None => return usage("--count needs a number"),
            },
            "--interval-ms" => match args.next().and_then(|v| v.parse().ok()) {
                Some(ms) => config.announce.interval = Duration::from_millis(ms),
                None => return usage("--interval-ms needs a number"),
            },
            "--no-arp-ignore" => config.set_arp_ignore = false,
            vip => match vip.parse::<IpAddr>() {
                Ok(ip) => {
                    vips.insert(ip);
                }
                Err(_) => return usage(&format!("not an IP address: {vip}")),
            },
        }
    }
    let link = match read_link(&iface) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot use {iface}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let responder = Responder::start(config);
    let lead = |file: &Option<PathBuf>| -> Result<(), String> {
        let mut all = vips.clone();
        if let Some(path) = file {
            all.extend(read_vips(path)?);
        }
        tracing::info!(interface = %iface, mac = %link.mac, vips = ?all, "leading");
        let mut leadership = Leadership::new();
        leadership.interfaces.insert(iface.clone(), LedInterface { mac: link.mac, vips: all });
        responder.set_leadership(leadership);
        Ok(())
    };
    if let Err(e) = lead(&vips_file) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let (mut term, mut hup) = match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cannot catch signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                if let Err(e) = lead(&vips_file) {
                    // Keep the last good leadership, as ferrolb does with a bad config.
                    tracing::error!(error = %e, "cannot reload VIPs");
                }
            }
        }
    }
    drop(responder);
    tracing::info!("responder stopped");
    ExitCode::SUCCESS
}

fn read_vips(path: &Path) -> Result<BTreeSet<IpAddr>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.split_whitespace()
        .map(|w| w.parse().map_err(|_| format!("{}: not an IP address: {w}", path.display())))
        .collect()
}
