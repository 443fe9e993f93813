//! The timer runner of a server on the real clock: stage timeouts and escalations, scheduled
//! starts and assignment expirations fire as they fall due.
//!
//! Timers are stored with the objects they belong to (see `store::requests`), so they survive a
//! restart; the runner looks for due ones every second, which is finer than any duration a
//! policy can express (hours). A server on a virtual clock has no runner: `advanceClock` fires
//! what falls due.

use std::time::Duration;

use futures::StreamExt as _;

use em_engine::{Actor, DomainError};

use super::{ServiceError, ServiceResult, Services};
use crate::store::requests::{DueTimer, TimerOwner};

/// How many users' due timers fire at once.
const CONCURRENT: usize = 16;

/// What firing one user's due timers came to.
#[derive(Default)]
struct Lane {
    fired: usize,
    /// A refused timer's set changed before it could be dropped.
    moved: bool,
}

/// The most emptied timer sets one firing of the timers deletes.
const SWEEP: usize = 1000;

/// How often the runner looks for due timers.
pub const TICK: Duration = Duration::from_secs(1);

/// How long the runner's lease lasts on a database server (see [`run`]): a replica that stops
/// hands the timers to another within it.
const LEASE_SECONDS: u32 = 5;

/// Fires due timers forever; errors are logged and retried at the next tick. On a database
/// server shared by replicas, the replica holding the `timers` lease fires them (renewed every
/// tick); firing twice would change nothing (each firing commits on its owner's version), but
/// would race for every due timer.
pub async fn run(services: Services) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if services.store.is_remote() {
            match services.store.hold_lease("timers", LEASE_SECONDS).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the timers' lease; retrying");
                    continue;
                }
            }
        }
        match services.fire_due_timers().await {
            Ok(0) => {}
            Ok(fired) => tracing::info!(fired, "timers fired"),
            Err(e) => tracing::warn!(error = %e, "firing due timers failed; retrying"),
        }
    }
}

impl Services {
    /// Fires every timer due at the clock's `now`, earliest first; returns how many fired.
    ///
    /// The timers of one user (or one owner without a user) fire one after another, in order;
    /// those of different users fire concurrently, up to [`CONCURRENT`] at once, so that their
    /// commits share the group committer's transactions (ten thousand assignments ending at
    /// midnight end in batches, not one transaction each).
    pub async fn fire_due_timers(&self) -> ServiceResult<usize> {
        let mut fired = 0;
        loop {
            let now = self.now();
            let due = self.store.due_timers(now, 256).await?;
            crate::telemetry::metrics::timers_due(due.len());
            for timer in &due {
                crate::telemetry::metrics::timer_fired((now - timer.timer.due).to_std().unwrap_or_default());
            }
            if due.is_empty() {
                self.store.sweep_timer_sets(SWEEP).await?;
                return Ok(fired);
            }
            // A review's timers read every assignment of its policy: they fire first, alone.
            let (reviews, due): (Vec<DueTimer>, Vec<DueTimer>) =
                due.into_iter().partition(|t| t.owner == TimerOwner::Review);
            let mut moved = false;
            for review in reviews {
                let lane = self.fire_lane(vec![review]).await?;
                fired += lane.fired;
                moved |= lane.moved;
            }
            let mut lanes: Vec<Vec<DueTimer>> = Vec::new();
            let mut lane_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for timer in due {
                let key = if timer.target_id.is_empty() {
                    format!("{}/{}", timer.owner.as_str(), timer.owner_id)
                } else {
                    timer.target_id.to_string()
                };
                let lane = *lane_of.entry(key).or_insert_with(|| {
                    lanes.push(Vec::new());
                    lanes.len() - 1
                });
                lanes[lane].push(timer);
            }
            let outcomes: Vec<ServiceResult<Lane>> = futures::stream::iter(lanes)
                .map(|lane| self.fire_lane(lane))
                .buffer_unordered(CONCURRENT)
                .collect()
                .await;
            for outcome in outcomes {
                let lane = outcome?;
                fired += lane.fired;
                moved |= lane.moved;
            }
            if moved {
                // A timer set changed while its refused timer was dropped: the next firing
                // decides on the new one.
                return Ok(fired);
            }
        }
    }

    /// Fires one user's due timers in order.
    async fn fire_lane(&self, lane: Vec<DueTimer>) -> ServiceResult<Lane> {
        let mut done = Lane::default();
        for timer in lane {
            match self.decided(|| self.fire(&timer)).await {
                Ok(()) => done.fired += 1,
                // A timer the engine refuses would block every later one: it is dropped,
                // and the refusal logged.
                Err(ServiceError::Domain(e)) => {
                    tracing::warn!(owner = %timer.owner_id, error = %e, "timer refused; dropped");
                    if !self.store.delete_timer(timer.owner, &timer.owner_id, &timer.timer).await? {
                        done.moved = true;
                        return Ok(done);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// A due timer to its owner: a scope removal's to auto-assignment, a request's or an
    /// assignment's to the request lifecycle, a guest's to guests.
    async fn fire(&self, due: &DueTimer) -> ServiceResult<()> {
        match due.owner {
            TimerOwner::Scope => self.fire_scope_timer(&due.target_id, &due.owner_id).await,
            TimerOwner::Guest => self.fire_guest_timer(&due.target_id).await,
            TimerOwner::Review => self.fire_review_timer(due).await,
            TimerOwner::Request | TimerOwner::Assignment => self.fire_lifecycle_timer(due).await,
        }
    }

    /// Moves a virtual clock forward to `to` and fires every timer that falls due, in order of
    /// their due times, each at its own due time. Administrators only. Returns the time
    /// afterwards and how many timers fired.
    pub async fn advance_clock(
        &self,
        actor: &Actor,
        to: chrono::DateTime<chrono::Utc>,
    ) -> ServiceResult<(chrono::DateTime<chrono::Utc>, usize)> {
        self.require_admin(actor).await?;
        let Some(clock) = &self.virtual_clock else {
            return Err(DomainError::new(
                em_engine::ErrorCode::ValidationFailed,
                "the server runs on the real clock; start it with `--virtual-clock` to move time",
            )
            .into());
        };
        if to < self.now() {
            return Err(DomainError::invalid(
                "to",
                format!("time only moves forward; it is {} now", self.now().to_rfc3339()),
            )
            .into());
        }
        let mut fired = 0;
        // Step from one due time to the next, so each timer fires at its own time.
        while let Some(due) = self.store.next_timer_due().await?.filter(|d| *d <= to) {
            clock.advance_to(due);
            fired += self.fire_due_timers().await?;
        }
        let now = clock.advance_to(to);
        fired += self.fire_due_timers().await?;
        Ok((now, fired))
    }
}
