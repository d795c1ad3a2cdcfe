//! Firing timers: what each [`TimerKind`] does when due, `advance` (the manual clock, and jumps
//! of the real one), and the real-clock driver, one task that sleeps until the next due timer.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::base::clock::{TimerKey, MAX_TIME_MS};
use crate::engine::app::{App, TimerKind};
use crate::state::events::Change;
use crate::state::model::Stage;
use crate::webhook::SendType;

/// The webhook attempts a fired timer leaves to make.
enum Sends {
    /// First attempts of new deliveries, in order, and pathway requests.
    Effects(super::Effects),
    /// The next attempt of a delivery.
    Retry(u64),
}

impl Sends {
    async fn send(self, app: &App) {
        match self {
            Sends::Effects(mut fx) => {
                app.deliver(std::mem::take(&mut fx.deliveries)).await;
                // A pathway's requests (a batch row's opening node) go on behind the clock, so
                // no chain of them holds `advance` and the control calls behind it.
                super::pathway::settle_in_background(app, fx);
            }
            Sends::Retry(id) => app.attempt(id, SendType::Spawn).await,
        }
    }
}

/// Does what due timer `key` says (under the conversation's guard, synchronously).
fn step(app: &App, key: TimerKey, kind: TimerKind) -> Sends {
    let effects = match kind {
        TimerKind::WebhookRetry { delivery_id } => return Sends::Retry(delivery_id),
        TimerKind::BatchRows { batch_id, run } => {
            return Sends::Effects(super::batch::fire(app, &batch_id, run))
        }
        TimerKind::Carrier {
            conversation_id,
            index,
            to,
            failure,
        } => Ctx::run(app, &conversation_id, |ctx, c| {
            ctx.carrier_step(c, key, index, to, failure)
        }),
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
    Sends::Effects(effects.unwrap_or_default())
}

/// Moves the clock `ms` ahead, firing every timer that falls due on the way in time order,
/// each at its own due time with its webhooks attempted before the next. Waiting on webhooks
/// is bounded: once one advance has waited a webhook timeout's worth on slow receivers, the
/// rest of its attempts go out in the background, so a hanging receiver cannot hold the clock
/// (and every control call queued behind it) for minutes. Returns the new now.
pub(crate) async fn advance(app: &App, ms: i64) -> i64 {
    let _guard = app.control.lock().await;
    let from = app.now();
    let target = from.saturating_add(ms).min(MAX_TIME_MS);
    let budget = Duration::from_millis(app.config.webhook_timeout_ms);
    let started = Instant::now();
    while let Some((key, kind)) = app.timers.take_next_due(target) {
        app.clock.set_now(key.due);
        let sends = step(app, key, kind);
        if started.elapsed() < budget {
            sends.send(app).await;
        } else {
            let app = app.clone();
            tokio::spawn(async move { sends.send(&app).await });
        }
    }
    app.clock.set_now(target);
    // The real-clock driver may be asleep until a time that has now passed.
    app.timers.wake();
    let now = app.now();
    app.events.publish(|| Change::ClockMoved {
        now: crate::base::clock::iso(now),
        by_ms: now - from,
    });
    now
}

/// Longest the real-clock driver sleeps before it looks again (it is also woken on change).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The real clock's timer driver: fires each timer when its time comes, every one on its own
/// task (a slow webhook receiver never holds up the others), until `stop` is cancelled.
pub(crate) async fn drive(app: App, stop: CancellationToken) {
    loop {
        while let Some((key, kind)) = app.timers.take_next_due(app.now()) {
            let (app, sends) = (app.clone(), step(&app, key, kind));
            tokio::spawn(async move { sends.send(&app).await });
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
