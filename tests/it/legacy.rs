//! The legacy endpoints (§3.18): their bodies and `{"status": …}` answers, mapped onto today's
//! state.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn number_config(sim: &Sim, phone: &str) -> Value {
    let (_, list) = sim.get("/v1/sms/numbers").await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["phone_number"] == phone)
        .expect("the number is listed")["sms_config"]
        .clone()
}

#[tokio::test]
async fn update_and_webhook_update_change_the_numbers_config() {
    let sim = Sim::start().await;
    let (status, headers, body) = sim
        .full(
            Method::POST,
            "/v1/sms/update",
            Some(KEY),
            &[],
            json!({"phone_number": AGENT, "channel": "sms", "prompt": "Be brief",
                   "temperature": 0.5, "ignore_keywords": ["stop"]})
            .to_string()
            .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "Prompt updated"}));
    assert!(
        headers.get("x-bland-sim-warning").is_none(),
        "ignore_keywords is a documented field"
    );
    let cfg = number_config(&sim, AGENT).await;
    assert_eq!(cfg["objective"], "Be brief");
    // A documented field, so --strict takes it too.
    let strict = Sim::with(manual().strict(true)).await;
    let (status, body) = strict
        .post(
            "/v1/sms/update",
            json!({"phone_number": AGENT, "prompt": "x", "ignore_keywords": null}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cfg["temperature"], 0.5);

    let (status, body) = sim
        .post(
            "/v1/sms/webhook/update",
            json!({"phone_number": AGENT, "webhook": "http://127.0.0.1:9/hooks"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "success"}));
    assert_eq!(
        number_config(&sim, AGENT).await["webhook"],
        "http://127.0.0.1:9/hooks"
    );
    let (status, _) = sim
        .post(
            "/v1/sms/webhook/update",
            json!({"phone_number": AGENT, "webhook": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(number_config(&sim, AGENT).await["webhook"], Value::Null);

    let got = sim
        .post("/v1/sms/webhook/update", json!({"phone_number": AGENT}))
        .await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    let got = sim
        .post(
            "/v1/sms/webhook/update",
            json!({"phone_number": AGENT, "webhook": "not a url"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let got = sim
        .post(
            "/v1/sms/update",
            json!({"phone_number": "+15559999999", "prompt": "x"}),
        )
        .await;
    assert_error(&got, 404, "INBOUND_NUMBER_NOT_FOUND");
}

#[tokio::test]
async fn messages_get_and_clear_read_and_trim_the_pairs_context() {
    let sim = Sim::start().await;
    let id = sim.text(USER, AGENT, "hello").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (to, from) in [(USER, AGENT), (AGENT, USER)] {
        let (status, body) = sim
            .post("/v1/sms/messages/get", json!({"to": to, "from": from}))
            .await;
        assert_eq!(status, 200);
        let text = body["messages"]
            .as_str()
            .expect("a string, as the page shows");
        let messages: Vec<Value> = serde_json::from_str(text).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["message"], "hello");
        assert_eq!(messages[0]["sender"], "USER");
        assert_eq!(messages[1]["sender"], "AGENT");
    }
    let (_, none) = sim
        .post(
            "/v1/sms/messages/get",
            json!({"to": AGENT, "from": "+15550001112"}),
        )
        .await;
    assert_eq!(none, json!({"messages": "[]"}));

    let (status, body) = sim
        .post("/v1/sms/clear", json!({"to": AGENT, "from": USER}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "success", "count": 2}));
    // Out of the agent's context, not deleted.
    assert_eq!(sim.conversation(&id).await["message_count"], 2);
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    let saved = &state["accounts"][0]["conversations"][0]["simulator"];
    assert_eq!(saved["context_from"], 2);
    let (_, again) = sim
        .post("/v1/sms/clear", json!({"to": AGENT, "from": USER}))
        .await;
    assert_eq!(again["count"], 0);

    let got = sim.post("/v1/sms/clear", json!({"to": AGENT})).await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    let got = sim
        .post(
            "/v1/sms/messages/get",
            json!({"to": "+15559999999", "from": USER}),
        )
        .await;
    assert_error(&got, 404, "INBOUND_NUMBER_NOT_FOUND");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Neither +15559999999 nor +15550001111 is a number of this account"));
    let got = sim
        .post("/v1/sms/clear", json!({"to": "nope", "from": USER}))
        .await;
    assert_error(&got, 400, "INVALID_PHONE_NUMBER");
}

#[tokio::test]
async fn toggle_hands_the_numbers_conversations_to_a_human_and_back() {
    let sim = Sim::start().await;
    let id = opened_by(&sim, USER).await;
    assert_eq!(
        toggle(&sim, true).await,
        // The docs' `status`, and the generated SDKs' `message`.
        json!({"status": "Turned human mode on", "message": "Turned human mode on"})
    );
    let c = sim.conversation(&id).await;
    assert!(c["human_handoff_at"].is_string(), "{c}");
    assert_eq!(c["human_handoff_reason"], HUMAN_MODE_REASON);

    // The agent writes no opening either.
    let opened = sim
        .send(json!({"user_number": "+15550001113", "agent_number": AGENT}))
        .await;
    assert_eq!(opened["message"], "Conversation ready; no message was sent");
    // The agent is silent, also for a user who texts for the first time.
    assert_eq!(sim.text(USER, AGENT, "anyone?").await["replies"], json!([]));
    let other = sim.text("+15550001112", AGENT, "hello?").await;
    assert_eq!(other["replies"], json!([]));
    let other_id = other["conversation_id"].as_str().unwrap();
    assert!(sim.conversation(other_id).await["human_handoff_at"].is_string());

    assert_eq!(
        toggle(&sim, false).await,
        json!({"status": "Turned human mode off", "message": "Turned human mode off"})
    );
    assert_eq!(sim.conversation(&id).await["human_handoff_at"], Value::Null);
    let back = sim.text(USER, AGENT, "and now?").await;
    assert_eq!(back["replies"].as_array().unwrap().len(), 1);

    // Off ends only what human mode began: a handoff someone asked for stays.
    let (status, _) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({"reason": "needs a refund specialist"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(toggle(&sim, false).await["status"], "Turned human mode off");
    assert_eq!(
        sim.conversation(&id).await["human_handoff_reason"],
        "needs a refund specialist"
    );

    let got = sim
        .post("/v1/sms/toggle", json!({"phone_number": AGENT}))
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let got = sim.post("/v1/sms/toggle", json!({"on": true})).await;
    assert_error(&got, 400, "PHONE_NUMBER_REQUIRED");
}

/// The conversation a user's first text opens with `AGENT`.
async fn opened_by(sim: &Sim, user: &str) -> String {
    sim.text(user, AGENT, "hi").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Legacy `POST /v1/sms/toggle` for `AGENT`, which must work; its body.
async fn toggle(sim: &Sim, on: bool) -> Value {
    let (status, body) = sim
        .post("/v1/sms/toggle", json!({"phone_number": AGENT, "on": on}))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The reason of the handoffs human mode makes.
const HUMAN_MODE_REASON: &str = "Human mode is on for this number (POST /v1/sms/toggle)";

#[tokio::test]
async fn human_mode_off_ends_its_own_handoffs_even_after_a_restore_and_no_other() {
    let sim = Sim::start().await;
    let mine = opened_by(&sim, "+15550001121").await;
    let copied = opened_by(&sim, "+15550001122").await;
    // A caller's handoff that happens to give human mode's reason word for word.
    let (status, _) = sim
        .post(
            &format!("/v1/sms/conversations/{copied}/handoff"),
            json!({"reason": HUMAN_MODE_REASON}),
        )
        .await;
    assert_eq!(status, 200);
    toggle(&sim, true).await;
    let c = sim.conversation(&mine).await;
    assert_eq!(c["human_handoff_reason"], HUMAN_MODE_REASON);
    assert_eq!(c["human_handoff_metadata"], json!({"source": "api"}));

    // The state document keeps which handoff is whose; a second simulator takes it.
    let (_, doc) = sim.sim(Method::GET, "/_sim/state", None).await;
    let saved = |id: &str| {
        doc["accounts"][0]["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["simulator"]["human_mode_handoff"]
            .clone()
    };
    assert_eq!((saved(&mine), saved(&copied)), (json!(true), json!(false)));
    let b = Sim::start().await;
    let (status, v) = b.sim(Method::PUT, "/_sim/state", Some(doc.clone())).await;
    assert_eq!(status, 200, "{v}");
    toggle(&b, false).await;
    assert_eq!(b.conversation(&mine).await["human_handoff_at"], Value::Null);
    assert_eq!(
        b.conversation(&copied).await["human_handoff_reason"],
        HUMAN_MODE_REASON
    );

    // A document written before the flag existed: human mode's reason counts as its own.
    let mut old = doc.clone();
    for c in old["accounts"][0]["conversations"].as_array_mut().unwrap() {
        c["simulator"]
            .as_object_mut()
            .unwrap()
            .remove("human_mode_handoff");
    }
    let (status, v) = sim.sim(Method::PUT, "/_sim/state", Some(old)).await;
    assert_eq!(status, 200, "{v}");
    toggle(&sim, false).await;
    assert_eq!(
        sim.conversation(&mine).await["human_handoff_at"],
        Value::Null
    );
    assert_eq!(
        sim.conversation(&copied).await["human_handoff_at"],
        Value::Null
    );
}

/// The A2P brand form as `api-v1/post/sms-submit-reg.mdx` (91809e1) documents it.
fn brand_form(ein: &str) -> Value {
    json!({
        "businessName": "Bright Smile Dental LLC",
        "ein": ein,
        "vertical": "HEALTHCARE",
        "address": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postalCode": "78701",
        "country": "US",
        "email": "ops@brightsmile.example",
        "type": "Limited Liability Corporation",
        "website": "https://brightsmile.example",
        "opt_in_info": "Customers consent on our website and during the call.",
        "messageSamples": ["Your cleaning is Tuesday at 10.", "Reply YES to confirm.", "Thanks for visiting!"],
        "trusted_user": {"position": "CEO", "first_name": "Ada", "last_name": "Lovelace"}
    })
}

#[tokio::test]
async fn a_registration_is_pending_then_approved_or_failed_on_the_clock() {
    let sim = Sim::start().await;
    let mut form = brand_form("12-3456789");
    form["brandType"] = json!("SOLE_PROPRIETOR");
    let (status, body) = sim.post("/v1/sms/register", form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "A2P Brand registration successful.");
    assert_eq!(body["data"]["status"], "pending");
    assert_eq!(body["data"]["brandType"], "SOLE_PROPRIETOR");
    assert_eq!(body["data"]["businessName"], "Bright Smile Dental LLC");
    let ok = body["data"]["registration_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = sim.post("/v1/sms/register", brand_form("000000000")).await;
    let bad = body["data"]["registration_id"]
        .as_str()
        .unwrap()
        .to_string();

    let status_of = |id: String| {
        let sim = &sim;
        async move {
            sim.post("/v1/sms/register/status", json!({"registration_id": id}))
                .await
                .1
        }
    };
    assert_eq!(
        status_of(ok.clone()).await,
        json!({"status": "pending", "brandType": "SOLE_PROPRIETOR", "failureReason": null, "failtureReason": null})
    );
    sim.advance(599.0).await;
    assert_eq!(status_of(ok.clone()).await["status"], "pending");
    sim.advance(1.0).await;
    assert_eq!(status_of(ok.clone()).await["status"], "approved");
    let failed = status_of(bad).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["brandType"], "STANDARD");
    assert!(failed["failureReason"].as_str().unwrap().contains("EIN"));

    // Another account's registration is not found.
    let got = sim
        .post_as(
            "sk_other",
            "/v1/sms/register/status",
            json!({"registration_id": ok}),
        )
        .await;
    assert_error(&got, 404, "REGISTRATION_NOT_FOUND");
    let got = sim.post("/v1/sms/register/status", json!({})).await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    // The page's 400s: missing fields, named; a state that is not a US state code.
    let got = sim
        .post(
            "/v1/sms/register",
            json!({"businessName": "Nope", "ein": ""}),
        )
        .await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Missing required fields: ein, vertical, address, city, state, postalCode, country, \
             email, type, website, opt_in_info, messageSamples, trusted_user"
        ),
        "{message}"
    );
    let mut form = brand_form("12-3456789");
    form["state"] = json!("Texas");
    let got = sim.post("/v1/sms/register", form).await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`state` must be a valid US state code"));
    for (field, value) in [
        ("brandType", json!(5)),
        ("ein", json!("x".repeat(1025))),
        ("messageSamples", json!(["only one"])),
        ("trusted_user", json!({"position": "CEO"})),
    ] {
        let mut form = brand_form("12-3456789");
        form[field] = value;
        let got = sim.post("/v1/sms/register", form).await;
        assert_error(&got, 400, "INVALID_PARAMETER");
        assert!(
            got.1["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{field}: {}",
            got.1
        );
    }
}

/// `POST /v1/sms/prompt/update`, which Bland's generated SDKs call: the number's prompt, as
/// the legacy `/v1/sms/update` sets it.
#[tokio::test]
async fn prompt_update_sets_the_numbers_objective() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .post(
            "/v1/sms/prompt/update",
            json!({"phone_number": AGENT, "prompt": "Book cleanings"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"status": "Prompt updated"}));
    let (_, numbers) = sim.get("/v1/sms/numbers").await;
    let n = numbers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["phone_number"] == AGENT)
        .unwrap()
        .clone();
    assert_eq!(n["sms_config"]["objective"], "Book cleanings", "{n}");
    assert_error(
        &sim.post(
            "/v1/sms/prompt/update",
            json!({"phone_number": "+15559990000", "prompt": "x"}),
        )
        .await,
        404,
        "INBOUND_NUMBER_NOT_FOUND",
    );
}
