//! [`History`]: a conversation's `chat_history` items, each serialized once when its message is
//! stored, in an append-only list that webhook deliveries share. A delivery keeps a
//! [`Body`]: its own fields (head and tail) and a reference to the first `n` items, so a
//! conversation of n messages costs n items in all, not one serialized history per message.
//! Hiding messages starts a new list (deliveries made before keep the old one, so their bytes
//! and signatures never change).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::{BufMut, Bytes, BytesMut};

/// One conversation's serialized `chat_history` items, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    items: RwLock<Vec<Bytes>>,
    /// Set once the conversation has let go of this list (its messages were deleted) while
    /// deliveries still hold it: the counter its bytes were added to, and how many, given back
    /// when the last delivery lets go too.
    charged: OnceLock<(Arc<AtomicUsize>, usize)>,
}

impl Drop for History {
    fn drop(&mut self) {
        if let Some((counter, bytes)) = self.charged.get() {
            counter.fetch_sub(*bytes, Ordering::Relaxed);
        }
    }
}

impl History {
    /// What the list holds: its items and their handles.
    pub fn bytes(&self) -> usize {
        let items = self.items.read().unwrap_or_else(|p| p.into_inner());
        items.iter().map(|i| i.len() + 32).sum()
    }

    /// Adds what the list holds to `counter` (once), until the list is dropped.
    pub fn charge(&self, counter: &Arc<AtomicUsize>) {
        let bytes = self.bytes();
        if self.charged.set((Arc::clone(counter), bytes)).is_ok() {
            counter.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Adds an item (one message's JSON object).
    pub fn push(&self, item: Bytes) {
        self.items
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(item);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `f` on the first `n` items.
    fn with<R>(&self, n: usize, f: impl FnOnce(&[Bytes]) -> R) -> R {
        let items = self.items.read().unwrap_or_else(|p| p.into_inner());
        f(&items[..n.min(items.len())])
    }
}

/// A webhook body: `head`, then (when `history` is set) `[item,item,…]` over the first `n`
/// items of a shared [`History`], then `tail`.
#[derive(Clone, Debug)]
pub(crate) struct Body {
    pub head: Bytes,
    pub history: Option<(Arc<History>, usize)>,
    pub tail: Bytes,
}

impl Body {
    /// A body that is all its own bytes.
    #[cfg(test)]
    pub fn whole(bytes: Bytes) -> Body {
        Body {
            head: bytes,
            history: None,
            tail: Bytes::new(),
        }
    }

    /// Calls `f` on each piece of the body, in order (for signing without a copy).
    pub fn for_each_piece(&self, mut f: impl FnMut(&[u8])) {
        f(&self.head);
        if let Some((h, n)) = &self.history {
            f(b"[");
            h.with(*n, |items| {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f(b",");
                    }
                    f(item);
                }
            });
            f(b"]");
        }
        f(&self.tail);
    }

    /// The body as one buffer (to send it, or to show it).
    pub fn to_bytes(&self) -> Bytes {
        if self.history.is_none() && self.tail.is_empty() {
            return self.head.clone();
        }
        let mut out = BytesMut::new();
        self.for_each_piece(|p| out.put_slice(p));
        out.freeze()
    }

    /// The bytes this body holds of its own (its shared history is counted with its
    /// conversation).
    pub fn own_len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_joins_its_pieces_and_later_items_do_not_change_it() {
        let h = Arc::new(History::default());
        h.push(Bytes::from_static(b"{\"a\":1}"));
        h.push(Bytes::from_static(b"{\"b\":2}"));
        let body = Body {
            head: Bytes::from_static(b"{\"x\":0,\"chat_history\":"),
            history: Some((h.clone(), 2)),
            tail: Bytes::from_static(b",\"y\":3}"),
        };
        h.push(Bytes::from_static(b"{\"c\":3}"));
        assert_eq!(
            body.to_bytes(),
            Bytes::from_static(b"{\"x\":0,\"chat_history\":[{\"a\":1},{\"b\":2}],\"y\":3}")
        );
        let empty = Body {
            history: Some((Arc::new(History::default()), 0)),
            ..body
        };
        assert!(empty.to_bytes().ends_with(b"\"chat_history\":[],\"y\":3}"));
        assert_eq!(h.len(), 3);
    }
}
