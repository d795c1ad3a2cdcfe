//! The simulator's clock and its timers.
//!
//! Every timestamp and every deadline (warnings, timeouts, delayed agent replies, webhook
//! retries) reads [`Clock::now_ms`]. In `real` mode that is wall-clock time plus an offset; in
//! `manual` mode it moves only when `POST /_sim/clock/advance` asks. Timers sit in a [`Timers`]
//! map keyed by id; in real mode each also has a sleeping task that fires it when due, and in both
//! modes `advance` fires every timer that falls due, in time order (see `App::advance`).
//! Removing a timer from the map is what cancels it, so a timer fires at most once.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use crate::config::ClockMode;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn system_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO 8601 UTC with milliseconds, as Bland writes timestamps: `2025-05-13T20:50:59.233Z`.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 / ISO 8601 timestamp (or a bare `YYYY-MM-DD`, read as midnight UTC).
pub fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The virtual clock. `now_ms` is lock-free.
pub struct Clock {
    mode: ClockMode,
    /// Real mode: added to the system time. Manual mode: the current time itself.
    value: AtomicI64,
    start: i64,
}

impl Clock {
    pub fn new(mode: ClockMode, start_ms: Option<i64>) -> Self {
        let start = start_ms.unwrap_or_else(system_ms);
        let value = match mode {
            ClockMode::Real => 0,
            ClockMode::Manual => start,
        };
        Clock {
            mode,
            value: AtomicI64::new(value),
            start,
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn now_ms(&self) -> i64 {
        match self.mode {
            ClockMode::Real => system_ms() + self.value.load(Ordering::Relaxed),
            ClockMode::Manual => self.value.load(Ordering::Relaxed),
        }
    }

    /// Moves the clock to `ms` (never backwards).
    pub fn set_now(&self, ms: i64) {
        if ms <= self.now_ms() {
            return;
        }
        match self.mode {
            ClockMode::Real => self.value.store(ms - system_ms(), Ordering::Relaxed),
            ClockMode::Manual => self.value.store(ms, Ordering::Relaxed),
        }
    }

    /// Back to the start: the manual clock to its start time, the real clock to no offset.
    pub fn reset(&self) {
        let v = match self.mode {
            ClockMode::Real => 0,
            ClockMode::Manual => self.start,
        };
        self.value.store(v, Ordering::Relaxed);
    }
}

/// What a timer does when it fires.
#[derive(Clone, Debug)]
pub enum TimerKind {
    /// The inactivity timer of a conversation: the warning, then the timeout. It acts only
    /// while it is still the conversation's `timer_id`; otherwise it was superseded.
    Inactivity {
        conversation_id: String,
        stage: Stage,
    },
    /// A scenario reply that waits `delay_seconds`.
    AgentTurn {
        conversation_id: String,
        turn: crate::engine::PendingTurn,
    },
    /// The next attempt of a webhook delivery.
    WebhookRetry { delivery_id: u64 },
}

/// Which step of the inactivity timer is next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Warning,
    Timeout,
}

/// A scheduled timer.
pub struct Timer {
    pub id: u64,
    pub due: i64,
    pub kind: TimerKind,
    /// Wakes the sleeping task of a real-mode timer early when the timer is cancelled.
    pub cancel: CancellationToken,
}

/// All pending timers. Sharded map, so scheduling on a request path takes no global lock.
#[derive(Default)]
pub struct Timers {
    map: DashMap<u64, Timer>,
    next_id: AtomicU64,
}

impl Timers {
    /// Stores a timer and returns its id and cancellation token.
    pub fn insert(&self, due: i64, kind: TimerKind) -> (u64, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        self.map.insert(
            id,
            Timer {
                id,
                due,
                kind,
                cancel: cancel.clone(),
            },
        );
        (id, cancel)
    }

    /// Cancels a timer; a no-op when it already fired.
    pub fn cancel(&self, id: u64) {
        if let Some((_, t)) = self.map.remove(&id) {
            t.cancel.cancel();
        }
    }

    /// Takes the timer out of the map to fire it; `None` when it was cancelled or already fired.
    pub fn take(&self, id: u64) -> Option<Timer> {
        self.map.remove(&id).map(|(_, t)| t)
    }

    /// Takes the earliest timer due at or before `limit` (ties in scheduling order).
    pub fn take_next_due(&self, limit: i64) -> Option<Timer> {
        loop {
            let (id, _) = self
                .map
                .iter()
                .filter(|e| e.due <= limit)
                .map(|e| (*e.key(), e.due))
                .min_by_key(|&(id, due)| (due, id))?;
            // Another firer (a real-mode task) may have taken it meanwhile: look again.
            if let Some(t) = self.take(id) {
                return Some(t);
            }
        }
    }

    /// Cancels every timer.
    pub fn clear(&self) {
        for e in self.map.iter() {
            e.cancel.cancel();
        }
        self.map.clear();
    }

    /// (due, kind) of the pending timers, earliest first, for inspection.
    pub fn pending(&self) -> Vec<(i64, String)> {
        let mut v: Vec<(i64, u64, String)> = self
            .map
            .iter()
            .map(|e| {
                let what = match &e.kind {
                    TimerKind::Inactivity {
                        conversation_id,
                        stage,
                        ..
                    } => format!("{stage:?} {conversation_id}").to_lowercase(),
                    TimerKind::AgentTurn {
                        conversation_id, ..
                    } => format!("agent_reply {conversation_id}"),
                    TimerKind::WebhookRetry { delivery_id } => {
                        format!("webhook_retry {delivery_id}")
                    }
                };
                (e.due, *e.key(), what)
            })
            .collect();
        v.sort();
        v.into_iter().map(|(d, _, w)| (d, w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_has_milliseconds_and_z() {
        assert_eq!(iso(1_747_169_459_233), "2025-05-13T20:50:59.233Z");
        assert_eq!(
            parse_iso("2025-05-13T20:50:59.233Z"),
            Some(1_747_169_459_233)
        );
        assert_eq!(parse_iso("2025-05-13"), Some(1_747_094_400_000));
    }

    #[test]
    fn manual_clock_moves_only_forward() {
        let c = Clock::new(ClockMode::Manual, Some(1000));
        c.set_now(5000);
        c.set_now(2000);
        assert_eq!(c.now_ms(), 5000);
        c.reset();
        assert_eq!(c.now_ms(), 1000);
    }

    #[test]
    fn timers_fire_in_due_order() {
        let t = Timers::default();
        let k = |d| TimerKind::WebhookRetry { delivery_id: d };
        t.insert(30, k(1));
        let (b, _) = t.insert(10, k(2));
        t.insert(10, k(3));
        t.cancel(b);
        let ids: Vec<i64> = std::iter::from_fn(|| t.take_next_due(25))
            .map(|x| x.due)
            .collect();
        assert_eq!(ids, vec![10]);
        assert!(t.take_next_due(29).is_none());
        assert_eq!(t.take_next_due(30).map(|x| x.due), Some(30));
    }
}
