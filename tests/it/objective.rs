//! `objective` on `/send` (§11): stored on the conversation, replaced or kept by later sends,
//! dropped by `new_conversation`, checked; scenarios match on it and use it in templates.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

/// A scenario chosen by objectives about billing, which repeats the objective back.
const BILLING: &str = r#"{
  "version": 1, "name": "billing",
  "match": {"objectives": ["(?i)invoice|billing"]},
  "start_node": "chat",
  "nodes": {"chat": {"say": "Billing desk: {{objective}}",
    "rules": [{"when": "any", "reply": "On it: {{objective}}"}]}}
}"#;

async fn with_billing() -> Sim {
    let sim = Sim::start().await;
    let (status, body) = sim
        .sim(
            Method::POST,
            "/_sim/scenarios",
            Some(serde_json::from_str(BILLING).unwrap()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    sim
}

async fn last_text(sim: &Sim, id: &str) -> String {
    let c = sim.conversation(id).await;
    let m = c["messages"].as_array().unwrap();
    m.last().unwrap()["message"].as_str().unwrap().to_string()
}

fn saved_objective(state: &Value, id: &str) -> Value {
    state["accounts"][0]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .expect("the conversation is in the state")["simulator"]["objective"]
        .clone()
}

#[tokio::test]
async fn an_objective_picks_the_scenario_and_lasts_until_replaced() {
    let sim = with_billing().await;
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": AGENT,
                     "objective": "Collect the overdue invoice #42"}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap().to_string();
    // The scenario that matched the objective speaks first, and quotes it.
    assert_eq!(
        last_text(&sim, &id).await,
        "Billing desk: Collect the overdue invoice #42"
    );

    // A later send without one keeps it.
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello"}))
        .await;
    sim.text(USER, AGENT, "what is this about?").await;
    assert_eq!(
        last_text(&sim, &id).await,
        "On it: Collect the overdue invoice #42"
    );

    // One with a new objective replaces it, in the same conversation.
    let again = sim
        .send(
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Update",
                     "objective": "Confirm the billing address"}),
        )
        .await;
    assert_eq!(again["conversation_id"], id.as_str());
    sim.text(USER, AGENT, "ok").await;
    assert_eq!(
        last_text(&sim, &id).await,
        "On it: Confirm the billing address"
    );
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(saved_objective(&state, &id), "Confirm the billing address");

    // A new conversation starts without the old objective: the default scenario plays.
    let fresh = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "new_conversation": true}))
        .await;
    let fresh_id = fresh["conversation_id"].as_str().unwrap();
    assert_ne!(fresh_id, id);
    assert!(last_text(&sim, fresh_id)
        .await
        .starts_with("Hi! This is the Bland SMS simulator's default agent"));
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(saved_objective(&state, fresh_id), Value::Null);

    // An objective that matches no scenario leaves the choice to the rest.
    let other = sim
        .send(json!({"user_number": "+15550001112", "agent_number": AGENT,
                     "objective": "Say hello"}))
        .await;
    assert!(last_text(&sim, other["conversation_id"].as_str().unwrap())
        .await
        .starts_with("Hi! This is"));
    // The scenario list shows what selects it.
    let (_, scenarios) = sim.sim(Method::GET, "/_sim/scenarios", None).await;
    let billing = scenarios["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "billing")
        .unwrap()
        .clone();
    assert_eq!(
        billing["match"]["objectives"],
        json!(["(?i)invoice|billing"])
    );
}

#[tokio::test]
async fn a_bad_objective_is_refused_and_changes_nothing() {
    let sim = Sim::start().await;
    let long = "x".repeat(20_001);
    for (objective, says) in [
        (json!(""), "must not be empty"),
        (json!("   "), "must not be empty"),
        (json!(42), "must be a string, got a number"),
        (json!(["a"]), "must be a string, got an array"),
        (json!(long), "is 20001 characters; at most 20000"),
    ] {
        let got = sim
            .post(
                "/v1/sms/send",
                json!({"user_number": USER, "agent_number": AGENT, "objective": objective}),
            )
            .await;
        assert_error(&got, 400, "INVALID_OBJECTIVE");
        let message = got.1["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(list["data"], json!([]), "no conversation was opened");
    // 20,000 characters (not bytes) is the limit.
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": AGENT,
                     "objective": "é".repeat(20_000)}))
        .await;
    assert!(sent["conversation_id"].is_string());
}

#[tokio::test]
async fn a_bad_objectives_regex_is_a_load_error() {
    let sim = Sim::start().await;
    let got = sim
        .sim(
            Method::POST,
            "/_sim/scenarios",
            Some(
                json!({"version": 1, "name": "x", "match": {"objectives": ["("]},
                        "start_node": "a", "nodes": {"a": {"say": "hi"}}}),
            ),
        )
        .await;
    assert_error(&got, 400, "INVALID_SCENARIO");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("match.objectives: bad regex \"(\""),
        "{message}"
    );
}

#[tokio::test]
async fn another_endpoints_field_names_get_a_hint() {
    let sim = Sim::start().await;
    // The cookbook's /create: phone_number, from and prompt, and no message.
    let got = sim
        .post(
            "/v1/sms/create",
            json!({"phone_number": USER, "from": AGENT, "prompt": "Be nice", "node_id": "n1"}),
        )
        .await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Missing required fields: user_number, agent_number, message. "),
        "{message}"
    );
    for hint in [
        "`phone_number`: /create takes the user's number as `user_number`",
        "`from`: /create takes the agent's number as `agent_number`",
        "`prompt`: /create stores a message and takes no prompt: put the text to store in \
         `message`",
    ] {
        assert!(message.contains(hint), "{message}");
    }

    // /send ignores `prompt` as Bland does, and the warning says what to use.
    let (status, headers, body) = sim
        .full(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[],
            json!({"user_number": USER, "agent_number": AGENT, "prompt": "Sell shoes"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let warning = headers["x-bland-sim-warning"].to_str().unwrap();
    assert!(
        warning.starts_with(
            "ignored body field: prompt (`prompt`: /send ignores it: give the \
                             conversation's purpose as `objective`"
        ),
        "{warning}"
    );

    // A hint is added to a missing-field error only when it names a missing field.
    let got = sim
        .post(
            "/v1/sms/send",
            json!({"agent_number": AGENT, "task": "Sell shoes"}),
        )
        .await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    assert_eq!(
        got.1["errors"][0]["message"],
        "Missing required fields: user_number"
    );

    // Under --strict the refusal carries the hint too.
    let strict = Sim::with(manual().strict(true)).await;
    let got = strict
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "task": "Sell shoes"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`task`: /send ignores it: give the conversation's purpose as `objective`"));
}
