//! One module per subcommand.

pub mod controller;
pub mod crds;
pub mod health;
pub mod lab;
pub mod plan;
pub mod run;
pub mod speaker;
pub mod validate;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured on a terminal:
/// what the long-running subcommands (`run`, `controller`, `speaker`) print.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}
