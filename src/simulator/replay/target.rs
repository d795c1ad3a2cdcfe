//! Where a script runs, and what the runner reads of it: a simulator of its own (read
//! directly), or one already running (`--url`, read through its `/_sim` API). Both answer the
//! same questions, so the steps run the same way against either.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Value};

use crate::Simulator;

/// How long one call may take, in real time, answer body included.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// The largest answer a step reads (an `http` step may call anything).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The simulator a script runs against.
pub(crate) enum Target {
    /// Started for the script, and shut down after it.
    Own(Simulator),
    /// Already running at `authority` (`host:port`); `/_sim` calls carry the admin token.
    Running {
        authority: String,
        admin_token: Option<String>,
    },
}

/// A request to the simulator, or to any URL.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub uri: hyper::Uri,
    pub key: Option<&'a str>,
    pub headers: &'a serde_json::Map<String, Value>,
    pub body: Option<&'a Value>,
    /// The replay step that sends it (`x-bland-sim-replay-step`), for calls to the simulator.
    pub step: Option<u32>,
    /// The admin token, for `/_sim` calls to a running simulator that has one.
    pub admin_token: Option<&'a str>,
    pub timeout: Duration,
}

/// Sends `call` and reads the whole answer, each within its timeout: the status, and the body
/// as JSON (as a string when it is not JSON).
pub(crate) async fn exchange(
    client: &Client<HttpConnector, Full<Bytes>>,
    call: Call<'_>,
) -> Result<(u16, Value), String> {
    let method = Method::from_bytes(call.method.as_bytes())
        .map_err(|_| format!("{:?} is not an HTTP method", call.method))?;
    let mut req = Request::builder().method(method).uri(call.uri);
    if let Some(k) = call.key {
        req = req.header("authorization", k);
    }
    if let Some(step) = call.step {
        req = req.header(crate::http::routes::REPLAY_STEP_HEADER, step.to_string());
    }
    if let Some(t) = call.admin_token {
        req = req.header("x-sim-admin-token", t);
    }
    for (k, v) in call.headers {
        let v = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        req = req.header(k.as_str(), v);
    }
    let bytes = call.body.map(|b| b.to_string()).unwrap_or_default();
    let req = req
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| format!("the request cannot be built: {e}"))?;
    let secs = call.timeout.as_secs_f64();
    let resp = tokio::time::timeout(call.timeout, client.request(req))
        .await
        .map_err(|_| format!("no answer within {secs} s"))?
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = resp.status().as_u16();
    let limited = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER);
    let body = tokio::time::timeout(call.timeout, limited.collect())
        .await
        .map_err(|_| format!("the answer did not end within {secs} s"))?
        .map_err(|e| format!("the answer broke off or is over {MAX_ANSWER} bytes: {e}"))?
        .to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status, v))
}

impl Target {
    /// `host:port` of the simulator.
    pub fn authority(&self) -> String {
        match self {
            Target::Own(sim) => sim.addr().to_string(),
            Target::Running { authority, .. } => authority.clone(),
        }
    }

    /// The admin token `/_sim` calls carry.
    pub fn admin_token(&self) -> Option<&str> {
        match self {
            Target::Own(_) => None,
            Target::Running { admin_token, .. } => admin_token.as_deref(),
        }
    }

    /// A `/_sim` call to a running simulator: its status and body.
    async fn control(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let uri = format!("http://{}{path}", self.authority())
            .parse()
            .map_err(|e| format!("{path}: {e}"))?;
        let empty = serde_json::Map::new();
        exchange(
            client,
            Call {
                method,
                uri,
                key: None,
                headers: &empty,
                body,
                step: None,
                admin_token: self.admin_token(),
                timeout: CALL_TIMEOUT,
            },
        )
        .await
    }

    /// A `/_sim` call that must answer 200: its body.
    pub async fn control_ok(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        match self.control(client, method, path, body).await? {
            (200, v) => Ok(v),
            (401, v) => Err(format!(
                "{method} {path} answered 401: give the simulator's admin token with \
                 --admin-token ({v})"
            )),
            (s, v) => Err(format!("{method} {path} answered {s}: {v}")),
        }
    }

    /// Moves the clock, firing what falls due.
    pub async fn advance(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        seconds: f64,
    ) -> Result<(), String> {
        match self {
            Target::Own(sim) => {
                sim.advance(Duration::from_secs_f64(seconds)).await;
                Ok(())
            }
            Target::Running { .. } => self
                .control_ok(
                    client,
                    "POST",
                    "/_sim/clock/advance",
                    Some(&json!({ "seconds": seconds })),
                )
                .await
                .map(drop),
        }
    }

    /// Waits (a few seconds at most) until every delivery due has been tried.
    pub async fn settle(&self, client: &Client<HttpConnector, Full<Bytes>>) {
        match self {
            Target::Own(sim) => {
                sim.webhooks_settled(Duration::from_secs(5)).await;
            }
            Target::Running { .. } => {
                let body = json!({"settled": true, "timeout_ms": 5000});
                let _ = self
                    .control(client, "POST", "/_sim/webhooks/wait", Some(&body))
                    .await;
            }
        }
    }

    /// A conversation as `GET /v1/sms/conversations/{id}`'s `data` shows it; `None` when there
    /// is none. Read without a journal entry.
    pub async fn conversation(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        id: &str,
    ) -> Result<Option<Value>, String> {
        match self {
            Target::Own(sim) => Ok(sim.conversation_json(id)),
            Target::Running { .. } => {
                let path = format!("/_sim/conversations/{id}");
                match self.control(client, "GET", &path, None).await? {
                    (200, v) => Ok(Some(v["data"].clone())),
                    (404, _) => Ok(None),
                    (s, v) => Err(format!("GET {path} answered {s}: {v}")),
                }
            }
        }
    }

    /// The ids of a conversation's messages, in order (of a running simulator: those it shows).
    pub async fn message_ids(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        id: &str,
    ) -> Vec<String> {
        match self {
            Target::Own(sim) => sim.message_ids(id),
            Target::Running { .. } => match self.conversation(client, id).await {
                Ok(Some(c)) => c["messages"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .filter_map(|m| m["id"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
        }
    }

    /// The webhook deliveries after the one with id `after` (all when `None`), oldest first,
    /// with their whole payloads when `full`, else without each `chat_history`.
    pub async fn deliveries_after(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        after: Option<u64>,
        full: bool,
    ) -> Result<Vec<Value>, String> {
        match self {
            Target::Own(sim) => Ok(sim.webhooks_after(after, full)),
            Target::Running { .. } => {
                let mut all = Vec::new();
                let mut cursor = after;
                loop {
                    let payload = if full { "full" } else { "summary" };
                    let mut path = format!("/_sim/webhooks?payload={payload}&limit=1000");
                    if let Some(c) = cursor {
                        path.push_str(&format!("&cursor={c}"));
                    }
                    let page = self.control_ok(client, "GET", &path, None).await?;
                    if let Some(items) = page["data"].as_array() {
                        all.extend(items.iter().cloned());
                    }
                    match page["next_cursor"].as_u64() {
                        Some(next) if page["has_more"] == true => cursor = Some(next),
                        _ => return Ok(all),
                    }
                }
            }
        }
    }

    /// The journaled requests after the one with id `after` (all when `None`), oldest first.
    pub async fn requests_after(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        after: Option<u64>,
    ) -> Result<Vec<Value>, String> {
        match self {
            Target::Own(sim) => Ok(sim.requests_after(after)),
            Target::Running { .. } => {
                let path = match after {
                    Some(a) => format!("/_sim/requests?after={a}"),
                    None => "/_sim/requests".to_string(),
                };
                let v = self.control_ok(client, "GET", &path, None).await?;
                Ok(v["data"].as_array().cloned().unwrap_or_default())
            }
        }
    }

    /// Shuts a simulator of the script's own down; a running one is left as it is.
    pub async fn finish(self) {
        if let Target::Own(sim) = self {
            sim.shutdown().await;
        }
    }
}

/// The `id` of the last item of `list`, or `fallback` when it is empty.
pub(crate) fn last_id(list: &[Value], fallback: Option<u64>) -> Option<u64> {
    list.last().and_then(|v| v["id"].as_u64()).or(fallback)
}
