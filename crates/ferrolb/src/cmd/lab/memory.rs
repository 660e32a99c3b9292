//! A process's memory as the benchmarks report it, from `/proc/PID/status`.

use anyhow::Context;

/// Peak and file-backed resident memory of one process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    /// Peak resident memory (`VmHWM`).
    pub peak_mib: f64,
    /// Of what is resident now, the pages of mapped files (`RssFile`): the
    /// program's own code and data and its libraries, a cost paid before the
    /// first route that no data structure changes.
    pub files_mib: f64,
}

impl Memory {
    /// The memory of process `pid`.
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        Memory::read(&pid.to_string())
    }

    /// The memory of this process.
    pub fn own() -> anyhow::Result<Memory> {
        Memory::read("self")
    }

    fn read(process: &str) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{process}/status"))?;
        Memory::parse(&status).with_context(|| format!("no VmHWM or RssFile in /proc/{process}/status"))
    }

    fn parse(status: &str) -> Option<Memory> {
        let mib = |field: &str| -> Option<f64> {
            let kib: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix(field))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib / 1024.0)
        };
        Some(Memory { peak_mib: mib("VmHWM:")?, files_mib: mib("RssFile:")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_and_the_file_pages_are_read_from_proc_status() {
        let status = "Name:\tbird\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n\
                      RssAnon:\t    2048 kB\nRssFile:\t    1536 kB\nRssShmem:\t       0 kB\n";
        assert_eq!(Memory::parse(status), Some(Memory { peak_mib: 5.0, files_mib: 1.5 }));
        assert_eq!(Memory::parse("VmHWM:\t 1 kB\n"), None);
    }

    #[test]
    fn this_process_has_a_peak() {
        let memory = Memory::own().unwrap();
        assert!(memory.peak_mib > 0.0 && memory.files_mib > 0.0, "{memory:?}");
    }
}
