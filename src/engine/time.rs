//! Firing timers: what each [`TimerKind`] does when due, `advance` (the manual clock, and jumps
//! of the real one), and the real-clock driver, one task that sleeps until the next due timer.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::app::{App, Stage, TimerKind};
use crate::clock::{TimerKey, MAX_TIME_MS};
use crate::webhook::SendType;

/// Does what due timer `key` says, and awaits the first attempt of the webhooks it causes.
pub(crate) async fn fire(app: &App, key: TimerKey, kind: TimerKind) {
    let effects = match kind {
        TimerKind::WebhookRetry { delivery_id } => {
            app.attempt(delivery_id, SendType::Spawn).await;
            return;
        }
        TimerKind::Inactivity {
            conversation_id,
            stage,
        } => Ctx::run(app, &conversation_id, |ctx, c| {
            // A timer taken just before a re-arm or cancel is no longer the current one.
            if c.timer_id == Some(key) {
                c.timer_id = None;
                match stage {
                    Stage::Warning => ctx.warn(c),
                    Stage::Timeout => ctx.time_out(c),
                }
            }
        }),
        TimerKind::AgentTurn {
            conversation_id,
            turn,
        } => Ctx::run(app, &conversation_id, |ctx, c| ctx.delayed_turn(c, &turn)),
    };
    if let Some(fx) = effects {
        app.deliver(fx.deliveries).await;
    }
}

/// Moves the clock `ms` ahead, firing every timer that falls due on the way in time order
/// (each at its own due time, its webhooks attempted before the next). Returns the new now.
pub(crate) async fn advance(app: &App, ms: i64) -> i64 {
    let _guard = app.control.lock().await;
    let target = app.now().saturating_add(ms).min(MAX_TIME_MS);
    while let Some((key, kind)) = app.timers.take_next_due(target) {
        app.clock.set_now(key.due);
        fire(app, key, kind).await;
    }
    app.clock.set_now(target);
    // The real-clock driver may be asleep until a time that has now passed.
    app.timers.wake();
    app.now()
}

/// Longest the real-clock driver sleeps before it looks again (it is also woken on change).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The real clock's timer driver: fires each timer when its time comes, every one on its own
/// task (a slow webhook receiver never holds up the others), until `stop` is cancelled.
pub(crate) async fn drive(app: App, stop: CancellationToken) {
    loop {
        while let Some((key, kind)) = app.timers.take_next_due(app.now()) {
            let app = app.clone();
            tokio::spawn(async move { fire(&app, key, kind).await });
        }
        // With nothing scheduled there is nothing to sleep for: every insert, clear and
        // advance wakes the driver (and a paused tokio clock is not spun forward).
        let Some(due) = app.timers.next_due() else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = app.timers.changed() => {}
            }
            continue;
        };
        let wait = Duration::from_millis(due.saturating_sub(app.now()).max(0) as u64);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = app.timers.changed() => {}
            _ = tokio::time::sleep(wait.min(MAX_SLEEP)) => {}
        }
    }
}
