//! Test-harness controls: fault rules on the API and on webhooks, waiting for webhooks, and
//! counting requests.

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn fault(sim: &Sim, rule: Value) -> Value {
    let (s, v) = sim.sim(Method::POST, "/_sim/faults", Some(rule)).await;
    assert_eq!(s, 201, "{v}");
    v["data"].clone()
}

/// `POST /_sim/scenarios` with a scenario document.
async fn post_scenario(sim: &Sim, doc: &str) -> (hyper::StatusCode, Value) {
    sim.raw(
        Method::POST,
        "/_sim/scenarios",
        None,
        &[],
        doc.as_bytes().to_vec(),
    )
    .await
}

fn send_body() -> Value {
    json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"})
}

#[tokio::test]
async fn an_api_fault_answers_instead_changes_nothing_and_stops_after_times() {
    let sim = Sim::start().await;
    let rule = fault(
        &sim,
        json!({"method": "POST", "path": "/v1/sms/send", "status": 429,
        "error": "SMS_RL_PLAN_HOURLY", "message": "Hourly limit reached", "times": 2}),
    )
    .await;
    assert_eq!(rule["id"], 1);
    for _ in 0..2 {
        let got = sim.post("/v1/sms/send", send_body()).await;
        assert_error(&got, 429, "SMS_RL_PLAN_HOURLY");
        assert_eq!(got.1["errors"][0]["message"], "Hourly limit reached");
    }
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(
        list["data"],
        json!([]),
        "a faulted request changes no state"
    );
    assert_eq!(sim.post("/v1/sms/send", send_body()).await.0, 200);
    let (_, rules) = sim.sim(Method::GET, "/_sim/faults", None).await;
    assert_eq!(rules["data"][0]["fired"], 2);
    // Other methods, paths and keys are untouched.
    assert_eq!(sim.get("/v1/sms/numbers").await.0, 200);
}

#[tokio::test]
async fn faults_match_by_wildcard_path_method_and_key() {
    let sim = Sim::start().await;
    let id = sim.send(send_body()).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    fault(&sim, json!({"method": "*", "path": "/v1/sms/conversations/*/messages", "api_key": "sk_other", "status": 503, "error": "UNAVAILABLE"})).await;
    fault(&sim, json!({"path": "/v1/sms/conversations/*/messages", "api_key": KEY, "status": 500, "error": "BOOM"})).await;
    let got = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "x"}),
        )
        .await;
    assert_error(&got, 500, "BOOM");
    assert_eq!(
        sim.get(&format!("/v1/sms/conversations/{id}")).await.0,
        200,
        "one segment only"
    );
}

#[tokio::test]
async fn delay_and_dropped_connections() {
    let sim = Sim::start().await;
    fault(
        &sim,
        json!({"path": "/v1/sms/numbers", "delay_ms": 150, "times": 1}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        sim.get("/v1/sms/numbers").await.0,
        200,
        "answered normally after the delay"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    fault(
        &sim,
        json!({"method": "POST", "path": "/v1/sms/send", "drop_connection": true}),
    )
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"POST /v1/sms/send HTTP/1.1\r\nhost: localhost\r\nauthorization: sk_sim_default\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection closes");
    assert!(
        got.is_empty(),
        "with no answer: {}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn a_probability_is_drawn_from_the_seed() {
    async fn outcomes(seed: u64) -> Vec<u16> {
        let sim = Sim::with(manual().seed(seed)).await;
        fault(
            &sim,
            json!({"path": "/v1/sms/numbers", "status": 500, "probability": 0.3}),
        )
        .await;
        let mut out = Vec::new();
        for _ in 0..60 {
            out.push(sim.get("/v1/sms/numbers").await.0.as_u16());
        }
        out
    }
    let a = outcomes(5).await;
    assert_eq!(a, outcomes(5).await, "reproducible under --seed");
    let faulted = a.iter().filter(|s| **s == 500).count();
    assert!((5..40).contains(&faulted), "about 30% faulted: {faulted}");
}

#[tokio::test]
async fn rules_are_listed_removed_cleared_and_reset() {
    let sim = Sim::start().await;
    fault(&sim, json!({"path": "/v1/sms/numbers", "status": 500})).await;
    fault(&sim, json!({"path": "/v1/sms/send", "status": 500})).await;
    let (s, _) = sim.sim(Method::DELETE, "/_sim/faults/1", None).await;
    assert_eq!(s, 200);
    assert_error(
        &sim.sim(Method::DELETE, "/_sim/faults/1", None).await,
        404,
        "FAULT_NOT_FOUND",
    );
    assert_eq!(sim.get("/v1/sms/numbers").await.0, 200);
    sim.sim(Method::POST, "/_sim/reset", None).await;
    let (_, rules) = sim.sim(Method::GET, "/_sim/faults", None).await;
    assert_eq!(rules["data"], json!([]));
    for bad in [
        json!({"status": 500}),
        json!({"path": "/x", "status": 200}),
        json!({"path": "/x", "status": 500, "error": "lower case"}),
        json!({"path": "/x", "status": 500, "probability": 2}),
        json!({"target": "webhook"}),
        json!({"path": "/x", "status": 500, "typo": 1}),
    ] {
        assert_error(
            &sim.sim(Method::POST, "/_sim/faults", Some(bad)).await,
            400,
            "INVALID_PARAMETER",
        );
    }
}

#[tokio::test]
async fn webhook_faults_drop_duplicate_and_fake_the_status() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    fault(
        &sim,
        json!({"target": "webhook", "event": "message", "effect": "duplicate", "times": 1}),
    )
    .await;
    sim.send(send_body()).await;
    let hooks = rx.wait_for(2).await;
    assert_eq!(
        (hooks[0].body.clone(), hooks[0].signature.clone()),
        (hooks[1].body.clone(), hooks[1].signature.clone())
    );
    sim.sim(Method::DELETE, "/_sim/faults", None).await;

    fault(
        &sim,
        json!({"target": "webhook", "effect": "drop", "times": 1}),
    )
    .await;
    sim.send(send_body()).await;
    let log = sim
        .sim(
            Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"count": 2, "type": "message"})),
        )
        .await
        .1["data"]
        .clone();
    assert_eq!(log[1]["status"], "failed");
    assert!(log[1]["attempts"][0]["error_message"]
        .as_str()
        .unwrap()
        .starts_with("dropped by fault rule"));
    assert_eq!(rx.hooks().len(), 2, "nothing was sent");

    fault(
        &sim,
        json!({"target": "webhook", "effect": "status", "status": 500, "times": 1}),
    )
    .await;
    sim.send(send_body()).await;
    let log = sim
        .sim(
            Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"count": 3})),
        )
        .await
        .1["data"]
        .clone();
    assert_eq!(log[2]["attempts"][0]["response_code"], 500);
    assert_eq!(log[2]["status"], "pending", "a retry follows");
    assert_eq!(rx.hooks().len(), 2, "nothing was sent");
    sim.advance(5.0).await;
    assert_eq!(rx.wait_for(3).await.len(), 3, "the retry goes out");
}

#[tokio::test]
async fn waiting_for_webhooks_and_counting_requests() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let id = sim.send(send_body()).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = sim
        .sim(
            Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"conversation_id": id, "event": "message", "timeout_ms": 5000})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["conversation_id"], id.as_str());
    let late = sim
        .sim(
            Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"event": "ended", "timeout_ms": 100})),
        )
        .await;
    assert_error(&late, 408, "WAIT_TIMEOUT");
    sim.get("/v1/sms/numbers").await;
    let (_, v) = sim
        .sim(Method::GET, "/_sim/requests/count?path=/v1/sms", None)
        .await;
    assert_eq!(v["data"], json!({"count": 3}));
    let (_, v) = sim
        .sim(Method::GET, "/_sim/requests/count?method=GET", None)
        .await;
    assert_eq!(v["data"]["count"], 1);
    // The Rust handle has the same controls.
    let found = sim
        .sim
        .wait_for_webhooks(json!({"type": "message"}))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let rule = sim
        .sim
        .add_fault(json!({"path": "/v1/sms/numbers", "status": 502, "error": "BAD_GATEWAY"}))
        .unwrap();
    assert_eq!(rule["id"], 1);
    assert_error(&sim.get("/v1/sms/numbers").await, 502, "BAD_GATEWAY");
    sim.sim.clear_faults();
    assert_eq!(sim.get("/v1/sms/numbers").await.0, 200);
}

#[tokio::test]
async fn what_bland_ignores_is_warned_journaled_or_refused_under_strict() {
    let sim = Sim::start().await;
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi", "agentMessage": "typo", "time_out": 60});
    let (s, h, _) = sim.post_full("/v1/sms/send", &body).await;
    assert_eq!(s, 200, "ignored, as Bland does");
    let warning = h["x-bland-sim-warning"].to_str().unwrap();
    assert_eq!(warning, "ignored body field: agentMessage");
    let filters = "/v1/sms/conversations?filters=%5B%7B%22field%22%3A%22colour%22%2C%22operator%22%3A%22eq%22%2C%22value%22%3A1%7D%5D";
    let (s, h, _) = sim
        .full(Method::GET, filters, Some(KEY), &[], Vec::new())
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        h["x-bland-sim-warning"],
        "ignored list filter: \"colour\" (no such field)"
    );
    // A nested object's unknown field is named by its path.
    let nested = json!({"user_number": USER, "agent_number": AGENT, "persona_settings": {"pathway_id": "p", "pathwayVersion": 2}});
    let (s, h, _) = sim.post_full("/v1/sms/send", &nested).await;
    assert_eq!(s, 200);
    assert_eq!(
        h["x-bland-sim-warning"],
        "ignored body field: persona_settings.pathwayVersion"
    );
    let (s, v) = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "persona_settings": ["p"]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"][0]["message"],
        "`persona_settings` must be an object, got sequence"
    );
    // A known field with every documented name passes quietly.
    let (_, h, _) = sim
        .full(Method::GET, "/v1/sms/numbers", Some(KEY), &[], Vec::new())
        .await;
    assert!(h.get("x-bland-sim-warning").is_none());
    let (_, v) = sim.sim(Method::GET, "/_sim/requests", None).await;
    assert_eq!(
        v["data"][0]["warnings"],
        json!(["ignored body field: agentMessage"])
    );

    let strict = Sim::with(manual().strict(true)).await;
    let got = strict.post("/v1/sms/send", body).await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("agentMessage"));
    let (_, list) = strict.get("/v1/sms/conversations").await;
    assert_eq!(list["data"], json!([]), "refused before any change");
    assert_error(&strict.get(filters).await, 400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn the_journal_marks_idempotent_replays() {
    let sim = Sim::start().await;
    for _ in 0..2 {
        sim.post_idem("k1", "/v1/sms/send", send_body()).await;
    }
    let (_, v) = sim.sim(Method::GET, "/_sim/requests", None).await;
    let replays: Vec<&Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["idempotent_replay"])
        .collect();
    assert_eq!(replays, [&json!(false), &json!(true)]);
}

#[tokio::test]
async fn scenarios_are_added_replaced_and_removed_at_run_time() {
    let sim = Sim::start().await;
    // A running conversation on the default scenario.
    let before = sim.text(USER, AGENT, "hello").await;
    let echo = r#"{"name":"echo","match":{"agent_numbers":["+15550002222"]},"start_node":"s",
        "nodes":{"s":{"rules":[{"when":"any","reply":"echo: {{message}}"}]}}}"#;
    let (s, v) = post_scenario(&sim, echo).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["name"], "echo");
    // The running conversation keeps its scenario; a new one plays the new scenario.
    let again = sim.text(USER, AGENT, "still there?").await;
    assert_eq!(again["conversation_id"], before["conversation_id"]);
    assert_ne!(again["replies"][0]["message"], "echo: still there?");
    let other = sim.text("+15550007777", AGENT, "hi").await;
    assert_eq!(other["replies"][0]["message"], "echo: hi");
    // Replacing answers 200; a bad scenario answers 400 naming the place and changes nothing.
    let (s, _) = post_scenario(&sim, &echo.replace("echo: ", "echo2: ")).await;
    assert_eq!(s, 200);
    let bad = r#"{"name":"echo","start_node":"s","nodes":{"s":{"rules":[{"when":"any","goto":"nope"}]}}}"#;
    let got = post_scenario(&sim, bad).await;
    assert_error(&got, 400, "INVALID_SCENARIO");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("rule 1"));
    let third = sim.text("+15550008888", AGENT, "hi").await;
    assert_eq!(third["replies"][0]["message"], "echo2: hi");
    // Removing: the default cannot go; an unknown name is 404; a removed one stops playing.
    assert_error(
        &sim.sim(Method::DELETE, "/_sim/scenarios/default", None)
            .await,
        409,
        "SCENARIO_IS_DEFAULT",
    );
    assert_error(
        &sim.sim(Method::DELETE, "/_sim/scenarios/nope", None).await,
        404,
        "SCENARIO_NOT_FOUND",
    );
    let (s, _) = sim.sim(Method::DELETE, "/_sim/scenarios/echo", None).await;
    assert_eq!(s, 200);
    let fourth = sim.text("+15550009999", AGENT, "hi").await;
    assert_ne!(fourth["replies"][0]["message"], "echo2: hi");
    // A reset restores the start-up set.
    post_scenario(&sim, echo).await;
    sim.sim(Method::POST, "/_sim/reset", None).await;
    assert_eq!(
        sim.scenario_names().await,
        [
            "default",
            "appointment-booking",
            "support-escalation",
            "order-status"
        ]
    );
}

#[tokio::test]
async fn metrics_speak_the_prometheus_text_format() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    sim.send(send_body()).await;
    rx.wait_for(1).await;
    sim.sim(
        Method::POST,
        "/_sim/webhooks/wait",
        Some(json!({"count": 1})),
    )
    .await;
    // The body is text, not JSON: read it with a plain client.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let r = client
        .get(format!("{}/_sim/metrics", sim.base).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    use http_body_util::BodyExt;
    let text =
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.insert(name.to_string(), value);
    }
    assert_eq!(
        samples["bland_sim_requests_total{route=\"POST /v1/sms/send\",status=\"200\"}"],
        1.0
    );
    assert_eq!(
        samples["bland_sim_webhook_attempts_total{outcome=\"delivered\"}"],
        1.0
    );
    assert_eq!(samples["bland_sim_messages_total"], 1.0);
    assert_eq!(samples["bland_sim_conversations_active"], 1.0);
    assert_eq!(samples["bland_sim_log_entries{log=\"webhooks\"}"], 1.0);
    assert!(samples
        .keys()
        .any(|k| k.starts_with("bland_sim_request_duration_seconds_bucket")));
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn watched_scenario_files_reload_and_a_broken_edit_keeps_the_old_ones() {
    let dir = std::env::temp_dir().join(format!("bland-sim-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("echo.json");
    let scenario = |reply: &str| {
        format!(
            r#"{{"name":"echo","match":{{"agent_numbers":["+15550002222"]}},"start_node":"s",
            "nodes":{{"s":{{"rules":[{{"when":"any","reply":"{reply}"}}]}}}}}}"#
        )
    };
    std::fs::write(&file, scenario("first")).unwrap();
    let sim = Sim::with(manual().scenarios_dir(&dir).unwrap().watch_scenarios(true)).await;
    assert_eq!(
        sim.text("+15550000001", AGENT, "hi").await["replies"][0]["message"],
        "first"
    );
    std::fs::write(&file, scenario("the second version")).unwrap();
    let mut reply = Value::Null;
    for i in 0..100 {
        let user = format!("+155500010{i:02}");
        reply = sim.text(&user, AGENT, "hi").await["replies"][0]["message"].clone();
        if reply == "the second version" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reply, "the second version", "reloaded within 5 s");
    std::fs::write(&file, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = sim.text("+15550002000", AGENT, "hi").await;
    assert_eq!(
        after["replies"][0]["message"], "the second version",
        "a broken edit keeps the old"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn fault_rules_are_bounded() {
    let sim = Sim::start().await;
    let huge = json!({"path": "/x", "status": 500, "message": "m".repeat(5000)});
    assert_error(
        &sim.sim(Method::POST, "/_sim/faults", Some(huge)).await,
        400,
        "INVALID_PARAMETER",
    );
    for _ in 0..1000 {
        sim.sim
            .add_fault(json!({"path": "/x", "status": 500}))
            .unwrap();
    }
    let over = sim
        .sim(
            Method::POST,
            "/_sim/faults",
            Some(json!({"path": "/x", "status": 500})),
        )
        .await;
    assert_error(&over, 400, "INVALID_PARAMETER");
    assert!(over.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("DELETE /_sim/faults"));
}
