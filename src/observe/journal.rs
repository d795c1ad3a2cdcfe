//! The request journal behind `GET /_sim/requests`: every API request (everything outside
//! `/_sim/*`, unknown paths included) with the answer it got, so a test can see what its client
//! really sent. A [`Ring`] of `--request-log` entries.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::base::clock::iso;
use crate::base::ring::Ring;

/// Bytes of a request body kept in the journal.
pub const MAX_BODY: usize = 16 * 1024;
/// Bytes of a path or a query string kept.
pub const MAX_TARGET: usize = 2 * 1024;
/// Bytes of an API key, an idempotency key or a conversation id kept.
pub const MAX_KEY: usize = 256;
/// Bytes of warnings kept, all together.
pub const MAX_WARNINGS: usize = 4 * 1024;
/// What an entry takes besides the bytes of its fields.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 64;
/// The most one entry counts for: every field at its cut.
pub const MAX_ENTRY: usize =
    ENTRY_OVERHEAD + MAX_BODY + 2 * MAX_TARGET + 3 * MAX_KEY + MAX_WARNINGS;

/// `s` cut to at most `max` bytes (at a character boundary), its allocation shrunk to fit.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let keep = crate::base::input::prefix(&s, max).len();
        s.truncate(keep);
    }
    s.shrink_to_fit();
    s
}

/// What an entry holds: its fields' bytes and its own size.
fn held(e: &Entry) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    ENTRY_OVERHEAD
        + e.body.len()
        + e.path.capacity()
        + opt(&e.query)
        + opt(&e.api_key)
        + opt(&e.idempotency_key)
        + opt(&e.conversation_id)
        + e.warnings.iter().map(|w| w.capacity() + 24).sum::<usize>()
}

/// A key as the journal shows it: its first and last four characters (`sk_s…ault`), or only
/// `…` when it is too short to show any of it safely.
pub(crate) fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// One journaled request.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub at: i64,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub api_key: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Bytes,
    pub status: StatusCode,
    pub error: Option<&'static str>,
    /// What Bland would have ignored silently.
    pub warnings: Vec<String>,
    /// An idempotent repeat answered from the first success.
    pub replay: bool,
    /// The conversation a `/send`, `/create` or `/_sim/inbound` found or opened.
    pub conversation_id: Option<String>,
    /// Its place in the order of arrival ([`Journal::arrive`]).
    pub arrived: u64,
    /// The step of a replay script that sent it (the runner's `x-bland-sim-replay-step`), so
    /// a script's own calls are told from the app's.
    pub replay_step: Option<u32>,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        let body = if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
        };
        json!({
            "id": self.id,
            "at": iso(self.at),
            "method": self.method.as_str(),
            "path": self.path,
            "query": self.query,
            "api_key": self.api_key.as_deref().map(mask),
            "idempotency_key": self.idempotency_key,
            "body": body,
            "status": self.status.as_u16(),
            "error": self.error,
            "idempotent_replay": self.replay,
            "warnings": self.warnings,
            "conversation_id": self.conversation_id,
            "replay_step": self.replay_step,
        })
    }
}

/// The ring of journaled requests, and how many requests have arrived.
pub struct Journal {
    ring: Ring<Entry>,
    arrivals: AtomicU64,
}

impl Journal {
    /// A journal of `cap` entries; 0 turns it off.
    pub fn new(cap: usize) -> Self {
        Journal {
            ring: Ring::bounded(cap, cap.saturating_mul(MAX_ENTRY), held),
            arrivals: AtomicU64::new(0),
        }
    }

    /// Counts a request that has arrived (every one, journaled or not): its place in the order
    /// of arrival, which the journal's order (of answers) is not.
    pub fn arrive(&self) -> u64 {
        self.arrivals.fetch_add(1, Ordering::Relaxed)
    }

    /// How many requests have arrived so far.
    pub fn arrivals(&self) -> u64 {
        self.arrivals.load(Ordering::Relaxed)
    }

    pub fn enabled(&self) -> bool {
        self.ring.enabled()
    }

    /// Records a request; `entry.id` is assigned here, and every field is cut: the body to
    /// [`MAX_BODY`], the path and query to [`MAX_TARGET`], keys and ids to [`MAX_KEY`], the
    /// warnings to [`MAX_WARNINGS`] in all.
    pub fn record(&self, mut entry: Entry) {
        entry.path = cut(entry.path, MAX_TARGET);
        entry.query = entry.query.map(|q| cut(q, MAX_TARGET));
        entry.api_key = entry.api_key.map(|k| cut(k, MAX_KEY));
        entry.idempotency_key = entry.idempotency_key.map(|k| cut(k, MAX_KEY));
        entry.conversation_id = entry.conversation_id.map(|c| cut(c, MAX_KEY));
        let mut room = MAX_WARNINGS;
        entry.warnings.retain_mut(|w| {
            if room == 0 {
                return false;
            }
            *w = cut(std::mem::take(w), room);
            room -= w.len();
            true
        });
        // A copy of its own, not a view of the request's body: a view shares the buffer the
        // connection read it into (with other requests, up to hyper's buffer size), which the
        // entry would keep alive outside the journal's byte count, and which the connection
        // could not reuse meanwhile.
        let kept = entry.body.len().min(MAX_BODY);
        entry.body = Bytes::copy_from_slice(&entry.body[..kept]);
        self.ring.push(|id| Entry { id, ..entry });
    }

    /// Journaled requests matching the filter, oldest first.
    pub fn list(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        self.ring.list(keep)
    }

    /// Visits the journaled requests after the one with id `after` (all when `None`), oldest
    /// first, until `f` says stop: only those are visited, not the whole journal.
    pub fn scan(&self, after: Option<u64>, f: impl FnMut(&Entry) -> bool) {
        self.ring.scan(after, false, f)
    }

    /// Entries kept and the bytes of their bodies.
    pub fn size(&self) -> (usize, usize) {
        (self.ring.len(), self.ring.bytes())
    }

    /// How many journaled requests match, without copying them.
    pub fn count(&self, keep: impl Fn(&Entry) -> bool) -> usize {
        self.ring.count(keep)
    }

    pub fn clear(&self) {
        self.ring.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_body_is_copied_not_pinned() {
        let j = Journal::new(4);
        let big = Bytes::from(vec![b'x'; 1024 * 1024]);
        j.record(Entry {
            body: big.clone(),
            ..entry("/nope")
        });
        // A short body read from the same buffer is copied too: a view would keep the whole
        // buffer alive.
        j.record(Entry {
            body: big.slice(..10),
            ..entry("/short")
        });
        let kept = j.list(|_| true);
        assert_eq!((kept[0].body.len(), kept[1].body.len()), (MAX_BODY, 10));
        for e in &kept {
            let inside = big.as_ptr_range().contains(&e.body.as_ptr());
            assert!(!inside, "{} keeps a view of the request's buffer", e.path);
        }
    }

    fn entry(path: &str) -> Entry {
        Entry {
            id: 0,
            at: 0,
            method: Method::GET,
            path: path.into(),
            query: None,
            api_key: None,
            idempotency_key: None,
            body: Bytes::from_static(b"{}"),
            status: StatusCode::OK,
            error: None,
            warnings: Vec::new(),
            replay: false,
            conversation_id: None,
            replay_step: None,
            arrived: 0,
        }
    }

    fn paths_and_ids(j: &Journal) -> Vec<(String, u64)> {
        j.list(|_| true)
            .into_iter()
            .map(|e| (e.path, e.id))
            .collect()
    }

    #[test]
    fn the_last_entries_are_kept_in_order_and_a_reset_starts_the_ids_over() {
        let j = Journal::new(3);
        for p in ["/a", "/b", "/c", "/d", "/e"] {
            j.record(entry(p));
        }
        let kept = vec![("/c".into(), 3), ("/d".into(), 4), ("/e".into(), 5)];
        assert_eq!(paths_and_ids(&j), kept);
        let held_by: usize = j.list(|_| true).iter().map(held).sum();
        assert_eq!(j.size(), (3, held_by));
        assert!(held_by >= 3 * ENTRY_OVERHEAD);
        assert_eq!(j.count(|e| e.path != "/d"), 2);
        j.clear();
        assert_eq!(j.size(), (0, 0));
        j.record(entry("/f"));
        assert_eq!(paths_and_ids(&j), vec![("/f".into(), 1)]);
        // Off: nothing is kept.
        let off = Journal::new(0);
        off.record(entry("/x"));
        assert_eq!(off.size(), (0, 0));
    }

    #[test]
    fn writers_racing_leave_exactly_the_newest_entries() {
        let j = std::sync::Arc::new(Journal::new(100));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let j = j.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        j.record(entry(&format!("/{t}/{i}")));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        // Whatever the interleaving, each place ends with the newest entry written to it: the
        // last 100 of the 20,000, with consecutive ids.
        let ids: Vec<u64> = j.list(|_| true).iter().map(|e| e.id).collect();
        assert_eq!(ids, (19_901..=20_000).collect::<Vec<u64>>());
    }

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask("sk_sim_default"), "sk_s…ault");
        assert_eq!(mask("short"), "…");
    }
}
