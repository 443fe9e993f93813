//! CPU time: this process's threads (from `/proc/self/task/*/schedstat`, nanoseconds on a CPU,
//! grouped by thread name) and the whole machine (`/proc/stat`), so a report can say how much
//! CPU a lifecycle costs the server and whether other programs were competing for the cores.
//! Linux only; elsewhere the readings are `None`.

use std::time::Duration;

/// A reading of the counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Server threads: the server's runtime (`em-server*`) and SurrealKV's own (`surrealkv*`).
    pub server: Duration,
    /// Every other thread of this process (the clients).
    pub clients: Duration,
    /// The machine's busy and total ticks, over all cores.
    machine_busy: u64,
    machine_total: u64,
}

/// CPU used between two readings.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub server: Duration,
    pub clients: Duration,
    /// Share of all the machine's cores that were busy (any process), 0 to 1.
    pub machine_busy: f64,
}

impl Reading {
    /// Now, or `None` where `/proc` cannot be read.
    #[must_use]
    pub fn now() -> Option<Self> {
        let mut reading = Self::default();
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let schedstat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
            let nanos: u64 = schedstat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if name.starts_with("em-server") || name.starts_with("surrealkv") {
                reading.server += Duration::from_nanos(nanos);
            } else {
                reading.clients += Duration::from_nanos(nanos);
            }
        }
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> =
            stat.lines().next()?.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        reading.machine_total = ticks.iter().take(8).sum();
        reading.machine_busy = reading.machine_total.saturating_sub(idle);
        Some(reading)
    }

    /// What was used since `earlier`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Usage {
        let total = self.machine_total.saturating_sub(earlier.machine_total).max(1);
        Usage {
            server: self.server.saturating_sub(earlier.server),
            clients: self.clients.saturating_sub(earlier.clients),
            machine_busy: self.machine_busy.saturating_sub(earlier.machine_busy) as f64 / total as f64,
        }
    }
}
