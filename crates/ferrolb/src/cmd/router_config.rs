//! `ferrolb router-config --for frr|bird|cisco-ios FILE...`: the routers'
//! side of the BGP sessions the configuration asks for.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ferrolb_router::Dialect;

/// Arguments of `ferrolb router-config`.
#[derive(clap::Args)]
pub struct Args {
    /// The router's configuration language.
    #[arg(long = "for", value_enum)]
    dialect: RouterKind,
    /// Only the router at this address (a BGPPeer's peerAddress); by default every router.
    #[arg(long)]
    router: Option<IpAddr>,
    /// YAML or JSON files, directories of them, or - for standard input; the
    /// Nodes (with their InternalIPs) must be among them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    namespace: super::validate::NamespaceArg,
}

/// The routers `router-config` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RouterKind {
    /// FRR (frr.conf).
    Frr,
    /// BIRD 2 (bird.conf).
    Bird,
    /// Cisco IOS and IOS XE.
    CiscoIos,
}

impl From<RouterKind> for Dialect {
    fn from(kind: RouterKind) -> Dialect {
        match kind {
            RouterKind::Frr => Dialect::Frr,
            RouterKind::Bird => Dialect::Bird,
            RouterKind::CiscoIos => Dialect::CiscoIos,
        }
    }
}

/// Prints the configuration; exit 1 when the files are invalid or a router's
/// side cannot be written (each reason on standard error).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, config, diagnostics) =
        super::validate::load_and_validate(&args.files, &args.namespace.options());
    super::validate::report(&diagnostics);
    if diagnostics.iter().any(|d| d.is_error()) {
        eprintln!("no router configuration: the configuration is invalid");
        return Ok(ExitCode::FAILURE);
    }
    let (mut routers, problems) = ferrolb_router::routers(&config, &snapshot);
    let about_router = |address: IpAddr| args.router.is_none_or(|wanted| wanted.to_canonical() == address);
    let mut failed = false;
    for problem in problems.iter().filter(|p| p.address().is_none_or(about_router)) {
        let level = if problem.is_error() { "error" } else { "warning" };
        eprintln!("{level}: {problem}");
        failed |= problem.is_error();
    }
    routers.retain(|r| about_router(r.address));
    if let Some(wanted) = args.router
        && routers.is_empty()
    {
        eprintln!("error: no BGPPeer has the peerAddress {wanted}");
        return Ok(ExitCode::FAILURE);
    }
    if failed {
        eprintln!("no router configuration: fix the errors above");
        return Ok(ExitCode::FAILURE);
    }
    print!("{}", ferrolb_router::render(args.dialect.into(), &routers));
    Ok(ExitCode::SUCCESS)
}
