//! Pure checks on request input: E.164 numbers, channels, and a typed reader over a JSON object
//! body ([`Fields`]) whose errors name the field. No state here.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// `+` then 2 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Checks an E.164 number, naming the field when it is not one.
///
/// # Errors
/// 400 `INVALID_PHONE_NUMBER`.
pub fn e164(field: &str, s: &str) -> Result<(), ApiError> {
    if is_e164(s) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "INVALID_PHONE_NUMBER",
            format!("`{field}` must be an E.164 phone number like +15550001111, got {s:?}"),
        ))
    }
}

/// The messaging channels one endpoint set serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Whatsapp,
    Imessage,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Imessage => "imessage",
        }
    }
    /// The key of this channel's config on a number: `sms_config`, `whatsapp_config`, ….
    pub fn config_key(self) -> &'static str {
        match self {
            Channel::Sms => "sms_config",
            Channel::Whatsapp => "whatsapp_config",
            Channel::Imessage => "imessage_config",
        }
    }
    /// The channel's name in prose: `SMS`, `WhatsApp`, `iMessage`.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Sms => "SMS",
            Channel::Whatsapp => "WhatsApp",
            Channel::Imessage => "iMessage",
        }
    }
    /// Parses `sms`, `whatsapp` or `imessage` (any case).
    ///
    /// # Errors
    /// 400 `INVALID_CHANNEL`.
    pub fn parse(s: &str) -> Result<Channel, ApiError> {
        match s.to_ascii_lowercase().as_str() {
            "sms" => Ok(Channel::Sms),
            "whatsapp" => Ok(Channel::Whatsapp),
            "imessage" => Ok(Channel::Imessage),
            _ => Err(ApiError::bad_request(
                "INVALID_CHANNEL",
                format!("Invalid channel {s:?}: use sms, whatsapp or imessage"),
            )),
        }
    }
}

/// A JSON object body read field by field. Every getter returns `Ok(None)` for an absent or
/// `null` field and a 400 `INVALID_PARAMETER` naming the field for a wrong type.
pub struct Fields<'a>(pub &'a Map<String, Value>);

fn wrong(field: &str, what: &str) -> ApiError {
    ApiError::invalid(format!("`{field}` must be {what}"))
}

impl<'a> Fields<'a> {
    /// Whether the field is present at all (even as `null`).
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }
    pub fn string(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(field, "a string")),
        }
    }
    pub fn bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong(field, "a boolean")),
        }
    }
    /// A non-negative number of seconds, rounded up to a whole second.
    pub fn seconds(&self, field: &str) -> Result<Option<u64>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f >= 0.0 && f.is_finite() && f < 1e12 => Ok(Some(f.ceil() as u64)),
                _ => Err(wrong(field, "a non-negative number of seconds")),
            },
            Some(_) => Err(wrong(field, "a number of seconds")),
        }
    }
    pub fn number(&self, field: &str) -> Result<Option<Value>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(field, "a number")),
        }
    }
    /// An object or an array (Bland's `request_data` takes either).
    pub fn object_or_array(&self, field: &str) -> Result<Option<Value>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(field, "an object or an array")),
        }
    }
    pub fn array(&self, field: &str) -> Result<Option<Vec<Value>>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.clone())),
            Some(_) => Err(wrong(field, "an array")),
        }
    }
    pub fn string_list(&self, field: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.array(field)? {
            None => Ok(None),
            Some(a) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(wrong(field, "an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
    /// A string or a number, kept as given (`pathway_version` is either in Bland's docs).
    pub fn string_or_number(&self, field: &str) -> Result<Option<Value>, ApiError> {
        match self.raw(field) {
            None => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(field, "a string or a number")),
        }
    }
    /// An `http://` or `https://` URL.
    pub fn url(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.string(field)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => {
                if crate::input::is_web_url(&s) {
                    Ok(Some(s))
                } else {
                    Err(wrong(field, "an http:// or https:// URL"))
                }
            }
        }
    }
}

/// Checks an IANA zone name such as `America/New_York`.
///
/// # Errors
/// 400 `INVALID_PARAMETER`.
pub fn timezone(s: &str) -> Result<chrono_tz::Tz, ApiError> {
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| ApiError::invalid(format!("`timezone` {s:?} is not an IANA time zone name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_rules() {
        assert!(is_e164("+15550001111"));
        assert!(is_e164("+44"));
        assert!(is_e164("+123456789012345"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+4"));
        assert!(!is_e164("15550001111"));
        assert!(!is_e164("+05550001111"));
        assert!(!is_e164("+1555-000"));
        assert!(!is_e164(""));
    }

    #[test]
    fn fields_name_the_wrong_field() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"a":1,"b":"x","t":-1,"u":"ftp://x"}"#).unwrap();
        let f = Fields(&m);
        assert_eq!(f.string("a").unwrap_err().message, "`a` must be a string");
        assert_eq!(f.string("b").unwrap(), Some("x".into()));
        assert!(f.seconds("t").is_err());
        assert!(f.url("u").is_err());
        assert_eq!(f.bool("missing").unwrap(), None);
    }

    #[test]
    fn channels_parse() {
        assert_eq!(Channel::parse("WhatsApp").unwrap(), Channel::Whatsapp);
        assert_eq!(Channel::parse("rcs").unwrap_err().code, "INVALID_CHANNEL");
    }
}
