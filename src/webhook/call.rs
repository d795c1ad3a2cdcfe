//! A pathway Webhook node's request to the team's own endpoint, and the log of such calls.
//! The request goes through the webhook client, so the simulator's own address is refused as
//! for deliveries; it is bounded by its timeout and by the bytes of the answer read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{header, Request};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{connect, Webhooks, DELIVERY_HEADER};
use crate::base::ring::Ring;

/// Most bytes of an answer read; a longer answer fails the call.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Bytes of a request body and of an answer the log keeps.
pub const LOGGED_TEXT: usize = 2048;

/// A node's request, rendered.
pub(crate) struct Outbound {
    pub method: hyper::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
}

/// What the endpoint answered.
pub(crate) struct Answered {
    pub status: u16,
    /// The answer as JSON, when it is JSON.
    pub json: Option<Value>,
    pub text: String,
}

impl Webhooks {
    /// Sends a node's request; the answer, or why there is none.
    pub(crate) async fn call(&self, o: Outbound) -> Result<Answered, String> {
        // The URL is not repeated in a failure: it may hold a secret.
        let uri: hyper::Uri = o.url.parse().map_err(|e| format!("bad URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(
                    "the simulator sends plain HTTP only: point the node at an http:// URL with \
                     the overlay's `webhooks` (or answer for it there with `response`)"
                        .into(),
                )
            }
            _ => return Err("bad URL: not an http:// URL".into()),
        }
        let mut req = Request::builder()
            .method(o.method)
            .uri(uri)
            .header(header::USER_AGENT, "bland-sms-sim")
            // Marks it as the simulator's: no simulator lets it drive its `/_sim` API.
            .header(DELIVERY_HEADER, "1");
        let has_type = o
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        for (k, v) in &o.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if o.body.is_some() && !has_type {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(o.body.unwrap_or_default())))
            .map_err(|e| format!("bad request: {e}"))?;
        let limit = Duration::from_millis(o.timeout_ms);
        let deadline = tokio::time::Instant::now() + limit;
        let timed_out = || format!("no answer within {} ms (the node's timeout)", o.timeout_ms);
        let resp = match tokio::time::timeout_at(deadline, self.client.request(req)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => {
                return Err(
                    connect::refusal(&e).unwrap_or_else(|| format!("connection failed: {e}"))
                )
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
        let bytes = match tokio::time::timeout_at(deadline, body.collect()).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(format!(
                    "the answer is larger than {MAX_ANSWER_BYTES} bytes: not read"
                ))
            }
            Ok(Err(e)) => return Err(format!("the answer broke off: {e}")),
            Ok(Ok(c)) => c.to_bytes(),
        };
        let json = serde_json::from_slice(&bytes).ok();
        let text = String::from_utf8_lossy(&bytes);
        Ok(Answered {
            status,
            json,
            text: crate::base::input::prefix(&text, LOGGED_TEXT).to_string(),
        })
    }
}

/// One Webhook node call, as `GET /_sim/conversations/{id}` shows it. Secrets appear as
/// `[secret NAME]`.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct NodeCall {
    pub id: u64,
    pub conversation_id: String,
    pub node_id: String,
    pub node_name: String,
    #[serde(serialize_with = "crate::base::input::ser_iso")]
    pub at: i64,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// `request` (sent) or `overlay` (answered by the overlay's `response`).
    pub answered_by: &'static str,
    pub status: Option<u16>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The variables its `responseData` set.
    pub variables: Map<String, Value>,
    /// The node it led to, and why.
    pub next_node_id: Option<String>,
    pub route: Option<String>,
}

fn call_bytes(c: &Arc<NodeCall>) -> usize {
    c.url.len()
        + c.headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>()
        + c.body.as_ref().map_or(0, String::len)
        + c.response.as_ref().map_or(0, String::len)
        + c.error.as_ref().map_or(0, String::len)
        + c.variables
            .iter()
            .map(|(k, v)| k.len() + v.to_string().len() + 64)
            .sum::<usize>()
        + c.conversation_id.len()
        + c.node_id.len()
        + c.node_name.len()
        + c.route.as_ref().map_or(0, String::len)
        + 256
}

/// The log of Webhook node calls: the newest [`LOG_ENTRIES`], within [`LOG_BYTES`]. Each is
/// shared, so reading the log copies no call.
pub(crate) struct NodeCalls {
    log: Ring<Arc<NodeCall>>,
}

/// Bytes the node-call log keeps at most.
pub const LOG_BYTES: usize = 4 * 1024 * 1024;
/// Entries the node-call log keeps at most.
pub const LOG_ENTRIES: usize = 2000;

impl Default for NodeCalls {
    fn default() -> Self {
        NodeCalls {
            log: Ring::bounded(LOG_ENTRIES, LOG_BYTES, call_bytes),
        }
    }
}

impl NodeCalls {
    /// Records `call` under the next id; the call as kept.
    pub fn record(&self, mut call: NodeCall) -> Arc<NodeCall> {
        let mut kept = None;
        let id = self.log.push(|id| {
            call.id = id;
            let call = Arc::new(call);
            kept = Some(call.clone());
            call
        });
        kept.unwrap_or_else(|| {
            Arc::new(NodeCall {
                id,
                ..Default::default()
            })
        })
    }

    /// The newest `limit` calls of conversation `id`, oldest first.
    pub fn of(&self, id: &str, limit: usize) -> Vec<Arc<NodeCall>> {
        let mut out = Vec::new();
        self.log.scan(None, true, |c| {
            if c.conversation_id == id {
                out.push(c.clone());
            }
            out.len() < limit
        });
        out.reverse();
        out
    }

    pub fn size(&self) -> (usize, usize) {
        (self.log.len(), self.log.bytes())
    }

    pub fn clear(&self) {
        self.log.clear();
    }
}

/// How long a call took, for the log.
pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}
