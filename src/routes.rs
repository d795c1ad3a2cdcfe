//! One place maps (method, path) to a handler. The request is read once into a [`Req`]
//! snapshot (body under the size cap); unknown paths answer 404 and known paths with the wrong
//! method 405, both in Bland's envelope and before authentication. `/v1/sms/*` needs an API key;
//! `/_sim/*` does not.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::api;
use crate::app::App;
use crate::body::read_limited;
use crate::error::{ApiError, ApiResult};
use crate::journal::Entry;

/// A request, read once.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The `idempotency-key` header, when non-empty.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
            .filter(|k| !k.trim().is_empty())
    }
    /// Decoded query pairs (`+` and percent escapes undone).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let q = self.query.as_deref().unwrap_or("");
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }
}

/// The API routes, with their path parameters.
enum Route<'a> {
    Numbers,
    NumberUpdate,
    Send,
    Create,
    Analyze,
    ListConversations,
    Resend,
    GetConversation(&'a str),
    PatchConversation(&'a str),
    DeleteConversation(&'a str),
    PostMessages(&'a str),
    DeleteMessages(&'a str),
    Handoff(&'a str),
    Resume(&'a str),
    End(&'a str),
    WebhookLog(&'a str),
}

fn method_not_allowed(method: &Method, allowed: &[Method]) -> ApiError {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed here; use {}", names.join(" or ")),
    )
}

/// 404 for a path the API does not have.
pub fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("No route for {method} {path}"),
    )
}

/// Picks the method's entry from `(method, value)` pairs, or 405 listing the allowed ones.
pub fn pick<T>(method: &Method, options: Vec<(Method, T)>) -> Result<T, ApiError> {
    let allowed: Vec<Method> = options.iter().map(|(m, _)| m.clone()).collect();
    options
        .into_iter()
        .find(|(m, _)| m == method)
        .map(|(_, t)| t)
        .ok_or_else(|| method_not_allowed(method, &allowed))
}

fn resolve<'a>(method: &Method, segs: &[&'a str]) -> Option<Result<Route<'a>, ApiError>> {
    use Method as M;
    Some(match segs {
        ["numbers"] => pick(method, vec![(M::GET, Route::Numbers)]),
        ["number", "update"] => pick(method, vec![(M::POST, Route::NumberUpdate)]),
        ["send"] => pick(method, vec![(M::POST, Route::Send)]),
        ["create"] => pick(method, vec![(M::POST, Route::Create)]),
        ["analyze"] => pick(method, vec![(M::POST, Route::Analyze)]),
        ["conversations"] => pick(method, vec![(M::GET, Route::ListConversations)]),
        ["conversations", "webhooks", "resend"] => pick(method, vec![(M::POST, Route::Resend)]),
        ["conversations", id] => pick(
            method,
            vec![
                (M::GET, Route::GetConversation(id)),
                (M::PATCH, Route::PatchConversation(id)),
                (M::DELETE, Route::DeleteConversation(id)),
            ],
        ),
        ["conversations", id, "messages"] => pick(
            method,
            vec![
                (M::POST, Route::PostMessages(id)),
                (M::DELETE, Route::DeleteMessages(id)),
            ],
        ),
        ["conversations", id, "handoff"] => pick(method, vec![(M::POST, Route::Handoff(id))]),
        ["conversations", id, "resume"] => pick(method, vec![(M::POST, Route::Resume(id))]),
        ["conversations", id, "end"] => pick(method, vec![(M::POST, Route::End(id))]),
        ["conversations", id, "webhook"] => pick(method, vec![(M::GET, Route::WebhookLog(id))]),
        _ => return None,
    })
}

/// The key a request presents in `authorization`, raw or as `Bearer KEY`; `None` when empty.
pub fn presented_key(req: &Req) -> Option<&str> {
    let raw = req.header("authorization").unwrap_or("").trim();
    let key = match raw.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ if raw.eq_ignore_ascii_case("bearer") => "",
        _ => raw,
    };
    (!key.is_empty()).then_some(key)
}

/// The API key of a request.
///
/// # Errors
/// 401 `AUTH_FAILURE` when missing, empty, or not one of `--api-key`.
pub fn authenticate(app: &App, req: &Req) -> Result<String, ApiError> {
    let key = presented_key(req).ok_or_else(ApiError::unauthorized)?;
    if !app.config.api_keys.is_empty() && !app.config.api_keys.iter().any(|k| k == key) {
        return Err(ApiError::unauthorized());
    }
    Ok(key.to_string())
}

async fn route(app: &App, req: &Req) -> ApiResult {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["_sim", rest @ ..] => crate::admin::route(app, req, rest).await,
        ["v1", "sms", rest @ ..] => {
            let route = match resolve(&req.method, rest) {
                Some(r) => r?,
                None => return Err(not_found(&req.method, &req.path)),
            };
            let key = authenticate(app, req)?;
            dispatch(app, req, &key, route).await
        }
        _ => Err(not_found(&req.method, &req.path)),
    }
}

async fn dispatch(app: &App, req: &Req, key: &str, route: Route<'_>) -> ApiResult {
    use api::*;
    match route {
        Route::Numbers => numbers::list(app, req, key),
        Route::NumberUpdate => numbers::update(app, req, key),
        Route::Send => {
            let idem = req.idempotency_key();
            app.store
                .idempotent(key, "send", idem, || async { send::send(app, req, key) })
                .await
        }
        Route::Create => send::create(app, req, key),
        Route::Analyze => analyze::analyze(app, req, key),
        Route::ListConversations => list::list(app, req, key),
        Route::Resend => webhooks::resend(app, req, key),
        Route::GetConversation(id) => conversations::get(app, key, id),
        Route::PatchConversation(id) => conversations::patch(app, req, key, id),
        Route::DeleteConversation(id) => conversations::delete(app, key, id),
        Route::PostMessages(id) => {
            let scope = format!("messages:{id}");
            let idem = req.idempotency_key();
            app.store
                .idempotent(key, &scope, idem, || async {
                    conversations::post_message(app, req, key, id)
                })
                .await
        }
        Route::DeleteMessages(id) => conversations::delete_messages(app, req, key, id),
        Route::Handoff(id) => handoff::handoff(app, req, key, id),
        Route::Resume(id) => {
            let scope = format!("resume:{id}");
            let idem = req.idempotency_key();
            app.store
                .idempotent(key, &scope, idem, || async {
                    handoff::resume(app, req, key, id)
                })
                .await
        }
        Route::End(id) => handoff::end(app, req, key, id),
        Route::WebhookLog(id) => webhooks::log(app, key, id),
    }
}

/// The hyper service: read, route, answer. Never fails at the HTTP level.
pub async fn handle(app: App, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match read_limited(body, app.config.body_limit).await {
        Ok(b) => b,
        Err(e) => return Ok(e.into_reply().into_response()),
    };
    let req = Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers: parts.headers,
        body,
    };
    let (reply, error) = match route(&app, &req).await {
        Ok(r) => (r, None),
        Err(e) => {
            let code = e.code;
            (e.into_reply(), Some(code))
        }
    };
    if app.journal.enabled() && !req.path.starts_with("/_sim/") {
        app.journal.record(Entry {
            id: 0,
            at: app.now(),
            api_key: presented_key(&req).map(String::from),
            idempotency_key: req.idempotency_key().map(String::from),
            method: req.method,
            path: req.path,
            query: req.query,
            body: req.body,
            status: reply.status,
            error,
        });
    }
    Ok(reply.into_response())
}
