//! [`App`]: the one handle every layer above the store gets — config, [`Store`], [`Clock`] and
//! [`Timers`], [`Webhooks`], [`Scenarios`], the fixtures and the request journal. It schedules
//! timers (their payload is a [`TimerKind`]) and sends webhook deliveries, awaited or in the
//! background. It knows no conversation rules: those are `engine`'s, and so is firing timers.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::base::clock::{Clock, TimerKey, Timers};
use crate::engine::config::Config;
use crate::observe::faults::Faults;
use crate::observe::journal::Journal;
use crate::observe::metrics::{Metrics, Snapshot};
use crate::scenario::{PendingTurn, Scenarios};
use crate::state::events::{Change, Events};
use crate::state::fixtures::Fixtures;
use crate::state::idempotency::Idempotency;
use crate::state::model::Stage;
use crate::state::store::Store;
use crate::webhook::{Next, SendType, Settings, Webhooks};

/// What a timer does when it fires.
#[derive(Clone, Debug)]
pub(crate) enum TimerKind {
    /// The inactivity timer of a conversation: the warning, then the timeout. It acts only
    /// while it is still the conversation's `timer_id`; otherwise it was superseded.
    Inactivity {
        conversation_id: String,
        stage: Stage,
    },
    /// A scenario reply that waits `delay_seconds`.
    AgentTurn {
        conversation_id: String,
        turn: PendingTurn,
    },
    /// The next attempt of a webhook delivery.
    WebhookRetry { delivery_id: u64 },
    /// The rows of a batch that are due (run `run` of it).
    BatchRows { batch_id: String, run: u64 },
    /// The carrier's next step for message `index` of a conversation: `sent` (or `failed`),
    /// then `delivered` (or `undelivered`).
    Carrier {
        conversation_id: String,
        index: usize,
        to: crate::state::model::MessageStatus,
        failure: Option<(crate::state::carrier::Failure, u16)>,
    },
}

impl TimerKind {
    /// How `GET /_sim/clock` names the timer.
    pub fn describe(&self) -> String {
        match self {
            TimerKind::Inactivity {
                conversation_id,
                stage,
            } => format!("{} {conversation_id}", stage.as_str()),
            TimerKind::AgentTurn {
                conversation_id, ..
            } => format!("agent_reply {conversation_id}"),
            TimerKind::WebhookRetry { delivery_id } => format!("webhook_retry {delivery_id}"),
            TimerKind::BatchRows { batch_id, .. } => format!("batch {batch_id}"),
            TimerKind::Carrier {
                conversation_id,
                index,
                to,
                ..
            } => format!("carrier {conversation_id} message {index} → {to:?}"),
        }
    }
}

/// Cheap to clone; all clones share one simulator.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

pub(crate) struct Inner {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    pub timers: Timers<TimerKind>,
    pub webhooks: Webhooks,
    /// The calls pathway Webhook nodes made.
    pub pathway_calls: crate::webhook::call::NodeCalls,
    /// `--pathway-secret`s: what `{{SECRET.NAME}}` reads in a Webhook node's request.
    pub secrets: std::collections::HashMap<String, String>,
    /// The scenarios in force; `POST /_sim/scenarios` swaps in a new set.
    pub scenarios: ArcSwap<Scenarios>,
    /// The set loaded at start-up (or last reloaded from watched files), which a reset
    /// restores.
    initial_scenarios: ArcSwap<Scenarios>,
    pub fixtures: Fixtures,
    pub journal: Journal,
    pub idempotency: Idempotency,
    pub faults: Arc<Faults>,
    pub metrics: Arc<Metrics>,
    /// What changed, for `GET /_sim/events`.
    pub events: Arc<Events>,
    /// The legacy `POST /v1/sms/register`'s registrations.
    pub registrations: crate::state::model::Registrations,
    /// Delivery timing, encodings and failure rules.
    pub carrier: crate::state::carrier::Carrier,
    /// Uploaded files and the batches sending them.
    pub files: crate::state::model::Files,
    pub batches: crate::state::model::Batches,
    /// Serializes `advance` and `reset` (control calls only, never the API paths).
    pub control: tokio::sync::Mutex<()>,
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Builds the simulator from checked parts and applies the fixtures.
    pub fn new(config: Config, scenarios: Scenarios, fixtures: Fixtures) -> App {
        let events = Arc::new(Events::new(
            config.events_backlog,
            config.events_backlog_bytes,
            // Each stream holds a connection: at most half of them.
            crate::state::events::MAX_SUBSCRIBERS.min(config.max_connections / 2),
        ));
        let store = Store::new(config.seed, events.clone());
        let files_bytes = config.files_bytes;
        let mut carrier = crate::state::carrier::Carrier::new(
            config.carrier_realistic,
            config.carrier_sent_ms,
            config.carrier_delivered_ms,
        );
        carrier.pending_after_ms = config.carrier_pending_ms;
        let faults = Arc::new(Faults::new(config.seed));
        let metrics = Arc::new(Metrics::new());
        let app = App(Arc::new(Inner {
            clock: Clock::new(config.clock, config.start_ms),
            timers: Timers::new(),
            webhooks: Webhooks::new(Settings {
                secret: config.webhook_secret.clone(),
                max_attempts: config.webhook_attempts,
                timeout_ms: config.webhook_timeout_ms,
                log_entries: config.webhook_log,
                log_bytes: config.webhook_log_bytes,
                concurrency: config.webhook_concurrency,
                faults: faults.clone(),
                metrics: metrics.clone(),
                events: events.clone(),
            }),
            events,
            faults,
            metrics,
            pathway_calls: Default::default(),
            secrets: config.pathway_secrets.iter().cloned().collect(),
            journal: Journal::new(config.request_log),
            idempotency: Idempotency::default(),
            store,
            initial_scenarios: ArcSwap::from_pointee(scenarios.clone()),
            scenarios: ArcSwap::from_pointee(scenarios),
            fixtures,
            config,
            registrations: Default::default(),
            files: crate::state::model::Files::new(files_bytes),
            carrier,
            batches: Default::default(),
            control: tokio::sync::Mutex::new(()),
        }));
        crate::engine::snapshot::load(&app, &app.fixtures);
        app
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Schedules a timer at simulator time `due`; returns its key (for cancelling).
    pub fn schedule(&self, due: i64, kind: TimerKind) -> TimerKey {
        self.timers.insert(due, kind)
    }

    /// One attempt of a delivery; schedules the retry when it failed and attempts remain.
    pub async fn attempt(&self, id: u64, send_type: SendType) {
        self.attempt_with(id, send_type, None).await;
    }

    /// [`App::attempt`] with another body than the stored one (a rebuilt resend).
    pub async fn attempt_with(
        &self,
        id: u64,
        send_type: SendType,
        body: Option<crate::state::history::Body>,
    ) {
        let app = self.clone();
        if let Next::RetryAt(at) = self
            .webhooks
            .attempt_with(id, send_type, body, move || app.now())
            .await
        {
            self.schedule(at, TimerKind::WebhookRetry { delivery_id: id });
        }
    }

    /// Attempts each delivery once, in order.
    pub async fn deliver(&self, ids: Vec<u64>) {
        for id in ids {
            self.attempt(id, SendType::Spawn).await;
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

    /// Puts a reloaded scenario set in force, also for later resets.
    pub fn replace_scenarios(&self, scenarios: Scenarios) {
        let scenarios = Arc::new(scenarios);
        self.initial_scenarios.store(scenarios.clone());
        self.scenarios.store(scenarios);
    }

    /// The metrics text, with gauges read now.
    pub fn metrics_text(&self) -> String {
        let (conversations, active) = self.store.conversation_counts();
        let (journal, journal_bytes) = self.journal.size();
        let (hooks, hook_bytes) = self.webhooks.size();
        let (keys, key_bytes) = self.idempotency.size();
        let (events, event_bytes) = self.events.size();
        let (calls, call_bytes) = self.pathway_calls.size();
        self.metrics.render(Snapshot {
            conversations: conversations as i64,
            active_conversations: active as i64,
            webhooks_pending: self.webhooks.pending() as i64,
            event_subscribers: self.events.subscribers() as i64,
            logs: vec![
                ("journal", journal as i64, journal_bytes as i64),
                ("webhooks", hooks as i64, hook_bytes as i64),
                ("idempotency", keys as i64, key_bytes as i64),
                ("events", events as i64, event_bytes as i64),
                ("pathway_calls", calls as i64, call_bytes as i64),
            ],
        })
    }

    /// Clears all state, cancels timers, rewinds the clock and id sequences, reloads fixtures.
    pub async fn reset(&self) {
        let _guard = self.control.lock().await;
        self.webhooks.clear();
        self.pathway_calls.clear();
        self.journal.clear();
        self.faults.clear();
        self.scenarios.store(self.initial_scenarios.load_full());
        self.events.muted(
            || {
                self.clear_state();
                crate::engine::snapshot::load(self, &self.fixtures);
            },
            || Change::Reset { cause: "reset" },
        );
    }

    /// Replaces the state with checked fixtures (`PUT /_sim/state`). Logs, fault rules and
    /// scenarios stay.
    pub async fn replace_state(&self, fixtures: &Fixtures) {
        let _guard = self.control.lock().await;
        self.events.muted(
            || {
                self.clear_state();
                crate::engine::snapshot::load(self, fixtures);
            },
            || Change::Reset { cause: "state" },
        );
    }

    /// Timers, conversations, numbers, accounts, remembered answers; the clock to its start.
    fn clear_state(&self) {
        self.registrations.clear();
        self.files.clear();
        self.carrier.clear();
        self.batches.clear();
        self.timers.clear();
        self.store.clear();
        self.idempotency.clear();
        self.clock.reset();
    }
}
