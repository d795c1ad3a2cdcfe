//! Numbers and their per-channel configs (§3.1, §3.2, §4.1).

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::validation::{self, Channel, Fields};

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
        }
    }
}

/// The keys a number config may have (`prompt` and `task` are aliases of `objective`).
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "webhook",
    "request_data",
    "response_data",
    "time_out",
    "timeout_action",
    "timeout_message",
    "warning_time",
    "warning_message",
    "messaging_service_sid",
    "objective",
    "prompt",
    "task",
    "tools",
    "temperature",
    "use_candidate_model",
    "pathway_id",
    "pathway_version",
    "start_node_id",
    "restart_after_end_call",
    "timezone",
    "summary_prompt",
    "disposition_ids",
    "citation_schema_ids",
];

/// Normalizes a `time_out`: 0 disables it, positive values under 30 s become 30 s.
pub fn normalize_time_out(t: Option<u64>) -> Option<u64> {
    match t {
        None | Some(0) => None,
        Some(t) => Some(t.max(MIN_TIME_OUT)),
    }
}

impl NumberConfig {
    /// Merges the known fields of an update body into a copy of this config. A field given as
    /// `null` goes back to its default; unknown fields are ignored. `prompt` and `task` are
    /// aliases of `objective`. Timeout rules are checked by the caller.
    ///
    /// # Errors
    /// 400 naming the first field of the wrong type.
    pub fn merged(&self, f: &Fields) -> Result<NumberConfig, ApiError> {
        let mut c = self.clone();
        let d = NumberConfig::default();
        macro_rules! set {
            ($field:ident, $getter:ident) => {
                if f.has(stringify!($field)) {
                    c.$field = f.$getter(stringify!($field))?;
                }
            };
            ($field:ident, $getter:ident, default) => {
                if f.has(stringify!($field)) {
                    c.$field = f.$getter(stringify!($field))?.unwrap_or(d.$field.clone());
                }
            };
        }
        set!(webhook, url);
        set!(request_data, object_or_array, default);
        if f.has("response_data") {
            c.response_data = f.object_or_array("response_data")?.unwrap_or(Value::Null);
        }
        if f.has("time_out") {
            c.time_out = normalize_time_out(f.seconds("time_out")?);
        }
        set!(timeout_action, string);
        set!(timeout_message, string);
        if f.has("warning_time") {
            c.warning_time = f.seconds("warning_time")?.filter(|&w| w > 0);
        }
        set!(warning_message, string);
        set!(messaging_service_sid, string);
        for alias in ["objective", "prompt", "task"] {
            if f.has(alias) {
                c.objective = f.string(alias)?.unwrap_or(d.objective.clone());
            }
        }
        set!(tools, array_value, default);
        set!(temperature, number, default);
        set!(use_candidate_model, bool);
        set!(pathway_id, string);
        if f.has("pathway_version") {
            c.pathway_version = f
                .string_or_number("pathway_version")?
                .unwrap_or(Value::Null);
        }
        set!(start_node_id, string);
        set!(restart_after_end_call, bool, default);
        if f.has("timezone") {
            c.timezone = f.string("timezone")?;
            if let Some(tz) = &c.timezone {
                validation::timezone(tz)?;
            }
        }
        set!(summary_prompt, string);
        set!(disposition_ids, string_list);
        set!(citation_schema_ids, string_list);
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

impl Fields<'_> {
    fn array_value(&self, field: &str) -> Result<Option<Value>, ApiError> {
        Ok(self.array(field)?.map(Value::Array))
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
    pub sms_config: Option<NumberConfig>,
    pub whatsapp_config: Option<NumberConfig>,
    pub imessage_config: Option<NumberConfig>,
    pub conversation_count: u64,
}

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
            sms_config: Some(NumberConfig::default()),
            whatsapp_config: None,
            imessage_config: None,
            conversation_count: 0,
        }
    }
    pub fn config(&self, channel: Channel) -> Option<&NumberConfig> {
        match channel {
            Channel::Sms => self.sms_config.as_ref(),
            Channel::Whatsapp => self.whatsapp_config.as_ref(),
            Channel::Imessage => self.imessage_config.as_ref(),
        }
    }
    pub fn config_mut(&mut self, channel: Channel) -> &mut Option<NumberConfig> {
        match channel {
            Channel::Sms => &mut self.sms_config,
            Channel::Whatsapp => &mut self.whatsapp_config,
            Channel::Imessage => &mut self.imessage_config,
        }
    }
    /// The config a conversation on `channel` runs with: that channel's, else the SMS one, else
    /// the iMessage one, else the defaults.
    pub fn effective_config(&self, channel: Channel) -> NumberConfig {
        self.config(channel)
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
        for ch in [Channel::Sms, Channel::Whatsapp, Channel::Imessage] {
            if let Some(c) = self.config(ch) {
                v[ch.config_key()] = c.to_json(ch);
            }
        }
        v
    }
    /// `GET /v1/sms/numbers` item for one channel.
    pub fn to_json(&self, channel: Channel) -> Value {
        let cfg = self.config(channel).cloned().unwrap_or_default();
        let mut m = Map::new();
        m.insert("phone_number".into(), json!(self.phone_number));
        m.insert("label".into(), json!(self.label));
        m.insert(
            "messaging_service".into(),
            if self.imessage {
                json!("linq")
            } else {
                Value::Null
            },
        );
        m.insert(channel.config_key().into(), cfg.to_json(channel));
        m.insert("conversation_count".into(), json!(self.conversation_count));
        Value::Object(m)
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
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"prompt":"Be brief","webhook":null,"nope":1}"#).unwrap();
        let c = base.merged(&Fields(&body)).unwrap();
        assert_eq!(c.objective, "Be brief");
        assert_eq!(c.webhook, None);
        assert_eq!(c.time_out, Some(60));
    }
}
