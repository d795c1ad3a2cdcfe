//! Inspection: `GET /_sim/webhooks`, `POST /_sim/webhooks/wait`, `GET /_sim/requests` and
//! `GET /_sim/requests/count`. Filters are parsed once and refuse values that cannot match.

use std::time::Duration;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::event::Event;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::observe::journal::Entry;
use crate::request::req::Req;
use crate::webhook::Delivery;

/// A query parameter by name.
fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// 400 naming a parameter and what it takes.
fn bad_param(name: &str, got: &str, takes: &str) -> ApiError {
    ApiError::invalid(format!("`{name}` must be {takes}, got {got:?}"))
}

/// Which deliveries: by conversation, event and type.
#[derive(Default)]
struct DeliveryFilter {
    conversation_id: Option<String>,
    event: Option<Event>,
    kind: Option<&'static str>,
    /// Only deliveries attempted at least once (what `/_sim/webhooks/wait` waits for).
    attempted: bool,
}

impl DeliveryFilter {
    fn new(
        conversation_id: Option<String>,
        event: Option<String>,
        kind: Option<String>,
    ) -> Result<Self, ApiError> {
        let event = match event {
            Some(e) => Some(
                Event::parse(&e)
                    .ok_or_else(|| bad_param("event", &e, &format!("one of {}", Event::names())))?,
            ),
            None => None,
        };
        let kind = match kind.as_deref() {
            Some("message") => Some("message"),
            Some("status") => Some("status"),
            Some(k) => return Err(bad_param("type", k, "message or status")),
            None => None,
        };
        Ok(DeliveryFilter {
            conversation_id,
            event,
            kind,
            attempted: false,
        })
    }

    fn keeps(&self, d: &Delivery) -> bool {
        self.conversation_id
            .as_ref()
            .is_none_or(|c| *c == d.conversation_id)
            && self.event.is_none_or(|e| e == d.event)
            && self.kind.is_none_or(|k| k == d.event.kind())
            && (!self.attempted || !d.attempts.is_empty())
    }
}

/// `GET /_sim/webhooks[?conversation_id=…&event=…&type=…]`.
pub(crate) fn webhooks(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let q = req.query_pairs();
    let filter = DeliveryFilter::new(
        param(&q, "conversation_id"),
        param(&q, "event"),
        param(&q, "type"),
    )?;
    let limit = match param(&q, "limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad_param("limit", &v, &format!("a number from 1 to {MAX_PAGE}")))?,
    };
    let full = match param(&q, "payload").as_deref() {
        None | Some("summary") => false,
        Some("full") => true,
        Some(v) => return Err(bad_param("payload", v, "\"full\" or \"summary\"")),
    };
    let newest = match param(&q, "order").as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(v) => return Err(bad_param("order", v, "\"oldest\" or \"newest\"")),
    };
    let cursor = match param(&q, "cursor") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| bad_param("cursor", &v, "the next_cursor of a previous page"))?,
        ),
    };
    let (page, more, last) = page(app, &filter, cursor, newest, limit, full);
    Ok(Reply::new(
        StatusCode::OK,
        json!({
            "data": page,
            "errors": null,
            "has_more": more,
            "next_cursor": if more { last } else { None },
        }),
    ))
}

/// The deliveries `keep` takes from `cursor` on: at most `limit`, and at most about
/// [`PAGE_BYTES`] (one at least); whole payloads with `full`, else without `chat_history`.
/// Also whether more follow, and the last one's id.
fn page(
    app: &App,
    filter: &DeliveryFilter,
    cursor: Option<u64>,
    newest: bool,
    limit: usize,
    full: bool,
) -> (Vec<Value>, bool, Option<u64>) {
    let (mut page, mut bytes, mut more, mut last) = (Vec::new(), 0usize, false, None);
    app.webhooks.scan(cursor, newest, |d| {
        if !filter.keeps(d) {
            return true;
        }
        if page.len() == limit || bytes > PAGE_BYTES {
            more = true;
            return false;
        }
        let v = if full {
            bytes += d.full_len();
            d.to_json()
        } else {
            bytes += d.body.own_len() + 512;
            d.summary_json()
        };
        page.push(v);
        last = Some(d.id);
        true
    });
    (page, more, last)
}

/// `GET /_sim/webhooks/{id}`: one delivery, with its whole payload.
pub(crate) fn webhook(app: &App, id: &str) -> Result<Reply, ApiError> {
    let d = id
        .parse::<u64>()
        .ok()
        .and_then(|id| app.webhooks.get(id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "WEBHOOK_NOT_FOUND",
                format!(
                    "No delivery {id:?} is kept: ids are the `id` of GET /_sim/webhooks (the \
                     log keeps the newest --webhook-log deliveries)"
                ),
            )
        })?;
    Ok(Reply::ok(d.to_json()))
}

/// Deliveries a `GET /_sim/webhooks` page has unless `limit` says otherwise, and at most.
pub(crate) const DEFAULT_PAGE: usize = 100;
pub(crate) const MAX_PAGE: usize = 1000;
/// Bytes after which a page ends early (its `has_more` says so).
pub(crate) const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Longest `/_sim/webhooks/wait` (a minute).
pub(crate) const MAX_WAIT_MS: u64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitBody {
    conversation_id: Option<String>,
    event: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    count: Option<usize>,
    timeout_ms: Option<u64>,
    payload: Option<String>,
    /// Wait until no delivery has an attempt outstanding instead (what is due now has been
    /// tried; retries on the clock do not count).
    #[serde(default)]
    settled: bool,
}

/// `POST /_sim/webhooks/wait {"conversation_id"?, "event"?, "type"?, "count"?: 1,
/// "timeout_ms"?: 5000}`: answers once that many matching deliveries have had their first
/// attempt (with them), or 408 `WAIT_TIMEOUT`.
/// With `"settled": true` it waits instead until every delivery due has been tried, and
/// answers `{"settled": true}`.
pub(crate) async fn wait(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json_object()?;
    let b: WaitBody = crate::base::input::typed(&body)?;
    if b.settled {
        return settled(app, b.timeout_ms).await;
    }
    let found = wait_json(app, &body).await?;
    Ok(Reply::ok(Value::Array(found)))
}

/// `POST /_sim/webhooks/wait {"settled": true, "timeout_ms"?: 5000}`.
async fn settled(app: &App, timeout_ms: Option<u64>) -> Result<Reply, ApiError> {
    let timeout_ms = timeout_ms.unwrap_or(5000);
    if timeout_ms > MAX_WAIT_MS {
        return Err(ApiError::invalid(format!(
            "`timeout_ms` must be at most {MAX_WAIT_MS}"
        )));
    }
    if app
        .webhooks
        .settled(Duration::from_millis(timeout_ms), || app.now())
        .await
    {
        Ok(Reply::ok(json!({"settled": true})))
    } else {
        Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "WAIT_TIMEOUT",
            format!(
                "{} deliveries still had an attempt due after {timeout_ms} ms; \
                 GET /_sim/webhooks shows them",
                app.webhooks.due(app.now())
            ),
        ))
    }
}

/// [`wait`] over its JSON body; the deliveries found.
///
/// # Errors
/// 408 `WAIT_TIMEOUT`, or 400 for a bad filter.
pub(crate) async fn wait_json(app: &App, body: &Value) -> Result<Vec<Value>, ApiError> {
    let b: WaitBody = crate::base::input::typed(body)?;
    let filter = DeliveryFilter::new(b.conversation_id, b.event, b.kind)?;
    let count = b.count.unwrap_or(1).max(1);
    let timeout_ms = b.timeout_ms.unwrap_or(5000);
    if timeout_ms > MAX_WAIT_MS {
        return Err(ApiError::invalid(format!(
            "`timeout_ms` must be at most {MAX_WAIT_MS}"
        )));
    }
    let full = match b.payload.as_deref() {
        None | Some("full") => true,
        Some("summary") => false,
        Some(v) => return Err(bad_param("payload", v, "\"full\" or \"summary\"")),
    };
    let timeout = Duration::from_millis(timeout_ms);
    let found = app
        .webhooks
        .wait_for(count, timeout, |d| filter.keeps(d))
        .await;
    // What matched, as a page: a long conversation's deliveries each carry its whole
    // chat_history, so the answer stops at MAX_PAGE deliveries or about PAGE_BYTES.
    let attempted = DeliveryFilter {
        attempted: true,
        ..filter
    };
    let (list, _, _) = page(app, &attempted, None, false, MAX_PAGE, full);
    if found {
        Ok(list)
    } else {
        Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "WAIT_TIMEOUT",
            format!(
                "{} of {count} matching deliveries were attempted within {timeout_ms} ms; \
                 GET /_sim/webhooks shows what was sent",
                list.len()
            ),
        ))
    }
}

/// Which journal entries: by method, path (and the paths under it), status and key.
struct RequestFilter {
    /// Only entries after this id (`after`, the `id` of an entry seen before).
    after: Option<u64>,
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    api_key: Option<String>,
}

/// Whether `path` is `prefix` or lies under it (`/v1/sms/conversations` covers
/// `/v1/sms/conversations/abc/messages`).
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl RequestFilter {
    fn parse(req: &Req) -> Result<Self, ApiError> {
        let q = req.query_pairs();
        let status = match param(&q, "status") {
            Some(s) => Some(
                s.parse::<u16>()
                    .ok()
                    .filter(|n| (100..600).contains(n))
                    .ok_or_else(|| bad_param("status", &s, "an HTTP status such as 404"))?,
            ),
            None => None,
        };
        let after = match param(&q, "after") {
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| bad_param("after", &v, "the id of a journaled request"))?,
            ),
            None => None,
        };
        Ok(RequestFilter {
            after,
            method: param(&q, "method"),
            path: param(&q, "path"),
            status,
            // The journal keeps a key's first bytes: compared as it keeps them.
            api_key: param(&q, "api_key").map(|k| {
                crate::base::input::prefix(&k, crate::observe::journal::MAX_KEY).to_string()
            }),
        })
    }

    fn keeps(&self, e: &Entry) -> bool {
        self.after.is_none_or(|a| e.id > a)
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(e.method.as_str()))
            && self.path.as_ref().is_none_or(|p| under(&e.path, p))
            && self.status.is_none_or(|s| s == e.status.as_u16())
            && self
                .api_key
                .as_ref()
                .is_none_or(|k| Some(k) == e.api_key.as_ref())
    }
}

/// `GET /_sim/requests[?method=…&path=…&status=…&api_key=…]`: the journaled API requests;
/// `path` matches itself and every path under it.
pub(crate) fn requests(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let filter = RequestFilter::parse(req)?;
    // From the cursor on (`after`): only the newer entries are visited.
    let mut list = Vec::new();
    app.journal.scan(filter.after, |e| {
        if filter.keeps(e) {
            list.push(e.to_json());
        }
        true
    });
    Ok(Reply::ok(list.into()))
}

/// `GET /_sim/requests/count?…`: how many journaled requests match (the same filters).
pub(crate) fn count_requests(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let filter = RequestFilter::parse(req)?;
    let count = app.journal.count(|e| filter.keeps(e));
    Ok(Reply::ok(json!({ "count": count })))
}
