//! The IPAM benchmark: plan for N Services, YAML parsing included.
//!
//! Each size runs in a child process (`ferrolb lab bench plan-once FILE`) so
//! that its peak resident memory (`VmHWM`) is measured alone. The result is a
//! table of median wall time and peak memory per size, and the ratio between
//! the largest and smallest size: planning must grow linearly.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::memory::Memory;

/// Arguments of `ferrolb lab bench plan`.
#[derive(clap::Args)]
pub struct Args {
    /// Numbers of Services, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Runs per size; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// What one child run measured.
#[derive(Serialize, Deserialize)]
struct Measurement {
    services: usize,
    assigned: usize,
    /// Everything: load, validate, plan, render.
    millis: f64,
    /// CPU time of all threads: steadier than wall time on a shared machine.
    cpu_millis: f64,
    load_millis: f64,
    validate_millis: f64,
    plan_millis: f64,
    render_millis: f64,
    peak_mib: f64,
}

/// Generates each configuration, measures it `runs` times, prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("ferrolb-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure_all(args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    println!("{}", render(&rows));
    Ok(ExitCode::SUCCESS)
}

fn measure_all(args: &Args, dir: &Path) -> anyhow::Result<Vec<Measurement>> {
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        let file = dir.join(format!("services-{size}.yaml"));
        std::fs::write(&file, config(size))?;
        let mut runs = Vec::new();
        for _ in 0..args.runs.max(1) {
            runs.push(measure(&exe, &file)?);
        }
        runs.sort_by(|a, b| a.millis.total_cmp(&b.millis));
        rows.push(runs.swap_remove(runs.len() / 2));
    }
    Ok(rows)
}

fn measure(exe: &Path, file: &Path) -> anyhow::Result<Measurement> {
    let out = Command::new(exe).args(["lab", "bench", "plan-once"]).arg(file).output()?;
    anyhow::ensure!(out.status.success(), "plan-once failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn render(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "services  assigned  total (ms)  cpu (ms)  load (ms)  validate (ms)  plan (ms)  render (ms)  peak memory (MiB)\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:>8}  {:>8}  {:>10.1}  {:>8.1}  {:>9.1}  {:>13.1}  {:>9.1}  {:>11.1}  {:>17.1}",
            r.services,
            r.assigned,
            r.millis,
            r.cpu_millis,
            r.load_millis,
            r.validate_millis,
            r.plan_millis,
            r.render_millis,
            r.peak_mib
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        let _ = writeln!(
            out,
            "ratio {}/{}: time {:.2}, cpu {:.2} (services x{:.0}), memory {:.2}",
            last.services,
            first.services,
            last.millis / first.millis,
            last.cpu_millis / first.cpu_millis,
            last.services as f64 / first.services as f64,
            last.peak_mib / first.peak_mib,
        );
    }
    out
}

/// One measured run: load, validate, plan and render JSON (to memory).
pub fn once(file: &Path) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let cpu_start = ferrolb_sys::usage::cpu_time();
    let (snapshot, mut diagnostics) = ferrolb_api::load::load_paths(&[file]);
    let loaded = start.elapsed();
    diagnostics.extend(ferrolb_api::validate::validate(&snapshot));
    let validated = start.elapsed();
    anyhow::ensure!(diagnostics.is_empty(), "generated config has problems: {}", diagnostics[0]);
    let allocation = crate::cmd::plan::plan(&snapshot, None);
    let planned = start.elapsed();
    let json = serde_json::to_string(&crate::cmd::plan::Report::of(&allocation))?;
    let total = start.elapsed();
    let cpu = ferrolb_sys::usage::cpu_time() - cpu_start;
    let assigned = allocation.services.iter().filter(|s| !s.ips.is_empty()).count();
    drop(json);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let m = Measurement {
        services: allocation.services.len(),
        assigned,
        millis: ms(total),
        cpu_millis: ms(cpu),
        load_millis: ms(loaded),
        validate_millis: ms(validated - loaded),
        plan_millis: ms(planned - validated),
        render_millis: ms(total - planned),
        peak_mib: Memory::own()?.peak_mib,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}

/// A configuration with an IPv4 /15 and an IPv6 /64 pool and `services`
/// Services in 100 namespaces: nine in ten IPv4, one in ten IPv6.
fn config(services: usize) -> String {
    let mut out = String::from(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: v4\n  namespace: metallb-system\nspec:\n  addresses:\n  - 198.18.0.0/15\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: v6\n  namespace: metallb-system\nspec:\n  addresses:\n  - 2001:db8::/64\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: all\n  namespace: metallb-system\n",
    );
    for i in 0..services {
        let family = if i % 10 == 9 { "IPv6" } else { "IPv4" };
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{}\n  labels:\n    app: app-{i}\nspec:\n  type: LoadBalancer\n  ipFamilies: [{family}]\n  selector:\n    app: app-{i}\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n    targetPort: 8080\n",
            i % 100
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_is_valid_and_fully_assigned() {
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &config(50));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let allocation = crate::cmd::plan::plan(&snapshot, None);
        assert_eq!(allocation.services.len(), 50);
        assert!(allocation.services.iter().all(|s| s.ips.len() == 1), "every Service gets one IP");
    }
}
