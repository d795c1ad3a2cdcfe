//! Carrier realism (opt-in): how a text is encoded and split into segments (GSM-7 with its
//! escape characters, or UCS-2, as Twilio counts them), how long it takes to go from `queued`
//! to `sent` to `delivered` on the simulator's clock, and the failure rules that make the texts
//! to some users end `failed` or `undelivered` with an error code.
//!
//! By default every text is delivered at once. Rules apply in both modes: with instant
//! delivery a text a rule matches ends at once in the rule's status.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::base::clock::TimerKey;
use crate::base::maps::ShardedMap;

/// Failure rules kept at once.
pub(crate) const MAX_RULES: usize = 1000;

/// The longest a read rule waits: a day.
pub(crate) const MAX_READ_AFTER_MS: u64 = 86_400_000;

/// How a text is encoded for the carrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// GSM 03.38's basic characters outside ASCII (in ASCII, every printable character but
/// `` ` `` and the extension ones, and `\n` and `\r`).
const GSM_BASIC_WIDE: &str = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";

/// Septets a character takes in GSM-7: 1, 2 (an escape, then the character), or `None`
/// outside GSM-7.
fn septets(ch: char) -> Option<usize> {
    match ch {
        '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '\u{0C}' | '€' => Some(2),
        '`' => None,
        ' '..='~' | '\n' | '\r' => Some(1),
        c if !c.is_ascii() && GSM_BASIC_WIDE.contains(c) => Some(1),
        _ => None,
    }
}

/// The text's encoding and how many segments it takes: GSM-7 carries 160 septets in one
/// segment and 153 in each of several; UCS-2 carries 70 UTF-16 units in one and 67 in each of
/// several (an emoji outside the basic plane takes two units).
pub(crate) fn segments(text: &str) -> (Encoding, usize) {
    let mut total = 0usize;
    for ch in text.chars() {
        match septets(ch) {
            Some(n) => total += n,
            None => {
                let units: usize = text.chars().map(char::len_utf16).sum();
                return (Encoding::Ucs2, split(units, 70, 67));
            }
        }
    }
    (Encoding::Gsm7, split(total, 160, 153))
}

fn split(units: usize, single: usize, each: usize) -> usize {
    if units <= single {
        1
    } else {
        units.div_ceil(each)
    }
}

/// How a failing text ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Failure {
    /// Never sent (at the `sent` step).
    Failed,
    /// Sent, never delivered.
    Undelivered,
}

impl Failure {
    /// The message status it ends in.
    pub fn status(self) -> crate::state::model::MessageStatus {
        match self {
            Failure::Failed => crate::state::model::MessageStatus::Failed,
            Failure::Undelivered => crate::state::model::MessageStatus::Undelivered,
        }
    }
}

/// A failure rule: the texts to a user number (exactly, or every number with a prefix) end
/// `status` with `error_code`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A failure rule: the status and carrier code of the texts it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    /// An RCS rule: `false` for users whose phones do not take RCS (every user does unless a
    /// rule says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcs: Option<bool>,
    /// A read rule: with carrier realism, the user reads an RCS or WhatsApp message this many
    /// milliseconds after it is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_after_ms: Option<u64>,
}

impl Rule {
    fn matches(&self, user: &str) -> bool {
        self.user_number.as_deref() == Some(user)
            || self.prefix.as_deref().is_some_and(|p| user.starts_with(p))
    }

    /// The rule's mistakes, if any.
    pub fn check(&self) -> Result<(), String> {
        match (&self.user_number, &self.prefix) {
            (None, None) | (Some(_), Some(_)) => {
                Err("a rule names one of `user_number` (exact) or `prefix`".into())
            }
            (_, Some(p)) if !p.starts_with('+') || p.len() > 16 => Err(format!(
                "`prefix` is the start of an E.164 number: `+` and at most 15 digits, got {p:?}"
            )),
            (Some(u), _) if crate::base::validation::e164("user_number", u).is_err() => Err(
                format!("`user_number` is an E.164 number such as +15550001111, got {u:?}"),
            ),
            _ if self.read_after_ms.is_some_and(|ms| ms > MAX_READ_AFTER_MS) => Err(format!(
                "`read_after_ms` is at most {MAX_READ_AFTER_MS} (a day)"
            )),
            _ => match (
                self.status,
                self.error_code,
                self.rcs.or(self.read_after_ms.map(|_| true)),
            ) {
                (Some(_), Some(code), _) if code < 10_000 => Err(format!(
                    "`error_code` is a five-digit carrier code such as 30003 or 30006, got {code}"
                )),
                (Some(_), Some(_), None) | (None, None, Some(_)) => Ok(()),
                _ => Err(
                    "a rule gives `status` and `error_code` (a failure), or `rcs` (whether the \
                     user's phone takes RCS) and `read_after_ms` (when the user reads)"
                        .into(),
                ),
            },
        }
    }
}

/// The carrier's settings and rules.
pub(crate) struct Carrier {
    /// `--carrier realistic`: every account's texts go queued → sent → delivered.
    pub realistic: bool,
    /// How long a text is `pending` before it is `queued` (0: queued at once).
    pub pending_after_ms: u64,
    pub sent_after_ms: u64,
    pub delivered_after_ms: u64,
    /// Accounts whose fixtures say otherwise than `realistic`.
    accounts: ShardedMap<String, bool>,
    /// Whether `accounts` has any (a text looks nothing up when not).
    any_account: std::sync::atomic::AtomicBool,
    rules: ArcSwap<Vec<Rule>>,
    /// The pending steps of each conversation's texts in flight, so that deleting the
    /// conversation cancels them (on a manual clock they would otherwise wait for good).
    pending: ShardedMap<String, Vec<TimerKey>>,
}

impl Carrier {
    pub fn new(realistic: bool, sent_after_ms: u64, delivered_after_ms: u64) -> Self {
        Carrier {
            realistic,
            pending_after_ms: 0,
            sent_after_ms,
            delivered_after_ms,
            accounts: ShardedMap::default(),
            any_account: Default::default(),
            rules: ArcSwap::from_pointee(Vec::new()),
            pending: ShardedMap::default(),
        }
    }

    /// Notes a pending step of `conversation`'s.
    pub fn track(&self, conversation: &str, key: TimerKey) {
        self.pending
            .entry(conversation.to_string())
            .or_default()
            .push(key);
    }

    /// Forgets a step that fired.
    pub fn done(&self, conversation: &str, key: TimerKey) {
        self.pending.remove_if_mut(conversation, |_, keys| {
            keys.retain(|k| *k != key);
            keys.is_empty()
        });
    }

    /// The pending steps of a deleted conversation, forgotten.
    pub fn forget(&self, conversation: &str) -> Vec<TimerKey> {
        self.pending
            .remove(conversation)
            .map(|(_, keys)| keys)
            .unwrap_or_default()
    }

    /// Whether `account`'s texts take their time.
    pub fn realistic_for(&self, account: &str) -> bool {
        if !self.any_account.load(std::sync::atomic::Ordering::Acquire) {
            return self.realistic;
        }
        self.accounts.get(account).map_or(self.realistic, |r| *r)
    }

    /// An account's own mode, when its fixtures set one.
    pub fn account_mode(&self, account: &str) -> Option<bool> {
        self.accounts.get(account).map(|r| *r)
    }

    /// Sets an account's mode (fixtures).
    pub fn set_account(&self, account: &str, realistic: bool) {
        self.accounts.insert(account.to_string(), realistic);
        self.any_account
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// How texts to `user` fail, when a rule says so (the first that matches).
    pub fn failure_for(&self, user: &str) -> Option<(Failure, u16)> {
        let rules = self.rules.load();
        rules
            .iter()
            .filter(|r| r.matches(user))
            .find_map(|r| Some((r.status?, r.error_code?)))
    }

    /// How long after delivery `user` reads an RCS or WhatsApp message (the first read rule
    /// that matches), under carrier realism.
    pub fn read_after(&self, user: &str) -> Option<u64> {
        let rules = self.rules.load();
        rules
            .iter()
            .filter(|r| r.matches(user))
            .find_map(|r| r.read_after_ms)
    }

    /// Whether `user`'s phone takes RCS: yes, unless the first RCS rule that matches says no.
    pub fn takes_rcs(&self, user: &str) -> bool {
        let rules = self.rules.load();
        rules
            .iter()
            .filter(|r| r.matches(user))
            .find_map(|r| r.rcs)
            .unwrap_or(true)
    }

    pub fn rules(&self) -> Arc<Vec<Rule>> {
        self.rules.load_full()
    }

    /// Adds a checked rule; `false` when [`MAX_RULES`] are kept already.
    pub fn add_rule(&self, rule: Rule) -> bool {
        let mut full = false;
        self.rules.rcu(|rules| {
            full = rules.len() >= MAX_RULES;
            let mut next = Vec::clone(rules);
            if !full {
                next.push(rule.clone());
            }
            next
        });
        !full
    }

    /// Drops every rule and every account's own mode (a reset; fixtures set them again).
    pub fn clear(&self) {
        self.clear_rules();
        self.pending.clear();
        self.accounts.clear();
        self.any_account
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Drops the rules only.
    pub fn clear_rules(&self) {
        self.rules.store(Arc::new(Vec::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_as_twilio_counts_them() {
        assert_eq!(segments(""), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
        // An escape character takes two septets: 80 euro signs fill one segment.
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
        // One character outside GSM-7 makes the whole text UCS-2.
        assert_eq!(
            segments(&format!("{}ç", "a".repeat(69))),
            (Encoding::Ucs2, 1)
        );
        assert_eq!(
            segments(&format!("{}ç", "a".repeat(70))),
            (Encoding::Ucs2, 2)
        );
        assert_eq!(
            segments(&"😀".repeat(35)),
            (Encoding::Ucs2, 1),
            "two units each"
        );
        assert_eq!(segments(&"😀".repeat(36)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"a".repeat(135)), (Encoding::Gsm7, 1));
        // Every basic character is one septet; the backtick is not GSM-7 at all.
        assert_eq!(
            segments("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"),
            (Encoding::Gsm7, 1)
        );
        assert_eq!(segments("`").0, Encoding::Ucs2);
    }

    #[test]
    fn rules_match_exactly_or_by_prefix_and_are_checked() {
        let c = Carrier::new(false, 1000, 2000);
        let rule = |u: Option<&str>, p: Option<&str>, code| Rule {
            user_number: u.map(String::from),
            prefix: p.map(String::from),
            status: Some(Failure::Undelivered),
            error_code: Some(code),
            rcs: None,
            read_after_ms: None,
        };
        assert!(c.add_rule(rule(Some("+15550001111"), None, 30003)));
        assert!(c.add_rule(rule(None, Some("+1555"), 30006)));
        assert_eq!(
            c.failure_for("+15550001111"),
            Some((Failure::Undelivered, 30003))
        );
        assert_eq!(
            c.failure_for("+15559999999"),
            Some((Failure::Undelivered, 30006))
        );
        assert_eq!(c.failure_for("+447700900123"), None);
        assert!(rule(None, None, 30003).check().is_err());
        assert!(rule(None, Some("1555"), 30003).check().is_err());
        assert!(rule(Some("+1"), None, 42).check().is_err());
        // An RCS rule: no failure, and the phones it names take no RCS.
        let no_rcs = Rule {
            status: None,
            error_code: None,
            rcs: Some(false),
            ..rule(Some("+15550002222"), None, 30003)
        };
        assert!(no_rcs.check().is_ok() && c.add_rule(no_rcs));
        assert!(!c.takes_rcs("+15550002222") && c.takes_rcs("+15550003333"));
        assert_eq!(
            c.failure_for("+15550002222"),
            Some((Failure::Undelivered, 30006))
        );
        let neither = Rule {
            status: None,
            ..rule(Some("+15550002222"), None, 30003)
        };
        assert!(neither.check().is_err());
    }
}
