//! The `idempotency-key` cache: the first successful answer per (account, scope, key), replayed
//! to every repeat. Failures are not remembered. Bounded per account by count and across all
//! accounts by bytes; the oldest key is forgotten first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::base::maps::ShardedMap;

use crate::base::error::ApiError;
use crate::base::reply::Reply;

/// Idempotency keys remembered per account; the oldest is forgotten first.
pub(crate) const KEYS_PER_ACCOUNT: usize = 10_000;
/// Longest `idempotency-key` accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 255;
/// Bytes of remembered answers (with their keys) across all accounts.
pub(crate) const MAX_BYTES: usize = 32 * 1024 * 1024;

type Key = (String, String, String);

/// One key's answer, once there is a successful one.
type Slot = Arc<Mutex<Option<Reply>>>;

/// What a remembered answer counts for: its body, its key and a fixed allowance.
fn cost(k: &Key, reply: &Reply) -> usize {
    k.0.len() + k.1.len() + k.2.len() + reply.body.len() + 128
}

/// The remembered answers.
#[derive(Default)]
pub(crate) struct Idempotency {
    replies: ShardedMap<Key, Slot>,
    order: ShardedMap<String, VecDeque<Key>>,
    bytes: AtomicUsize,
}

impl Idempotency {
    /// Runs `f` once per (account, scope, key): a repeat — also one that arrives while the first
    /// is still running — gets the first success back and runs nothing. Errors are not
    /// remembered, so a corrected retry with the same key goes through. Without a key, `f` runs.
    ///
    /// # Errors
    /// 400 `INVALID_PARAMETER` for a key longer than [`MAX_KEY_BYTES`]; else whatever `f`
    /// returns.
    pub fn run(
        &self,
        account: &str,
        scope: &str,
        key: Option<&str>,
        f: impl FnOnce() -> Result<Reply, ApiError>,
    ) -> Result<Reply, ApiError> {
        let Some(key) = key else {
            return f();
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(ApiError::invalid(format!(
                "idempotency-key must be at most {MAX_KEY_BYTES} bytes; it was {}",
                key.len()
            )));
        }
        let k: Key = (account.to_string(), scope.to_string(), key.to_string());
        let slot = self.slot(&k);
        // A repeat waits here while the first runs: `f` is a synchronous step that awaits
        // nothing, so the wait is as short as the request itself.
        let mut answer = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reply) = &*answer {
            let mut replay = reply.clone();
            replay.replay = true;
            return Ok(replay);
        }
        match f() {
            Ok(reply) => {
                *answer = Some(reply.clone());
                drop(answer);
                self.remember(k, &reply);
                Ok(reply)
            }
            Err(e) => {
                drop(answer);
                // Not remembered: the slot goes, unless a concurrent repeat holds it (it is
                // running `f` itself) or filled it meanwhile.
                self.replies
                    .remove_if(&k, |_, s| s.try_lock().is_ok_and(|a| a.is_none()));
                Err(e)
            }
        }
    }

    /// The key's slot, made when new.
    fn slot(&self, k: &Key) -> Slot {
        self.replies.entry(k.clone()).or_default().clone()
    }

    /// Counts a new answer, and forgets the account's oldest keys past the bounds.
    fn remember(&self, k: Key, reply: &Reply) {
        self.bytes.fetch_add(cost(&k, reply), Ordering::Relaxed);
        let mut order = self.order.entry(k.0.clone()).or_default();
        order.push_back(k);
        while order.len() > KEYS_PER_ACCOUNT
            || (order.len() > 1 && self.bytes.load(Ordering::Relaxed) > MAX_BYTES)
        {
            let Some(old) = order.pop_front() else { break };
            if let Some((_, slot)) = self.replies.remove(&old) {
                let answer = slot.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(r) = &*answer {
                    self.bytes.fetch_sub(cost(&old, r), Ordering::Relaxed);
                }
            }
        }
    }

    /// Remembers an answer read from a snapshot, as if its request had just run.
    pub fn restore(&self, account: &str, scope: &str, key: &str, reply: Reply) {
        let k: Key = (account.to_string(), scope.to_string(), key.to_string());
        *self.slot(&k).lock().unwrap_or_else(|p| p.into_inner()) = Some(reply.clone());
        self.remember(k, &reply);
    }

    /// An account's remembered answers, oldest first: `(scope, key, answer)`.
    pub fn records(&self, account: &str) -> Vec<(String, String, Reply)> {
        let Some(order) = self.order.get(account).map(|o| o.clone()) else {
            return Vec::new();
        };
        order
            .into_iter()
            .filter_map(|k| {
                let slot = self.replies.get(&k)?.clone();
                let answer = slot.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
                Some((k.1, k.2, answer))
            })
            .collect()
    }

    /// Keys remembered and the bytes their answers count for.
    pub fn size(&self) -> (usize, usize) {
        (self.replies.len(), self.bytes.load(Ordering::Relaxed))
    }

    pub fn clear(&self) {
        self.replies.clear();
        self.order.clear();
        self.bytes.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    fn ok(n: u8) -> Result<Reply, ApiError> {
        Ok(Reply::new(StatusCode::OK, serde_json::json!(n)))
    }

    #[test]
    fn failures_are_not_remembered_and_long_keys_refused() {
        let i = Idempotency::default();
        let err = || Err(ApiError::invalid("no"));
        assert!(i.run("a", "send", Some("k"), err).is_err());
        assert!(i.replies.is_empty(), "a failure leaves no key behind");
        assert_eq!(i.run("a", "send", Some("k"), || ok(1)).unwrap().body, "1");
        assert_eq!(i.run("a", "send", Some("k"), || ok(2)).unwrap().body, "1");
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        let e = i.run("a", "send", Some(&long), || ok(3)).unwrap_err();
        assert_eq!(e.code, "INVALID_PARAMETER");
        assert_eq!(i.replies.len(), 1);
    }
}
