use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn configured(sim: &Sim, rx: &Receiver, extra: Value) {
    let mut body = json!({
        "phone_number": AGENT, "webhook": rx.url, "time_out": 120, "warning_time": 60,
        "warning_message": "Still there?", "timeout_action": "send_sms", "timeout_message": "Closing this chat.",
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (s, v) = sim.post("/v1/sms/number/update", body).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn warning_then_timeout_after_the_agents_message() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({})).await;
    let d = sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Are you free Tuesday?"})).await;
    let id = d["conversation_id"].as_str().unwrap();
    rx.wait_for(1).await;
    sim.advance(59.0).await;
    assert_eq!(sim.transcript(id).await.len(), 1);
    let clock = sim.advance(1.0).await;
    assert_eq!(clock["now"], "2026-01-01T12:01:00.000Z");
    assert_eq!(
        sim.transcript(id).await,
        vec!["AGENT: Are you free Tuesday?", "AGENT: Still there?"]
    );
    // The warning does not restart the timer: the timeout is 120 s after the agent's message.
    sim.advance(59.0).await;
    assert_eq!(sim.conversation(id).await["is_active"], true);
    sim.advance(1.0).await;
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["timed_out_at"], "2026-01-01T12:02:00.000Z");
    assert_eq!(c["messages"][2]["message"], "Closing this chat.");
    assert_eq!(rx.statuses(), vec!["timeout"]);
    let status = rx
        .hooks()
        .into_iter()
        .find(|h| h.json["type"] == "status")
        .unwrap()
        .json;
    assert_eq!(status["message_count"], 3);
    assert_eq!(
        status["concatenated_transcript"],
        "assistant: Are you free Tuesday?\nassistant: Still there?\nassistant: Closing this chat."
    );
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["data"]["pending_timers"], json!([]));
}

#[tokio::test]
async fn a_user_reply_rearms_the_timer() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({"warning_time": null})).await;
    // A scenario-less exchange: the default agent answers each text.
    let first = sim.text(USER, AGENT, "hello").await;
    let id = first["conversation_id"].as_str().unwrap().to_string();
    sim.advance(100.0).await;
    sim.text(USER, AGENT, "still here").await;
    sim.advance(100.0).await;
    assert_eq!(
        sim.conversation(&id).await["is_active"],
        true,
        "re-armed at +100 s"
    );
    sim.advance(20.0).await;
    assert_eq!(sim.conversation(&id).await["is_active"], false);
}

#[tokio::test]
async fn per_conversation_overrides_win_and_persist() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({})).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x", "time_out": 300, "warning_time": 200, "warning_message": "Ping"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    // A later send without timing fields keeps the override.
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "y"}))
        .await;
    sim.advance(200.0).await;
    assert_eq!(sim.transcript(id).await.last().unwrap(), "AGENT: Ping");
    sim.advance(100.0).await;
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["timed_out_at"], "2026-01-01T12:05:00.000Z");
}

#[tokio::test]
async fn after_a_timeout_restart_true_starts_a_new_conversation() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({"warning_time": null})).await;
    let first = sim.text(USER, AGENT, "hello").await;
    sim.advance(120.0).await;
    let next = sim.text(USER, AGENT, "back again").await;
    assert_ne!(next["conversation_id"], first["conversation_id"]);
    assert_eq!(
        next["replies"].as_array().unwrap().len(),
        1,
        "the agent answers the new one"
    );
}

#[tokio::test]
async fn after_a_timeout_restart_false_stores_without_replying() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(
        &sim,
        &rx,
        json!({"warning_time": null, "restart_after_end_call": false}),
    )
    .await;
    let first = sim.text(USER, AGENT, "hello").await;
    let id = first["conversation_id"].as_str().unwrap();
    sim.advance(120.0).await;
    let before = rx.hooks().len();
    let next = sim.text(USER, AGENT, "anyone?").await;
    assert_eq!(next["conversation_id"], id);
    assert_eq!(next["replies"], json!([]));
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(
        c["messages"].as_array().unwrap().last().unwrap()["message"],
        "anyone?"
    );
    assert_eq!(
        rx.hooks().len(),
        before + 1,
        "the stored text still fires its message webhook"
    );
}

#[tokio::test]
async fn timeout_action_other_than_send_sms_ends_silently() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(
        &sim,
        &rx,
        json!({"warning_time": null, "timeout_action": "end"}),
    )
    .await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    sim.advance(120.0).await;
    let c = sim
        .conversation(d["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["message_count"], 1);
}

#[tokio::test]
async fn the_real_clock_can_be_advanced_and_runs_due_timers() {
    let sim = Sim::with(manual().real_clock()).await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({"warning_time": null})).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["data"]["mode"], "real");
    assert_eq!(clock["data"]["pending_timers"].as_array().unwrap().len(), 1);
    sim.advance(119.0).await;
    assert_eq!(sim.conversation(id).await["is_active"], true);
    sim.advance(1.0).await;
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["messages"][1]["message"], "Closing this chat.");
}

#[tokio::test]
async fn time_out_zero_disables_the_timer_even_under_a_configured_warning() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    configured(&sim, &rx, json!({})).await;
    let d = sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x", "time_out": 0})).await;
    let id = d["conversation_id"].as_str().unwrap();
    sim.advance(3600.0).await;
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], true);
    assert_eq!(c["message_count"], 1, "no warning without a timeout");
    // The number's own timeout can be turned off the same way.
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 0}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["sms_config"]["time_out"], Value::Null);
}
