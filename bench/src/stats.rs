//! Summaries of repeated measurements, and what a process holds in memory.

use serde::Serialize;

/// Minimum, median and maximum of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many values.
    pub n: usize,
    /// The smallest.
    pub min: f64,
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Self {
                n,
                min: 0.0,
                median: 0.0,
                max: 0.0,
            };
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            n,
            min: sorted[0],
            median,
            max: sorted[n - 1],
        }
    }

    /// `min / median / max` with `decimals` digits and a unit.
    pub fn show(&self, decimals: usize, unit: &str) -> String {
        format!(
            "{:.d$} / {:.d$} / {:.d$} {unit}",
            self.min,
            self.median,
            self.max,
            d = decimals
        )
    }
}

/// Resident memory of a running process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak_kib: u64,
}

/// The memory of process `pid`, or `None` when it is gone or `/proc` is not there.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises() {
        let s = Summary::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 2.0, 3.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Summary::of(&[]).n, 0);
        assert_eq!(s.show(1, "ms"), "1.0 / 2.0 / 3.0 ms");
    }

    #[test]
    fn reads_its_own_memory() {
        let me = memory(std::process::id()).expect("/proc on Linux");
        assert!(me.rss_kib > 0 && me.peak_kib >= me.rss_kib);
    }
}
