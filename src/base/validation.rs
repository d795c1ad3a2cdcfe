//! Pure checks on input values: E.164 numbers, channels, time zones. No state here.

use crate::base::error::ApiError;

/// Longest text, inbound or outbound, in characters (Bland's limit on `…/messages`).
pub(crate) const MAX_TEXT_CHARS: usize = 1600;

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

/// Checks `warning_time < time_out` on the values in force after an update (a given value, else
/// the stored one; `time_out` as given, before raising it to 30 s). A warning given in this
/// request also needs a timeout; turning the timeout off under a stored warning is allowed (the
/// warning then never fires).
///
/// # Errors
/// 400 `INVALID_TIMEOUT_CONFIG`.
pub(crate) fn check_timeouts(
    warning: Option<u64>,
    time_out: Option<u64>,
    warning_given: bool,
) -> Result<(), ApiError> {
    match (warning.filter(|&w| w > 0), time_out.filter(|&t| t > 0)) {
        (Some(w), Some(t)) if w >= t => Err(ApiError::bad_request(
            "INVALID_TIMEOUT_CONFIG",
            format!("warning_time ({w}) must be less than time_out ({t})"),
        )),
        (Some(w), None) if warning_given => Err(ApiError::bad_request(
            "INVALID_TIMEOUT_CONFIG",
            format!("warning_time ({w}) needs a time_out greater than it"),
        )),
        _ => Ok(()),
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
    fn channels_parse() {
        assert_eq!(Channel::parse("WhatsApp").unwrap(), Channel::Whatsapp);
        assert_eq!(Channel::parse("rcs").unwrap_err().code, "INVALID_CHANNEL");
    }
}
