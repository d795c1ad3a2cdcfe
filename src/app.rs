//! [`App`]: the one handle every handler gets — config, [`Store`], [`Clock`] and timers,
//! [`Webhooks`] and [`Scenarios`]. It runs timers (in real mode each on its own sleeping task; in
//! both modes through [`App::advance`]) and sends webhook deliveries, awaited or in the
//! background. Conversation logic lives in `engine`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Stage, TimerKind, Timers};
use crate::config::{ClockMode, Config};
use crate::engine::Ctx;
use crate::fixtures::Fixtures;
use crate::journal::Journal;
use crate::scenario::Scenarios;
use crate::store::Store;
use crate::webhook::{Next, Webhooks};

/// Cheap to clone; all clones share one simulator.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    pub timers: Timers,
    pub webhooks: Webhooks,
    pub scenarios: Scenarios,
    pub fixtures: Fixtures,
    pub journal: Journal,
    /// Serializes `advance` and `reset` (control endpoints only, never the API paths).
    control: tokio::sync::Mutex<()>,
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Loads scenarios and fixtures and builds the simulator.
    ///
    /// # Errors
    /// A bad scenario or fixtures file, with its path and the reason.
    pub fn new(config: Config) -> Result<App, String> {
        let scenarios = Scenarios::load(config.scenarios.as_deref())?;
        let fixtures = Fixtures::load(config.fixtures.as_deref())?;
        let store = Store::new(config.seed);
        fixtures.apply(&store);
        Ok(App(Arc::new(Inner {
            clock: Clock::new(config.clock, config.start_ms),
            timers: Timers::default(),
            webhooks: Webhooks::new(
                config.webhook_secret.clone(),
                config.webhook_attempts,
                config.webhook_timeout_ms,
                config.webhook_log,
            ),
            journal: Journal::new(config.request_log),
            store,
            scenarios,
            fixtures,
            config,
            control: tokio::sync::Mutex::new(()),
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Schedules a timer at simulator time `due`; returns its id (for cancelling).
    pub fn schedule(&self, due: i64, kind: TimerKind) -> u64 {
        let (id, cancel) = self.timers.insert(due, kind);
        if self.clock.mode() == ClockMode::Real {
            let app = self.clone();
            let wait = Duration::from_millis((due - self.now()).max(0) as u64);
            tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {
                        if let Some(t) = app.timers.take(id) {
                            app.run_timer(t.id, t.kind).await;
                        }
                    }
                }
            });
        }
        id
    }

    /// Does what due timer `id` says, and awaits the first attempt of the webhooks it causes.
    pub async fn run_timer(&self, id: u64, kind: TimerKind) {
        let deliveries = match kind {
            TimerKind::WebhookRetry { delivery_id } => {
                self.attempt(delivery_id, "spawn").await;
                return;
            }
            TimerKind::Inactivity {
                conversation_id,
                stage,
            } => Ctx::run(self, &conversation_id, |ctx, c| {
                // A timer taken just before a re-arm or cancel is no longer the current one.
                if c.timer_id == Some(id) {
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
            } => Ctx::run(self, &conversation_id, |ctx, c| ctx.delayed_turn(c, &turn)),
        };
        if let Some(fx) = deliveries {
            self.deliver(fx.deliveries).await;
        }
    }

    /// One attempt of a delivery; schedules the retry when it failed and attempts remain.
    pub async fn attempt(&self, id: u64, send_type: &'static str) {
        let app = self.clone();
        if let Next::RetryAt(at) = self
            .webhooks
            .attempt(id, send_type, move || app.now())
            .await
        {
            self.schedule(at, TimerKind::WebhookRetry { delivery_id: id });
        }
    }

    /// Attempts each delivery once, in order.
    pub async fn deliver(&self, ids: Vec<u64>) {
        for id in ids {
            self.attempt(id, "spawn").await;
        }
    }

    /// Sends the deliveries in the background, so a slow receiver never slows the API.
    pub fn deliver_in_background(&self, ids: Vec<u64>) {
        if ids.is_empty() {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move { app.deliver(ids).await });
    }

    /// Moves the clock `ms` ahead, firing every timer that falls due on the way in time order
    /// (each at its own due time, its webhooks attempted before the next). Returns the new now.
    pub async fn advance(&self, ms: i64) -> i64 {
        let _guard = self.control.lock().await;
        let target = self.now() + ms;
        while let Some(t) = self.timers.take_next_due(target) {
            self.clock.set_now(t.due);
            self.run_timer(t.id, t.kind).await;
        }
        self.clock.set_now(target);
        self.now()
    }

    /// Clears all state, cancels timers, rewinds the clock and id sequence, reloads fixtures.
    pub async fn reset(&self) {
        let _guard = self.control.lock().await;
        self.timers.clear();
        self.store.clear();
        self.webhooks.clear();
        self.journal.clear();
        self.clock.reset();
        self.fixtures.apply(&self.store);
    }
}
