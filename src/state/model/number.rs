//! Numbers and their per-channel configs (§3.1, §3.2, §4.1).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::input;
use crate::base::validation::{self, Channel};

/// Bland's smallest inactivity timeout; positive values under it are raised to it.
pub const MIN_TIME_OUT: u64 = 30;

/// A number's per-channel config (`sms_config`, `whatsapp_config`, `imessage_config`), with the
/// defaults Bland's update response shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NumberConfig {
    pub webhook: Option<String>,
    pub request_data: Value,
    pub response_data: Value,
    pub time_out: Option<u64>,
    pub timeout_action: Option<String>,
    pub timeout_message: Option<String>,
    pub warning_time: Option<u64>,
    pub warning_message: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub objective: String,
    pub tools: Value,
    pub temperature: Value,
    pub use_candidate_model: Option<bool>,
    pub pathway_id: Option<String>,
    pub pathway_version: Value,
    pub start_node_id: Option<String>,
    pub restart_after_end_call: bool,
    pub timezone: Option<String>,
    pub summary_prompt: Option<String>,
    pub disposition_ids: Option<Vec<String>>,
    pub citation_schema_ids: Option<Vec<String>>,
    /// This config as JSON, written the first time a number list shows it (a config is never
    /// changed in place: an update stores a new one).
    #[serde(skip)]
    pub(crate) json: JsonCache,
}

/// A config's JSON, written once. Copies and comparisons ignore it: a copy is a config about
/// to change.
#[derive(Default)]
pub(crate) struct JsonCache(std::sync::OnceLock<Box<serde_json::value::RawValue>>);

impl Clone for JsonCache {
    fn clone(&self) -> Self {
        JsonCache::default()
    }
}

impl PartialEq for JsonCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for JsonCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonCache")
    }
}

impl NumberConfig {
    /// The config as JSON, as an SMS or WhatsApp number shows it.
    fn cached_json(&self) -> &serde_json::value::RawValue {
        self.json
            .0
            .get_or_init(|| serde_json::value::to_raw_value(self).expect("a config serializes"))
    }
}

impl Default for NumberConfig {
    fn default() -> Self {
        NumberConfig {
            webhook: None,
            request_data: json!([]),
            response_data: Value::Null,
            time_out: None,
            timeout_action: None,
            timeout_message: None,
            warning_time: None,
            warning_message: None,
            messaging_service_sid: None,
            objective: "Chat with the user".into(),
            tools: json!([]),
            temperature: json!(0),
            use_candidate_model: None,
            pathway_id: None,
            pathway_version: Value::Null,
            start_node_id: None,
            restart_after_end_call: true,
            timezone: None,
            summary_prompt: None,
            disposition_ids: None,
            citation_schema_ids: None,
            json: JsonCache::default(),
        }
    }
}

/// One field of a partial update: absent (unchanged), `null` (back to its default), or a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Patch<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Patch<T> {
    pub fn given(&self) -> bool {
        !matches!(self, Patch::Absent)
    }
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Set(v) => Patch::Set(f(v)),
        }
    }
    /// Writes the patch into `slot`; `null` writes `default`.
    fn set(self, slot: &mut T, default: T) {
        match self {
            Patch::Absent => {}
            Patch::Null => *slot = default,
            Patch::Set(v) => *slot = v,
        }
    }
    /// Writes the patch into an optional `slot`; `null` clears it.
    fn set_opt(self, slot: &mut Option<T>) {
        self.map(Some).set(slot, None);
    }
    /// The value in force after the patch, over `current`.
    pub fn over(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Set(v) => Some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Patch::Null, Patch::Set))
    }
}

/// [`Patch`] over one of `input`'s checked field readers.
macro_rules! patch_with {
    ($name:ident, $reader:path, $t:ty) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Patch<$t>, D::Error> {
            Ok($reader(d)?.map_or(Patch::Null, Patch::Set))
        }
    };
}
patch_with!(patch_url, input::de_url, String);
patch_with!(patch_seconds, input::de_seconds, u64);
patch_with!(patch_object_or_array, input::de_object_or_array, Value);
patch_with!(patch_version, input::de_version_value, Value);

/// A number config update (§3.2), and the shape of a config in fixtures: every field optional.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct ConfigPatch {
    #[serde(default, deserialize_with = "patch_url")]
    pub webhook: Patch<String>,
    #[serde(default, deserialize_with = "patch_object_or_array")]
    pub request_data: Patch<Value>,
    #[serde(default, deserialize_with = "patch_object_or_array")]
    pub response_data: Patch<Value>,
    #[serde(default, deserialize_with = "patch_seconds")]
    pub time_out: Patch<u64>,
    #[serde(default)]
    pub timeout_action: Patch<String>,
    #[serde(default)]
    pub timeout_message: Patch<String>,
    #[serde(default, deserialize_with = "patch_seconds")]
    pub warning_time: Patch<u64>,
    #[serde(default)]
    pub warning_message: Patch<String>,
    #[serde(default)]
    pub messaging_service_sid: Patch<String>,
    #[serde(default)]
    pub objective: Patch<String>,
    #[serde(default)]
    pub prompt: Patch<String>,
    #[serde(default)]
    pub task: Patch<String>,
    #[serde(default)]
    pub tools: Patch<Vec<Value>>,
    #[serde(default)]
    pub temperature: Patch<serde_json::Number>,
    #[serde(default)]
    pub use_candidate_model: Patch<bool>,
    #[serde(default)]
    pub pathway_id: Patch<String>,
    #[serde(default, deserialize_with = "patch_version")]
    pub pathway_version: Patch<Value>,
    #[serde(default)]
    pub start_node_id: Patch<String>,
    #[serde(default)]
    pub restart_after_end_call: Patch<bool>,
    #[serde(default)]
    pub timezone: Patch<String>,
    #[serde(default)]
    pub summary_prompt: Patch<String>,
    #[serde(default)]
    pub disposition_ids: Patch<Vec<String>>,
    #[serde(default)]
    pub citation_schema_ids: Patch<Vec<String>>,
}

/// Normalizes a `time_out`: 0 disables it, positive values under 30 s become 30 s.
pub fn normalize_time_out(t: Option<u64>) -> Option<u64> {
    match t {
        None | Some(0) => None,
        Some(t) => Some(t.max(MIN_TIME_OUT)),
    }
}

impl NumberConfig {
    /// This config with a patch applied: a field given as `null` goes back to its default.
    /// `prompt` and `task` are aliases of `objective` (the last given wins). Timeout rules are
    /// checked by the caller.
    ///
    /// # Errors
    /// 400 `INVALID_PARAMETER` for a `timezone` that is not an IANA zone name.
    pub fn merged(&self, p: ConfigPatch) -> Result<NumberConfig, ApiError> {
        let mut c = self.clone();
        let d = NumberConfig::default();
        if let Patch::Set(tz) = &p.timezone {
            validation::timezone(tz)?;
        }
        p.webhook.set_opt(&mut c.webhook);
        p.request_data.set(&mut c.request_data, d.request_data);
        p.response_data.set(&mut c.response_data, Value::Null);
        p.time_out.map(Some).set(&mut c.time_out, None);
        c.time_out = normalize_time_out(c.time_out);
        p.timeout_action.set_opt(&mut c.timeout_action);
        p.timeout_message.set_opt(&mut c.timeout_message);
        p.warning_time.set_opt(&mut c.warning_time);
        c.warning_time = c.warning_time.filter(|&w| w > 0);
        p.warning_message.set_opt(&mut c.warning_message);
        p.messaging_service_sid
            .set_opt(&mut c.messaging_service_sid);
        for alias in [p.objective, p.prompt, p.task] {
            alias.set(&mut c.objective, d.objective.clone());
        }
        p.tools.map(Value::Array).set(&mut c.tools, d.tools);
        p.temperature
            .map(Value::Number)
            .set(&mut c.temperature, d.temperature);
        p.use_candidate_model.set_opt(&mut c.use_candidate_model);
        p.pathway_id.set_opt(&mut c.pathway_id);
        p.pathway_version.set(&mut c.pathway_version, Value::Null);
        p.start_node_id.set_opt(&mut c.start_node_id);
        p.restart_after_end_call
            .set(&mut c.restart_after_end_call, d.restart_after_end_call);
        p.timezone.set_opt(&mut c.timezone);
        p.summary_prompt.set_opt(&mut c.summary_prompt);
        p.disposition_ids.set_opt(&mut c.disposition_ids);
        p.citation_schema_ids.set_opt(&mut c.citation_schema_ids);
        Ok(c)
    }

    /// The config as JSON; iMessage configs carry no `messaging_service_sid`.
    pub fn to_json(&self, channel: Channel) -> Value {
        let mut v = serde_json::to_value(self).expect("config serializes");
        if channel == Channel::Imessage {
            if let Some(m) = v.as_object_mut() {
                m.remove("messaging_service_sid");
            }
        }
        v
    }
}

/// A count kept in a shared record and changed in place, so that changing it does not copy a
/// record the requests in flight still hold.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `delta`, stopping at 0 and at `u64::MAX`.
    pub fn adjust(&self, delta: i64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add_signed(delta))
            });
    }
}

impl Clone for Count {
    fn clone(&self) -> Self {
        Count(AtomicU64::new(self.get()))
    }
}

/// A provisioned phone number, owned by one account.
#[derive(Clone, Debug)]
pub struct NumberRecord {
    pub phone_number: String,
    pub owner: String,
    pub inbound_id: u64,
    pub label: Option<String>,
    /// iMessage numbers use the `linq` messaging service.
    pub imessage: bool,
    /// Shared with the record's copies (a change to one channel's config copies no other).
    pub sms_config: Option<Arc<NumberConfig>>,
    pub whatsapp_config: Option<Arc<NumberConfig>>,
    pub imessage_config: Option<Arc<NumberConfig>>,
    pub conversation_count: Count,
    /// Legacy `POST /v1/sms/toggle {on:true}`: the agent stays silent and every conversation
    /// goes to a human.
    pub human_mode: bool,
    /// Its channel priority puts RCS before SMS (`channel_priority: ["rcs", "sms"]`).
    pub rcs_first: bool,
}

/// A number's `channel_priority` (`tutorials/messaging/rcs.mdx`): the channels a text tries,
/// in order, `rcs` and `sms`; whether RCS comes first.
///
/// # Errors
/// What is wrong with the list.
pub fn rcs_first(priority: &[String]) -> Result<bool, String> {
    let mut seen = Vec::new();
    for c in priority {
        let c = c.to_ascii_lowercase();
        if c != "rcs" && c != "sms" {
            return Err(format!(
                "channel_priority lists \"rcs\" and \"sms\" in the order a text tries them, got {c:?}"
            ));
        }
        if seen.contains(&c) {
            return Err(format!("channel_priority lists {c:?} twice"));
        }
        seen.push(c);
    }
    match seen.first() {
        None => Err("channel_priority must not be empty: [\"rcs\", \"sms\"]".into()),
        Some(first) => Ok(first == "rcs"),
    }
}

/// The handoff reason of a conversation handed over by human mode.
pub const HUMAN_MODE_REASON: &str = "Human mode is on for this number (POST /v1/sms/toggle)";

impl NumberRecord {
    /// A number nobody owns yet, as `key` would get it under `--auto-provision`: `inbound_id` 0,
    /// which no stored number has, marks it as not yet claimed.
    pub fn unclaimed(phone: &str, key: &str) -> NumberRecord {
        NumberRecord {
            phone_number: phone.to_string(),
            owner: key.to_string(),
            inbound_id: 0,
            label: None,
            imessage: false,
            sms_config: Some(Arc::default()),
            whatsapp_config: None,
            imessage_config: None,
            conversation_count: Count::default(),
            human_mode: false,
            rcs_first: false,
        }
    }
    pub fn config(&self, channel: Channel) -> Option<&NumberConfig> {
        match channel {
            Channel::Sms => self.sms_config.as_deref(),
            Channel::Whatsapp => self.whatsapp_config.as_deref(),
            Channel::Imessage => self.imessage_config.as_deref(),
        }
    }
    pub fn config_mut(&mut self, channel: Channel) -> &mut Option<Arc<NumberConfig>> {
        match channel {
            Channel::Sms => &mut self.sms_config,
            Channel::Whatsapp => &mut self.whatsapp_config,
            Channel::Imessage => &mut self.imessage_config,
        }
    }
    /// The config a conversation on `channel` runs with: that channel's, else the SMS one, else
    /// the iMessage one, else the defaults.
    pub fn effective_config(&self, channel: Channel) -> Arc<NumberConfig> {
        let cfg = match channel {
            Channel::Sms => &self.sms_config,
            Channel::Whatsapp => &self.whatsapp_config,
            Channel::Imessage => &self.imessage_config,
        };
        cfg.as_ref()
            .or(self.sms_config.as_ref())
            .or(self.imessage_config.as_ref())
            .cloned()
            .unwrap_or_default()
    }
    /// The channel a send defaults to on this number.
    pub fn default_channel(&self) -> Channel {
        if self.imessage {
            Channel::Imessage
        } else {
            Channel::Sms
        }
    }
    /// The `/_sim/numbers` view: the owner and every config the number has.
    pub fn full_json(&self) -> Value {
        let mut v = self.to_json(self.default_channel());
        v["api_key"] = json!(self.owner);
        if self.rcs_first {
            v["channel_priority"] = json!(["rcs", "sms"]);
        }
        for ch in [Channel::Sms, Channel::Whatsapp, Channel::Imessage] {
            if let Some(c) = self.config(ch) {
                v[ch.config_key()] = c.to_json(ch);
            }
        }
        v
    }
    /// `GET /v1/sms/numbers` item for one channel.
    pub fn to_json(&self, channel: Channel) -> Value {
        serde_json::to_value(self.view(channel)).expect("a number serializes")
    }
    /// [`NumberRecord::to_json`] to serialize without building a [`Value`].
    pub fn view(&self, channel: Channel) -> NumberView<'_> {
        NumberView {
            number: self,
            channel,
        }
    }
}

/// A number as `GET /v1/sms/numbers` shows it for one channel.
pub struct NumberView<'a> {
    number: &'a NumberRecord,
    channel: Channel,
}

impl Serialize for NumberView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        static DEFAULT: std::sync::LazyLock<NumberConfig> =
            std::sync::LazyLock::new(NumberConfig::default);
        let n = self.number;
        let cfg = n.config(self.channel).unwrap_or(&DEFAULT);
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("phone_number", &n.phone_number)?;
        m.serialize_entry("label", &n.label)?;
        m.serialize_entry("messaging_service", &n.imessage.then_some("linq"))?;
        if self.channel == Channel::Imessage {
            m.serialize_entry(self.channel.config_key(), &cfg.to_json(self.channel))?;
        } else {
            m.serialize_entry(self.channel.config_key(), cfg.cached_json())?;
        }
        m.serialize_entry("conversation_count", &n.conversation_count.get())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_out_is_raised_to_thirty_and_zero_disables() {
        assert_eq!(normalize_time_out(Some(10)), Some(30));
        assert_eq!(normalize_time_out(Some(0)), None);
        assert_eq!(normalize_time_out(Some(120)), Some(120));
    }

    #[test]
    fn merge_keeps_untouched_fields_and_null_resets() {
        let base = NumberConfig {
            webhook: Some("http://a/".into()),
            time_out: Some(60),
            ..Default::default()
        };
        let patch: ConfigPatch =
            input::parse(br#"{"prompt":"Be brief","webhook":null,"nope":1}"#).unwrap();
        let c = base.merged(patch).unwrap();
        assert_eq!(c.objective, "Be brief");
        assert_eq!(c.webhook, None);
        assert_eq!(c.time_out, Some(60));
    }
}
