//! Small things a newcomer tripped on: inspection filters, resets, unset template variables,
//! messages that say where to look.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn inspection_filters_refuse_nonsense_and_paths_match_by_prefix() {
    let sim = Sim::start().await;
    for (path, param) in [
        ("/_sim/requests?status=abc", "`status`"),
        ("/_sim/requests?status=1000", "`status`"),
        ("/_sim/webhooks?type=bogus", "`type`"),
        ("/_sim/webhooks?event=finished", "`event`"),
    ] {
        let got = sim.sim(Method::GET, path, None).await;
        assert_error(&got, 400, "INVALID_PARAMETER");
        let message = got.1["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(param), "{path}: {message}");
    }
    let id = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.get(&format!("/v1/sms/conversations/{id}")).await;
    sim.get("/v1/sms/conversations").await;
    sim.get("/v1/sms/conversationsX").await;
    let (_, v) = sim
        .sim(
            Method::GET,
            "/_sim/requests?path=/v1/sms/conversations",
            None,
        )
        .await;
    let paths: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/v1/sms/conversations/{id}").as_str(),
            "/v1/sms/conversations"
        ]
    );
    let (s, v) = sim
        .sim(Method::GET, "/_sim/webhooks?type=status&event=ended", None)
        .await;
    assert_eq!((s.as_u16(), v["data"].clone()), (200, json!([])));
}

/// A send, then the ids of its conversation, its first delivery and the newest journal entry.
async fn ids_after_a_send(sim: &Sim) -> (Value, Value, Value) {
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"});
    let d = sim.send(body).await;
    let (_, hooks) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    let (_, reqs) = sim.sim(Method::GET, "/_sim/requests", None).await;
    let last = reqs["data"].as_array().unwrap().last().unwrap()["id"].clone();
    (
        d["conversation_id"].clone(),
        hooks["data"][0]["id"].clone(),
        last,
    )
}

#[tokio::test]
async fn a_reset_restarts_every_sequence_together() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let first = ids_after_a_send(&sim).await;
    rx.wait_for(1).await;
    sim.sim(Method::POST, "/_sim/reset", None).await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let again = ids_after_a_send(&sim).await;
    assert_eq!(
        first, again,
        "conversation, delivery and journal ids start over together"
    );
    assert_eq!(again.1, 1);
}

#[tokio::test]
async fn an_unset_variable_fills_every_value_with_null() {
    let scenario = r#"{"name":"blank","match":{"agent_numbers":["+15550002222"]},"start_node":"s",
        "nodes":{"s":{"rules":[{"when":"any","reply":"[{{nothing}}]"}]}},
        "outcomes":{"summary":"{{nothing}}",
          "dispositions":{"d1":{"tag":"{{nothing}}","result":{"x":"{{nothing}}","y":"set"}}},
          "citations":{"c1":{"name":"C","variables":{"v":"{{nothing}}"}}}}}"#;
    let fixtures = r#"{"accounts":[{"api_key":"sk_sim_default","numbers":[{"phone_number":"+15550002222",
        "sms_config":{"summary_prompt":"s","disposition_ids":["d1"],"citation_schema_ids":["c1"]}}]}]}"#;
    let sim = Sim::with(
        manual()
            .fixtures_json(fixtures)
            .unwrap()
            .scenario_json(scenario)
            .unwrap(),
    )
    .await;
    let r = sim.text(USER, AGENT, "hello").await;
    assert_eq!(r["replies"][0]["message"], "[]", "in text it is empty");
    let id = r["conversation_id"].as_str().unwrap();
    sim.post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    let c = sim.conversation(id).await;
    assert_eq!(c["summary"], Value::Null);
    assert_eq!(c["citation_variables"], json!({"v": null}));
    let log = &c["disposition_logs"][0];
    assert_eq!(
        (log["tag"].clone(), log["result"].clone()),
        (Value::Null, json!({"x": null, "y": "set"}))
    );
}

#[tokio::test]
async fn a_text_to_an_unowned_number_says_how_to_give_it_an_owner() {
    let sim = Sim::start().await;
    let got = sim
        .sim(
            Method::POST,
            "/_sim/inbound",
            Some(json!({"user_number": USER, "agent_number": "+15559990000", "message": "hi"})),
        )
        .await;
    assert_error(&got, 404, "INBOUND_NUMBER_NOT_FOUND");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("belongs to no account") && message.contains("POST /_sim/numbers"),
        "{message}"
    );
    assert!(!message.contains("API key"), "{message}");
    match sim.sim.inbound(USER, "+15559990000", "hi").await {
        Err(bland_sms_sim::Error::Api { message, .. }) => {
            assert!(message.contains("belongs to no account"), "{message}")
        }
        other => panic!("expected a 404, got {other:?}"),
    }
}

#[test]
fn the_readme_shows_the_shipped_fixtures_and_scenario_as_they_are() {
    let readme = include_str!("../../README.md");
    for (name, file) in [
        (
            "fixtures/default.json",
            include_str!("../../fixtures/default.json"),
        ),
        (
            "scenarios/appointment-booking.json",
            include_str!("../../scenarios/appointment-booking.json"),
        ),
        (
            "replays/stop-start.json",
            include_str!("../../replays/stop-start.json"),
        ),
    ] {
        let block = format!("```json\n{}\n```", file.trim_end());
        assert!(
            readme.contains(&block),
            "README.md does not show {name} as shipped"
        );
    }
}
