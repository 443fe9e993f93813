//! Percentiles of latency samples (nearest rank), in milliseconds.

use std::fmt;
use std::time::Duration;

/// Latency samples in milliseconds. Signed: a notification can reach its subscriber before
/// the HTTP response that caused it reaches its client.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency.as_secs_f64() * 1e3);
    }

    pub fn push_ms(&mut self, milliseconds: f64) {
        self.0.push(milliseconds);
    }

    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Count, mean and the percentiles, or `None` without samples.
    #[must_use]
    pub fn summary(&self) -> Option<Summary> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let first = *sorted.first()?;
        let at = |p: f64| {
            // Nearest rank: the smallest sample with at least p% of the samples at or below it.
            let rank = (p / 100.0 * n as f64).ceil().max(1.0);
            sorted[(rank as usize).min(n) - 1]
        };
        Some(Summary {
            count: n,
            mean: sorted.iter().sum::<f64>() / n as f64,
            min: first,
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: sorted[n - 1],
        })
    }
}

/// Percentiles of [`Samples`], in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={:<6} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  (mean {:.2}, min {:.2})",
            self.count, self.p50, self.p90, self.p99, self.max, self.mean, self.min
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.push_ms(f64::from(ms));
        }
        let s = samples.summary().unwrap();
        assert_eq!((s.count, s.min, s.p50, s.p90, s.p99, s.max), (100, 1.0, 50.0, 90.0, 99.0, 100.0));
        assert!(Samples::default().summary().is_none());
    }
}
