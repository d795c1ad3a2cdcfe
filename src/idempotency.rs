//! The `idempotency-key` cache: the first successful answer per (account, scope, key), replayed
//! to every repeat. Bounded per account; the oldest key is forgotten first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;

use crate::body::Reply;
use crate::error::ApiError;

/// Idempotency keys remembered per account; the oldest is forgotten first.
pub(crate) const KEYS_PER_ACCOUNT: usize = 10_000;

type Key = (String, String, String);

/// One key's answer, once there is a successful one.
type Slot = Arc<Mutex<Option<Reply>>>;

/// The remembered answers.
#[derive(Default)]
pub(crate) struct Idempotency {
    replies: DashMap<Key, Slot>,
    order: DashMap<String, VecDeque<Key>>,
}

impl Idempotency {
    /// Runs `f` once per (account, scope, key): a repeat — also one that arrives while the first
    /// is still running — gets the first success back and runs nothing. Errors are not
    /// remembered, so a corrected retry with the same key goes through. Without a key, `f` runs.
    ///
    /// # Errors
    /// Whatever `f` returns.
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
        let slot = self.slot((account.to_string(), scope.to_string(), key.to_string()));
        // A repeat waits here while the first runs: `f` is a synchronous step that awaits
        // nothing, so the wait is as short as the request itself.
        let mut answer = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reply) = &*answer {
            return Ok(reply.clone());
        }
        let reply = f()?;
        *answer = Some(reply.clone());
        Ok(reply)
    }

    /// The key's slot, made (and the account's oldest key forgotten past the bound) when new.
    fn slot(&self, k: Key) -> Slot {
        let slot = match self.replies.entry(k.clone()) {
            dashmap::Entry::Occupied(e) => return e.get().clone(),
            dashmap::Entry::Vacant(e) => e.insert(Slot::default()).clone(),
        };
        let mut order = self.order.entry(k.0.clone()).or_default();
        order.push_back(k);
        while order.len() > KEYS_PER_ACCOUNT {
            if let Some(old) = order.pop_front() {
                self.replies.remove(&old);
            }
        }
        slot
    }

    pub fn clear(&self) {
        self.replies.clear();
        self.order.clear();
    }
}
