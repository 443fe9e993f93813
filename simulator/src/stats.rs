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
        let sorted = self.sorted();
        let n = sorted.len();
        let first = *sorted.first()?;
        Some(Summary {
            count: n,
            mean: sorted.iter().sum::<f64>() / n as f64,
            min: first,
            p50: nearest_rank(&sorted, 50.0),
            p90: nearest_rank(&sorted, 90.0),
            p99: nearest_rank(&sorted, 99.0),
            max: sorted[n - 1],
        })
    }

    /// Each percentile of `at` (0 to 100) with its sample, by nearest rank as in [`Self::summary`]
    /// (percentile 0 is the smallest sample); empty without samples. For plotting a distribution.
    #[must_use]
    pub fn percentiles(&self, at: &[f64]) -> Vec<(f64, f64)> {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return Vec::new();
        }
        at.iter().map(|&p| (p, nearest_rank(&sorted, p))).collect()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }
}

/// The smallest sample with at least `p`% of the samples at or below it; `sorted` is not empty.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = (p / 100.0 * n as f64).ceil().max(1.0);
    sorted[(rank as usize).min(n) - 1]
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

    #[test]
    fn percentiles_for_plots_agree_with_the_summary() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.push_ms(f64::from(ms));
        }
        let curve = samples.percentiles(&[0.0, 50.0, 99.0, 100.0]);
        assert_eq!(curve, vec![(0.0, 1.0), (50.0, 50.0), (99.0, 99.0), (100.0, 100.0)]);
        assert!(Samples::default().percentiles(&[50.0]).is_empty());
    }
}
