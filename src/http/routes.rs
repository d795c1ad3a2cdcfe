//! The one route table: (method, path) → handler, for Bland's `/v1/sms/*` and the simulator's
//! `/_sim/*`. The request is read once into a [`Req`] (body under the size cap); unknown paths
//! answer 404 and known paths with the wrong method 405, both in Bland's envelope and before
//! authentication. `/v1/sms/*` needs an API key; `/_sim/*` does not. Every `/v1` request is
//! journaled with the answer it got.

use http_body_util::Either;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::admin;
use crate::api::{
    analyze, batch, citations, conversations, handoff, legacy, list, numbers, send, webhooks,
};
use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::http::guard::Guard;
use crate::observe::faults::ApiFault;
use crate::observe::journal::Entry;
use crate::request::body::{into_response, read_limited, Body};
use crate::request::req::Req;
use crate::state::events::EventStream;

/// Every route, with its path parameters.
#[cfg_attr(test, derive(strum::EnumIter))]
enum Route {
    Numbers,
    NumberUpdate,
    Send,
    Create,
    Analyze,
    CitationBackfill,
    ListConversations,
    Resend,
    GetConversation,
    PatchConversation,
    DeleteConversation,
    PostMessages,
    DeleteMessages,
    Handoff,
    Resume,
    End,
    WebhookLog,
    FilesAttach,
    Batch,
    LegacyUpdate,
    LegacyPromptUpdate,
    LegacyWebhookUpdate,
    LegacyMessagesGet,
    LegacyClear,
    LegacyToggle,
    LegacyRegister,
    LegacyRegisterStatus,
    SimHealth,
    SimReset,
    SimNumbers,
    SimProvision,
    SimInbound,
    SimClock,
    SimAdvance,
    SimWebhooks,
    SimWebhook,
    SimScenarios,
    SimOutbox,
    SimRequests,
    SimRequestsCount,
    SimWebhooksWait,
    SimFaults,
    SimAddFault,
    SimClearFaults,
    SimRemoveFault,
    SimAddScenario,
    SimRemoveScenario,
    SimMetrics,
    SimOpenApi,
    SimState,
    SimReplaceState,
    SimSaveState,
    SimRecordReplay,
    SimMessageRead,
    SimMessageClick,
    SimEvents,
    SimUi,
    SimConversations,
    SimConversation,
    SimBatch,
    SimCarrierRules,
    SimAddCarrierRule,
    SimClearCarrierRules,
}

impl Route {
    /// The route as metrics name it: method and path pattern.
    fn name(&self) -> &'static str {
        use Route::*;
        match self {
            Numbers => "GET /v1/sms/numbers",
            NumberUpdate => "POST /v1/sms/number/update",
            Send => "POST /v1/sms/send",
            Create => "POST /v1/sms/create",
            Analyze => "POST /v1/sms/analyze",
            CitationBackfill => "POST /v1/citation_schemas/backfill",
            ListConversations => "GET /v1/sms/conversations",
            Resend => "POST /v1/sms/conversations/webhooks/resend",
            GetConversation => "GET /v1/sms/conversations/{id}",
            PatchConversation => "PATCH /v1/sms/conversations/{id}",
            DeleteConversation => "DELETE /v1/sms/conversations/{id}",
            PostMessages => "POST /v1/sms/conversations/{id}/messages",
            DeleteMessages => "DELETE /v1/sms/conversations/{id}/messages",
            Handoff => "POST /v1/sms/conversations/{id}/handoff",
            Resume => "POST /v1/sms/conversations/{id}/resume",
            End => "POST /v1/sms/conversations/{id}/end",
            WebhookLog => "GET /v1/sms/conversations/{id}/webhook",
            FilesAttach => "POST /v1/files/attach",
            Batch => "POST /v1/sms/batch",
            LegacyUpdate => "POST /v1/sms/update",
            LegacyPromptUpdate => "POST /v1/sms/prompt/update",
            LegacyWebhookUpdate => "POST /v1/sms/webhook/update",
            LegacyMessagesGet => "POST /v1/sms/messages/get",
            LegacyClear => "POST /v1/sms/clear",
            LegacyToggle => "POST /v1/sms/toggle",
            LegacyRegister => "POST /v1/sms/register",
            LegacyRegisterStatus => "POST /v1/sms/register/status",
            SimHealth => "GET /_sim/health",
            SimReset => "POST /_sim/reset",
            SimNumbers => "GET /_sim/numbers",
            SimProvision => "POST /_sim/numbers",
            SimInbound => "POST /_sim/inbound",
            SimClock => "GET /_sim/clock",
            SimAdvance => "POST /_sim/clock/advance",
            SimWebhooks => "GET /_sim/webhooks",
            SimWebhook => "GET /_sim/webhooks/{id}",
            SimScenarios => "GET /_sim/scenarios",
            SimOutbox => "GET /_sim/outbox",
            SimRequests => "GET /_sim/requests",
            SimRequestsCount => "GET /_sim/requests/count",
            SimWebhooksWait => "POST /_sim/webhooks/wait",
            SimFaults => "GET /_sim/faults",
            SimAddFault => "POST /_sim/faults",
            SimClearFaults => "DELETE /_sim/faults",
            SimRemoveFault => "DELETE /_sim/faults/{id}",
            SimAddScenario => "POST /_sim/scenarios",
            SimRemoveScenario => "DELETE /_sim/scenarios/{name}",
            SimMetrics => "GET /_sim/metrics",
            SimOpenApi => "GET /_sim/openapi.json",
            SimState => "GET /_sim/state",
            SimReplaceState => "PUT /_sim/state",
            SimSaveState => "POST /_sim/state/save",
            SimRecordReplay => "GET /_sim/conversations/{id}/replay",
            SimMessageRead => "POST /_sim/conversations/{id}/messages/{message_id}/read",
            SimMessageClick => "POST /_sim/conversations/{id}/messages/{message_id}/click",
            SimEvents => "GET /_sim/events",
            SimUi => "GET /_sim/ui",
            SimConversations => "GET /_sim/conversations",
            SimConversation => "GET /_sim/conversations/{id}",
            SimBatch => "GET /_sim/batches/{id}",
            SimCarrierRules => "GET /_sim/carrier/rules",
            SimAddCarrierRule => "POST /_sim/carrier/rules",
            SimClearCarrierRules => "DELETE /_sim/carrier/rules",
        }
    }

    /// Bland's API needs a key; the control API does not.
    fn needs_key(&self) -> bool {
        self.name().contains(" /v1/")
    }
}

/// The table: the route and its path parameter (`""` when it has none). `None` for a path
/// it does not have.
fn table<'a>(method: &Method, segs: &[&'a str]) -> Option<(Result<Route, ApiError>, &'a str)> {
    use Method as M;
    use Route as R;
    let one = |m: Method, r: Route| (pick(method, [(m, r)]), "");
    let with = |param: &'a str, picked: Result<Route, ApiError>| (picked, param);
    Some(match segs {
        ["v1", "sms", "numbers"] => one(M::GET, R::Numbers),
        ["v1", "sms", "number", "update"] => one(M::POST, R::NumberUpdate),
        ["v1", "sms", "send"] => one(M::POST, R::Send),
        ["v1", "sms", "create"] => one(M::POST, R::Create),
        ["v1", "sms", "analyze"] => one(M::POST, R::Analyze),
        ["v1", "citation_schemas", "backfill"] => one(M::POST, R::CitationBackfill),
        ["v1", "files", "attach"] => one(M::POST, R::FilesAttach),
        ["v1", "sms", "batch"] => one(M::POST, R::Batch),
        ["v1", "sms", "update"] => one(M::POST, R::LegacyUpdate),
        ["v1", "sms", "prompt", "update"] => one(M::POST, R::LegacyPromptUpdate),
        ["v1", "sms", "webhook", "update"] => one(M::POST, R::LegacyWebhookUpdate),
        ["v1", "sms", "messages", "get"] => one(M::POST, R::LegacyMessagesGet),
        ["v1", "sms", "clear"] => one(M::POST, R::LegacyClear),
        ["v1", "sms", "toggle"] => one(M::POST, R::LegacyToggle),
        ["v1", "sms", "register"] => one(M::POST, R::LegacyRegister),
        ["v1", "sms", "register", "status"] => one(M::POST, R::LegacyRegisterStatus),
        ["v1", "sms", "conversations"] => one(M::GET, R::ListConversations),
        ["v1", "sms", "conversations", "webhooks", "resend"] => one(M::POST, R::Resend),
        ["v1", "sms", "conversations", id] => with(
            id,
            pick(
                method,
                [
                    (M::GET, R::GetConversation),
                    (M::PATCH, R::PatchConversation),
                    (M::DELETE, R::DeleteConversation),
                ],
            ),
        ),
        ["v1", "sms", "conversations", id, "messages"] => with(
            id,
            pick(
                method,
                [(M::POST, R::PostMessages), (M::DELETE, R::DeleteMessages)],
            ),
        ),
        ["v1", "sms", "conversations", id, "handoff"] => {
            with(id, pick(method, [(M::POST, R::Handoff)]))
        }
        ["v1", "sms", "conversations", id, "resume"] => {
            with(id, pick(method, [(M::POST, R::Resume)]))
        }
        ["v1", "sms", "conversations", id, "end"] => with(id, pick(method, [(M::POST, R::End)])),
        ["v1", "sms", "conversations", id, "webhook"] => {
            with(id, pick(method, [(M::GET, R::WebhookLog)]))
        }
        ["_sim", "health"] => one(M::GET, R::SimHealth),
        ["_sim", "reset"] => one(M::POST, R::SimReset),
        ["_sim", "numbers"] => (
            pick(
                method,
                [(M::GET, R::SimNumbers), (M::POST, R::SimProvision)],
            ),
            "",
        ),
        ["_sim", "inbound"] => one(M::POST, R::SimInbound),
        ["_sim", "clock"] => one(M::GET, R::SimClock),
        ["_sim", "clock", "advance"] => one(M::POST, R::SimAdvance),
        ["_sim", "webhooks"] => one(M::GET, R::SimWebhooks),
        ["_sim", "scenarios"] => (
            pick(
                method,
                [(M::GET, R::SimScenarios), (M::POST, R::SimAddScenario)],
            ),
            "",
        ),
        ["_sim", "scenarios", name] => {
            with(name, pick(method, [(M::DELETE, R::SimRemoveScenario)]))
        }
        ["_sim", "outbox"] => one(M::GET, R::SimOutbox),
        ["_sim", "metrics"] => one(M::GET, R::SimMetrics),
        ["_sim", "openapi.json"] => one(M::GET, R::SimOpenApi),
        ["_sim", "state"] => (
            pick(
                method,
                [(M::GET, R::SimState), (M::PUT, R::SimReplaceState)],
            ),
            "",
        ),
        ["_sim", "state", "save"] => one(M::POST, R::SimSaveState),
        ["_sim", "conversations", id, "replay"] => {
            with(id, pick(method, [(M::GET, R::SimRecordReplay)]))
        }
        ["_sim", "conversations", id, "messages", _, "read"] => {
            with(id, pick(method, [(M::POST, R::SimMessageRead)]))
        }
        ["_sim", "conversations", id, "messages", _, "click"] => {
            with(id, pick(method, [(M::POST, R::SimMessageClick)]))
        }
        ["_sim", "events"] => one(M::GET, R::SimEvents),
        ["_sim", "batches", id] => with(id, pick(method, [(M::GET, R::SimBatch)])),
        ["_sim", "carrier", "rules"] => (
            pick(
                method,
                [
                    (M::GET, R::SimCarrierRules),
                    (M::POST, R::SimAddCarrierRule),
                    (M::DELETE, R::SimClearCarrierRules),
                ],
            ),
            "",
        ),
        ["_sim", "conversations"] => one(M::GET, R::SimConversations),
        ["_sim", "conversations", id] => with(id, pick(method, [(M::GET, R::SimConversation)])),
        ["_sim", "ui"] => one(M::GET, R::SimUi),
        ["_sim", "requests"] => one(M::GET, R::SimRequests),
        ["_sim", "requests", "count"] => one(M::GET, R::SimRequestsCount),
        ["_sim", "webhooks", "wait"] => one(M::POST, R::SimWebhooksWait),
        ["_sim", "webhooks", id] => with(id, pick(method, [(M::GET, R::SimWebhook)])),
        ["_sim", "faults"] => (
            pick(
                method,
                [
                    (M::GET, R::SimFaults),
                    (M::POST, R::SimAddFault),
                    (M::DELETE, R::SimClearFaults),
                ],
            ),
            "",
        ),
        ["_sim", "faults", id] => with(id, pick(method, [(M::DELETE, R::SimRemoveFault)])),
        _ => return None,
    })
}

/// The OpenAPI 3.1 description of every route above (a test holds the two to each other).
const OPENAPI: &str = include_str!("openapi.json");

/// Picks the method's entry from `(method, value)` pairs, or 405 listing the allowed ones.
/// (The refusal is built only when it is the answer: routing allocates nothing.)
fn pick<T, const N: usize>(method: &Method, options: [(Method, T); N]) -> Result<T, ApiError> {
    if let Some(i) = options.iter().position(|(m, _)| m == method) {
        return Ok(options
            .into_iter()
            .nth(i)
            .map(|(_, t)| t)
            .expect("found above"));
    }
    let allowed: Vec<&str> = options.iter().map(|(m, _)| m.as_str()).collect();
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed here; use {}", allowed.join(" or ")),
    ))
}

/// The API key of a request.
///
/// # Errors
/// 401 `AUTH_FAILURE` when missing, empty, or not one of `--api-key`.
fn authenticate<'r>(app: &App, req: &'r Req) -> Result<&'r str, ApiError> {
    let key = req.presented_key().ok_or_else(ApiError::unauthorized)?;
    let keys = &app.config.api_keys;
    if !keys.is_empty() && !keys.iter().any(|k| k == key) {
        return Err(ApiError::unauthorized());
    }
    Ok(key)
}

/// With an admin token set, every `/_sim/*` call but health must present it, as
/// `authorization: Bearer TOKEN` or `x-sim-admin-token: TOKEN`.
///
/// # Errors
/// 401 `AUTH_FAILURE` saying how to present it.
fn authorize_admin(app: &App, req: &Req, route: &Route) -> Result<(), ApiError> {
    let Some(token) = app.config.admin_token.as_deref() else {
        return Ok(());
    };
    if matches!(route, Route::SimHealth) {
        return Ok(());
    }
    let given = req.header("x-sim-admin-token").or(req.presented_key());
    // A browser cannot add a header to a page load or an EventSource: those two take it in
    // the query too.
    let in_query = || {
        matches!(route, Route::SimUi | Route::SimEvents)
            && req
                .query_pairs()
                .iter()
                .any(|(k, v)| k == "admin_token" && v == token)
    };
    if given == Some(token) || in_query() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "AUTH_FAILURE",
            "The /_sim control API needs the admin token: send `authorization: Bearer TOKEN` \
             or `x-sim-admin-token: TOKEN` (for /_sim/ui and /_sim/events, `?admin_token=TOKEN` \
             also works)",
        ))
    }
}

/// Routes and answers; `name` is set to the route's name once it is known.
async fn route(app: &App, req: &Req, name: &mut &'static str) -> Result<Reply, ApiError> {
    let path = req.path.trim_end_matches('/');
    // The longest route has 6 segments; a path with more matches none.
    let mut segs = [""; 6];
    let mut n = 0;
    let mut rest = path.trim_start_matches('/').split('/');
    for s in rest.by_ref().take(segs.len()) {
        segs[n] = s;
        n += 1;
    }
    let found = match rest.next() {
        None => table(&req.method, &segs[..n]),
        Some(_) => None,
    };
    let Some((route, param)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("No route for {} {}", req.method, req.path),
        ));
    };
    let route = route?;
    *name = route.name();
    let key = if route.needs_key() {
        authenticate(app, req)?
    } else {
        authorize_admin(app, req, &route)?;
        ""
    };
    dispatch(app, req, key, route, param).await
}

/// `id` is the route's path parameter (a conversation, fault or scenario), if it has one.
async fn dispatch(
    app: &App,
    req: &Req,
    key: &str,
    route: Route,
    id: &str,
) -> Result<Reply, ApiError> {
    let idem = |scope: &str, f: &dyn Fn() -> Result<Reply, ApiError>| {
        app.idempotency.run(key, scope, req.idempotency_key(), f)
    };
    match route {
        Route::Numbers => numbers::list(app, req, key),
        Route::NumberUpdate => numbers::update(app, req, key),
        Route::Send => idem("send", &|| send::send(app, req, key)),
        Route::Create => send::create(app, req, key),
        Route::Analyze => analyze::analyze(app, req, key),
        Route::CitationBackfill => citations::backfill(app, req, key),
        Route::ListConversations => list::list(app, req, key),
        Route::Resend => webhooks::resend(app, req, key).await,
        Route::GetConversation => conversations::get(app, key, id),
        Route::PatchConversation => conversations::patch(app, req, key, id),
        Route::DeleteConversation => conversations::delete(app, key, id),
        Route::PostMessages => {
            let scope = format!("messages:{id}");
            idem(&scope, &|| conversations::post_message(app, req, key, id))
        }
        Route::DeleteMessages => conversations::delete_messages(app, req, key, id),
        Route::Handoff => handoff::handoff(app, req, key, id),
        Route::Resume => {
            let scope = format!("resume:{id}");
            idem(&scope, &|| handoff::resume(app, req, key, id))
        }
        Route::End => handoff::end(app, req, key, id),
        Route::WebhookLog => webhooks::log(app, key, id),
        Route::FilesAttach => batch::attach(app, req, key).await,
        Route::Batch => batch::batch(app, req, key),
        Route::LegacyUpdate | Route::LegacyPromptUpdate => legacy::update(app, req, key),
        Route::LegacyWebhookUpdate => legacy::webhook_update(app, req, key),
        Route::LegacyMessagesGet => legacy::messages_get(app, req, key),
        Route::LegacyClear => legacy::clear(app, req, key),
        Route::LegacyToggle => legacy::toggle(app, req, key),
        Route::LegacyRegister => legacy::register(app, req, key),
        Route::LegacyRegisterStatus => legacy::register_status(app, req, key),
        _ => dispatch_sim(app, req, route, id).await,
    }
}

/// The control API's routes (`/_sim/*`), which take no API key.
async fn dispatch_sim(app: &App, req: &Req, route: Route, id: &str) -> Result<Reply, ApiError> {
    match route {
        Route::SimHealth => Ok(admin::health()),
        Route::SimReset => Ok(admin::reset(app).await),
        Route::SimNumbers => Ok(admin::numbers(app)),
        Route::SimProvision => admin::provision(app, req),
        Route::SimInbound => admin::inbound(app, req).await,
        Route::SimClock => Ok(Reply::ok(admin::clock_json(app))),
        Route::SimAdvance => admin::advance(app, req).await,
        Route::SimWebhooks => admin::webhooks(app, req),
        Route::SimWebhook => admin::webhook(app, id),
        Route::SimScenarios => Ok(Reply::ok(app.scenarios.load().to_json())),
        Route::SimAddScenario => admin::add_scenario(app, req),
        Route::SimMetrics => Ok(Reply::text(
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics_text(),
        )),
        Route::SimState => Ok(admin::state(app).await),
        Route::SimReplaceState => admin::replace_state(app, req).await,
        Route::SimSaveState => admin::save_state(app).await,
        Route::SimRecordReplay => recording_of(app, req, id).map(|script| {
            let mut bytes = serde_json::to_vec_pretty(&script).expect("a script serializes");
            bytes.push(b'\n');
            Reply::document(bytes)
        }),
        Route::SimOpenApi => Ok(Reply::document(OPENAPI.as_bytes())),
        Route::SimMessageRead => admin::receipt(app, req, id, false),
        Route::SimMessageClick => admin::receipt(app, req, id, true),
        Route::SimRemoveScenario => admin::remove_scenario(app, id),
        Route::SimOutbox => Ok(Reply::ok(serde_json::Value::Array(app.store.outbox()))),
        Route::SimRequests => admin::requests(app, req),
        Route::SimRequestsCount => admin::count_requests(app, req),
        Route::SimWebhooksWait => admin::wait(app, req).await,
        Route::SimFaults => Ok(Reply::ok(app.faults.list().into())),
        Route::SimAddFault => admin::add_fault(app, req),
        Route::SimClearFaults => {
            app.faults.clear();
            Ok(Reply::ok(serde_json::json!({"status": "cleared"})))
        }
        Route::SimRemoveFault => admin::remove_fault(app, id),
        Route::SimEvents => admin::events(req),
        Route::SimUi => Ok(admin::ui()),
        Route::SimConversations => list::of_number(app, req),
        Route::SimConversation => admin::conversation(app, id),
        Route::SimBatch => admin::batch(app, req, id),
        Route::SimCarrierRules => Ok(admin::carrier_rules(app)),
        Route::SimAddCarrierRule => admin::add_carrier_rule(app, req),
        Route::SimClearCarrierRules => {
            app.carrier.clear_rules();
            Ok(Reply::ok(serde_json::json!({"status": "cleared"})))
        }
        // Bland's API's routes are dispatched by `dispatch`, which sends none here.
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("No route for {}", other.name()),
        )),
    }
}

/// 408 for a body that did not arrive in time.
fn body_timed_out(deadline: std::time::Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "REQUEST_TIMEOUT",
        format!(
            "The request body did not arrive within {} ms",
            deadline.as_millis()
        ),
    )
}

/// A fault rule's order to close the connection with no answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a /_sim/faults rule")
    }
}

impl std::error::Error for Dropped {}

/// The fault (if any) for a request outside `/_sim`, after the base latency; a delay-only
/// fault is waited out here and the request then answers normally.
async fn fault_for(app: &App, req: &Req) -> Option<ApiFault> {
    if req.path.starts_with("/_sim/") {
        return None;
    }
    if app.config.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(app.config.latency_ms)).await;
    }
    let fault = app
        .faults
        .for_request(req.method.as_str(), &req.path, req.presented_key());
    if let Some(ApiFault::Delay(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    fault
}

/// A fault rule's error answer.
fn injected(status: u16, code: &'static str, message: String) -> ApiError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(status, code, message)
}

/// The hyper service: read, route, answer. Fails at the HTTP level only when a fault rule
/// drops the connection.
pub(crate) async fn handle(
    app: App,
    guard: &Guard,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    // Before the body is read: a refused request costs nothing and is not journaled.
    if let Err(e) = guard.check(req.method(), req.uri(), req.headers()) {
        app.metrics
            .request("refused request", e.status.as_u16(), 0.0);
        return Ok(into_response(Reply::from(e)));
    }
    let req = match read(&app, req).await {
        Ok(r) => r,
        Err(e) => return Ok(into_response(Reply::from(e))),
    };
    let arrived = app.journal.arrive();
    let started = std::time::Instant::now();
    let mut name = "unknown route";
    let answer = match fault_for(&app, &req).await {
        Some(ApiFault::Drop) => return Err(Dropped),
        Some(ApiFault::Error {
            status,
            code,
            message,
        }) => {
            name = "faulted request";
            Err(injected(status, code, message))
        }
        _ => route(&app, &req, &mut name).await,
    };
    // An event stream takes its place under the cap now, or the request gets the 503.
    let mut stream = None;
    let answer = answer.and_then(|r| match r.subscribe {
        Some(from) => app.events.subscribe(from.last_event_id).map(|s| {
            stream = Some(s);
            r
        }),
        None => Ok(r),
    });
    let replay = answer.as_ref().is_ok_and(|r| r.replay);
    let (reply, error) = match answer {
        Ok(r) => (r, None),
        Err(e) => {
            let code = e.code;
            (Reply::from(e), Some(code))
        }
    };
    app.metrics
        .request(name, reply.status.as_u16(), started.elapsed().as_secs_f64());
    if let Some(stream) = stream {
        return Ok(event_stream(stream));
    }
    let warnings = req.take_warnings();
    let mut response = into_response(reply);
    if let Some(v) = warning_header(&warnings) {
        response.headers_mut().insert("x-bland-sim-warning", v);
    }
    journal(
        &app,
        req,
        arrived,
        (response.status(), error, replay),
        warnings,
    );
    Ok(response)
}

/// `GET /_sim/conversations/{id}/replay[?as=app]`: the conversation as a replay script.
fn recording_of(app: &App, req: &Req, id: &str) -> Result<serde_json::Value, ApiError> {
    let q = req.query_pairs();
    let as_app = match q.iter().find(|(k, _)| k == "as").map(|(_, v)| v.as_ref()) {
        None => false,
        Some("app") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "`as` takes \"app\" (the app as the thing under test), got {other:?}"
            )))
        }
    };
    crate::recording::record::record(app, id, as_app)
}

/// Sent by the replay runner with each of its calls: the step's number, journaled as
/// `replay_step`.
pub(crate) const REPLAY_STEP_HEADER: &str = "x-bland-sim-replay-step";

/// Records an API request (and a text sent as a user, so a conversation can be recorded from
/// it) with its answer: status, error code and whether it was an idempotent replay.
fn journal(
    app: &App,
    req: Req,
    arrived: u64,
    (status, error, replay): (StatusCode, Option<&'static str>, bool),
    warnings: Vec<String>,
) {
    let journaled = !req.path.starts_with("/_sim/") || req.path == "/_sim/inbound";
    if !app.journal.enabled() || !journaled {
        return;
    }
    let replay_step = req.header(REPLAY_STEP_HEADER).and_then(|v| v.parse().ok());
    app.journal.record(Entry {
        id: 0,
        at: app.now(),
        api_key: req.presented_key().map(String::from),
        idempotency_key: req.idempotency_key().map(String::from),
        method: req.method,
        path: req.path,
        query: req.query,
        body: req.body,
        status,
        error,
        warnings,
        replay,
        replay_step,
        arrived,
        conversation_id: req.conversation.into_inner(),
    });
}

/// The answer of `GET /_sim/events`: the stream, unbuffered and uncached.
fn event_stream(stream: EventStream) -> Response<Body> {
    use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Either::Right(stream))
        .expect("constant headers are valid")
}

/// The request read once: its body within the size limit and the body timeout.
async fn read(app: &App, req: Request<Incoming>) -> Result<Req, ApiError> {
    let (parts, body) = req.into_parts();
    let limit = app.config.body_limit;
    let deadline = std::time::Duration::from_millis(app.config.body_timeout_ms);
    let body = tokio::time::timeout(deadline, read_limited(body, limit))
        .await
        .unwrap_or_else(|_| Err(body_timed_out(deadline)))?;
    Ok(Req {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers: parts.headers,
        body,
        strict: app.config.strict,
        warnings: Default::default(),
        hints: Default::default(),
        conversation: Default::default(),
    })
}

/// The warnings as one header value (anything but printable ASCII becomes `?`).
fn warning_header(warnings: &[String]) -> Option<hyper::header::HeaderValue> {
    if warnings.is_empty() {
        return None;
    }
    let printable = |c: char| c.is_ascii_graphic() || c == ' ';
    let text: String = warnings
        .join("; ")
        .chars()
        .map(|c| if printable(c) { c } else { '?' })
        .collect();
    hyper::header::HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use strum::IntoEnumIterator;

    fn openapi() -> Value {
        serde_json::from_str(OPENAPI).expect("src/openapi.json is JSON")
    }

    /// `METHOD /path` for every operation the document describes.
    fn documented(doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, _) in item.as_object().expect("path item") {
                if ["get", "put", "post", "delete", "patch", "head", "options"]
                    .contains(&method.as_str())
                {
                    out.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        out.sort();
        out
    }

    /// The route a `METHOD /path/{param}` name reaches, with each parameter filled in.
    fn reached(name: &str) -> Option<&'static str> {
        let (method, path) = name.split_once(' ')?;
        let method: Method = method.parse().ok()?;
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect();
        Some(table(&method, &segs)?.0.ok()?.name())
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let doc = documented(&openapi());
        let mut served: Vec<String> = Route::iter().map(|r| r.name().to_owned()).collect();
        served.sort();
        for name in &served {
            assert_eq!(reached(name), Some(&**name), "the table serves {name}");
        }
        let missing: Vec<&String> = served.iter().filter(|r| !doc.contains(r)).collect();
        assert!(
            missing.is_empty(),
            "served but not in src/openapi.json: {missing:?}"
        );
        let extra: Vec<&String> = doc.iter().filter(|r| !served.contains(r)).collect();
        assert!(
            extra.is_empty(),
            "in src/openapi.json but not served: {extra:?}"
        );
    }

    #[test]
    fn the_openapi_document_validates() {
        let meta: Value =
            serde_json::from_str(include_str!("../../tests/data/openapi-3.1-schema.json")).unwrap();
        let doc = openapi();
        let validator = jsonschema::validator_for(&meta).expect("the OpenAPI 3.1 schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        // Every local `$ref` points at something that exists.
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} points at nothing");
        }
    }
}
