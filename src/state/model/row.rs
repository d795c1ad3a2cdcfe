//! [`Row`]: the fields a conversation list filters and sorts on most, kept beside the record in
//! its account's list, so a list over many conversations reads one small block per row instead
//! of following the map to each record. The store writes it after every change to the record.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use super::conversation::{Conversation, ConversationStatus, EndKind};
use super::SmallStr;

/// `None` for the optional times.
const NONE: i64 = i64::MIN;

/// One conversation's list row.
#[derive(Debug)]
pub struct Row {
    pub id: Arc<str>,
    user_number: SmallStr,
    created_at: i64,
    updated_at: AtomicI64,
    last_message_at: AtomicI64,
    timed_out_at: AtomicI64,
    message_count: AtomicU32,
    /// Whether it is active (bit 0) and how it ended (the bits above: 0 for not at all, else 1
    /// + [`EndKind`]'s place in `ENDS`), in one atomic so a reader never sees half a change.
    state: AtomicU8,
}

const ENDS: [EndKind; 5] = [
    EndKind::Ended,
    EndKind::Timeout,
    EndKind::Blacklisted,
    EndKind::Inactive,
    EndKind::Archived,
];

impl Row {
    pub fn new(c: &Conversation) -> Row {
        let row = Row {
            id: c.id.clone(),
            user_number: c.user_number.clone(),
            created_at: c.created_at,
            updated_at: AtomicI64::new(0),
            last_message_at: AtomicI64::new(NONE),
            timed_out_at: AtomicI64::new(NONE),
            message_count: AtomicU32::new(0),
            state: AtomicU8::new(0),
        };
        row.sync(c);
        row
    }

    /// Copies the record's changing fields.
    pub fn sync(&self, c: &Conversation) {
        let r = Ordering::Relaxed;
        self.updated_at.store(c.updated_at, r);
        self.last_message_at
            .store(c.last_message_at.unwrap_or(NONE), r);
        self.timed_out_at.store(c.timed_out_at.unwrap_or(NONE), r);
        self.message_count
            .store(c.message_count().min(u32::MAX as usize) as u32, r);
        let ended = c
            .ended
            .and_then(|k| ENDS.iter().position(|e| *e == k))
            .map_or(0, |i| i as u8 + 1);
        self.state.store(ended << 1 | u8::from(c.is_active), r);
    }

    pub fn user_number(&self) -> &str {
        self.user_number.as_str()
    }
    pub fn created_at(&self) -> i64 {
        self.created_at
    }
    fn time(a: &AtomicI64) -> Option<i64> {
        Some(a.load(Ordering::Relaxed)).filter(|&t| t != NONE)
    }
    pub fn updated_at(&self) -> i64 {
        self.updated_at.load(Ordering::Relaxed)
    }
    pub fn last_message_at(&self) -> Option<i64> {
        Self::time(&self.last_message_at)
    }
    pub fn timed_out_at(&self) -> Option<i64> {
        Self::time(&self.timed_out_at)
    }
    pub fn message_count(&self) -> usize {
        self.message_count.load(Ordering::Relaxed) as usize
    }
    pub fn is_active(&self) -> bool {
        self.state.load(Ordering::Relaxed) & 1 == 1
    }
    /// As [`Conversation::status`].
    pub fn status(&self) -> ConversationStatus {
        let state = self.state.load(Ordering::Relaxed);
        match (state & 1 == 1, state >> 1) {
            (true, _) => ConversationStatus::Active,
            (false, 0) => ConversationStatus::Inactive,
            (false, k) => ENDS[k as usize - 1].list_status(),
        }
    }
}
