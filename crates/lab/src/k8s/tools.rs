//! Where the Go-built programs are: `scripts/go-tools` builds them once per
//! machine into `~/.cache/ferrolb` and says where with `scripts/go-tools paths`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd;
use crate::error::{Error, Result};

/// The script that builds and finds the Go programs, in this checkout.
pub const GO_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/go-tools");

/// The Go-built programs: Kubernetes' control plane and MetalLB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTools {
    /// Holds `kube-apiserver`, `kubectl` and `etcd`.
    pub k8s_bin: PathBuf,
    /// The Kubernetes release they were built from (`v1.37.2`).
    pub k8s_version: String,
    /// Holds MetalLB's `controller` and `speaker`, built from [`GoTools::metallb_run_version`].
    pub metallb_bin: PathBuf,
    /// MetalLB's newest release (`v0.16.2`), whose CRDs ferrolb's equal.
    pub metallb_version: String,
    /// The MetalLB release whose programs run beside ferrolb (`v0.16.1`).
    pub metallb_run_version: String,
    /// The module source of `metallb_version` (CRDs in `config/crd/bases`, `configsamples/`).
    pub metallb_src: Option<PathBuf>,
    /// The module source of `metallb_run_version` (the CRDs its programs expect).
    pub metallb_run_src: Option<PathBuf>,
}

impl GoTools {
    /// The paths `scripts/go-tools paths` prints, each overridden by the
    /// environment variable of the same name (`FERROLB_K8S_BIN`, ...).
    pub fn locate() -> Result<GoTools> {
        let mut c = Command::new("bash");
        c.arg(GO_TOOLS).arg("paths");
        let printed = cmd::run(&mut c, cmd::DEFAULT_TIMEOUT * 6)?;
        GoTools::from_lines(&printed, |name| std::env::var(name).ok().filter(|v| !v.is_empty())).ok_or_else(
            || Error::Parse { command: cmd::describe(&c), reason: format!("no paths in {printed:?}") },
        )
    }

    /// Reads `NAME=VALUE` lines, `env` first.
    fn from_lines(printed: &str, env: impl Fn(&str) -> Option<String>) -> Option<GoTools> {
        let get = |name: &str| {
            env(name).or_else(|| {
                printed.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
            })
        };
        Some(GoTools {
            k8s_bin: get("FERROLB_K8S_BIN")?.into(),
            k8s_version: get("FERROLB_K8S_VERSION")?,
            metallb_bin: get("FERROLB_METALLB_BIN")?.into(),
            metallb_version: get("FERROLB_METALLB_VERSION")?,
            metallb_run_version: get("FERROLB_METALLB_RUN_VERSION")?,
            metallb_src: get("FERROLB_METALLB_SRC").filter(|s| !s.is_empty()).map(PathBuf::from),
            metallb_run_src: get("FERROLB_METALLB_RUN_SRC").filter(|s| !s.is_empty()).map(PathBuf::from),
        })
    }

    /// `kube-apiserver`, `kubectl` or `etcd`.
    pub fn k8s(&self, program: &str) -> PathBuf {
        self.k8s_bin.join(program)
    }

    /// MetalLB's `controller` or `speaker`.
    pub fn metallb(&self, program: &str) -> PathBuf {
        self.metallb_bin.join(program)
    }

    /// MetalLB's CRDs (`config/crd/bases`), if its source is there.
    pub fn metallb_crds(&self) -> Option<PathBuf> {
        self.metallb_src.as_ref().map(|s| s.join("config/crd/bases")).filter(|d| d.is_dir())
    }

    /// What is missing to run a control plane, as a sentence; `None`: nothing.
    pub fn missing_control_plane(&self) -> Option<String> {
        missing(&self.k8s_bin, &["kube-apiserver", "kubectl", "etcd"], "k8s")
    }

    /// What is missing to run MetalLB, as a sentence; `None`: nothing.
    pub fn missing_metallb(&self) -> Option<String> {
        missing(&self.metallb_bin, &["controller", "speaker"], "metallb").or_else(|| {
            self.metallb_crds().is_none().then(|| {
                "MetalLB's module source is not in the Go module cache (run scripts/go-tools metallb)".into()
            })
        })
    }
}

fn missing(dir: &Path, programs: &[&str], target: &str) -> Option<String> {
    let absent: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| cmd::find_binary(&dir.join(p).to_string_lossy()).is_none())
        .collect();
    (!absent.is_empty()).then(|| {
        format!("{} not built in {} (run scripts/go-tools {target})", absent.join(", "), dir.display())
    })
}

/// The Go-built programs when everything `need` says is there; when
/// something is missing (or Go itself), it says so and gives `None`, except
/// where the tests must run (the variable `CI` or `FERROLB_GO_TOOLS_REQUIRED`
/// is set, as `scripts/test` does): there it panics.
pub fn go_tools_ready(need: impl Fn(&GoTools) -> Option<String>) -> Option<GoTools> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("Kubernetes test");
    let reason = match GoTools::locate() {
        Ok(tools) => match need(&tools) {
            None => return Some(tools),
            Some(reason) => reason,
        },
        Err(e) => format!("cannot find the Go-built tools: {e}"),
    };
    if std::env::var_os("CI").is_some() || std::env::var_os("FERROLB_GO_TOOLS_REQUIRED").is_some() {
        panic!("{test}: {reason}");
    }
    // Straight to the file descriptor: libtest captures `eprintln!` of passing tests.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINTED: &str = "FERROLB_K8S_BIN=/c/k8s/v1.37.2/bin\nFERROLB_K8S_VERSION=v1.37.2\n\
        FERROLB_METALLB_BIN=/c/metallb/v0.16.1/bin\nFERROLB_METALLB_VERSION=v0.16.2\n\
        FERROLB_METALLB_RUN_VERSION=v0.16.1\nFERROLB_METALLB_SRC=\nFERROLB_METALLB_RUN_SRC=/m\n";

    #[test]
    fn paths_come_from_the_script_unless_the_environment_says_otherwise() {
        let tools = GoTools::from_lines(PRINTED, |_| None).unwrap();
        assert_eq!(tools.k8s(""), PathBuf::from("/c/k8s/v1.37.2/bin/"));
        assert_eq!(tools.metallb_version, "v0.16.2");
        assert_eq!(tools.metallb_src, None, "an empty source is no source");
        assert_eq!(
            (tools.metallb_run_version.as_str(), tools.metallb_run_src),
            ("v0.16.1", Some("/m".into()))
        );
        let env = |name: &str| (name == "FERROLB_K8S_BIN").then(|| "/elsewhere".to_owned());
        assert_eq!(GoTools::from_lines(PRINTED, env).unwrap().k8s_bin, PathBuf::from("/elsewhere"));
    }

    #[test]
    fn a_missing_line_is_no_tools() {
        assert_eq!(GoTools::from_lines("FERROLB_K8S_BIN=/x\n", |_| None), None);
    }

    #[test]
    fn missing_programs_are_named_with_what_builds_them() {
        let tools = GoTools::from_lines(PRINTED, |_| None).unwrap();
        let reason = tools.missing_control_plane().unwrap();
        assert!(reason.contains("kube-apiserver, kubectl, etcd"), "{reason}");
        assert!(reason.ends_with("(run scripts/go-tools k8s)"), "{reason}");
    }
}
