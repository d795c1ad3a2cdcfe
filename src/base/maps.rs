//! The sharded maps state lives in: `DashMap`s hashed with foldhash, which is several times
//! faster than the standard SipHash on the short keys used here (ids, phone numbers, API
//! keys). The keys come from the simulator's own users, not from an adversary that needs
//! HashDoS resistance; each process still draws its own seed.

pub(crate) type Hasher = foldhash::fast::RandomState;
pub(crate) type ShardedMap<K, V> = dashmap::DashMap<K, V, Hasher>;
pub(crate) type ShardedSet<K> = dashmap::DashSet<K, Hasher>;
