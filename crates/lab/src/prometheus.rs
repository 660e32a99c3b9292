//! A real Prometheus (Debian's `prometheus` package) in a namespace, scraping
//! targets there, and its HTTP API queried from the same namespace: what
//! an operator's monitoring sees of ferrolb.
//!
//! ```text
//!  ┌─ node ─────────────────────────────────────────────────────┐
//!  │ ferrolb  127.0.0.1:7472/metrics ◄── scrape every 1 s ──┐    │
//!  │ prometheus 127.0.0.1:9090 (tsdb in its scratch dir) ───┘    │
//!  │ curl 127.0.0.1:9090/api/v1/query?query=...  (the test)      │
//!  └─────────────────────────────────────────────────────────────┘
//! ```

use std::time::Duration;

use crate::cmd;
use crate::daemon::{self, ScratchDir};
use crate::error::{Error, Result};
use crate::netns::{Netns, STOP_GRACE};
use crate::wait::wait_until;

/// Where Debian's `prometheus` package installs the server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Where Debian's `prometheus` package installs `promtool`.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// The address Prometheus listens on, inside its namespace.
const LISTEN: &str = "127.0.0.1:9090";

/// A running Prometheus; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Prometheus {
    netns: Netns,
    pid: u32,
    dir: ScratchDir,
}

impl Prometheus {
    /// Starts Prometheus in `netns`, scraping `targets` (`127.0.0.1:7472`) every second,
    /// with the rule files `rules` (name, text) loaded; waits until it is ready.
    pub fn start(netns: &Netns, targets: &[&str], rules: &[(&str, &str)]) -> Result<Prometheus> {
        let dir = ScratchDir::new(netns, "prometheus")?;
        let mut rule_files = Vec::new();
        for (name, text) in rules {
            rule_files.push(dir.write(name, text)?.display().to_string());
        }
        let config = dir.write("prometheus.yml", &render(targets, &rule_files))?;
        let log = dir.path().join("prometheus.log");
        let mut c = netns.command(PROMETHEUS);
        c.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={LISTEN}"))
            .arg("--log.level=warn");
        let pid = netns.spawn(c, &log)?;
        let prometheus = Prometheus { netns: netns.clone(), pid, dir };
        wait_until("prometheus to be ready", Duration::from_secs(30), || {
            daemon::ensure_running(&prometheus.netns, pid, "prometheus", &log)?;
            Ok(prometheus.get("/-/ready").is_ok())
        })?;
        Ok(prometheus)
    }

    /// `GET path` of its HTTP API, from inside its namespace.
    fn get(&self, path_and_query: &str) -> Result<String> {
        let mut c = self.netns.command("curl");
        c.args(["-sf", "--max-time", "5", "-G", &format!("http://{LISTEN}{path_and_query}")]);
        cmd::run(&mut c, cmd::DEFAULT_TIMEOUT)
    }

    /// The value of each series the instant query `expr` returns, with its labels.
    pub fn query(&self, expr: &str) -> Result<Vec<(serde_json::Value, f64)>> {
        let mut c = self.netns.command("curl");
        c.args([
            "-sf",
            "--max-time",
            "5",
            "-G",
            &format!("http://{LISTEN}/api/v1/query"),
            "--data-urlencode",
        ])
        .arg(format!("query={expr}"));
        let answer = daemon::run_json(c)?;
        let parse = |reason: String| Error::Parse { command: format!("prometheus query {expr}"), reason };
        if answer["status"] != "success" {
            return Err(parse(answer.to_string()));
        }
        let series = answer["data"]["result"].as_array().cloned().unwrap_or_default();
        series
            .into_iter()
            .map(|s| {
                let value = s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
                value.map(|v| (s["metric"].clone(), v)).ok_or_else(|| parse(s.to_string()))
            })
            .collect()
    }

    /// The alerts firing or pending now, by name.
    pub fn alerts(&self) -> Result<Vec<(String, String)>> {
        let answer: serde_json::Value = serde_json::from_str(&self.get("/api/v1/alerts")?).map_err(|e| {
            Error::Parse { command: "prometheus /api/v1/alerts".into(), reason: e.to_string() }
        })?;
        let alerts = answer["data"]["alerts"].as_array().cloned().unwrap_or_default();
        Ok(alerts
            .iter()
            .filter_map(|a| {
                Some((a["labels"]["alertname"].as_str()?.to_owned(), a["state"].as_str()?.to_owned()))
            })
            .collect())
    }

    /// Its scratch directory (config, data, log).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.netns.stop(self.pid, STOP_GRACE);
    }
}

/// `prometheus.yml`: one job scraping `targets` every second, evaluating `rule_files` as often.
fn render(targets: &[&str], rule_files: &[String]) -> String {
    let quoted = |items: Vec<String>| items.join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n  - job_name: ferrolb\n    static_configs:\n      - targets: [{}]\n",
        quoted(rule_files.iter().map(|f| format!("\"{f}\"")).collect()),
        quoted(targets.iter().map(|t| format!("\"{t}\"")).collect()),
    )
}

/// `promtool check metrics` on `text` (the exposition format's lint): an error with its
/// complaints, if any.
pub fn check_metrics(text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut c = Command::new(PROMTOOL);
    c.args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let command = cmd::describe(&c);
    let spawn = |e| Error::Spawn { command: command.clone(), source: e };
    let mut child = c.spawn().map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    cmd::check(&c, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_scrapes_every_target_every_second_with_the_rules() {
        let text = render(&["127.0.0.1:7472"], &["/tmp/x/rules.yml".into()]);
        assert!(text.contains("scrape_interval: 1s"), "{text}");
        assert!(text.contains("rule_files: [\"/tmp/x/rules.yml\"]"), "{text}");
        assert!(text.contains("- targets: [\"127.0.0.1:7472\"]"), "{text}");
    }
}
