//! What the app under test did in a step, waited for in real time: the API calls it made
//! (`expect_requests`), how it answered the step's webhooks (`expect_deliveries`), and what its
//! own API answers (`http`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::matcher::{check, substitute};
use super::run::{one, Run};
use super::target::{exchange, Call, CALL_TIMEOUT};
use crate::recording::script::{HttpCall, Step};

/// How long a step waits when it does not say (`within_ms`).
pub(crate) const DEFAULT_WITHIN_MS: u64 = 2000;

/// How often what the app did is looked at again.
const POLL: Duration = Duration::from_millis(20);

/// Bytes of a body a failure shows.
const SHOWN: usize = 200;

impl Run {
    /// How long the step waits, in real time.
    fn within(&self, step: &Step) -> Duration {
        let ms = step.within_ms.unwrap_or(DEFAULT_WITHIN_MS) as f64 * self.scale;
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }

    /// The API calls made with the script's key after journal entry `from`, by anyone but
    /// the script itself (the app's).
    async fn app_calls(&self, from: Option<u64>) -> Result<Vec<Value>, String> {
        let key = crate::observe::journal::mask(crate::base::input::prefix(
            &self.key,
            crate::observe::journal::MAX_KEY,
        ));
        let all = self.target.requests_after(&self.client, from).await?;
        Ok(all
            .into_iter()
            .filter(|e| {
                e["replay_step"].is_null()
                    && e["api_key"] == key.as_str()
                    && !e["path"].as_str().unwrap_or("").starts_with("/_sim/")
            })
            .collect())
    }

    /// `expect_requests`: the app's calls since the step began hold these, in this order
    /// (others may come between), within the step's time.
    pub(super) async fn expect_requests(
        &self,
        step: &Step,
        want: &[Value],
        from: Option<u64>,
    ) -> Result<(), Vec<String>> {
        let want: Vec<Value> = want
            .iter()
            .map(|w| {
                let mut w = substitute(w, &self.vars);
                if let Some(m) = w.get_mut("method").filter(|m| m.is_string()) {
                    *m = json!(m.as_str().unwrap_or_default().to_ascii_uppercase());
                }
                w
            })
            .collect();
        let within = self.within(step);
        let deadline = Instant::now() + within;
        loop {
            let calls = self.app_calls(from).await.map_err(one)?;
            let missing = first_missing(&want, &calls);
            let Some(i) = missing else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let seen = if calls.is_empty() {
                    format!(
                        "the app made no API calls with the script's key (is it pointed at \
                         this simulator, http://{}?)",
                        self.target.authority()
                    )
                } else {
                    let list: Vec<String> = calls.iter().map(describe_call).collect();
                    format!("the app's calls: {}", list.join("; "))
                };
                return Err(vec![format!(
                    "expect_requests[{i}]: no call matching {} within {} ms of the step; {seen}",
                    short(&want[i]),
                    within.as_millis()
                )]);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `expect_deliveries`: the webhooks the step caused were answered as expected (any 2xx by
    /// default), within the step's time.
    pub(super) async fn expect_deliveries(
        &self,
        step: &Step,
        want: &Value,
        from: Option<u64>,
    ) -> Result<(), Vec<String>> {
        let want = substitute(want, &self.vars);
        let within = self.within(step);
        let deadline = Instant::now() + within;
        loop {
            let deliveries = self
                .target
                .deliveries_after(&self.client, from, false)
                .await
                .map_err(one)?;
            let verdict = judge(&want, &deliveries);
            if verdict.is_ok() || Instant::now() >= deadline {
                return verdict.map_err(|mut d| {
                    d.push(format!("(waited {} ms)", within.as_millis()));
                    d
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `http`: a request to any URL, repeated until its answer matches `expect` (a success
    /// when none is given) or the step's time is up; then what the step saves.
    pub(super) async fn http_step(&mut self, step: &Step, h: &HttpCall) -> Result<(), Vec<String>> {
        let url = substitute(&Value::String(h.url.clone()), &self.vars);
        let url = url.as_str().unwrap_or_default().to_string();
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| one(format!("http.url {url:?} is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(one(format!(
                "http.url must be an http:// URL with a host (the runner speaks plain HTTP): \
                 got {url:?}"
            )));
        }
        let body = h.body.as_ref().map(|b| substitute(b, &self.vars));
        let headers = match substitute(&Value::Object(h.headers.clone()), &self.vars) {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let within = self.within(step);
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let call = Call {
                method: &h.method,
                uri: uri.clone(),
                key: None,
                headers: &headers,
                body: body.as_ref(),
                step: None,
                admin_token: None,
                timeout: (left + Duration::from_secs(1)).min(CALL_TIMEOUT),
            };
            let diffs = match exchange(&self.client, call).await {
                Ok((status, answer)) => {
                    let diffs = self.answer_diffs(step, status, &answer);
                    if diffs.is_empty() {
                        return self.save(step, &answer);
                    }
                    diffs
                }
                Err(e) => vec![e],
            };
            if Instant::now() >= deadline {
                let mut diffs = diffs;
                diffs.push(format!(
                    "(asked {} {url} until {} ms had passed)",
                    h.method,
                    within.as_millis()
                ));
                return Err(diffs);
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }
}

/// The index of the first expected call not found in order among `calls`.
fn first_missing(want: &[Value], calls: &[Value]) -> Option<usize> {
    let mut next = 0;
    for (i, w) in want.iter().enumerate() {
        match calls[next..].iter().position(|c| check("", w, c).is_ok()) {
            Some(at) => next += at + 1,
            None => return Some(i),
        }
    }
    None
}

/// Whether the deliveries were answered as `want` says: one object for every delivery, or a
/// list with one per delivery.
fn judge(want: &Value, deliveries: &[Value]) -> Result<(), Vec<String>> {
    if deliveries.is_empty() {
        return Err(vec![
            "expect_deliveries: the step caused no webhook deliveries".into(),
        ]);
    }
    let wants: Vec<&Value> = match want {
        Value::Array(items) => {
            if items.len() != deliveries.len() {
                let seen: Vec<String> = deliveries.iter().map(describe_delivery).collect();
                return Err(vec![format!(
                    "expect_deliveries: expected {} deliveries, the step caused {}: {}",
                    items.len(),
                    deliveries.len(),
                    seen.join("; ")
                )]);
            }
            items.iter().collect()
        }
        one => vec![one; deliveries.len()],
    };
    let mut diffs = Vec::new();
    for (i, (w, d)) in wants.into_iter().zip(deliveries).enumerate() {
        let attempt = d["attempts"].as_array().and_then(|a| a.last());
        let code = attempt.and_then(|a| a["response_code"].as_u64());
        let ok = match w.get("status").and_then(Value::as_u64) {
            Some(s) => code == Some(s),
            None => code.is_some_and(|c| (200..300).contains(&c)),
        };
        if !ok {
            let expected = w
                .get("status")
                .map_or("a 2xx answer".to_string(), |s| format!("status {s}"));
            diffs.push(format!(
                "expect_deliveries[{i}]: expected {expected}: {}",
                describe_delivery(d)
            ));
            continue;
        }
        let mut rest = w.clone();
        if let Some(m) = rest.as_object_mut() {
            m.remove("status");
        }
        if let Err(d) = check(&format!("expect_deliveries[{i}]"), &rest, d) {
            diffs.extend(d);
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

/// `POST /v1/sms/send 200 {"user_number":…}`, the body cut.
fn describe_call(c: &Value) -> String {
    let body = match &c["body"] {
        Value::Null => String::new(),
        b => format!(" {}", cut(&b.to_string())),
    };
    format!(
        "{} {} {}{body}",
        c["method"].as_str().unwrap_or("?"),
        c["path"].as_str().unwrap_or("?"),
        c["status"]
    )
}

/// `message webhook to URL: HTTP 500, answered "…"`, or the connection error.
fn describe_delivery(d: &Value) -> String {
    let payload = &d["payload"];
    let event = match (payload["sender"].as_str(), payload["message"].as_str()) {
        (Some(sender), Some(text)) => format!("message ({sender} {:?})", cut(text)),
        _ => d["event"].as_str().unwrap_or("a").to_string(),
    };
    let what = format!("{event} webhook to {}", d["url"].as_str().unwrap_or("?"));
    let Some(a) = d["attempts"].as_array().and_then(|a| a.last()) else {
        return format!("{what}: not attempted yet");
    };
    let answered = match a["response_body"].as_str() {
        Some(b) => format!(", answered {:?}", cut(b)),
        None => String::new(),
    };
    match (a["response_code"].as_u64(), a["error_message"].as_str()) {
        (Some(code), _) => format!("{what}: HTTP {code}{answered}"),
        (None, Some(e)) => format!("{what}: {e}"),
        (None, None) => format!("{what}: no answer"),
    }
}

fn short(v: &Value) -> String {
    cut(&v.to_string())
}

fn cut(s: &str) -> String {
    let kept = crate::base::input::prefix(s, SHOWN);
    if kept.len() < s.len() {
        format!("{kept}…")
    } else {
        kept.to_string()
    }
}
