//! The one place the API reads time. Services take `now` from a [`Clock`] and hand it to the
//! engine, so tests and the simulator can run on a clock they control.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests and simulation.
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    #[must_use]
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self { micros: Arc::new(AtomicI64::new(start.timestamp_micros())) }
    }

    /// Moves the clock to `to`, if that is later than now; returns the time afterwards.
    pub fn advance_to(&self, to: DateTime<Utc>) -> DateTime<Utc> {
        self.micros.fetch_max(to.timestamp_micros(), Ordering::SeqCst);
        self.now()
    }

    /// Moves the clock forward by `by` (never backwards).
    pub fn advance(&self, by: TimeDelta) {
        let step = by.num_microseconds().unwrap_or(0).max(0);
        self.micros.fetch_add(step, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}
