//! Uploaded files (`POST /v1/files/attach`) and the batches that send them
//! (`POST /v1/sms/batch`, §3.4): kept in memory until a reset, files bounded in bytes per
//! account, batches in number.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::maps::ShardedMap;
use crate::validation::Channel;

/// Bytes of files one account may keep (as uploaded), by default.
pub const FILE_BYTES_PER_ACCOUNT: usize = 32 * 1024 * 1024;
/// Batches kept across accounts.
pub const MAX_BATCHES: usize = 1000;

/// One row of a file: its columns and their values.
pub type FileRow = Map<String, Value>;

/// An uploaded file, parsed into rows.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub account: String,
    pub file_type: String,
    pub rows: Arc<Vec<FileRow>>,
    /// Its size as uploaded, which the account's bound counts.
    pub bytes: usize,
}

/// The files, and what each account's take up.
pub struct Files {
    by_id: ShardedMap<String, StoredFile>,
    used: ShardedMap<String, usize>,
    /// Across accounts (any key is an account of its own, so the per-account bound alone
    /// would not bound the whole).
    total: AtomicUsize,
    /// Bytes one account may keep.
    pub limit: usize,
}

impl Files {
    pub fn new(limit: usize) -> Self {
        Files {
            by_id: ShardedMap::default(),
            used: ShardedMap::default(),
            total: AtomicUsize::new(0),
            limit,
        }
    }

    /// Bytes all accounts' files may take together: eight accounts' worth.
    pub fn total_limit(&self) -> usize {
        self.limit.saturating_mul(8)
    }

    /// Keeps `file` under `id`; `Err(bytes kept)` when it would go past the account's bound
    /// or the bound across accounts.
    /// A refused file leaves no trace: an account that keeps nothing is not counted.
    pub fn add(&self, id: String, file: StoredFile) -> Result<(), usize> {
        let refused = {
            let mut used = self.used.entry(file.account.clone()).or_insert(0);
            if *used + file.bytes > self.limit {
                Some(*used)
            } else {
                let total = self.total.fetch_add(file.bytes, Ordering::AcqRel);
                if total + file.bytes > self.total_limit() {
                    self.total.fetch_sub(file.bytes, Ordering::AcqRel);
                    Some(total)
                } else {
                    *used += file.bytes;
                    None
                }
            }
        };
        if let Some(kept) = refused {
            // Many keys refused once each would otherwise add an entry apiece.
            self.used.remove_if(&file.account, |_, used| *used == 0);
            return Err(kept);
        }
        self.by_id.insert(id, file);
        Ok(())
    }

    /// File `id` of `account`.
    pub fn get(&self, account: &str, id: &str) -> Option<StoredFile> {
        self.by_id
            .get(id)
            .filter(|f| f.account == account)
            .map(|f| f.clone())
    }

    pub fn clear(&self) {
        self.by_id.clear();
        self.used.clear();
        self.total.store(0, Ordering::Release);
    }
}

/// What every row of a batch shares (`global`, and the columns `column_mapping` sends to
/// `request_data`).
#[derive(Clone, Debug, Default)]
pub struct BatchGlobal {
    /// Parsed once, rendered per row.
    pub agent_message: Option<crate::scenario::template::Template>,
    pub request_data: Map<String, Value>,
    pub metadata: Option<Map<String, Value>>,
    pub webhook: Option<String>,
    pub disposition_ids: Option<Vec<String>>,
    pub citation_schema_ids: Option<Vec<String>>,
    pub pathway_id: Option<String>,
    pub to_request_data: Vec<String>,
}

/// Where one row stands.
#[derive(Clone, Debug)]
pub enum RowResult {
    Pending,
    Sent {
        conversation_id: String,
        message_id: Option<String>,
    },
    Failed {
        code: &'static str,
        message: String,
    },
}

/// A batch: its rows go out one by one at `rate` per second of simulator time from
/// `started_at`.
#[derive(Clone, Debug)]
pub struct Batch {
    pub id: String,
    pub account: String,
    pub agent_number: String,
    pub channel: Channel,
    pub global: Arc<BatchGlobal>,
    pub rows: Arc<Vec<FileRow>>,
    pub started_at: i64,
    pub rate: f64,
    /// Tells this batch from a later one of the same file (which replaces it).
    pub run: u64,
    /// The next row to send.
    pub next: usize,
    pub results: Vec<RowResult>,
    /// How many of `results` are sent and failed (kept as they are written, so a report
    /// need not count them).
    pub sent: usize,
    pub failed: usize,
}

impl Batch {
    /// Writes row `i`'s result.
    pub fn record(&mut self, i: usize, result: RowResult) {
        match &result {
            RowResult::Sent { .. } => self.sent += 1,
            RowResult::Failed { .. } => self.failed += 1,
            RowResult::Pending => {}
        }
        self.results[i] = result;
    }

    /// When row `i` is due.
    pub fn due(&self, i: usize) -> i64 {
        self.started_at + (i as f64 * 1000.0 / self.rate).floor() as i64
    }
}

/// The batches, by `batch_id` (a later batch of the same file replaces the earlier one's
/// report).
#[derive(Default)]
pub struct Batches {
    by_id: ShardedMap<String, Batch>,
    count: AtomicUsize,
    runs: std::sync::atomic::AtomicU64,
}

impl Batches {
    /// A number for a new batch's `run`.
    pub fn next_run(&self) -> u64 {
        self.runs.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps `b`; `false` when [`MAX_BATCHES`] are kept already.
    pub fn add(&self, b: Batch) -> bool {
        // Under the entry's guard: two first batches of one file count once.
        match self.by_id.entry(b.id.clone()) {
            dashmap::Entry::Occupied(mut e) => {
                e.insert(b);
                true
            }
            dashmap::Entry::Vacant(e) => {
                if self.count.fetch_add(1, Ordering::AcqRel) >= MAX_BATCHES {
                    self.count.fetch_sub(1, Ordering::AcqRel);
                    return false;
                }
                e.insert(b);
                true
            }
        }
    }

    /// Runs `f` on batch `id`.
    pub fn with<T>(&self, id: &str, f: impl FnOnce(&mut Batch) -> T) -> Option<T> {
        self.by_id.get_mut(id).map(|mut b| f(&mut b))
    }

    pub fn clear(&self) {
        self.by_id.clear();
        self.count.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(account: &str, bytes: usize) -> StoredFile {
        StoredFile {
            account: account.into(),
            file_type: "batches".into(),
            rows: Arc::default(),
            bytes,
        }
    }

    #[test]
    fn refused_files_count_nothing_and_leave_no_account_behind() {
        let files = Files::new(100);
        assert_eq!(files.add("a".into(), file("k1", 60)), Ok(()));
        // Over the account's bound: refused with what the account keeps.
        assert_eq!(files.add("b".into(), file("k1", 50)), Err(60));
        // Across accounts (800 in all).
        for i in 0..7 {
            assert_eq!(
                files.add(format!("f{i}"), file(&format!("k{}", i + 2), 100)),
                Ok(())
            );
        }
        assert_eq!(files.add("c".into(), file("k9", 100)), Err(760));
        // Many keys refused once each leave no entry apiece.
        for i in 0..1_000 {
            assert!(files
                .add(format!("x{i}"), file(&format!("new{i}"), 100))
                .is_err());
        }
        assert_eq!(files.used.len(), 8);
        assert_eq!(files.total.load(Ordering::Acquire), 760);
        assert!(files.get("k1", "a").is_some() && files.get("k1", "b").is_none());
    }
}
