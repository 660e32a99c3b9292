//! One module per subcommand.

pub mod controller;
pub mod crds;
pub mod health;
pub mod lab;
pub mod man;
pub mod plan;
pub mod router_config;
pub mod run;
pub mod secure_metrics;
pub mod speaker;
pub mod status;
pub mod validate;

/// How the daemons write their log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIME LEVEL target: message key=value...`, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object a line, its fields as keys (`peer`, `vip`, `service`,
    /// `node`...), for log collectors.
    Json,
}

/// The logging options of the daemons.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// How log lines are written (the level comes from RUST_LOG, `info` unless set).
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as `format` says:
/// what the long-running subcommands (`run`, `controller`, `speaker`) print.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // Fields at the top level, beside `timestamp`, `level`, `target` and `message`.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// Runs a daemon's `serve` to its end on one thread (with logging set up as
/// `log` says): what `run`, `controller` and `speaker` do; their CPU-heavy
/// work goes to tokio's blocking threads.
pub fn serve_on_one_thread<T>(
    log: &LogArgs,
    serve: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    init_logging(log.log_format);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve)
}

/// The first of a flag, an environment variable (set but empty counts as unset).
pub fn flag_or_env(flag: &Option<String>, variable: &str) -> Option<String> {
    flag.clone().or_else(|| std::env::var(variable).ok()).filter(|v| !v.is_empty())
}

/// The namespace of ferrolb's configuration in a cluster: `--namespace`, else
/// the pod's own (`POD_NAMESPACE`), else `metallb-system`, where MetalLB's is.
pub fn namespace(flag: &Option<String>) -> String {
    flag_or_env(flag, "POD_NAMESPACE").unwrap_or_else(|| "metallb-system".into())
}
