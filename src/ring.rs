//! [`Ring`]: a bounded, lock-sharded log keyed by sequence number, for everything the simulator
//! records for inspection (webhook deliveries, the request journal, the outbox). Entry `n` evicts
//! entry `n - cap`, so memory stays bounded without a global lock on the recording path.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

pub struct Ring<T> {
    entries: DashMap<u64, T>,
    next: AtomicU64,
    cap: u64,
}

impl<T: Clone> Ring<T> {
    /// A ring of `cap` entries; 0 keeps nothing.
    pub fn new(cap: usize) -> Self {
        Ring {
            entries: DashMap::new(),
            next: AtomicU64::new(1),
            cap: cap as u64,
        }
    }

    pub fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// Stores the entry `make(id)` builds and returns its id (from 1, never reused, also not
    /// after [`Ring::clear`], so a late writer never touches a newer entry).
    pub fn push(&self, make: impl FnOnce(u64) -> T) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if self.enabled() {
            self.entries.insert(id, make(id));
            if id > self.cap {
                self.entries.remove(&(id - self.cap));
            }
        }
        id
    }

    pub fn get(&self, id: u64) -> Option<T> {
        self.entries.get(&id).map(|e| e.clone())
    }

    /// Runs `f` on entry `id`, if it is still kept.
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

    pub fn clear(&self) {
        self.entries.clear();
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
        assert_eq!(r.push(|id| id as i32), 6, "ids are not reused after clear");
        let off: Ring<u8> = Ring::new(0);
        off.push(|_| 1);
        assert!(off.list(|_| true).is_empty());
    }
}
