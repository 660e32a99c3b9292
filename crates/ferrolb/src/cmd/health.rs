//! `/healthz`, `/readyz` and `/metrics` on port 7472 (as MetalLB's older
//! releases), and `/healthz` and `/readyz` alone on the probes' port 17472
//! (`--health-probe-port`, as MetalLB's current ones), which the Deployment
//! and DaemonSet in deploy/ probe. A GET and its answer need no HTTP library:
//! the request line is read, one response is written, the connection closes.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The port of metrics and health, as MetalLB's.
pub const PORT: u16 = 7472;

/// The port of the probes alone, as MetalLB's.
pub const PROBE_PORT: u16 = 17472;

/// What `/metrics` answers: the metrics in Prometheus' text format, rendered at each scrape.
pub type Metrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The probes' port of the cluster daemons.
#[derive(Clone, Debug, clap::Args)]
pub struct ProbeArgs {
    /// The port of /healthz and /readyz alone, which the pods' probes ask (MetalLB's flag); 0 for none.
    #[arg(long, default_value_t = PROBE_PORT)]
    pub health_probe_port: u16,
}

impl ProbeArgs {
    /// Serves `/healthz` and `/readyz` on the port, of every address; a port
    /// already taken is logged, not fatal.
    pub async fn serve_or_warn(&self, ready: watch::Receiver<bool>) {
        if self.health_probe_port == 0 {
            return;
        }
        let addr = SocketAddr::from(([0, 0, 0, 0], self.health_probe_port));
        if let Err(e) = serve_paths(addr, ready, None).await {
            tracing::warn!(address = %addr, error = %e, "no health probe endpoints");
        }
    }
}

/// The endpoints of the cluster daemons (`controller`, `speaker`), as
/// MetalLB's: metrics and health on 7472, the probes alone on 17472, and
/// metrics over HTTPS on 9120 to the tokens the API server allows.
#[derive(Clone, Debug, clap::Args)]
pub struct DaemonEndpoints {
    #[command(flatten)]
    secure_metrics: super::secure_metrics::SecureMetricsArgs,
    #[command(flatten)]
    probes: ProbeArgs,
}

impl DaemonEndpoints {
    /// Serves them all for the host `name`, asking `client`'s API server who
    /// may read the HTTPS metrics; a port already taken is logged, not fatal
    /// (the process still does its job, the probes will say so).
    pub async fn serve(
        &self,
        name: &str,
        ready: watch::Receiver<bool>,
        metrics: Metrics,
        client: kube::Client,
    ) {
        serve_or_warn(SocketAddr::from(([0, 0, 0, 0], PORT)), ready.clone(), Arc::clone(&metrics)).await;
        self.probes.serve_or_warn(ready.clone()).await;
        let secure = SocketAddr::from(([0, 0, 0, 0], super::secure_metrics::PORT));
        let access = ferrolb_k8s::metrics_access::MetricsAccess::new(client);
        self.secure_metrics.serve_or_warn(Some(secure), name, ready, metrics, Some(access)).await;
    }
}

/// Serves health and `metrics` on `addr`; a port already taken is logged, not fatal.
pub async fn serve_or_warn(addr: SocketAddr, ready: watch::Receiver<bool>, metrics: Metrics) {
    if let Err(e) = serve(addr, ready, metrics).await {
        tracing::warn!(address = %addr, error = %e, "no health and metrics endpoints");
    }
}

/// Serves on `addr` until the runtime stops: `/healthz` is 200 while the
/// process runs; `/readyz` is 200 once `ready` holds, 503 before; `/metrics`
/// what `metrics` renders.
pub async fn serve(addr: SocketAddr, ready: watch::Receiver<bool>, metrics: Metrics) -> std::io::Result<()> {
    serve_paths(addr, ready, Some(metrics)).await
}

/// [`serve`], and `/metrics` only with `metrics`.
async fn serve_paths(
    addr: SocketAddr,
    ready: watch::Receiver<bool>,
    metrics: Option<Metrics>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let paths = if metrics.is_some() { "/metrics, /healthz and /readyz" } else { "/healthz and /readyz" };
    tracing::info!(address = %addr, "serving {paths}");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let ready = *ready.borrow();
            let metrics = metrics.clone();
            tokio::spawn(async move { answer(&mut stream, ready, metrics.as_deref()).await });
        }
    });
    Ok(())
}

/// Reads one request from `stream` and writes its response (plain or TLS alike).
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    ready: bool,
    metrics: Option<&(dyn Fn() -> String + Send + Sync)>,
) {
    let mut request = [0u8; 1024];
    let Ok(n) = stream.read(&mut request).await else { return };
    let _ = stream.write_all(response(&request[..n], ready, metrics).as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The whole HTTP response to `request` (its first bytes suffice).
pub(super) fn response(
    request: &[u8],
    ready: bool,
    metrics: Option<&(dyn Fn() -> String + Send + Sync)>,
) -> Cow<'static, str> {
    let line = request.split(|b| *b == b'\r' || *b == b'\n').next().unwrap_or_default();
    let path = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    match (path, ready) {
        (b"/healthz", _) | (b"/readyz", true) => Cow::Borrowed(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
        ),
        (b"/readyz", false) => Cow::Borrowed(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nnot ready\n",
        ),
        (b"/metrics", _) if let Some(metrics) = metrics => {
            let body = metrics();
            Cow::Owned(format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                ferrolb_metrics::CONTENT_TYPE,
                body.len()
            ))
        }
        _ => Cow::Borrowed("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_is_always_ok_readyz_only_once_ready_and_metrics_are_rendered_at_each_scrape() {
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
        let metrics = || "metallb_k8s_client_config_loaded_bool 1\n".to_owned();
        let response = |request: &[u8], ready| response(request, ready, Some(&metrics));
        assert!(response(&get("/healthz"), false).starts_with("HTTP/1.1 200"));
        assert!(response(&get("/readyz"), false).starts_with("HTTP/1.1 503"));
        assert!(response(&get("/readyz"), true).starts_with("HTTP/1.1 200"));
        assert!(response(&get("/metrics"), false).starts_with("HTTP/1.1 200"));
        assert!(
            response(&get("/metrics"), true).ends_with("\r\n\r\nmetallb_k8s_client_config_loaded_bool 1\n")
        );
        assert!(response(&get("/other"), true).starts_with("HTTP/1.1 404"));
        // The probes' port has no /metrics.
        assert!(super::response(&get("/metrics"), true, None).starts_with("HTTP/1.1 404"));
        assert!(super::response(&get("/healthz"), true, None).starts_with("HTTP/1.1 200"));
        assert!(response(b"", true).starts_with("HTTP/1.1 404"));
        for r in [
            response(&get("/healthz"), true),
            response(&get("/readyz"), false),
            response(&get("/metrics"), true),
        ] {
            let (head, body) = r.split_once("\r\n\r\n").unwrap();
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
            assert_eq!(body.len(), length, "{r:?}");
        }
    }
}
