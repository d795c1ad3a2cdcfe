//! Uploaded files (`POST /v1/files/attach`) and the batches that send them
//! (`POST /v1/sms/batch`, §3.4): kept in memory until a reset, files bounded in bytes per
//! account, batches in number.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::base::maps::ShardedMap;
use crate::base::validation::Channel;

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
    pub rows: Arc<Rows>,
    /// What it holds in memory (its rows, and the report a batch of it keeps), which the
    /// account's bound counts.
    pub bytes: usize,
}

/// A file's rows: a CSV as one text with its column names once (a column name is not copied
/// per row), or the objects of a JSON array.
#[derive(Debug)]
pub enum Rows {
    Table(Table),
    Objects(Vec<FileRow>),
}

impl Default for Rows {
    fn default() -> Self {
        Rows::Objects(Vec::new())
    }
}

/// A CSV's cells: row `r`'s cell `c` is `text[ends[i - 1]..ends[i]]` with
/// `i = r * columns.len() + c` (every row has every column).
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Box<[Box<str>]>,
    pub text: String,
    pub ends: Vec<u32>,
}

impl Table {
    /// Row `r`'s cell in column `c`.
    fn cell(&self, r: usize, c: usize) -> &str {
        let i = r * self.columns.len() + c;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Bytes held: the text, the cell ends and the column names.
    pub fn held(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self
                .columns
                .iter()
                .map(|c| 16 + heap_bytes(c.len()))
                .sum::<usize>()
    }
}

/// What the allocator hands out for `n` bytes (its classes are 16-byte multiples at least).
pub fn heap_bytes(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_multiple_of(16)
    }
}

/// Bytes a JSON value holds beyond its own inline size (32 bytes, counted by its container).
pub fn value_heap(v: &Value) -> usize {
    match v {
        Value::String(s) => heap_bytes(s.len()),
        Value::Array(a) => heap_bytes(a.capacity() * 32) + a.iter().map(value_heap).sum::<usize>(),
        Value::Object(m) => map_heap(m),
        _ => 0,
    }
}

/// Bytes an object holds: its entries (hash, key, value: 64 bytes each), its index table
/// (about 9 bytes a slot, at a load of 7/8), its keys and its values' own.
pub fn map_heap(m: &Map<String, Value>) -> usize {
    let slots = (m.len() * 8).div_ceil(7).next_power_of_two();
    let table = if m.is_empty() { 0 } else { slots * 9 + 16 };
    table
        + heap_bytes(m.len() * 64)
        + m.iter()
            .map(|(k, v)| heap_bytes(k.len()) + value_heap(v))
            .sum::<usize>()
}

/// What one row's report takes once its batch sends it (a result with two ids).
pub const RESULT_BYTES: usize = std::mem::size_of::<RowResult>() + 2 * 48;

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Table(t) => t.ends.len().checked_div(t.columns.len()).unwrap_or(0),
            Rows::Objects(o) => o.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as an object of column → value (a CSV's cells are strings).
    pub fn row(&self, i: usize) -> std::borrow::Cow<'_, FileRow> {
        match self {
            Rows::Table(t) => std::borrow::Cow::Owned(
                t.columns
                    .iter()
                    .enumerate()
                    .map(|(c, name)| (name.to_string(), Value::String(t.cell(i, c).into())))
                    .collect(),
            ),
            Rows::Objects(o) => std::borrow::Cow::Borrowed(&o[i]),
        }
    }

    /// Row `i`'s value in `column`.
    pub fn get(&self, i: usize, column: &str) -> Option<Value> {
        match self {
            Rows::Table(t) => {
                let c = t.columns.iter().position(|n| &**n == column)?;
                Some(Value::String(t.cell(i, c).into()))
            }
            Rows::Objects(o) => o.get(i)?.get(column).cloned(),
        }
    }

    /// Bytes held by the rows, and by the report a batch of them keeps.
    pub fn held(&self) -> usize {
        let rows = match self {
            Rows::Table(t) => t.held(),
            Rows::Objects(o) => {
                heap_bytes(o.capacity() * std::mem::size_of::<FileRow>())
                    + o.iter().map(map_heap).sum::<usize>()
            }
        };
        rows + self.len() * RESULT_BYTES
    }
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

    /// Bytes `account` may still add: within its own bound and the bound across accounts.
    pub fn room(&self, account: &str) -> usize {
        let used = self.used.get(account).map_or(0, |u| *u);
        let total = self.total.load(Ordering::Acquire);
        self.limit
            .saturating_sub(used)
            .min(self.total_limit().saturating_sub(total))
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
    pub rows: Arc<Rows>,
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
