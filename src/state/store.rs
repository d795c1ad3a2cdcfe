//! [`Store`]: all simulator state in sharded `DashMap`s behind one cheap handle — accounts,
//! numbers, conversations, the (agent, user) pair index, opt-outs and the outbox — plus
//! the seeded id generator. Handlers call methods here; nobody else touches the maps.
//!
//! Lock order, to rule out deadlocks between maps: `pairs` before `conversations`; nothing is
//! awaited while a map guard is held.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::base::maps::{ShardedMap, ShardedSet};
use dashmap::mapref::one::RefMut;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::base::ring::Ring;
use crate::base::validation::Channel;
use crate::state::events::{Change, Ends, Events, Glance};
use crate::state::model::{
    Conversation, NumberConfig, NumberRecord, Owner, PlanRefusal, PlanState, Row, SmallStr,
};

/// Reproducible ids: the n-th id of a run depends only on the seed and n.
pub struct Ids {
    seed: AtomicU64,
    /// The seed a reset goes back to (a restored state may bring its own).
    initial_seed: u64,
    counter: AtomicU64,
}

impl Ids {
    pub fn new(seed: u64) -> Self {
        Ids {
            seed: AtomicU64::new(seed),
            initial_seed: seed,
            counter: AtomicU64::new(0),
        }
    }
    /// A fresh RNG for the next id, without a shared lock.
    fn next_rng(&self) -> StdRng {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed.load(Ordering::Relaxed);
        StdRng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    /// How many ids were drawn.
    pub fn issued(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }
    /// Continues a saved sequence: the next id is the one that run would have drawn next.
    pub fn restore(&self, seed: u64, issued: u64) {
        self.seed.store(seed, Ordering::Relaxed);
        self.counter.store(issued, Ordering::Relaxed);
    }
    /// A v4-format UUID string.
    pub fn uuid(&self) -> String {
        uuid::Uuid::from_bytes(self.uuid_bytes()).to_string()
    }
    /// The next v4-format UUID, as its bytes.
    pub fn uuid_bytes(&self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        self.next_rng().fill_bytes(&mut bytes);
        *uuid::Builder::from_random_bytes(bytes).as_uuid().as_bytes()
    }
    pub fn reset(&self) {
        self.seed.store(self.initial_seed, Ordering::Relaxed);
        self.counter.store(0, Ordering::Relaxed);
    }
    pub fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }
}

/// One API key's account.
#[derive(Debug)]
pub struct Account {
    pub enterprise: bool,
    /// The key and the org id Bland shows as `user_id`, shared with the account's
    /// conversations.
    pub owner: Arc<Owner>,
    pub numbers: Vec<String>,
    /// The conversations' list rows in creation order (each shares its id's one allocation
    /// with the maps).
    pub conversations: Vec<Arc<Row>>,
    /// When the account was first seen, to list accounts in that order.
    pub seq: u64,
}

/// An account as a snapshot lists it: key, Enterprise flag, numbers, conversation ids.
pub type AccountDoc = (String, bool, Vec<String>, Vec<Arc<str>>);

/// A stored conversation: the record, boxed (the map's table holds a pointer, not the whole
/// record with the table's spare room around it), and its list row, which every change
/// updates ([`Slot::change`]).
struct Slot {
    conv: Box<Conversation>,
    row: Arc<Row>,
}

impl Slot {
    fn new(conv: Conversation) -> Slot {
        let row = Arc::new(Row::new(&conv));
        Slot {
            conv: Box::new(conv),
            row,
        }
    }
    /// Runs `f` on the record, then brings its row up to date and tells `events` what
    /// changed.
    fn change<T>(&mut self, events: &Events, f: impl FnOnce(&mut Conversation) -> T) -> T {
        let before = events.enabled().then(|| Glance::of(&self.conv));
        let out = f(&mut self.conv);
        self.row.sync(&self.conv);
        if let Some(before) = before {
            events.changed(&before, &self.conv);
        }
        out
    }
}

impl std::ops::Deref for Slot {
    type Target = Conversation;
    fn deref(&self) -> &Conversation {
        &self.conv
    }
}

/// Why provisioning a number failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ProvisionError {
    OwnedByAnother,
}

/// The shared state handle. Clone is shallow.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    accounts: ShardedMap<String, Account>,
    /// Shared: a request takes a number's record by a reference count, and a change copies it
    /// when a request still holds the old one.
    numbers: ShardedMap<String, Arc<NumberRecord>>,
    /// Boxed: the map's table holds a pointer per conversation, not the whole record with
    /// the table's spare room around it.
    conversations: ShardedMap<Arc<str>, Slot>,
    /// (agent_number, user_number) → the pair's latest conversation.
    pairs: ShardedMap<(SmallStr, SmallStr), Arc<str>>,
    /// (agent_number, user_number) pairs whose user texted STOP.
    optouts: ShardedSet<(String, String)>,
    /// At least the number of `optouts` (raised before an insert, lowered after each removal,
    /// never reset), so a send needs no lookup while nobody has opted out.
    optout_count: AtomicUsize,
    /// Texts sent outside any conversation (handoff notices).
    outbox: Ring<serde_json::Value>,
    next_inbound_id: AtomicU64,
    next_account_seq: AtomicU64,
    ids: Ids,
    /// Told of every change, for `GET /_sim/events`.
    events: Arc<Events>,
    /// Agent Phone Plan accounts and what they have sent.
    plans: ShardedMap<String, PlanState>,
    /// Whether any account is on the Agent Phone Plan (a text checks nothing else when not).
    any_plan: AtomicBool,
}

/// The `inbound_id` of the first number provisioned.
const FIRST_INBOUND_ID: u64 = 100_001;

/// Out-of-conversation texts kept for `GET /_sim/outbox`.
pub const OUTBOX_CAP: usize = 1000;

/// The org id shown for an API key: stable, and reveals nothing of the key.
pub fn user_id_for(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("user_{}", &hex::encode(digest)[..12])
}

impl Store {
    pub fn new(seed: u64, events: Arc<Events>) -> Self {
        Store {
            inner: Arc::new(Inner {
                accounts: ShardedMap::default(),
                numbers: ShardedMap::default(),
                conversations: ShardedMap::default(),
                pairs: ShardedMap::default(),
                optouts: ShardedSet::default(),
                optout_count: AtomicUsize::new(0),
                outbox: Ring::new(OUTBOX_CAP),
                next_inbound_id: AtomicU64::new(FIRST_INBOUND_ID),
                next_account_seq: AtomicU64::new(0),
                ids: Ids::new(seed),
                events,
                plans: ShardedMap::default(),
                any_plan: AtomicBool::new(false),
            }),
        }
    }

    pub fn ids(&self) -> &Ids {
        &self.inner.ids
    }

    /// Drops everything (fixtures are reloaded by the caller).
    pub fn clear(&self) {
        let i = &self.inner;
        i.accounts.clear();
        i.numbers.clear();
        i.conversations.clear();
        i.pairs.clear();
        // One by one, so the count falls by exactly what is removed (a STOP racing the reset
        // keeps its count with its entry).
        i.optouts.retain(|_| {
            i.optout_count.fetch_sub(1, Ordering::AcqRel);
            false
        });
        i.outbox.clear();
        i.plans.clear();
        i.any_plan.store(false, Ordering::Release);
        i.next_inbound_id.store(FIRST_INBOUND_ID, Ordering::Relaxed);
        i.next_account_seq.store(0, Ordering::Relaxed);
        i.ids.reset();
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Whether the key's plan is Enterprise (creates the account on first use); copies nothing.
    pub fn enterprise(&self, key: &str) -> bool {
        if let Some(a) = self.inner.accounts.get(key) {
            return a.enterprise;
        }
        self.account_mut(key).enterprise
    }

    /// The account's key and org id, to share with a new conversation (creates the account
    /// on first use).
    pub fn owner(&self, key: &str) -> Arc<Owner> {
        if let Some(a) = self.inner.accounts.get(key) {
            return a.owner.clone();
        }
        self.account_mut(key).owner.clone()
    }

    fn account_mut(&self, key: &str) -> RefMut<'_, String, Account> {
        self.inner
            .accounts
            .entry(key.to_string())
            .or_insert_with(|| Account {
                enterprise: true,
                owner: Arc::new(Owner::of(key)),
                numbers: Vec::new(),
                conversations: Vec::new(),
                seq: self.inner.next_account_seq.fetch_add(1, Ordering::Relaxed),
            })
    }

    /// Every account's key, Enterprise flag, numbers and conversation ids, in the order the
    /// accounts were first seen (for snapshots).
    pub fn accounts(&self) -> Vec<AccountDoc> {
        let mut v: Vec<_> = self
            .inner
            .accounts
            .iter()
            .map(|a| {
                (
                    a.seq,
                    (
                        a.key().clone(),
                        a.enterprise,
                        a.numbers.clone(),
                        a.conversations.iter().map(|r| r.id.clone()).collect(),
                    ),
                )
            })
            .collect();
        v.sort_by_key(|(seq, _)| *seq);
        v.into_iter().map(|(_, a)| a).collect()
    }

    /// The `inbound_id` the next new number gets.
    pub fn next_inbound_id(&self) -> u64 {
        self.inner.next_inbound_id.load(Ordering::Relaxed)
    }

    /// Makes the next new number's `inbound_id` at least `next` (a saved sequence, or past
    /// the ids a document gives).
    pub fn raise_next_inbound_id(&self, next: u64) {
        self.inner
            .next_inbound_id
            .fetch_max(next, Ordering::Relaxed);
    }

    /// Sets whether a key's plan is Enterprise (fixtures may say it is not).
    pub fn set_enterprise(&self, key: &str, enterprise: bool) {
        self.account_mut(key).enterprise = enterprise;
    }

    // ---- the Agent Phone Plan ----------------------------------------------------------

    /// Puts a key on the Agent Phone Plan with these limits (not Enterprise).
    pub fn set_agent_phone_plan(&self, key: &str, hourly: u32, daily: u32) {
        self.set_enterprise(key, false);
        self.inner
            .plans
            .insert(key.to_string(), PlanState::new(hourly, daily));
        self.inner.any_plan.store(true, Ordering::Release);
    }

    /// A key's Agent Phone Plan limits `(hourly, daily)`, when it is on that plan.
    pub fn plan(&self, key: &str) -> Option<(u32, u32)> {
        if !self.inner.any_plan.load(Ordering::Acquire) {
            return None;
        }
        self.inner.plans.get(key).map(|p| (p.hourly, p.daily))
    }

    /// Why the Agent Phone Plan would refuse one more text of `key` to `user` on `channel`
    /// at `now` (never, off the plan).
    pub fn plan_check(
        &self,
        key: &str,
        channel: Channel,
        user: &str,
        now: i64,
    ) -> Option<PlanRefusal> {
        if !self.inner.any_plan.load(Ordering::Acquire) {
            return None;
        }
        self.inner.plans.get_mut(key)?.check(channel, user, now)
    }

    /// Counts one text of `key` to `user` on `channel` at `now`; `Err` when the plan refuses
    /// it (always `Ok` off the plan).
    pub fn plan_take(
        &self,
        key: &str,
        channel: Channel,
        user: &str,
        now: i64,
    ) -> Result<(), PlanRefusal> {
        if !self.inner.any_plan.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.inner.plans.get_mut(key) {
            Some(mut p) => p.take(channel, user, now),
            None => Ok(()),
        }
    }

    // ---- numbers --------------------------------------------------------------------------

    /// Gives `phone` to `key`, with `inbound_id` when given (a document's) or the next one.
    /// Re-provisioning a number the key already owns replaces the configs that are given.
    ///
    /// # Errors
    /// [`ProvisionError::OwnedByAnother`] when another key owns it.
    pub fn provision(
        &self,
        key: &str,
        phone: &str,
        label: Option<String>,
        imessage: bool,
        configs: Vec<(Channel, NumberConfig)>,
        inbound_id: Option<u64>,
    ) -> Result<Arc<NumberRecord>, ProvisionError> {
        if let Some(id) = inbound_id {
            self.raise_next_inbound_id(id.saturating_add(1));
        }
        let record = {
            let mut entry = self
                .inner
                .numbers
                .entry(phone.to_string())
                .or_insert_with(|| {
                    Arc::new(NumberRecord {
                        phone_number: phone.to_string(),
                        owner: key.to_string(),
                        inbound_id: inbound_id.unwrap_or_else(|| {
                            self.inner.next_inbound_id.fetch_add(1, Ordering::Relaxed)
                        }),
                        label: None,
                        imessage,
                        sms_config: None,
                        whatsapp_config: None,
                        imessage_config: None,
                        conversation_count: Default::default(),
                        human_mode: false,
                        rcs_first: false,
                    })
                });
            if entry.owner != key {
                return Err(ProvisionError::OwnedByAnother);
            }
            let record = Arc::make_mut(entry.value_mut());
            if label.is_some() {
                record.label = label;
            }
            record.imessage |= imessage;
            for (channel, cfg) in configs {
                *record.config_mut(channel) = Some(Arc::new(cfg));
            }
            if record.config(record.default_channel()).is_none() {
                let ch = record.default_channel();
                *record.config_mut(ch) = Some(Arc::default());
            }
            entry.clone()
        };
        let mut acct = self.account_mut(key);
        if !acct.numbers.iter().any(|n| n == phone) {
            acct.numbers.push(phone.to_string());
        }
        drop(acct);
        self.number_updated(phone);
        Ok(record)
    }

    /// A number, whoever owns it.
    pub fn number(&self, phone: &str) -> Option<Arc<NumberRecord>> {
        self.inner.numbers.get(phone).map(|n| n.clone())
    }

    /// Whether number `phone` is in legacy human mode (the agent writes nothing), without
    /// copying its record.
    pub fn human_mode(&self, phone: &str) -> bool {
        self.inner.numbers.get(phone).is_some_and(|n| n.human_mode)
    }

    /// The config a conversation on `channel` of number `phone` runs with (defaults when the
    /// number is gone); copies only that config.
    pub fn effective_config(&self, phone: &str, channel: Channel) -> Arc<NumberConfig> {
        self.inner
            .numbers
            .get(phone)
            .map(|n| n.effective_config(channel))
            .unwrap_or_default()
    }

    /// Every number, for inspection.
    pub fn all_numbers(&self) -> Vec<Arc<NumberRecord>> {
        let mut v: Vec<_> = self.inner.numbers.iter().map(|n| n.clone()).collect();
        v.sort_by(|a, b| a.phone_number.cmp(&b.phone_number));
        v
    }

    /// The numbers a key owns, in provisioning order.
    pub fn numbers_of(&self, key: &str) -> Vec<Arc<NumberRecord>> {
        let phones = match self.inner.accounts.get(key) {
            Some(a) => a.numbers.clone(),
            None => return Vec::new(),
        };
        phones.iter().filter_map(|p| self.number(p)).collect()
    }

    /// Runs `f` on a number the key owns.
    pub fn with_number_mut<T>(
        &self,
        key: &str,
        phone: &str,
        f: impl FnOnce(&mut NumberRecord) -> T,
    ) -> Option<T> {
        let mut n = self.inner.numbers.get_mut(phone)?;
        if n.owner != key {
            return None;
        }
        let out = f(Arc::make_mut(n.value_mut()));
        drop(n);
        self.number_updated(phone);
        Some(out)
    }

    fn number_updated(&self, phone: &str) {
        self.inner.events.publish(|| Change::NumberUpdated {
            phone_number: phone,
        });
    }

    fn adjust_conversation_count(&self, phone: &str, delta: i64) {
        // In place, under a read guard: a request holding the record does not make it a copy.
        if let Some(n) = self.inner.numbers.get(phone) {
            n.conversation_count.adjust(delta);
        }
    }

    // ---- conversations --------------------------------------------------------------------

    /// The pair's latest conversation id.
    pub fn pair_latest(&self, agent: &str, user: &str) -> Option<String> {
        self.inner
            .pairs
            .get(&(SmallStr::new(agent), SmallStr::new(user)))
            .map(|v| v.to_string())
    }

    /// Finds or creates the pair's conversation, atomically for concurrent callers.
    /// `decide(existing)` sees the pair's latest conversation and says whether to reuse it; when
    /// not, `make()` builds the new one (and may archive the old one through the given ref).
    /// Returns the conversation id and whether it was created.
    pub fn resolve_pair(
        &self,
        account: &str,
        agent: &str,
        user: &str,
        reuse: impl FnOnce(&mut Conversation) -> bool,
        make: impl FnOnce() -> Conversation,
    ) -> (String, bool) {
        let mut pair = self
            .inner
            .pairs
            .entry((SmallStr::new(agent), SmallStr::new(user)))
            .or_default();
        if !pair.is_empty() {
            if let Some(mut c) = self.inner.conversations.get_mut(&**pair) {
                if c.change(&self.inner.events, reuse) {
                    return (String::from(&*c.id), false);
                }
            }
        }
        let mut conv = make();
        // A stored conversation (from a document, or from a run with the same seed) may hold
        // the id this run drew next: draw again.
        while self.inner.conversations.contains_key(&*conv.id) {
            conv.id = self.ids().uuid().into();
        }
        let slot = Slot::new(conv);
        let (id, row) = (slot.id.clone(), slot.row.clone());
        self.inner.conversations.insert(id.clone(), slot);
        *pair = id.clone();
        // Told once it can be read, and before the pair's next request can change it.
        self.told_created(&id);
        drop(pair);
        self.account_mut(account).conversations.push(row);
        self.adjust_conversation_count(agent, 1);
        (id.to_string(), true)
    }

    /// Publishes a stored conversation's `conversation.created` (and its messages).
    fn told_created(&self, id: &str) {
        if self.inner.events.enabled() {
            if let Some(c) = self.inner.conversations.get(id) {
                self.inner.events.created(&c);
            }
        }
    }

    /// Makes conversation `id` (owned by `account`) its pair's current one, atomically: under
    /// the pair's entry, `retire` runs on the pair's current conversation when that is another
    /// one, then `revive` on `id`. `None` when `id` is missing or another account's.
    pub fn make_current<T>(
        &self,
        account: &str,
        id: &str,
        retire: impl FnOnce(&mut Conversation),
        revive: impl FnOnce(&mut Conversation) -> T,
    ) -> Option<T> {
        let pair_key = self.read_conversation(Some(account), id, |c| {
            (c.agent_number.clone(), c.user_number.clone())
        })?;
        let mut pair = self.inner.pairs.entry(pair_key).or_default();
        if &**pair != id {
            if let Some(mut current) = self.inner.conversations.get_mut(&**pair) {
                current.change(&self.inner.events, retire);
            }
        }
        // Deleted since it was looked up: the pair stays as it was.
        let mut c = self.inner.conversations.get_mut(id)?;
        let out = c.change(&self.inner.events, revive);
        *pair = c.id.clone();
        Some(out)
    }

    /// Runs `f` on a conversation owned by `account` (any owner when `account` is `None`).
    pub fn with_conversation<T>(
        &self,
        account: Option<&str>,
        id: &str,
        f: impl FnOnce(&mut Conversation) -> T,
    ) -> Option<T> {
        let mut c = self.inner.conversations.get_mut(id)?;
        if account.is_some_and(|a| a != &*c.owner.key) {
            return None;
        }
        Some(c.change(&self.inner.events, f))
    }

    /// Reads a conversation owned by `account` (any owner when `None`) under a shared guard:
    /// readers do not wait on each other, and its list row needs no update.
    pub fn read_conversation<T>(
        &self,
        account: Option<&str>,
        id: &str,
        f: impl FnOnce(&Conversation) -> T,
    ) -> Option<T> {
        let c = self.inner.conversations.get(id)?;
        if account.is_some_and(|a| a != &*c.owner.key) {
            return None;
        }
        Some(f(&c))
    }

    /// A copy of a conversation owned by `account`.
    pub fn conversation(&self, account: &str, id: &str) -> Option<Conversation> {
        self.read_conversation(Some(account), id, Conversation::clone)
    }

    /// Whether a conversation exists under another account (analyze answers 403 for those).
    pub fn conversation_owner(&self, id: &str) -> Option<String> {
        self.inner
            .conversations
            .get(id)
            .map(|c| c.owner.key.to_string())
    }

    /// The account's conversation ids, in creation order.
    pub fn conversation_ids(&self, account: &str) -> Vec<Arc<str>> {
        self.inner
            .accounts
            .get(account)
            .map(|a| a.conversations.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// A page of the account's conversation ids in creation order (or its reverse), and the
    /// total; copies only the page.
    pub fn conversation_ids_page(
        &self,
        account: &str,
        skip: usize,
        take: usize,
        newest_first: bool,
    ) -> (usize, Vec<String>) {
        let Some(a) = self.inner.accounts.get(account) else {
            return (0, Vec::new());
        };
        let all = &a.conversations;
        let page = if newest_first {
            all.iter()
                .rev()
                .skip(skip)
                .take(take)
                .map(|r| r.id.to_string())
                .collect()
        } else {
            all.iter()
                .skip(skip)
                .take(take)
                .map(|r| r.id.to_string())
                .collect()
        };
        (all.len(), page)
    }

    /// Runs `f` on the account's list rows in creation order, under a shared guard (only
    /// atomic reads happen meanwhile); `f` sees none when the account has no conversations.
    pub fn with_rows<T>(&self, account: &str, f: impl FnOnce(&[Arc<Row>]) -> T) -> T {
        match self.inner.accounts.get(account) {
            Some(a) => f(&a.conversations),
            None => f(&[]),
        }
    }

    /// Conversations held, and how many are active (one pass, one shard at a time).
    pub fn conversation_counts(&self) -> (usize, usize) {
        let active = self
            .inner
            .conversations
            .iter()
            .filter(|c| c.is_active)
            .count();
        (self.inner.conversations.len(), active)
    }

    /// Stores a conversation read from a document, in its account's creation order. It becomes
    /// its pair's conversation unless the pair already has an active one.
    pub fn insert_conversation(&self, mut conv: Conversation) {
        // Shares the account's owner with its other conversations.
        conv.owner = self.owner(&conv.owner.key);
        // An id the loader drew for a conversation the document gave none may be another's.
        while self.inner.conversations.contains_key(&*conv.id) {
            conv.id = self.ids().uuid().into();
        }
        let id = conv.id.clone();
        let (account, agent) = (conv.owner.key.clone(), conv.agent_number.clone());
        let pair_key = (conv.agent_number.clone(), conv.user_number.clone());
        let active = conv.is_active;
        let mut pair = self.inner.pairs.entry(pair_key).or_default();
        let keep = !active
            && self
                .inner
                .conversations
                .get(&**pair)
                .is_some_and(|c| c.is_active);
        let slot = Slot::new(conv);
        let row = slot.row.clone();
        self.inner.conversations.insert(id.clone(), slot);
        if !keep {
            *pair = id.clone();
        }
        self.told_created(&id);
        drop(pair);
        self.account_mut(&account).conversations.push(row);
        self.adjust_conversation_count(&agent, 1);
    }

    /// Deletes a conversation owned by `account`; returns it.
    pub fn delete_conversation(&self, account: &str, id: &str) -> Option<Conversation> {
        let (_, Slot { conv, .. }) = self
            .inner
            .conversations
            .remove_if(id, |_, c| &*c.owner.key == account)?;
        self.inner.pairs.remove_if(
            &(conv.agent_number.clone(), conv.user_number.clone()),
            |_, v| **v == *id,
        );
        if let Some(mut a) = self.inner.accounts.get_mut(account) {
            a.conversations.retain(|r| *r.id != *id);
        }
        self.adjust_conversation_count(&conv.agent_number, -1);
        self.inner
            .events
            .publish(|| Change::ConversationDeleted(Ends::of(&conv)));
        Some(*conv)
    }

    // ---- opt-outs -------------------------------------------------------------------------

    pub fn is_opted_out(&self, agent: &str, user: &str) -> bool {
        self.inner.optout_count.load(Ordering::Acquire) > 0
            && self
                .inner
                .optouts
                .contains(&(agent.to_string(), user.to_string()))
    }
    /// Every opted-out (agent, user) pair, sorted.
    pub fn opt_outs(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self.inner.optouts.iter().map(|p| p.key().clone()).collect();
        v.sort();
        v
    }
    pub fn set_opted_out(&self, agent: &str, user: &str, out: bool) {
        let k = (agent.to_string(), user.to_string());
        let count = &self.inner.optout_count;
        if out {
            count.fetch_add(1, Ordering::AcqRel);
            if !self.inner.optouts.insert(k) {
                count.fetch_sub(1, Ordering::AcqRel);
            }
        } else if self.inner.optouts.remove(&k).is_some() {
            count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    // ---- outbox ---------------------------------------------------------------------------

    /// Records a text sent outside any conversation; the oldest beyond [`OUTBOX_CAP`] is dropped.
    pub fn record_outbox(&self, text: serde_json::Value) {
        self.inner.outbox.push(|_| text);
    }

    /// The recorded out-of-conversation texts, oldest first.
    pub fn outbox(&self) -> Vec<serde_json::Value> {
        self.inner.outbox.list(|_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reproducible_per_seed() {
        let a = Ids::new(7);
        let b = Ids::new(7);
        let first = a.uuid();
        assert_eq!(first, b.uuid());
        assert_ne!(first, a.uuid());
        a.reset();
        assert_eq!(first, a.uuid());
        assert_ne!(Ids::new(8).uuid(), first);
    }

    #[test]
    fn a_number_has_one_owner() {
        let s = Store::new(1, Arc::new(Events::new(1, 1, 1)));
        assert!(s
            .provision("k1", "+15550002222", None, false, vec![], None)
            .is_ok());
        assert_eq!(
            s.provision("k2", "+15550002222", None, false, vec![], None)
                .unwrap_err(),
            ProvisionError::OwnedByAnother
        );
        assert_eq!(s.numbers_of("k1").len(), 1);
        assert!(s.numbers_of("k2").is_empty());
    }
}
