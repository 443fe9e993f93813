//! The timer runner of a server on the real clock: stage timeouts and escalations, scheduled
//! starts and assignment expirations fire as they fall due.
//!
//! Timers are stored with the objects they belong to (see `store::requests`), so they survive a
//! restart; the runner looks for due ones every second, which is finer than any duration a
//! policy can express (hours). A server on a virtual clock has no runner: `advanceClock` fires
//! what falls due.

use std::time::Duration;

use super::Services;

/// How often the runner looks for due timers.
pub const TICK: Duration = Duration::from_secs(1);

/// Fires due timers forever; errors are logged and retried at the next tick.
pub async fn run(services: Services) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match services.fire_due_timers().await {
            Ok(0) => {}
            Ok(fired) => tracing::info!(fired, "timers fired"),
            Err(e) => tracing::warn!(error = %e, "firing due timers failed; retrying"),
        }
    }
}
