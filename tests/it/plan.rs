//! Agent Phone Plan accounts (§11): texts to +1 only, SMS only, and so many texts an hour and
//! a day on the simulator's clock, the agent's replies included.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

const PLAN_KEY: &str = "sk_plan";
const PLAN_AGENT: &str = "+15550008888";

const FIXTURES: &str = r#"{"accounts": [
  {"api_key": "sk_plan", "plan": "agent_phone", "plan_limits": {"hourly": 3, "daily": 5},
   "numbers": [{"phone_number": "+15550008888", "sms_config": {},
                "whatsapp_config": {}}]},
  {"api_key": "sk_sim_default", "numbers": [{"phone_number": "+15550002222"}]}
]}"#;

async fn plan_sim() -> Sim {
    Sim::with(manual().fixtures_json(FIXTURES).unwrap()).await
}

async fn send(sim: &Sim, user: &str, body: Value) -> (hyper::StatusCode, Value) {
    let mut b = json!({"user_number": user, "agent_number": PLAN_AGENT});
    b.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    sim.post_as(PLAN_KEY, "/v1/sms/send", b).await
}

#[tokio::test]
async fn the_hourly_and_daily_limits_turn_with_the_clock() {
    let sim = plan_sim().await;
    for i in 0..3 {
        let (status, v) = send(&sim, USER, json!({"agent_message": format!("text {i}")})).await;
        assert_eq!(status, 200, "{v}");
    }
    let got = send(&sim, USER, json!({"agent_message": "one too many"})).await;
    assert_error(&got, 429, "SMS_RL_PLAN_HOURLY");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at most 3 texts an hour"), "{message}");
    assert!(message.contains("2026-01-01T13:00:00.000Z"), "{message}");

    // Past the limit the agent stays silent, and a human cannot text either.
    let r = sim.text(USER, PLAN_AGENT, "hello?").await;
    assert_eq!(r["replies"], json!([]));
    let id = r["conversation_id"].as_str().unwrap().to_string();
    let got = sim
        .post_as(
            PLAN_KEY,
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "a person"}),
        )
        .await;
    assert_error(&got, 429, "SMS_RL_PLAN_HOURLY");

    // On the hour: the agent answers again (its reply counts), then the day runs out.
    sim.advance(3600.0).await;
    let r = sim.text(USER, PLAN_AGENT, "now?").await;
    assert_eq!(r["replies"].as_array().unwrap().len(), 1, "{r}");
    let (status, _) = send(&sim, USER, json!({"agent_message": "fifth"})).await;
    assert_eq!(status, 200);
    let got = send(&sim, USER, json!({"agent_message": "sixth"})).await;
    assert_error(&got, 429, "SMS_RL_PLAN_DAILY");
    // Resuming with a text is a send too.
    let (status, _) = sim
        .post_as(
            PLAN_KEY,
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let got = sim
        .post_as(
            PLAN_KEY,
            &format!("/v1/sms/conversations/{id}/resume"),
            json!({"message": "back with the agent"}),
        )
        .await;
    assert_error(&got, 429, "SMS_RL_PLAN_DAILY");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("2026-01-02T00:00:00.000Z"));
    // Midnight UTC.
    sim.advance(11.0 * 3600.0).await;
    let (status, _) = send(&sim, USER, json!({"agent_message": "a new day"})).await;
    assert_eq!(status, 200);

    // Enterprise accounts have no such limits.
    for i in 0..6 {
        let (status, _) = sim
            .post(
                "/v1/sms/send",
                json!({"user_number": USER, "agent_number": AGENT, "agent_message": format!("{i}")}),
            )
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn only_sms_to_plus_one_numbers() {
    let sim = plan_sim().await;
    let got = send(&sim, "+447700900123", json!({"agent_message": "hi"})).await;
    assert_error(&got, 400, "INVALID_PHONE_NUMBER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("US and Canada numbers only"));
    // +1 also holds other countries: Jamaica's 876 is refused (platform/agent-phone-plan.mdx).
    let got = send(&sim, "+18765550123", json!({"agent_message": "hi"})).await;
    assert_error(&got, 400, "INVALID_PHONE_NUMBER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("the Caribbean's and Bermuda's area codes"));
    let got = send(
        &sim,
        USER,
        json!({"agent_message": "hi", "channel": "whatsapp"}),
    )
    .await;
    assert_error(&got, 403, "ENTERPRISE_REQUIRED");
    // A user abroad who texts in gets no answer, and a human cannot text them either.
    let abroad = sim.text("+447700900123", PLAN_AGENT, "hello").await;
    assert_eq!(abroad["replies"], json!([]));
    let id = abroad["conversation_id"].as_str().unwrap();
    let got = sim
        .post_as(
            PLAN_KEY,
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "hi from a person"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PHONE_NUMBER");
    // Nothing was counted: three texts still go.
    for _ in 0..3 {
        let (status, _) = send(&sim, USER, json!({"agent_message": "hi"})).await;
        assert_eq!(status, 200);
    }
    // The plan is kept in the state document.
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    let account = state["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["api_key"] == PLAN_KEY)
        .unwrap()
        .clone();
    assert_eq!(account["plan"], "agent_phone");
    assert_eq!(account["plan_limits"], json!({"hourly": 3, "daily": 5}));
    assert_eq!(account["enterprise"], false);
}

#[tokio::test]
async fn a_bad_plan_in_the_fixtures_is_named() {
    for (doc, says) in [
        (
            r#"{"accounts":[{"api_key":"k","plan":"gold"}]}"#,
            "plan must be \"enterprise\" or \"agent_phone\", got \"gold\"",
        ),
        (
            r#"{"accounts":[{"api_key":"k","plan_limits":{"hourly":1}}]}"#,
            "plan_limits are for \"plan\": \"agent_phone\"",
        ),
    ] {
        let e = match manual().fixtures_json(doc) {
            Ok(_) => panic!("{doc} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(says), "{e}");
    }
}
