//! The simulator's clock and its timers.
//!
//! Every timestamp and every deadline (warnings, timeouts, delayed agent replies, webhook
//! retries) reads [`Clock::now_ms`]. In `real` mode that is wall-clock time plus an offset; in
//! `manual` mode it moves only when `POST /_sim/clock/advance` asks. Timers sit in [`Timers`],
//! ordered by due time; what they do is an opaque payload the engine gives them. In real mode
//! one driver task fires them when due, and in both modes `advance` fires every timer that falls
//! due, in time order (both in `engine::time`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use crossbeam_skiplist::SkipMap;
use tokio::sync::Notify;

/// How the simulator's clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockMode {
    /// Wall-clock time; `advance` still jumps ahead.
    Real,
    /// Time moves only through `advance`.
    Manual,
}

impl ClockMode {
    /// `real` or `manual`, as the `--clock` flag spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockMode::Real => "real",
            ClockMode::Manual => "manual",
        }
    }
}

/// The last time the clock can reach, 9999-12-31T23:59:59.999Z: past it, ISO 8601 needs more
/// than four year digits, which clients do not parse.
pub(crate) const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch, from the system clock.
pub(crate) fn system_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO 8601 UTC with milliseconds, as Bland writes timestamps: `2025-05-13T20:50:59.233Z`.
pub(crate) fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 / ISO 8601 timestamp (or a bare `YYYY-MM-DD`, read as midnight UTC).
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The virtual clock. `now_ms` is lock-free.
pub(crate) struct Clock {
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

    /// Puts a saved time back: the manual clock exactly there, the real clock there or at the
    /// system time, whichever is later (a real clock never runs backwards).
    pub fn restore(&self, ms: i64) {
        match self.mode {
            ClockMode::Manual => self.value.store(ms, Ordering::Relaxed),
            ClockMode::Real => self.set_now(ms),
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

/// Where a timer sits in the queue: its due time and a sequence number that orders ties by
/// scheduling order. It is also the timer's handle, for cancelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey {
    pub due: i64,
    seq: u64,
}

/// All pending timers, ordered by due time, each carrying an opaque payload `P` that says what
/// to do when it fires (the clock knows nothing of conversations or webhooks).
///
/// A lock-free skip list: scheduling on a request path takes no global lock, the next due timer
/// is found in O(log n), and a timer is taken out exactly once (by the real-clock driver or by
/// `advance`, whichever gets it), which is what makes it fire at most once.
pub(crate) struct Timers<P> {
    queue: SkipMap<TimerKey, P>,
    next_seq: AtomicU64,
    /// Wakes the real-clock driver when the queue or the clock changed.
    changed: Notify,
}

impl<P: Clone + Send + 'static> Timers<P> {
    pub fn new() -> Self {
        Timers {
            queue: SkipMap::new(),
            next_seq: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    /// Schedules `payload` at simulator time `due`; returns its key.
    pub fn insert(&self, due: i64, payload: P) -> TimerKey {
        let key = TimerKey {
            due,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
        };
        self.queue.insert(key, payload);
        self.changed.notify_one();
        key
    }

    /// Cancels a timer; a no-op when it already fired.
    pub fn cancel(&self, key: TimerKey) {
        self.queue.remove(&key);
    }

    /// Takes the earliest timer due at or before `limit` (ties in scheduling order).
    pub fn take_next_due(&self, limit: i64) -> Option<(TimerKey, P)> {
        loop {
            let first = self.queue.front()?;
            if first.key().due > limit {
                return None;
            }
            // Another firer may have taken it meanwhile: then look again.
            if first.remove() {
                return Some((*first.key(), first.value().clone()));
            }
        }
    }

    /// The due time of the earliest timer.
    pub fn next_due(&self) -> Option<i64> {
        self.queue.front().map(|e| e.key().due)
    }

    /// Resolves when a timer was scheduled or the clock moved since the last wake-up.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Tells the driver to look again (the clock jumped, or the queue was cleared).
    pub fn wake(&self) {
        self.changed.notify_one();
    }

    /// Cancels every timer.
    pub fn clear(&self) {
        self.queue.clear();
        self.wake();
    }

    /// The payload of a pending timer.
    pub fn get(&self, key: TimerKey) -> Option<P> {
        self.queue.get(&key).map(|e| e.value().clone())
    }

    /// `(due, payload)` of the pending timers `pick` keeps, earliest first.
    pub fn collect<T>(&self, pick: impl Fn(&P) -> Option<T>) -> Vec<(i64, T)> {
        self.queue
            .iter()
            .filter_map(|e| pick(e.value()).map(|t| (e.key().due, t)))
            .collect()
    }

    /// `(due, what)` of the pending timers, earliest first, for inspection.
    pub fn pending(&self, describe: impl Fn(&P) -> String) -> Vec<(i64, String)> {
        self.queue
            .iter()
            .map(|e| (e.key().due, describe(e.value())))
            .collect()
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
        assert_eq!(iso(MAX_TIME_MS), "9999-12-31T23:59:59.999Z");
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
        let t: Timers<u32> = Timers::new();
        t.insert(30, 1);
        let b = t.insert(10, 2);
        t.insert(10, 3);
        t.cancel(b);
        let fired: Vec<u32> = std::iter::from_fn(|| t.take_next_due(25))
            .map(|x| x.1)
            .collect();
        assert_eq!(fired, vec![3]);
        assert!(t.take_next_due(29).is_none());
        assert_eq!(t.next_due(), Some(30));
        assert_eq!(t.take_next_due(30).map(|x| x.1), Some(1));
        assert_eq!(t.next_due(), None);
    }
}
