//! A2P brand registrations of the legacy `POST /v1/sms/register` (§3.18): each is `pending`
//! for [`REVIEW_MS`] of simulator time, then `approved` (or `failed`, for a form whose `ein` is
//! [`FAILING_EIN`]). Kept per account, at most [`MAX_REGISTRATIONS`] in all, until a reset.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::base::maps::ShardedMap;

/// How long a registration stays `pending`, in simulator time (ten minutes).
pub const REVIEW_MS: i64 = 10 * 60 * 1000;
/// The `ein` that makes a registration fail, for tests of that path.
pub const FAILING_EIN: &str = "000000000";
/// Registrations kept across accounts, and per account.
pub const MAX_REGISTRATIONS: usize = 10_000;
pub const MAX_PER_ACCOUNT: usize = 1_000;

#[derive(Clone, Debug)]
pub struct Registration {
    pub account: String,
    pub brand_type: String,
    pub created_at: i64,
    pub fails: bool,
}

impl Registration {
    /// `(status, failureReason)` at simulator time `now`.
    pub fn status(&self, now: i64) -> (&'static str, Option<&'static str>) {
        if now < self.created_at + REVIEW_MS {
            ("pending", None)
        } else if self.fails {
            (
                "failed",
                Some("The EIN could not be verified against the brand's legal name"),
            )
        } else {
            ("approved", None)
        }
    }
}

#[derive(Default)]
pub struct Registrations {
    by_id: ShardedMap<String, Registration>,
    count: AtomicUsize,
    per_account: ShardedMap<String, usize>,
}

impl Registrations {
    /// Keeps `r` under `id`; `false` when [`MAX_REGISTRATIONS`] are kept already.
    pub fn add(&self, id: String, r: Registration) -> bool {
        let mut mine = self.per_account.entry(r.account.clone()).or_insert(0);
        if *mine >= MAX_PER_ACCOUNT {
            return false;
        }
        if self.count.fetch_add(1, Ordering::AcqRel) >= MAX_REGISTRATIONS {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        *mine += 1;
        drop(mine);
        self.by_id.insert(id, r);
        true
    }

    /// Registration `id` of `account`.
    pub fn get(&self, account: &str, id: &str) -> Option<Registration> {
        self.by_id
            .get(id)
            .filter(|r| r.account == account)
            .map(|r| r.clone())
    }

    pub fn clear(&self) {
        self.by_id.clear();
        self.per_account.clear();
        self.count.store(0, Ordering::Release);
    }
}
