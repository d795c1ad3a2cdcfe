//! Fault rules (`/_sim/faults`): break things on purpose. An API rule answers a matching
//! request with an error, a delay or a dropped connection instead of its normal answer; a
//! webhook rule drops, duplicates, delays or fakes the receiver's answer for matching
//! deliveries. Rules fire at most `times` times and with `probability`, drawn from the seeded
//! generator, so a run under `--seed` is reproducible. The rule list is read without a lock.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::event::Event;
use crate::base::input::typed;

/// What an API rule does to a matching request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ApiFault {
    /// Answer with this status and Bland error code instead.
    Error {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// Wait, then answer normally.
    Delay(u64),
    /// Close the connection with no answer.
    Drop,
}

/// What a webhook rule does to a matching attempt.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WebhookFault {
    /// Logged as dropped; nothing is sent and it is not retried.
    Drop,
    /// Sent twice, same body and signature.
    Duplicate,
    /// Sent after this many milliseconds (real time).
    Delay(u64),
    /// Not sent: treated as if the receiver had answered this status (so retries follow).
    Status(u16),
}

#[derive(Clone, Debug)]
enum Effect {
    Api(ApiFault),
    Webhook(WebhookFault),
}

/// One rule and how often it fired.
#[derive(Debug)]
pub(crate) struct Rule {
    id: u64,
    method: String,
    path: Option<Vec<String>>,
    api_key: Option<String>,
    event: Option<Event>,
    conversation_id: Option<String>,
    effect: Effect,
    probability: f64,
    times: Option<u64>,
    fired: AtomicU64,
    /// Matches seen, for the seeded draw.
    seen: AtomicU64,
    raw: Value,
}

/// A rule as `POST /_sim/faults` takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    target: Option<String>,
    method: Option<String>,
    path: Option<String>,
    api_key: Option<String>,
    status: Option<u16>,
    error: Option<String>,
    message: Option<String>,
    delay_ms: Option<u64>,
    drop_connection: Option<bool>,
    probability: Option<f64>,
    times: Option<u64>,
    event: Option<String>,
    conversation_id: Option<String>,
    effect: Option<String>,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::invalid(m)
}

impl RuleBody {
    /// The rule's probability, event and effect; the error names the first wrong field, in the
    /// order probability, target, event, effect.
    fn checked(&self) -> Result<(f64, Option<Event>, Effect), ApiError> {
        let probability = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(invalid("`probability` must be between 0 and 1"));
        }
        let webhook = match self.target.as_deref() {
            None | Some("api") => false,
            Some("webhook") => true,
            Some(t) => {
                return Err(invalid(format!(
                    "`target` must be api or webhook, got {t:?}"
                )))
            }
        };
        let event = match &self.event {
            Some(e) => Some(
                Event::parse(e)
                    .ok_or_else(|| invalid(format!("`event` must be one of {}", Event::names())))?,
            ),
            None => None,
        };
        let effect = if webhook {
            Effect::Webhook(self.webhook_effect()?)
        } else {
            if self.path.is_none() {
                return Err(invalid(
                    "an API fault needs `path` (`*` matches one segment)",
                ));
            }
            Effect::Api(self.api_effect()?)
        };
        Ok((probability, event, effect))
    }

    fn api_effect(&self) -> Result<ApiFault, ApiError> {
        if self.drop_connection == Some(true) {
            return Ok(ApiFault::Drop);
        }
        match (self.status, self.delay_ms) {
            (Some(status), _) => {
                if !(400..600).contains(&status) {
                    return Err(invalid("`status` must be an error status, 400 to 599"));
                }
                let code = intern(self.error.as_deref().unwrap_or("FAULT_INJECTED"))?;
                let message = self.message.clone().unwrap_or_else(|| {
                    format!("{code}: answered by a /_sim/faults rule instead of the real answer")
                });
                Ok(ApiFault::Error {
                    status,
                    code,
                    message,
                })
            }
            (None, Some(ms)) => Ok(ApiFault::Delay(ms)),
            (None, None) => Err(invalid(
                "an API fault needs `status` (with `error`), `delay_ms` or `drop_connection`",
            )),
        }
    }

    fn webhook_effect(&self) -> Result<WebhookFault, ApiError> {
        match self.effect.as_deref() {
            Some("drop") => Ok(WebhookFault::Drop),
            Some("duplicate") => Ok(WebhookFault::Duplicate),
            Some("delay_ms") | None if self.delay_ms.is_some() => {
                Ok(WebhookFault::Delay(self.delay_ms.unwrap_or(0)))
            }
            Some("status") | None if self.status.is_some() => {
                Ok(WebhookFault::Status(self.status.unwrap_or(500)))
            }
            _ => Err(invalid(
                "a webhook fault needs `effect`: drop, duplicate, delay_ms (with `delay_ms`) or \
                 status (with `status`)",
            )),
        }
    }
}

/// Rules in force at once, and the size of one (so the rules take at most 4 MiB).
pub(crate) const MAX_RULES: usize = 1000;
pub(crate) const MAX_RULE_BYTES: usize = 4096;

/// Distinct error codes fault rules may use in one process.
const MAX_CODES: usize = 1024;

/// A rule's error code as the `&'static str` every error carries. Each distinct code is
/// allocated once for the process (at most [`MAX_CODES`] of them, so memory stays bounded).
fn intern(code: &str) -> Result<&'static str, ApiError> {
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let well_formed = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(invalid(format!(
            "`error` must be an error code like SMS_RL_PLAN_HOURLY (A-Z, 0-9, _; at most 64), got {code:?}"
        )));
    }
    let mut codes = CODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(known) = codes.get(code) {
        return Ok(known);
    }
    if codes.len() >= MAX_CODES {
        return Err(invalid(format!(
            "at most {MAX_CODES} distinct fault error codes per process"
        )));
    }
    let code: &'static str = Box::leak(code.to_string().into_boxed_str());
    codes.insert(code);
    Ok(code)
}

/// The rules in force.
pub(crate) struct Faults {
    rules: ArcSwap<Vec<Arc<Rule>>>,
    next: AtomicU64,
    seed: u64,
}

/// `/a/*/c` as segments; `*` matches one segment.
fn pattern(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .map(String::from)
        .collect()
}

fn path_matches(pattern: &[String], path: &str) -> bool {
    let segs: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    segs.len() == pattern.len() && pattern.iter().zip(&segs).all(|(p, s)| p == "*" || p == s)
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Faults {
            rules: ArcSwap::from_pointee(Vec::new()),
            next: AtomicU64::new(1),
            seed,
        }
    }

    /// Adds a rule from its JSON; returns its view.
    ///
    /// # Errors
    /// 400 `INVALID_PARAMETER` naming what is wrong.
    pub fn add(&self, body: &Value) -> Result<Value, ApiError> {
        self.check_room(body)?;
        let b: RuleBody = typed(body)?;
        let (probability, event, effect) = b.checked()?;
        // The id is taken only once the rule is known good, so refused rules use up none.
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut raw = body.clone();
        raw["id"] = json!(id);
        let rule = Arc::new(Rule {
            id,
            method: b.method.unwrap_or_else(|| "*".into()).to_ascii_uppercase(),
            path: b.path.as_deref().map(pattern),
            api_key: b.api_key,
            event,
            conversation_id: b.conversation_id,
            effect,
            probability,
            times: b.times,
            fired: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            raw,
        });
        let view = rule.view();
        self.rules.rcu(|rules| {
            let mut next = Vec::clone(rules);
            next.push(rule.clone());
            next
        });
        Ok(view)
    }

    /// Refuses a rule past [`MAX_RULES`] in force or over [`MAX_RULE_BYTES`] of JSON.
    fn check_room(&self, body: &Value) -> Result<(), ApiError> {
        if self.rules.load().len() >= MAX_RULES {
            return Err(invalid(format!(
                "at most {MAX_RULES} fault rules; DELETE /_sim/faults clears them"
            )));
        }
        if body.to_string().len() > MAX_RULE_BYTES {
            return Err(invalid(format!(
                "a fault rule is at most {MAX_RULE_BYTES} bytes of JSON"
            )));
        }
        Ok(())
    }

    /// Every rule with how often it fired.
    pub fn list(&self) -> Vec<Value> {
        self.rules.load().iter().map(|r| r.view()).collect()
    }

    /// Removes one rule; whether it existed.
    pub fn remove(&self, id: u64) -> bool {
        let before = self.rules.load().len();
        self.rules.rcu(|rules| {
            rules
                .iter()
                .filter(|r| r.id != id)
                .cloned()
                .collect::<Vec<_>>()
        });
        self.rules.load().len() < before
    }

    pub fn clear(&self) {
        self.rules.store(Arc::new(Vec::new()));
    }

    /// The first API rule that fires for this request, if any.
    pub fn for_request(&self, method: &str, path: &str, key: Option<&str>) -> Option<ApiFault> {
        let rules = self.rules.load();
        rules.iter().find_map(|r| {
            let Effect::Api(fault) = &r.effect else {
                return None;
            };
            let matches = (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && r.path.as_ref().is_some_and(|p| path_matches(p, path))
                && r.api_key.as_deref().is_none_or(|k| Some(k) == key);
            (matches && self.fires(r)).then(|| fault.clone())
        })
    }

    /// The first webhook rule that fires for this delivery, if any.
    pub fn for_delivery(&self, event: Event, conversation_id: &str) -> Option<(u64, WebhookFault)> {
        let rules = self.rules.load();
        rules.iter().find_map(|r| {
            let Effect::Webhook(fault) = &r.effect else {
                return None;
            };
            let matches = r.event.is_none_or(|e| e == event)
                && r.conversation_id
                    .as_deref()
                    .is_none_or(|c| c == conversation_id);
            (matches && self.fires(r)).then(|| (r.id, fault.clone()))
        })
    }

    /// Whether a matching rule fires now: within `times`, and by the seeded draw.
    fn fires(&self, r: &Rule) -> bool {
        let n = r.seen.fetch_add(1, Ordering::Relaxed);
        if r.probability < 1.0 {
            let mut rng = StdRng::seed_from_u64(self.seed ^ (r.id << 32) ^ n);
            if !rng.random_bool(r.probability) {
                return false;
            }
        }
        let fired = r.fired.fetch_add(1, Ordering::Relaxed);
        if r.times.is_some_and(|t| fired >= t) {
            r.fired.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl Rule {
    fn view(&self) -> Value {
        let mut v = self.raw.clone();
        v["fired"] = json!(self.fired.load(Ordering::Relaxed));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_exactly_or_by_one_segment_wildcard() {
        let p = pattern("/v1/sms/conversations/*/messages");
        assert!(path_matches(&p, "/v1/sms/conversations/abc/messages"));
        assert!(!path_matches(&p, "/v1/sms/conversations/abc"));
        assert!(!path_matches(&p, "/v1/sms/conversations/a/b/messages"));
        assert!(path_matches(&pattern("/v1/sms/send"), "/v1/sms/send/"));
    }

    #[test]
    fn times_and_probability_bound_the_firing() {
        let f = Faults::new(7);
        f.add(&json!({"method": "POST", "path": "/v1/sms/send", "status": 429, "error": "SMS_RL_PLAN_HOURLY", "times": 2}))
            .unwrap();
        let fired = (0..5)
            .filter(|_| f.for_request("POST", "/v1/sms/send", None).is_some())
            .count();
        assert_eq!(fired, 2);
        assert_eq!(f.list()[0]["fired"], 2);
        let g = Faults::new(7);
        g.add(&json!({"path": "/x", "delay_ms": 1, "probability": 0.5}))
            .unwrap();
        let a: Vec<bool> = (0..200)
            .map(|_| g.for_request("GET", "/x", None).is_some())
            .collect();
        let h = Faults::new(7);
        h.add(&json!({"path": "/x", "delay_ms": 1, "probability": 0.5}))
            .unwrap();
        let b: Vec<bool> = (0..200)
            .map(|_| h.for_request("GET", "/x", None).is_some())
            .collect();
        assert_eq!(a, b, "reproducible under one seed");
        let n = a.iter().filter(|x| **x).count();
        assert!((60..140).contains(&n), "about half fired: {n}");
    }
}
