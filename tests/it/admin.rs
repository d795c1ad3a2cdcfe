use hyper::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn health_answers_ok_without_a_key() {
    let sim = Sim::start().await;
    let (s, v) = sim.sim(Method::GET, "/_sim/health", None).await;
    assert_eq!(s, 200);
    assert_eq!(v, json!({"status": "ok"}));
}

#[tokio::test]
async fn reset_clears_state_and_reloads_fixtures() {
    let sim = Sim::start().await;
    sim.post(
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "objective": "changed"}),
    )
    .await;
    let first = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    sim.advance(100.0).await;
    let (s, _) = sim.sim(Method::POST, "/_sim/reset", None).await;
    assert_eq!(s, 200);
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(list["extra"]["pagination"]["totalItems"], 0);
    let (_, n) = sim.get("/v1/sms/numbers").await;
    assert_eq!(
        n["data"][0]["sms_config"]["objective"],
        "Chat with the user"
    );
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["data"]["now"], "2026-01-01T12:00:00.000Z");
    // Ids restart too, so a reset run is reproducible.
    let again = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    assert_eq!(first["conversation_id"], again["conversation_id"]);
}

#[tokio::test]
async fn ids_are_reproducible_under_a_seed() {
    let a = Sim::start().await;
    let b = Sim::start().await;
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"});
    assert_eq!(a.send(body.clone()).await, b.send(body.clone()).await);
    let c = Sim::with(manual().seed(43)).await;
    assert_ne!(
        a.send(json!({"user_number": "+15550009999", "agent_number": AGENT, "agent_message": "x"}))
            .await["conversation_id"],
        c.send(json!({"user_number": "+15550009999", "agent_number": AGENT, "agent_message": "x"}))
            .await["conversation_id"]
    );
}

#[tokio::test]
async fn clock_advance_validates_its_input() {
    let sim = Sim::start().await;
    let d = sim.advance(90.5).await;
    assert_eq!(d["now"], "2026-01-01T12:01:30.500Z");
    assert_eq!(d["mode"], "manual");
    assert_error(
        &sim.sim(
            Method::POST,
            "/_sim/clock/advance",
            Some(json!({"seconds": -1})),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.sim(Method::POST, "/_sim/clock/advance", Some(json!({})))
            .await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn the_request_journal_shows_what_clients_sent_and_got() {
    let sim = Sim::start().await;
    sim.post_idem(
        "idem-1",
        "/v1/sms/send",
        json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}),
    )
    .await;
    sim.post("/v1/sms/send", json!({"agent_number": AGENT}))
        .await;
    sim.get("/v1/sms/typo?x=1").await;
    sim.sim(Method::GET, "/_sim/health", None).await;
    sim.call(Method::GET, "/v1/sms/numbers", None, &[], None)
        .await;
    let (_, v) = sim.sim(Method::GET, "/_sim/requests", None).await;
    let all = v["data"].as_array().unwrap();
    assert_eq!(all.len(), 4, "control calls are not journaled: {v}");
    assert_eq!(
        (all[3]["status"].clone(), all[3]["api_key"].clone()),
        (json!(401), json!(null))
    );
    assert_eq!(all[0]["method"], "POST");
    assert_eq!(all[0]["path"], "/v1/sms/send");
    assert_eq!(all[0]["api_key"], "sk_s…ault", "keys are masked");
    assert_eq!(all[0]["idempotency_key"], "idem-1");
    assert_eq!(all[0]["body"]["agent_message"], "hi");
    assert_eq!(all[0]["status"], 200);
    assert_eq!(all[0]["error"], serde_json::Value::Null);
    assert_eq!(
        (all[1]["status"].clone(), all[1]["error"].clone()),
        (json!(400), json!("MISSING_REQUIRED_FIELDS"))
    );
    assert_eq!(
        (
            all[2]["path"].clone(),
            all[2]["query"].clone(),
            all[2]["status"].clone()
        ),
        (json!("/v1/sms/typo"), json!("x=1"), json!(404))
    );
    let (_, v) = sim
        .sim(Method::GET, "/_sim/requests?status=400", None)
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    sim.sim(Method::POST, "/_sim/reset", None).await;
    let (_, v) = sim.sim(Method::GET, "/_sim/requests", None).await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test]
async fn the_request_journal_is_bounded() {
    let sim = Sim::with(manual().request_log(3)).await;
    for i in 0..5 {
        sim.get(&format!("/v1/sms/numbers?n={i}")).await;
    }
    let (_, v) = sim.sim(Method::GET, "/_sim/requests", None).await;
    let queries: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["query"].as_str().unwrap())
        .collect();
    assert_eq!(queries, vec!["n=2", "n=3", "n=4"]);
}
