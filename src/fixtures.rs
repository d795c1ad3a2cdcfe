//! The fixtures file: accounts (API keys) and the numbers they own, with their configs. Loaded
//! and checked once at start-up (a bad file stops it, naming the path and the reason) and
//! re-applied by `POST /_sim/reset`. The embedded default is `fixtures/default.json`.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::input;
use crate::model::{ConfigPatch, NumberConfig};
use crate::store::Store;
use crate::validation::{self, Channel};

/// The fixtures built into the binary.
const DEFAULT_FIXTURES: &str = include_str!("../fixtures/default.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixturesFile {
    #[serde(default)]
    accounts: Vec<AccountFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    api_key: String,
    #[serde(default = "yes")]
    enterprise: bool,
    #[serde(default)]
    numbers: Vec<NumberFile>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberFile {
    phone_number: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    imessage: bool,
    #[serde(default)]
    sms_config: Option<Map<String, Value>>,
    #[serde(default)]
    whatsapp_config: Option<Map<String, Value>>,
    #[serde(default)]
    imessage_config: Option<Map<String, Value>>,
}

/// A checked number of the fixtures.
#[derive(Clone, Debug)]
pub struct FixtureNumber {
    pub phone_number: String,
    pub label: Option<String>,
    pub imessage: bool,
    pub configs: Vec<(Channel, NumberConfig)>,
}

/// A checked account of the fixtures.
#[derive(Clone, Debug)]
pub struct FixtureAccount {
    pub api_key: String,
    pub enterprise: bool,
    pub numbers: Vec<FixtureNumber>,
}

/// Checked fixtures, ready to apply.
#[derive(Clone, Debug, Default)]
pub struct Fixtures {
    pub accounts: Vec<FixtureAccount>,
}

/// Builds a number config from a JSON object with the update endpoint's rules, except that an
/// unknown key is an error (a typo such as `webhok` would otherwise do nothing, silently).
///
/// # Errors
/// An unknown key, a field of the wrong type, or a `warning_time` not under `time_out`.
pub(crate) fn config_from(m: &Map<String, Value>) -> Result<NumberConfig, ApiError> {
    let patch: ConfigPatch = input::strict(m)?;
    let c = NumberConfig::default().merged(patch)?;
    if let (Some(w), t) = (c.warning_time, c.time_out) {
        if t.is_none_or(|t| w >= t) {
            return Err(ApiError::bad_request(
                "INVALID_TIMEOUT_CONFIG",
                match t {
                    Some(t) => format!("warning_time ({w}) must be less than time_out ({t})"),
                    None => format!("warning_time ({w}) needs a time_out greater than it"),
                },
            ));
        }
    }
    Ok(c)
}

impl Fixtures {
    /// The fixtures built into the binary (`fixtures/default.json`).
    pub fn embedded() -> Fixtures {
        Self::parse("fixtures/default.json", DEFAULT_FIXTURES)
            .expect("the embedded fixtures are checked by a unit test")
    }

    /// Reads and parses a fixtures file.
    ///
    /// # Errors
    /// An unreadable file, or as [`Fixtures::parse`].
    pub fn read(path: &Path) -> Result<Fixtures, String> {
        let text = input::read_file(path)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses fixtures text; `source` names it in errors.
    ///
    /// # Errors
    /// Bad JSON, unknown keys, a non-E.164 number, a bad config, a number given twice.
    pub fn parse(source: &str, text: &str) -> Result<Fixtures, String> {
        let f: FixturesFile = serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))?;
        let mut seen = std::collections::HashSet::new();
        let mut accounts = Vec::new();
        for a in f.accounts {
            if a.api_key.trim().is_empty() {
                return Err(format!("{source}: an account has an empty api_key"));
            }
            let mut numbers = Vec::new();
            for n in a.numbers {
                let at = format!("{source}: number {}", n.phone_number);
                if !validation::is_e164(&n.phone_number) {
                    return Err(format!("{at}: not an E.164 number"));
                }
                if !seen.insert(n.phone_number.clone()) {
                    return Err(format!("{at}: listed twice"));
                }
                let mut configs = Vec::new();
                for (ch, m) in [
                    (Channel::Sms, &n.sms_config),
                    (Channel::Whatsapp, &n.whatsapp_config),
                    (Channel::Imessage, &n.imessage_config),
                ] {
                    if let Some(m) = m {
                        configs.push((
                            ch,
                            config_from(m).map_err(|e| format!("{at}: {}", e.message))?,
                        ));
                    }
                }
                numbers.push(FixtureNumber {
                    phone_number: n.phone_number,
                    label: n.label,
                    imessage: n.imessage,
                    configs,
                });
            }
            accounts.push(FixtureAccount {
                api_key: a.api_key,
                enterprise: a.enterprise,
                numbers,
            });
        }
        Ok(Fixtures { accounts })
    }

    /// Provisions every account and number into the store.
    pub fn apply(&self, store: &Store) {
        for a in &self.accounts {
            store.set_enterprise(&a.api_key, a.enterprise);
            for n in &a.numbers {
                store
                    .provision(
                        &a.api_key,
                        &n.phone_number,
                        n.label.clone(),
                        n.imessage,
                        n.configs.clone(),
                    )
                    .expect("parse lists each number once, and apply runs on an empty store");
            }
        }
    }

    /// The accounts' keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.accounts.iter().map(|a| a.api_key.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fixtures_parse() {
        let f = Fixtures::embedded();
        assert_eq!(f.keys().next(), Some("sk_sim_default"));
        assert!(f.accounts[0].numbers.len() >= 2);
    }

    #[test]
    fn bad_fixtures_name_the_problem() {
        let e = Fixtures::parse(
            "f.json",
            r#"{"accounts":[{"api_key":"k","numbers":[{"phone_number":"555"}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("f.json") && e.contains("E.164"), "{e}");
        let e = Fixtures::parse(
            "f.json",
            r#"{"accounts":[{"api_key":"k","numbers":[{"phone_number":"+15550001111","sms_config":{"time_out":60,"warning_time":90}}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("warning_time"), "{e}");
        let e = Fixtures::parse(
            "f.json",
            r#"{"accounts":[{"api_key":"k","numbers":[{"phone_number":"+15550001111","sms_config":{"webhok":"http://x/"}}]}]}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("+15550001111") && e.contains("\"webhok\""),
            "{e}"
        );
    }
}
