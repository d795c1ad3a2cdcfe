//! Conversation tests of the user's own app: replays against a running simulator (`url`) with
//! a small app behind it that takes Bland's webhooks and calls the API back, the steps that
//! check what the app did, and a conversation recorded `as=app`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bland_sms_sim::replay::{run, Options, Verdict};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::*;

/// What the app does: hand the conversation off when the user asks for an operator, and
/// answer webhooks with `answer`.
#[derive(Clone)]
struct Behaviour {
    handoff: bool,
    answer: (u16, &'static str),
}

const GOOD: Behaviour = Behaviour {
    handoff: true,
    answer: (200, "{\"ok\":true}"),
};

/// A small app: its webhook handler (`/bland/webhook`) hands off conversations whose user asks
/// for an operator and marks the order of an ended conversation booked; `GET /orders/{id}`
/// answers the order.
struct App {
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn start(sim: &str, key: &str, how: Behaviour) -> App {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let orders: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (sim, key) = (sim.to_string(), key.to_string());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    r = listener.accept() => r.unwrap().0,
                    _ = &mut rx => return,
                };
                let (sim, key, how, orders) =
                    (sim.clone(), key.clone(), how.clone(), orders.clone());
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let (sim, key, how, orders) =
                                (sim.clone(), key.clone(), how.clone(), orders.clone());
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    handle(req, &sim, &key, &how, &orders).await,
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        App { url, _stop: tx }
    }

    fn webhook(&self) -> String {
        format!("{}/bland/webhook", self.url)
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    sim: &str,
    key: &str,
    how: &Behaviour,
    orders: &Mutex<HashMap<String, String>>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let answer = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if let Some(id) = path.strip_prefix("/orders/") {
        return match orders.lock().unwrap().get(id) {
            Some(s) => answer(200, json!({ "status": s }).to_string()),
            None => answer(404, json!({"error": "no such order"}).to_string()),
        };
    }
    let hook: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = hook["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let asks = hook["type"] == "message"
        && hook["sender"] == "USER"
        && hook["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator"));
    if asks && how.handoff {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = Request::post(format!("{sim}/v1/sms/conversations/{id}/handoff"))
            .header("authorization", key)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({"reason": "the user asked for an operator"}).to_string(),
            )))
            .unwrap();
        let r = client.request(req).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let hours = hook["type"] == "message"
        && hook["sender"] == "USER"
        && hook["message"]
            .as_str()
            .is_some_and(|m| m.contains("hours"));
    if hours {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let body = json!({"user_number": hook["phone_number"], "agent_number": hook["agent_number"], "agent_message": "We're open 9 to 5."});
        let req = Request::post(format!("{sim}/v1/sms/send"))
            .header("authorization", key)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let r = client.request(req).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    if hook["type"] == "status" && hook["status"] == "ended" {
        orders.lock().unwrap().insert(id, "booked".into());
    }
    answer(how.answer.0, how.answer.1.to_string())
}

/// A simulator for the scripts to run against (manual clock), and the app pointed at it.
async fn sim_and_app(how: Behaviour) -> (Sim, App) {
    let sim = Sim::with(manual()).await;
    let app = App::start(&sim.base, KEY, how).await;
    (sim, app)
}

/// Runs `script` against `sim`, as `bland-sms-sim replay --url` does.
async fn replay_against(sim: &Sim, script: &Value, file: &str) -> (Verdict, String) {
    replay_within(sim, script, file, None).await
}

/// [`replay_against`] with `--timeout-ms`.
async fn replay_within(
    sim: &Sim,
    script: &Value,
    file: &str,
    timeout_ms: Option<u64>,
) -> (Verdict, String) {
    let path = temp_file(file);
    std::fs::write(&path, script.to_string()).unwrap();
    let options = Options {
        url: Some(sim.base.clone()),
        timeout_ms,
        ..Options::default()
    };
    let mut out = Vec::new();
    let verdict = run(&[path], &options, &mut out).await.unwrap();
    (verdict, String::from_utf8(out).unwrap())
}

/// Runs a recording `as=app` against a fresh simulator and an app that behaves as `how`, its
/// webhook filled in as `APP_WEBHOOK_URL` would, with a run-wide `--timeout-ms` of 500 (which
/// quarters the recording's default 2000 ms waits).
async fn replay_recording(script: &Value, how: Behaviour, file: &str) -> (Verdict, String) {
    let (fresh, app) = sim_and_app(how).await;
    let text = script
        .to_string()
        .replace("{{env.APP_WEBHOOK_URL}}", &app.webhook());
    let script = serde_json::from_str(&text).unwrap();
    replay_within(&fresh, &script, file, Some(500)).await
}

/// The user asks for an operator; the app must hand the conversation off and answer the
/// webhook 200.
fn operator_script(app: &App) -> Value {
    json!({
        "name": "an operator on request",
        "setup": {
            "user_number": USER,
            "agent_number": AGENT,
            "numbers": [{"phone_number": AGENT, "webhook": app.webhook()}]
        },
        "steps": [
            {"call": {"method": "POST", "path": "/v1/sms/send", "body": {"user_number": USER, "agent_number": AGENT}}},
            {
                "user": "an operator please",
                "expect_requests": [{"method": "POST", "path": "/v1/sms/conversations/{{conversation_id}}/handoff", "body": {"reason": {"$contains": "operator"}}}],
                "expect_deliveries": {"status": 200},
                "within_ms": 500
            },
            {"conversation": {"human_handoff_reason": "the user asked for an operator"}}
        ]
    })
}

#[tokio::test]
async fn expect_requests_passes_when_the_app_calls_and_names_what_arrived_when_it_does_not() {
    let (sim, app) = sim_and_app(GOOD).await;
    let (verdict, out) = replay_against(&sim, &operator_script(&app), "operator.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");

    let (sim, app) = sim_and_app(Behaviour {
        handoff: false,
        ..GOOD
    })
    .await;
    let (verdict, out) = replay_against(&sim, &operator_script(&app), "operator.json").await;
    assert_eq!(verdict, Verdict::Failed, "{out}");
    assert!(
        out.contains("FAIL step 2: user texts \"an operator please\""),
        "{out}"
    );
    assert!(
        out.contains(
            "expect_requests[0]: no call matching {\"method\":\"POST\",\"path\":\"/v1/sms/conversations/"
        ),
        "{out}"
    );
    assert!(
        out.contains("within 500 ms of the step; the app made no API calls with the script's key"),
        "{out}"
    );
    assert!(out.contains("skip step 3: check"), "{out}");
}

#[tokio::test]
async fn expect_deliveries_shows_the_apps_answer_when_it_is_not_the_expected_one() {
    let (sim, app) = sim_and_app(Behaviour {
        answer: (500, "order service down"),
        ..GOOD
    })
    .await;
    let (verdict, out) = replay_against(&sim, &operator_script(&app), "operator.json").await;
    assert_eq!(verdict, Verdict::Failed, "{out}");
    // The handoff call was made, so the only difference is the webhook's answer.
    assert!(!out.contains("expect_requests"), "{out}");
    let hook = app.webhook();
    assert!(
        out.contains(&format!(
            "expect_deliveries[0]: expected status 200: message (USER \"an operator please\") webhook to {hook}: HTTP 500, answered \"order service down\""
        )),
        "{out}"
    );
}

#[tokio::test]
async fn an_http_step_polls_the_apps_own_api_until_it_matches_or_the_time_is_up() {
    let script = |user_text: &str, app: &App| {
        json!({
            "setup": {
                "user_number": USER,
                "agent_number": AGENT,
                "numbers": [{"phone_number": AGENT, "webhook": app.webhook()}]
            },
            "steps": [
                {"call": {"method": "POST", "path": "/v1/sms/send", "body": {"user_number": USER, "agent_number": AGENT}}},
                {"user": user_text},
                {
                    "name": "the order is booked",
                    "http": {"method": "GET", "url": format!("{}/orders/{{{{conversation_id}}}}", app.url)},
                    "expect": {"status": 200, "body": {"status": "booked"}},
                    "within_ms": 300
                }
            ]
        })
    };
    let (sim, app) = sim_and_app(GOOD).await;
    let (verdict, out) = replay_against(&sim, &script("bye", &app), "booked.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
    // The conversation does not end, so no order is booked (a fresh app: the same seed gives
    // the same conversation id).
    let (sim, app) = sim_and_app(GOOD).await;
    let (verdict, out) = replay_against(&sim, &script("hello", &app), "open.json").await;
    assert_eq!(verdict, Verdict::Failed, "{out}");
    assert!(out.contains("FAIL step 3: the order is booked"), "{out}");
    assert!(
        out.contains("status: expected 200, got 404: {\"error\":\"no such order\"}"),
        "{out}"
    );
    assert!(
        out.contains(&format!("(asked GET {}/orders/", app.url)),
        "{out}"
    );
    assert!(out.contains("until 300 ms had passed)"), "{out}");
}

#[tokio::test]
async fn scripts_against_one_simulator_start_from_their_own_setup() {
    let (sim, app) = sim_and_app(GOOD).await;
    let first = operator_script(&app);
    // The second sees none of the first's conversations, and gets the same ids from the same
    // seed.
    let second = json!({
        "setup": {"user_number": USER, "agent_number": AGENT},
        "steps": [
            {"call": {"method": "GET", "path": "/v1/sms/conversations"}, "expect": {"body": {"data": []}}},
            {"call": {"method": "POST", "path": "/v1/sms/send", "body": {"user_number": USER, "agent_number": AGENT}}, "save": {"id": "data.conversation_id"}}
        ]
    });
    let dir = std::env::temp_dir().join(format!("bland-sim-iso-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.json"), first.to_string()).unwrap();
    std::fs::write(dir.join("b.json"), second.to_string()).unwrap();
    let options = Options {
        url: Some(sim.base.clone()),
        json: true,
        ..Options::default()
    };
    let mut out = Vec::new();
    let verdict = run(std::slice::from_ref(&dir), &options, &mut out)
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(verdict, Verdict::Passed, "{report:#}");
    assert_eq!(report["passed"], 2);
    // The state is the second script's: one conversation, opened at its setup's start time.
    let (_, list) = sim.get("/v1/sms/conversations").await;
    let conversations = list["data"].as_array().unwrap();
    assert_eq!(conversations.len(), 1, "{list}");
    assert_eq!(conversations[0]["created_at"], "2026-01-01T12:00:00.000Z");
}

#[tokio::test]
async fn env_variables_fill_a_script_and_a_missing_one_exits_2_naming_it() {
    let (sim, app) = sim_and_app(GOOD).await;
    let dir = std::env::temp_dir().join(format!("bland-sim-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = operator_script(&app)
        .to_string()
        .replace(&app.webhook(), "{{env.APP_WEBHOOK_URL}}");
    let path = dir.join("env.json");
    std::fs::write(&path, script).unwrap();
    let bin = env!("CARGO_BIN_EXE_bland-sms-sim");
    let (base, hook, p) = (sim.base.clone(), app.webhook(), path.clone());
    let ok = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(["replay", "--url", &base])
            .arg(&p)
            .env("APP_WEBHOOK_URL", hook)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(text.contains("PASS an operator on request"), "{text}");

    let base = sim.base.clone();
    let missing = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(["replay", "--url", &base])
            .arg(&path)
            .env_remove("APP_WEBHOOK_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&missing.stdout);
    assert_eq!(missing.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "at setup.numbers[0].webhook: the environment variable APP_WEBHOOK_URL is not set"
        ),
        "{text}"
    );
}

/// Explores with the app in the loop, records `as=app`, and replays the recording against a
/// fresh simulator and app: it passes, and fails at the step without the app's handoff.
#[tokio::test]
async fn a_recording_as_app_passes_with_the_app_and_fails_without_its_handoff() {
    let (sim, app) = sim_and_app(GOOD).await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": app.webhook()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": AGENT}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap().to_string();
    sim.advance(2.0).await;
    sim.text(USER, AGENT, "hi there").await;
    sim.advance(5.0).await;
    sim.text(USER, AGENT, "an operator please").await;
    let (s, script) = sim
        .get(&format!("/_sim/conversations/{id}/replay?as=app"))
        .await;
    assert_eq!(s, 200, "{script}");
    assert_eq!(
        script["name"], "default: \"hi there\" (the app)",
        "{script:#}"
    );
    assert_eq!(
        script["setup"]["fixtures"]["accounts"][0]["numbers"][0]["sms_config"]["webhook"],
        "{{env.APP_WEBHOOK_URL}}"
    );
    let steps = script["steps"].as_array().unwrap();
    assert_eq!(steps[0]["call"]["path"], "/v1/sms/send");
    let operator = steps
        .iter()
        .find(|s| s["user"] == "an operator please")
        .expect("the user's text is a step");
    assert_eq!(
        operator["expect_requests"],
        json!([{"method": "POST", "path": "/v1/sms/conversations/{{conversation_id}}/handoff", "body": {"reason": "the user asked for an operator"}}]),
        "{script:#}"
    );
    assert_eq!(
        operator["expect_deliveries"],
        json!([{"status": 200}, {"status": 200}, {"status": 200}]),
        "{script:#}"
    );
    // The agent's reply (one of the scenario's two, by the seed).
    let replies = operator["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "{operator}");
    assert!(replies[0]
        .as_str()
        .unwrap()
        .contains("\"an operator please\""));
    let hi = steps.iter().find(|s| s["user"] == "hi there").unwrap();
    assert!(hi.get("expect_requests").is_none(), "{hi}");

    let out = needs_the_handoff(&script, "recorded.json").await;
    assert!(out.contains("/handoff\",\"body\":{\"reason\":\"the user asked for an operator\"}} within 500 ms of the step"), "{out}");
    assert!(
        out.contains("expect_deliveries: expected 3 deliveries, the step caused 2"),
        "{out}"
    );
}

/// Without `as=app` a recording is as before; `as` takes nothing else.
#[tokio::test]
async fn as_takes_only_app() {
    let sim = Sim::with(manual()).await;
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": AGENT}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap();
    let got = sim
        .sim(
            Method::GET,
            &format!("/_sim/conversations/{id}/replay?as=bot"),
            None,
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`as` takes \"app\""));
}

/// The shipped scripts pass against a running simulator as they do in one of their own: the
/// setup each puts in it (reset, state, clock, seed) makes the same conversations.
#[tokio::test]
async fn the_shipped_replays_pass_against_a_running_simulator() {
    let hooks = Receiver::start().await;
    let sim = Sim::with(manual().webhook_url(hooks.url.clone())).await;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("replays");
    let options = Options {
        url: Some(sim.base.clone()),
        ..Options::default()
    };
    let mut out = Vec::new();
    let verdict = run(&[dir], &options, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(verdict, Verdict::Passed, "{out}");
    assert!(out.contains("5 passed, 0 failed (5 scripts)"), "{out}");
    assert!(!out.contains("note:"), "{out}");
}

/// A conversation the user started: every call of the app is the app's (its texts among
/// them, left out of the agent's replies), and the recording replays against the same app.
#[tokio::test]
async fn a_recording_as_app_of_a_conversation_the_user_started() {
    let (sim, app) = sim_and_app(GOOD).await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": app.webhook()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let first = sim.text(USER, AGENT, "what are your hours?").await;
    let id = first["conversation_id"].as_str().unwrap().to_string();
    sim.advance(5.0).await;
    sim.text(USER, AGENT, "an operator please").await;
    let (s, script) = sim
        .get(&format!("/_sim/conversations/{id}/replay?as=app"))
        .await;
    assert_eq!(s, 200, "{script}");
    let steps = script["steps"].as_array().unwrap();
    assert_eq!(steps[0]["user"], "what are your hours?", "{script:#}");
    assert!(steps.iter().all(|s| s.get("call").is_none()), "{script:#}");
    assert_eq!(
        steps[0]["expect_requests"],
        json!([{"method": "POST", "path": "/v1/sms/send", "body": {"user_number": USER, "agent_number": AGENT, "agent_message": "We're open 9 to 5."}}]),
        "{script:#}"
    );
    let replies = steps[0]["replies"].as_array().unwrap();
    assert_eq!(
        replies.len(),
        1,
        "the scenario's answer, not the app's text: {replies:?}"
    );
    assert!(!replies.contains(&json!("We're open 9 to 5.")));
    let operator = steps
        .iter()
        .find(|s| s["user"] == "an operator please")
        .unwrap();
    assert_eq!(
        operator["expect_requests"][0]["path"],
        "/v1/sms/conversations/{{conversation_id}}/handoff"
    );
    needs_the_handoff(&script, "user-started.json").await;
}

/// Replays `script` against the app as written (it passes) and against one without its
/// handoff (it fails at the operator's text, naming the missing call); the failing report.
async fn needs_the_handoff(script: &Value, file: &str) -> String {
    let (verdict, out) = replay_recording(script, GOOD, file).await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
    let no_handoff = Behaviour {
        handoff: false,
        ..GOOD
    };
    let (verdict, out) = replay_recording(script, no_handoff, file).await;
    assert_eq!(verdict, Verdict::Failed, "{out}");
    assert!(
        out.contains(
            "user texts \"an operator please\"\n         expect_requests[0]: no call matching"
        ),
        "{out}"
    );
    out
}

/// A conversation no journaled request opened (the journal off, or a loaded state) records
/// as=app with no expectations of the app instead of failing.
#[tokio::test]
async fn a_recording_as_app_without_journaled_actions_still_answers() {
    let rx = Receiver::start().await;
    let sim = Sim::with(manual().request_log(0).webhook_url(rx.url.clone())).await;
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap();
    let (s, script) = sim
        .get(&format!("/_sim/conversations/{id}/replay?as=app"))
        .await;
    assert_eq!(s, 200, "{script}");
    assert!(script["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.get("expect_deliveries").is_none() && s.get("expect_requests").is_none()));
    assert!(
        script["description"].as_str().unwrap().contains(
            "The request journal is off (--request-log 0), so no steps could be recorded."
        ),
        "{script}"
    );
}

/// Against a simulator on the real clock, `advance` still moves its time, and the report says
/// once that time also moves by itself.
#[tokio::test]
async fn an_advance_against_a_real_clock_is_noted_once() {
    let sim = Sim::with(bland_sms_sim::Simulator::builder().bind("127.0.0.1:0")).await;
    let script = json!({
        "setup": {"user_number": USER, "agent_number": AGENT},
        "steps": [{"user": "hi"}, {"advance": 60}, {"advance": 60}]
    });
    let (verdict, out) = replay_against(&sim, &script, "real.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
    assert_eq!(
        out.matches("note: advance: the simulator's clock is real; each advance moved it ahead as POST /_sim/clock/advance does").count(),
        1,
        "{out}"
    );
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["data"]["mode"], "real");
    // Two advances of 60 s: the simulator's time is two minutes ahead of the wall clock's.
    let now = chrono::DateTime::parse_from_rfc3339(clock["data"]["now"].as_str().unwrap()).unwrap();
    let ahead = now.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    assert!((119_000..=121_000).contains(&ahead), "{ahead} ms ahead");
}
