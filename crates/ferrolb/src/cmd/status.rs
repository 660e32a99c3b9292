//! `ferrolb status`: what a running node does, asked over its control
//! socket (`/run/ferrolb/NODE.sock`): its BGP sessions (with BFD), every VIP
//! it has a part in (the L2 leader and interfaces, the peers it goes to and
//! why not), the gossip's members and the configuration in force.
//!
//! ```text
//!   ferrolb status ──connect──► /run/ferrolb/node1.sock (0600, root) ──► `run` / `speaker`
//!                  ◄── one JSON document (NodeStatus), then the connection closes
//! ```
//!
//! In a cluster, `kubectl exec` into a speaker pod runs it there.

use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ferrolb_node::Observed;
use ferrolb_node::observe::NodeStatus;
use tokio::io::AsyncWriteExt as _;
use tokio::net::UnixListener;

use crate::output::{Format, Table};

/// Where the control sockets are, one per node.
pub const SOCKET_DIR: &str = "/run/ferrolb";

/// How often `--watch` asks.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Arguments of `ferrolb status`.
#[derive(clap::Args)]
pub struct Args {
    /// The node whose `run` or `speaker` to ask (its socket is /run/ferrolb/NODE.sock);
    /// without it, the only socket there.
    #[arg(long)]
    node: Option<String>,
    /// The control socket to ask, in place of the node's.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Ask every second and print again when something changed.
    #[arg(long)]
    watch: bool,
}

/// The control socket of `node`.
pub fn socket_of(node: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{node}.sock"))
}

/// Asks and prints, once or until interrupted (`--watch`).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let socket = match (&args.socket, &args.node) {
        (Some(socket), _) => socket.clone(),
        (None, Some(node)) => socket_of(node),
        (None, None) => only_socket(Path::new(SOCKET_DIR))?,
    };
    let mut last = None;
    loop {
        let status = ask(&socket)?;
        if last.as_ref() != Some(&status) {
            print!("{}", render(&status, args.output)?);
            last = Some(status);
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

/// The only socket in `dir`.
fn only_socket(dir: &Path) -> anyhow::Result<PathBuf> {
    let sockets: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!("no ferrolb runs here: cannot read {} (or name one with --node)", dir.display())
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sock"))
        .collect();
    match sockets.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("no control socket in {}: is ferrolb running?", dir.display()),
        many => {
            let names: Vec<String> =
                many.iter().filter_map(|p| p.file_stem()).map(|s| s.to_string_lossy().into()).collect();
            anyhow::bail!("several nodes run here ({}): name one with --node", names.join(", "))
        }
    }
}

/// The status the node at `socket` sends.
fn ask(socket: &Path) -> anyhow::Result<NodeStatus> {
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{}: permission denied: the control socket is root's only (0600); run as root",
            socket.display()
        ),
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
            anyhow::anyhow!("{}: no ferrolb answers there ({e}): is it running?", socket.display())
        }
        _ => anyhow::anyhow!("{}: {e}", socket.display()),
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut text = String::new();
    stream.read_to_string(&mut text).with_context(|| format!("reading {}", socket.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a status document", socket.display()))
}

fn render(status: &NodeStatus, format: Format) -> anyhow::Result<String> {
    match format {
        Format::Table => Ok(table(status)),
        _ => crate::output::render(status, format),
    }
}

/// The status as tables: the configuration, the sessions, the VIPs, the gossip.
fn table(status: &NodeStatus) -> String {
    let c = &status.configuration;
    let mut out = format!("NODE {}  configuration generation {}", status.node, c.generation);
    match (&c.refused_because, c.stale) {
        (Some(why), true) => out.push_str(&format!(" (stale: the last edit was refused)\n{why}\n")),
        _ if !c.loaded => out.push_str(" (none loaded yet)\n"),
        _ => out.push('\n'),
    }
    out.push('\n');
    let mut sessions = Table::with_capacity(
        &["PEER", "ADDRESS", "STATE", "UP FOR", "PREFIXES", "BFD", "LAST ERROR"],
        status.sessions.len(),
    );
    for s in &status.sessions {
        let bfd = s.bfd.as_ref().map_or_else(
            || "-".to_owned(),
            |b| match &b.last_down {
                Some(why) if b.state != "Up" => format!("{} ({why})", b.state),
                _ => b.state.clone(),
            },
        );
        for cell in [
            s.peer.clone(),
            s.address.clone(),
            s.state.clone(),
            s.established_secs.map_or_else(|| "-".into(), |secs| format!("{secs}s")),
            format!("{}/{}", s.prefixes_sent, s.prefixes_wanted),
            bfd,
            s.last_error.clone().unwrap_or_else(|| "-".into()),
        ] {
            sessions.cell(&cell);
        }
    }
    out.push_str(&sessions.render());
    out.push('\n');
    let mut vips = Table::with_capacity(
        &["SERVICE", "IP", "L2 LEADER", "HERE", "BGP PEERS", "WHY NOT"],
        status.vips.len(),
    );
    for v in &status.vips {
        let leader =
            v.l2.as_ref().map_or_else(|| "-".into(), |l| l.leader.clone().unwrap_or_else(|| "none".into()));
        let here = match &v.l2 {
            Some(l) if l.here => format!("yes ({})", l.interfaces.as_deref().unwrap_or("all")),
            Some(_) => "no".into(),
            None => "-".into(),
        };
        let peers: Vec<&str> = v.bgp.iter().filter(|b| b.announced).map(|b| b.peer.as_str()).collect();
        let why_not: Vec<String> =
            v.l2.iter()
                .filter(|l| !l.here && l.leader.is_none())
                .map(|l| l.reason.clone())
                .chain(v.bgp.iter().filter(|b| !b.announced).map(|b| format!("{}: {}", b.peer, b.reason)))
                .collect();
        for cell in [
            v.service.clone(),
            v.ip.to_string(),
            leader,
            here,
            if peers.is_empty() { "-".into() } else { peers.join(",") },
            if why_not.is_empty() { "-".into() } else { why_not.join("; ") },
        ] {
            vips.cell(&cell);
        }
    }
    out.push_str(&vips.render());
    if let Some(members) = &status.members {
        out.push_str(&format!("\nGOSSIP MEMBERS ALIVE {}: {}\n", members.len(), members.join(", ")));
    }
    out
}

/// The control socket served; removed when dropped (the process stops).
pub struct ControlSocket(PathBuf);

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Answers every connection to `path` with the status of `observed`, until
/// the runtime stops. The socket is root's only (0600); a socket left by a
/// process that died is replaced, one a running process answers on is not.
pub async fn serve(path: &Path, observed: Observed) -> anyhow::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        match UnixStream::connect(path) {
            Ok(_) => anyhow::bail!("{}: another ferrolb answers there", path.display()),
            Err(_) => std::fs::remove_file(path)
                .with_context(|| format!("removing {}, left by a process that stopped", path.display()))?,
        }
    }
    let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} root's only", path.display()))?;
    tracing::info!(socket = %path.display(), "answering `ferrolb status`");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let status = observed.status();
            tokio::spawn(async move {
                if let Ok(text) = serde_json::to_vec(&status) {
                    let _ = stream.write_all(&text).await;
                }
            });
        }
    });
    Ok(ControlSocket(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use ferrolb_node::observe::{
        BfdStatus, BgpStatus, ConfigurationStatus, L2Status, SessionStatus, VipStatus,
    };

    use super::*;

    fn status() -> NodeStatus {
        NodeStatus {
            node: "node1".into(),
            configuration: ConfigurationStatus {
                generation: 3,
                loaded: true,
                stale: true,
                refused_because: Some(
                    "cluster.yaml:7: BGPPeer/router: spec.peerASN: expected a number".into(),
                ),
            },
            sessions: vec![SessionStatus {
                peer: "router".into(),
                address: "192.0.2.1:179".into(),
                state: "Established".into(),
                established_secs: Some(42),
                prefixes_sent: 1,
                prefixes_wanted: 1,
                last_error: None,
                bfd: Some(BfdStatus { state: "Up".into(), last_down: None, downs: 0 }),
            }],
            vips: vec![VipStatus {
                service: "default/web".into(),
                ip: "203.0.113.10".parse().unwrap(),
                l2: Some(L2Status {
                    pool: "vips".into(),
                    leader: Some("node1".into()),
                    here: true,
                    interfaces: Some("all".into()),
                    reason: "elected".into(),
                }),
                bgp: vec![
                    BgpStatus { peer: "router".into(), announced: true, reason: "announced".into() },
                    BgpStatus {
                        peer: "edge".into(),
                        announced: false,
                        reason: "no advertisement selects the peer".into(),
                    },
                ],
            }],
            members: Some(vec!["node1".into(), "node2".into()]),
        }
    }

    #[test]
    fn the_table_shows_sessions_vips_and_why_not() {
        let text = table(&status());
        assert!(
            text.starts_with("NODE node1  configuration generation 3 (stale: the last edit was refused)\n"),
            "{text}"
        );
        assert!(text.contains("spec.peerASN: expected a number"), "{text}");
        let session = text.lines().find(|l| l.starts_with("router")).unwrap();
        for cell in ["192.0.2.1:179", "Established", "42s", "1/1", "Up"] {
            assert!(session.contains(cell), "{cell} in {session}");
        }
        let vip = text.lines().find(|l| l.starts_with("default/web")).unwrap();
        for cell in
            ["203.0.113.10", "node1", "yes (all)", "router", "edge: no advertisement selects the peer"]
        {
            assert!(vip.contains(cell), "{cell} in {vip}");
        }
        assert!(text.ends_with("GOSSIP MEMBERS ALIVE 2: node1, node2\n"), "{text}");
    }

    #[test]
    fn the_json_reads_back_as_the_same_status() {
        let text = render(&status(), Format::Json).unwrap();
        assert_eq!(serde_json::from_str::<NodeStatus>(&text).unwrap(), status());
    }

    #[test]
    fn the_only_socket_is_found_and_several_are_named() {
        let dir = std::env::temp_dir().join(format!("ferrolb-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(only_socket(&dir).unwrap_err().to_string().contains("is ferrolb running?"));
        std::fs::write(dir.join("node1.sock"), "").unwrap();
        assert_eq!(only_socket(&dir).unwrap(), dir.join("node1.sock"));
        std::fs::write(dir.join("node2.sock"), "").unwrap();
        let error = only_socket(&dir).unwrap_err().to_string();
        assert!(error.contains("node1") && error.contains("node2") && error.contains("--node"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
