//! `/metrics` over HTTPS on port 9120, where MetalLB's current chart serves
//! it in a cluster (through its kube-rbac-proxy sidecar): with the
//! certificate of a mounted Secret (`tls.crt`, `tls.key` in the directory
//! `--metrics-cert-dir` names, as MetalLB's flag), read again when
//! the files change (cert-manager renews them in place), else with a
//! self-signed certificate made at start, which Prometheus scrapes with
//! `insecure_skip_verify` as MetalLB's ServiceMonitor does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use ferrolb_k8s::metrics_access::{Access, MetricsAccess};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::health::{Metrics, response};

/// The HTTPS port of MetalLB's chart.
pub const PORT: u16 = 9120;

/// How long a client has to finish its TLS handshake and its request.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The most a request's head may hold (a ServiceAccount token is about 1 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// The HTTPS metrics options of `speaker`, `controller` and `run`.
#[derive(Clone, Debug, clap::Args)]
pub struct SecureMetricsArgs {
    /// Where HTTPS /metrics (and the health paths) listen; `off` for nowhere.
    #[arg(long, value_name = "ADDRESS|off")]
    pub secure_metrics_address: Option<Listen>,
    /// A directory holding tls.crt and tls.key (PEM; a mounted Secret, as
    /// MetalLB's flag of that name), read again when they change; without
    /// it, a self-signed certificate.
    #[arg(long, value_name = "DIR")]
    pub metrics_cert_dir: Option<PathBuf>,
}

/// An address to listen on, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Listen, String> {
        match text {
            "off" => Ok(Listen(None)),
            _ => text.parse().map(|a| Listen(Some(a))).map_err(|_| {
                format!("{text:?} is not an address and port (expected e.g. 0.0.0.0:9120, or off)")
            }),
        }
    }
}

impl SecureMetricsArgs {
    /// Where to listen: the flag, else `default` (`None`: nowhere).
    pub fn address(&self, default: Option<SocketAddr>) -> Option<SocketAddr> {
        self.secure_metrics_address.map_or(default, |l| l.0)
    }

    /// Serves HTTPS metrics on the address (the flag's, else `default`), for
    /// the host `name`; with `access`, `/metrics` only to a bearer token the
    /// API server says may read it (as MetalLB's). A certificate that cannot
    /// be read, or a port already taken, is logged, not fatal: the process
    /// still does its job.
    pub async fn serve_or_warn(
        &self,
        default: Option<SocketAddr>,
        name: &str,
        ready: watch::Receiver<bool>,
        metrics: Metrics,
        access: Option<MetricsAccess>,
    ) {
        let Some(addr) = self.address(default) else { return };
        let served = async {
            let source = match &self.metrics_cert_dir {
                Some(dir) => Source::Files { cert: dir.join("tls.crt"), key: dir.join("tls.key") },
                None => Source::SelfSigned(name.to_owned()),
            };
            serve(addr, Certificate::new(source)?, ready, metrics, access.map(Arc::new)).await
        };
        if let Err(e) = served.await {
            tracing::error!(address = %addr, error = %format!("{e:#}"), "no HTTPS metrics");
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` over TLS with `certificate` on `addr`.
async fn serve(
    addr: SocketAddr,
    certificate: Certificate,
    ready: watch::Receiver<bool>,
    metrics: Metrics,
    access: Option<Arc<MetricsAccess>>,
) -> anyhow::Result<()> {
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(certificate));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let checked = if access.is_some() { "; /metrics to authorized tokens only" } else { "" };
    tracing::info!(address = %addr, "serving /metrics, /healthz and /readyz over HTTPS{checked}");
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let (acceptor, metrics, ready) = (acceptor.clone(), Arc::clone(&metrics), *ready.borrow());
            let access = access.clone();
            tokio::spawn(async move {
                let answered = tokio::time::timeout(HANDSHAKE, async {
                    let tls = acceptor.accept(stream).await?;
                    answer(tls, ready, &metrics, access.as_deref()).await
                });
                match answered.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTPS metrics: no answer"),
                    Err(_) => tracing::debug!(%peer, "HTTPS metrics: no request in time"),
                }
            });
        }
    });
    Ok(())
}

/// Reads a request's head from `stream` and answers it: `/metrics` only to
/// a token `access` allows, when there is one to ask.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    ready: bool,
    metrics: &Metrics,
    access: Option<&MetricsAccess>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let refused = match access {
        Some(access) if path(&head) == Some("/metrics") => {
            match access.check(header(&head, "authorization").as_deref(), "/metrics").await {
                Access::Allowed => None,
                Access::Unauthenticated => Some(UNAUTHORIZED),
                Access::Forbidden(user) => {
                    tracing::debug!(user = %user, "HTTPS metrics: refused to a user without get on /metrics");
                    Some(FORBIDDEN)
                }
            }
        }
        _ => None,
    };
    match refused {
        Some(refusal) => stream.write_all(refusal.as_bytes()).await?,
        None => stream.write_all(response(&head, ready, Some(&**metrics)).as_bytes()).await?,
    }
    stream.shutdown().await
}

const UNAUTHORIZED: &str = "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nconnection: close\r\n\r\nUnauthorized\n";
const FORBIDDEN: &str = "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nForbidden\n";

/// The path of a request's head.
fn path(head: &[u8]) -> Option<&str> {
    let line = head.split(|b| *b == b'\r' || *b == b'\n').next()?;
    std::str::from_utf8(line.split(|b| *b == b' ').nth(1)?).ok()
}

/// The value of the header `name` in a request's head (any case).
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

/// Where the certificate comes from.
#[derive(Clone, Debug)]
enum Source {
    /// Files (a mounted Secret), read again when their modification time changes.
    Files { cert: PathBuf, key: PathBuf },
    /// Made at start for this host name (and localhost).
    SelfSigned(String),
}

/// The certificate every handshake gets: the last good one read.
#[derive(Debug)]
struct Certificate {
    source: Source,
    /// The files' modification times when last read, and what they held.
    current: Mutex<(Option<Stamp>, Arc<CertifiedKey>)>,
}

/// When a certificate's two files were last modified.
type Stamp = (SystemTime, SystemTime);

impl Certificate {
    /// The certificate of `source`; files that cannot be read are an error.
    fn new(source: Source) -> anyhow::Result<Certificate> {
        let (stamp, key) = match &source {
            Source::Files { cert, key } => (modified(cert, key), read_files(cert, key)?),
            Source::SelfSigned(name) => (None, self_signed(name)?),
        };
        Ok(Certificate { source, current: Mutex::new((stamp, Arc::new(key))) })
    }

    /// The current certificate, read again first if its files changed; a
    /// change that cannot be read keeps the last good one (and says so).
    fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Source::Files { cert, key } = &self.source {
            let stamp = modified(cert, key);
            if stamp.is_some() && stamp != current.0 {
                match read_files(cert, key) {
                    Ok(read) => {
                        tracing::info!(certificate = %cert.display(), "HTTPS metrics: certificate read again");
                        *current = (stamp, Arc::new(read));
                    }
                    Err(e) => tracing::warn!(
                        certificate = %cert.display(),
                        error = %format!("{e:#}"),
                        "HTTPS metrics: the changed certificate cannot be used; the previous one stays"
                    ),
                }
            }
        }
        Arc::clone(&current.1)
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// When both files were last modified; `None` if one cannot be read.
fn modified(cert: &Path, key: &Path) -> Option<Stamp> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((time(cert)?, time(key)?))
}

/// The chain of `cert` with the private key of `key` (PEM both).
fn read_files(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .with_context(|| format!("{}: expected PEM certificates", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{}: no certificate in it (expected PEM)", cert.display());
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: expected a PEM private key", key.display()))?;
    let signing = any_supported_type(&private)
        .with_context(|| format!("{}: a key of a kind TLS cannot use", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!("{} and {}: the key is not the certificate's", cert.display(), key.display())
    })?;
    Ok(certified)
}

/// A self-signed certificate for `name` and localhost.
fn self_signed(name: &str) -> anyhow::Result<CertifiedKey> {
    let names = vec![name.to_owned(), "localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).context("making a self-signed certificate")?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let signing = any_supported_type(&private).context("the self-signed certificate's key")?;
    Ok(CertifiedKey::new(vec![made.cert.der().clone()], signing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_and_a_header_are_read_from_a_request_head() {
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nauthorization: Bearer abc\r\n\r\n";
        assert_eq!(path(head), Some("/metrics"));
        assert_eq!(header(head, "Authorization").as_deref(), Some("Bearer abc"));
        assert_eq!(header(head, "cookie"), None);
        assert_eq!(path(b""), None);
    }

    #[test]
    fn listen_takes_an_address_or_off() {
        assert_eq!("off".parse::<Listen>(), Ok(Listen(None)));
        assert_eq!(
            "127.0.0.1:9120".parse::<Listen>(),
            Ok(Listen(Some(SocketAddr::from(([127, 0, 0, 1], 9120)))))
        );
        assert!("9120".parse::<Listen>().unwrap_err().contains("expected e.g. 0.0.0.0:9120, or off"));
    }

    #[test]
    fn a_certificate_is_read_again_when_its_files_change_and_a_bad_change_keeps_the_last_good_one() {
        let dir = std::env::temp_dir().join(format!("ferrolb-secure-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        let write = |name: &str| {
            let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
            std::fs::write(&cert, made.cert.pem()).unwrap();
            std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
            made.cert.der().clone()
        };
        let first = write("a.example");
        let certificate = Certificate::new(Source::Files { cert: cert.clone(), key: key.clone() }).unwrap();
        assert_eq!(certificate.current().cert[0], first);
        // A renewal: the files change (mtime moved on, as a new Secret volume's).
        std::thread::sleep(Duration::from_millis(20));
        let second = write("b.example");
        assert_eq!(certificate.current().cert[0], second);
        // A broken renewal: the last good certificate stays.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&key, "not a key").unwrap();
        assert_eq!(certificate.current().cert[0], second);
        // Unreadable at start: an error that names the file.
        let e = Certificate::new(Source::Files { cert: cert.clone(), key: key.clone() }).unwrap_err();
        assert!(format!("{e:#}").contains("tls.key: expected a PEM private key"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
