//! The replay script format (the README's "Conversation tests" section documents it).

use crate::scenario::template::fill_placeholders;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole conversation test: how to set the simulator up, and the steps.
#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Script {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub setup: Setup,
    pub steps: Vec<Step>,
}

/// Everything before the first step.
#[derive(Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Setup {
    /// A fixtures document, or the path of a fixtures file (relative to the script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<Value>,
    /// Scenario documents, or paths of scenario files or directories (relative to the script).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<Value>,
    /// The manual clock's start (default 2026-01-01T12:00:00Z).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Seed for ids and random choices (default 42): a number, or the same as a string (as
    /// recordings write it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::base::input::de_seed_opt",
        serialize_with = "crate::base::input::ser_seed_opt"
    )]
    pub seed: Option<u64>,
    /// The key calls use unless a step names another (default: the fixtures' first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Who `user` steps text from and to, unless a step says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_number: Option<String>,
    /// `POST /v1/sms/number/update` bodies, applied in order before the steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<Map<String, Value>>,
}

/// One step: at most one action (`call`, `user`, `advance` or `http`), then any expectations.
#[derive(Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An API call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    /// The call's expected answer (default: any status under 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Variables to keep from the call's answer: name → dotted path (`data.conversation_id`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub save: Map<String, Value>,
    /// A text from the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The text's channel (`sms`, `whatsapp`, `imessage`; default: the number's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The agent's replies due at once, in order: a string (exact), `{"contains": …}` or
    /// `{"regex": …}`; `[]` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies: Option<Vec<Value>>,
    /// Seconds to move the clock, firing what falls due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<f64>,
    /// Expected fields of `GET /v1/sms/conversations/{id}`'s `data` (the conversation of
    /// `conversation_id`, or the variable `{{conversation_id}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The webhook deliveries made since the last step that checked them, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<Value>>,
    /// The status webhooks (`type` `status`) among the deliveries since the last step that
    /// checked webhooks, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_webhooks: Option<Vec<Value>>,
    /// The journal's entries since the last step that checked them, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<Value>>,
    /// A request to any URL (the app's own API), repeated until its answer matches `expect`
    /// or `within_ms` has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCall>,
    /// API calls the app made with the script's key after the step's action, in order among
    /// them: `{method, path, body?, status?}`, waited for up to `within_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_requests: Option<Vec<Value>>,
    /// How the step's webhook deliveries were answered: one object for all of them, or a list
    /// with one per delivery (`{"status": 200}`; the default is any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_deliveries: Option<Value>,
    /// How long, in real time, `expect_requests`, `expect_deliveries` and `http` wait
    /// (default 2000 ms, scaled by the run's `--timeout-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
}

/// A step's request to any URL.
#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpCall {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Call {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The API key; `null` sends none. Default: the setup's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_or_null"
    )]
    pub key: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl Step {
    /// How the report names the step.
    pub fn label(&self, index: usize) -> String {
        let what = if let Some(n) = &self.name {
            n.clone()
        } else if let Some(c) = &self.call {
            format!("{} {}", c.method, c.path)
        } else if let Some(t) = &self.user {
            format!("user texts {t:?}")
        } else if let Some(s) = self.advance {
            format!("advance {s} s")
        } else if let Some(h) = &self.http {
            format!("{} {}", h.method, h.url)
        } else {
            "check".to_string()
        };
        format!("step {}: {what}", index + 1)
    }
}

/// The longest a step waits for what the app does.
pub(crate) const MAX_WITHIN_MS: u64 = 600_000;

/// Replaces `{{env.NAME}}` in every string of `v` with the environment variable's value.
///
/// # Errors
/// The place and the name of a variable that is not set.
fn fill_env(v: &mut Value, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains("{{") => {
            *s = fill_placeholders(s, |inner| {
                let Some(name) = inner.strip_prefix("env.") else {
                    return Ok(None);
                };
                env(name).map(Some).ok_or_else(|| {
                    let at = if at.is_empty() { "." } else { at };
                    format!(
                        "at {at}: the environment variable {name} is not set \
                         (the script reads it as {{{{env.{name}}}}})"
                    )
                })
            })?;
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, x)| fill_env(x, &format!("{at}[{i}]"), env)),
        Value::Object(m) => m.iter_mut().try_for_each(|(k, x)| {
            let at = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            fill_env(x, &at, env)
        }),
        _ => Ok(()),
    }
}

/// Every regex a step's expectations hold compiles: `{"$regex": …}` anywhere, and a reply's
/// `{"regex": …}`.
fn check_patterns(s: &Step) -> Result<(), String> {
    fn walk(v: &Value, at: &str, reply: bool) -> Result<(), String> {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let pattern = k == "$regex" || (reply && k == "regex");
                    if let (true, Some(p)) = (pattern, x.as_str()) {
                        crate::base::input::regex(p, false)
                            .map_err(|e| format!("{at}: /{p}/ is not a regex: {e}"))?;
                    }
                    walk(x, &format!("{at}.{k}"), false)?;
                }
                Ok(())
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| walk(x, &format!("{at}[{i}]"), reply)),
            _ => Ok(()),
        }
    }
    let lists = [
        ("replies", &s.replies, true),
        ("webhooks", &s.webhooks, false),
        ("status_webhooks", &s.status_webhooks, false),
        ("requests", &s.requests, false),
        ("expect_requests", &s.expect_requests, false),
    ];
    for (name, list, reply) in lists {
        if let Some(items) = list {
            for (i, x) in items.iter().enumerate() {
                walk(x, &format!("{name}[{i}]"), reply)?;
            }
        }
    }
    if let Some(c) = &s.conversation {
        walk(c, "conversation", false)?;
    }
    if let Some(d) = &s.expect_deliveries {
        walk(d, "expect_deliveries", false)?;
    }
    if let Some(b) = s.expect.as_ref().and_then(|e| e.body.as_ref()) {
        walk(b, "expect.body", false)?;
    }
    Ok(())
}

/// Parses a script, naming the place of a problem.
///
/// # Errors
/// The JSON path of the bad field (and line and column for bad JSON), and why.
pub(crate) fn parse(text: &str) -> Result<Script, String> {
    parse_with(text, &|name| std::env::var(name).ok())
}

/// [`parse`], reading `{{env.NAME}}` from `env`.
pub(crate) fn parse_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Script, String> {
    let mut doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    fill_env(&mut doc, "", env)?;
    let script: Script = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("at {path}: {inner}")
        }
    })?;
    for (i, s) in script.steps.iter().enumerate() {
        let actions = [
            s.call.is_some(),
            s.user.is_some(),
            s.advance.is_some(),
            s.http.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() > 1 {
            return Err(format!(
                "at steps[{i}]: a step does one of `call`, `user`, `advance` or `http`"
            ));
        }
        if s.call.is_none() && s.http.is_none() && (s.expect.is_some() || !s.save.is_empty()) {
            return Err(format!(
                "at steps[{i}]: `expect` and `save` belong to a `call` or `http` step"
            ));
        }
        if s.within_ms.is_some()
            && s.http.is_none()
            && s.expect_requests.is_none()
            && s.expect_deliveries.is_none()
        {
            return Err(format!(
                "at steps[{i}]: `within_ms` belongs to a step with `http`, `expect_requests` \
                 or `expect_deliveries`"
            ));
        }
        if s.within_ms.is_some_and(|ms| ms > MAX_WITHIN_MS) {
            return Err(format!(
                "at steps[{i}].within_ms: at most {MAX_WITHIN_MS} (10 minutes)"
            ));
        }
        match &s.expect_deliveries {
            None | Some(Value::Object(_)) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => {}
            Some(_) => {
                return Err(format!(
                    "at steps[{i}].expect_deliveries: an object for every delivery of the \
                     step (`{{\"status\": 200}}`), or a list of them, one per delivery"
                ))
            }
        }
        if s.user.is_none()
            && (s.replies.is_some() || s.from.is_some() || s.to.is_some() || s.channel.is_some())
        {
            return Err(format!(
                "at steps[{i}]: `replies`, `from`, `to` and `channel` belong to a `user` step"
            ));
        }
        check_patterns(s).map_err(|e| format!("at steps[{i}].{e}"))?;
        if s.advance.is_some_and(|a| !(0.0..=1e9).contains(&a)) {
            return Err(format!(
                "at steps[{i}].advance: must be between 0 and 1e9 seconds"
            ));
        }
    }
    Ok(script)
}
