use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_repeated_send_returns_the_first_response_and_sends_nothing_more() {
    let sim = Sim::start().await;
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "once"});
    let first = sim.post_idem("k1", "/v1/sms/send", body.clone()).await;
    let again = sim.post_idem("k1", "/v1/sms/send", body.clone()).await;
    assert_eq!(first.0, 200);
    assert_eq!(first, again);
    let id = first.1["data"]["conversation_id"].as_str().unwrap();
    assert_eq!(sim.conversation(id).await["message_count"], 1);
    // Another key sends again; the same key under another account is its own.
    sim.post_idem("k2", "/v1/sms/send", body).await;
    assert_eq!(sim.conversation(id).await["message_count"], 2);
}

// Two worker threads, so the repeats really overlap in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_run_once() {
    let sim = std::sync::Arc::new(Sim::start().await);
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "race"});
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (sim, body) = (sim.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            sim.post_idem("same", "/v1/sms/send", body).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert!(
        results.iter().all(|r| *r == results[0]),
        "all repeats see the first response"
    );
    let id = results[0].1["data"]["conversation_id"].as_str().unwrap();
    assert_eq!(sim.conversation(id).await["message_count"], 1);
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(list["extra"]["pagination"]["totalItems"], 1);
}

// Two worker threads, so the repeats really overlap in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_messages_are_idempotent_per_conversation() {
    let sim = std::sync::Arc::new(Sim::start().await);
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    let path = format!("/v1/sms/conversations/{id}/messages");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (sim, path) = (sim.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            sim.post_idem("m1", &path, json!({"message": "dup?"})).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 202);
        ids.insert(v["data"]["message_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(sim.conversation(&id).await["message_count"], 2);
}

#[tokio::test]
async fn a_failed_first_attempt_is_not_remembered() {
    let sim = Sim::start().await;
    let bad = sim
        .post_idem("k", "/v1/sms/send", json!({"agent_number": AGENT}))
        .await;
    assert_error(&bad, 400, "MISSING_REQUIRED_FIELDS");
    let good = sim
        .post_idem(
            "k",
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "ok"}),
        )
        .await;
    assert_eq!(good.0, 200, "{}", good.1);
}
