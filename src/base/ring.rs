//! [`Ring`]: a bounded, lock-sharded log keyed by sequence number, for everything the simulator
//! records for inspection (webhook deliveries, the request journal, the outbox). It keeps at
//! most `cap` entries and at most `max_bytes` of them (as its size function counts them),
//! dropping the oldest first, without a global lock on the recording path.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::base::maps::ShardedMap;

pub(crate) struct Ring<T> {
    entries: ShardedMap<u64, T>,
    next: AtomicU64,
    /// Every id below this has been dropped.
    oldest: AtomicU64,
    cap: u64,
    max_bytes: usize,
    bytes: AtomicUsize,
    size: fn(&T) -> usize,
    /// Bytes the entries hold that their size function cannot see (shared parts only they
    /// still hold), counted against `max_bytes` too.
    extra: Arc<AtomicUsize>,
}

impl<T: Clone> Ring<T> {
    /// A ring of `cap` entries, unbounded in bytes; 0 keeps nothing.
    pub fn new(cap: usize) -> Self {
        Self::bounded(cap, usize::MAX, |_| 0)
    }

    /// A ring of at most `cap` entries and `max_bytes` bytes, each entry counted by `size`.
    /// An entry larger than `max_bytes` alone is kept until the next one arrives.
    pub fn bounded(cap: usize, max_bytes: usize, size: fn(&T) -> usize) -> Self {
        Ring {
            entries: ShardedMap::default(),
            next: AtomicU64::new(1),
            oldest: AtomicU64::new(1),
            cap: cap as u64,
            max_bytes,
            bytes: AtomicUsize::new(0),
            size,
            extra: Arc::default(),
        }
    }

    /// The counter of bytes the entries hold beyond what `size` counts.
    pub fn extra(&self) -> &Arc<AtomicUsize> {
        &self.extra
    }

    /// This ring with its ids starting at `first` (until a [`Ring::clear`]).
    pub fn first_id(self, first: u64) -> Self {
        let first = first.max(1);
        self.next.store(first, Ordering::Relaxed);
        self.oldest.store(first, Ordering::Relaxed);
        self
    }

    pub fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// Stores the entry `make(id)` builds and returns its id (from 1; [`Ring::clear`] starts
    /// over, so an entry that can be written after its push must tell its generations apart,
    /// as a webhook delivery does).
    pub fn push(&self, make: impl FnOnce(u64) -> T) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if !self.enabled() {
            return id;
        }
        let entry = make(id);
        self.bytes.fetch_add((self.size)(&entry), Ordering::Relaxed);
        self.entries.insert(id, entry);
        if id < self.oldest.load(Ordering::Acquire) {
            // Dropped by a concurrent eviction before it was stored.
            self.drop_entry(id);
        }
        self.evict(id);
        id
    }

    /// Drops the oldest entries while there are more than `cap` up to `newest`, or more bytes
    /// than `max_bytes`; never `newest` itself.
    fn evict(&self, newest: u64) {
        loop {
            let oldest = self.oldest.load(Ordering::Acquire);
            if oldest >= newest {
                return;
            }
            let bytes = self.bytes.load(Ordering::Relaxed) + self.extra.load(Ordering::Relaxed);
            let over = newest - oldest >= self.cap || bytes > self.max_bytes;
            if !over {
                return;
            }
            if self
                .oldest
                .compare_exchange(oldest, oldest + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.drop_entry(oldest);
            }
        }
    }

    fn drop_entry(&self, id: u64) {
        if let Some((_, e)) = self.entries.remove(&id) {
            self.bytes.fetch_sub((self.size)(&e), Ordering::Relaxed);
        }
    }

    /// The id the next push gets.
    pub fn next_id(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Every id below this has been dropped.
    pub fn oldest(&self) -> u64 {
        self.oldest.load(Ordering::Acquire)
    }

    pub fn get(&self, id: u64) -> Option<T> {
        self.entries.get(&id).map(|e| e.clone())
    }

    /// Runs `f` on entry `id`, if it is still kept. (What `f` adds is not counted in bytes:
    /// callers only add small, bounded things, such as one attempt of a delivery.)
    pub fn update<R>(&self, id: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.entries.get_mut(&id).map(|mut e| f(&mut e))
    }

    /// The kept entries that match, oldest first.
    pub fn list(&self, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let mut v: Vec<(u64, T)> = self
            .entries
            .iter()
            .filter(|e| keep(e.value()))
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        v.sort_by_key(|e| e.0);
        v.into_iter().map(|e| e.1).collect()
    }

    /// Visits the kept entries from `from` on (exclusive: the cursor a page ended at), oldest
    /// first, or newest first with `newest`, until `f` says stop. Each entry is cloned out and
    /// visited without a lock held. Costs the entries visited, not the whole log.
    pub fn scan(&self, from: Option<u64>, newest: bool, mut f: impl FnMut(&T) -> bool) {
        let (oldest, next) = (self.oldest(), self.next_id());
        if newest {
            let mut id = from.unwrap_or(next).min(next);
            while id > oldest {
                id -= 1;
                if let Some(e) = self.get(id) {
                    if !f(&e) {
                        return;
                    }
                }
            }
        } else {
            let mut id = from.map_or(oldest, |c| c.saturating_add(1)).max(oldest);
            while id < next {
                if let Some(e) = self.get(id) {
                    if !f(&e) {
                        return;
                    }
                }
                id += 1;
            }
        }
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many kept entries match.
    pub fn count(&self, keep: impl Fn(&T) -> bool) -> usize {
        self.entries.iter().filter(|e| keep(e.value())).count()
    }

    /// The bytes the kept entries count for (with what they hold beyond their size).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed) + self.extra.load(Ordering::Relaxed)
    }

    /// Drops every entry and starts the ids over at 1, as a reset restarts every sequence.
    pub fn clear(&self) {
        self.entries.clear();
        self.bytes.store(0, Ordering::Relaxed);
        self.next.store(1, Ordering::Release);
        self.oldest.store(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_cap_entries_in_order() {
        let r = Ring::new(3);
        for i in 0..5 {
            r.push(|_| i);
        }
        assert_eq!(r.list(|_| true), vec![2, 3, 4]);
        assert_eq!(r.get(1), None);
        assert_eq!(r.update(5, |v| std::mem::replace(v, 40)), Some(4));
        assert_eq!(r.get(5), Some(40));
        r.clear();
        assert_eq!(r.push(|id| id as i32), 1, "ids start over after clear");
        let off: Ring<u8> = Ring::new(0);
        off.push(|_| 1);
        assert!(off.list(|_| true).is_empty());
    }

    #[test]
    fn keeps_at_most_max_bytes() {
        let r: Ring<String> = Ring::bounded(100, 10, |s| s.len());
        for s in ["aaaa", "bbbb", "cccc", "dd"] {
            r.push(|_| s.to_string());
        }
        assert_eq!(r.list(|_| true), vec!["bbbb", "cccc", "dd"]);
        assert_eq!(r.bytes(), 10);
        r.push(|_| "x".repeat(50));
        assert_eq!(
            r.list(|_| true),
            vec!["x".repeat(50)],
            "a huge entry stays alone"
        );
        r.clear();
        assert_eq!(r.bytes(), 0);
    }
}
