use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn send_creates_then_resumes_the_pairs_conversation() {
    let sim = Sim::start().await;
    let a = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello"}))
        .await;
    assert_eq!(a["status"], "processing");
    assert_eq!(
        a["message"],
        "SMS accepted for delivery. Check status of SMS with the message_id"
    );
    let id = a["conversation_id"].as_str().unwrap().to_string();
    assert!(a["message_id"].is_string());
    let b = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Again"}))
        .await;
    assert_eq!(b["conversation_id"], id.as_str());
    assert_ne!(b["message_id"], a["message_id"]);
    let c = sim.conversation(&id).await;
    assert_eq!(c["message_count"], 2);
    let m = &c["messages"][0];
    assert_eq!(m["id"], a["message_id"]);
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some(AGENT), Some(USER))
    );
    assert_eq!(m["sender"], "AGENT");
    assert_eq!(m["status"], "delivered");
    assert!(m["created_at"].as_str().unwrap().ends_with(".000Z"));
    assert_eq!(c["messages"][1]["message"], "Again");
    let (_, n) = sim.get("/v1/sms/numbers").await;
    assert_eq!(n["data"][0]["conversation_count"], 1);
}

#[tokio::test]
async fn new_conversation_archives_the_active_one() {
    let sim = Sim::start().await;
    let a = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "One"}))
        .await;
    let b = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Two", "new_conversation": true}))
        .await;
    assert_ne!(a["conversation_id"], b["conversation_id"]);
    let old = sim
        .conversation(a["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(old["is_active"], false);
    let new = sim
        .conversation(b["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(new["is_active"], true);
    let (_, n) = sim.get("/v1/sms/numbers").await;
    assert_eq!(n["data"][0]["conversation_count"], 2);
}

#[tokio::test]
async fn accepts_the_cli_aliases_and_bearer_keys() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .call(
            hyper::Method::POST,
            "/v1/sms/send",
            Some(&format!("Bearer {KEY}")),
            &[],
            Some(json!({"phone_number": USER, "from": AGENT, "message": "Hi from the CLI"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let c = sim
        .conversation(v["data"]["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["messages"][0]["message"], "Hi from the CLI");
    assert_eq!(c["user_number"], USER);
    // No revision of Bland's docs names them: each is warned about, and refused under --strict.
    let (_, journal) = sim.sim(hyper::Method::GET, "/_sim/requests", None).await;
    let warnings = journal["data"][0]["warnings"].to_string();
    for (alias, field) in [
        ("phone_number", "user_number"),
        ("from", "agent_number"),
        ("message", "agent_message"),
    ] {
        assert!(
            warnings.contains(&format!("`{alias}` is accepted as `{field}`")),
            "{warnings}"
        );
    }
    let strict = Sim::with(manual().strict(true)).await;
    let got = strict
        .post(
            "/v1/sms/send",
            json!({"phone_number": USER, "agent_number": AGENT, "agent_message": "x"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("send `user_number` (refused under --strict)"));
}

#[tokio::test]
async fn send_without_a_message_id_when_nothing_was_sent() {
    let sim = Sim::start().await;
    // The booking scenario's pick_day node has nothing to say on its own.
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "pathway_id": "pathway_booking", "start_node_id": "pick_day"}))
        .await;
    assert!(d.get("message_id").is_none(), "{d}");
    let c = sim
        .conversation(d["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["message_count"], 0);
    assert_eq!(c["current_node_id"], "pick_day");
    assert_eq!(c["curr_pathway_id"], "pathway_booking");
}

#[tokio::test]
async fn send_validation_errors() {
    let sim = Sim::start().await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"agent_number": AGENT}),
            400,
            "MISSING_REQUIRED_FIELDS",
        ),
        (json!({"user_number": USER}), 400, "MISSING_REQUIRED_FIELDS"),
        (
            json!({"user_number": "+0123", "agent_number": AGENT}),
            400,
            "INVALID_PHONE_NUMBER",
        ),
        (
            json!({"user_number": USER, "agent_number": "+1"}),
            400,
            "INVALID_PHONE_NUMBER",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "channel": "fax"}),
            400,
            "INVALID_CHANNEL",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "content_sid": "HX1"}),
            400,
            "INVALID_TEMPLATE_USAGE",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "persona_id": "nope"}),
            400,
            "INVALID_PERSONA_ID",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "time_out": 60, "warning_time": 60}),
            400,
            "INVALID_TIMEOUT_CONFIG",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "warning_time": 30}),
            400,
            "INVALID_TIMEOUT_CONFIG",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "new_conversation": "yes"}),
            400,
            "INVALID_PARAMETER",
        ),
        (
            json!({"user_number": USER, "agent_number": AGENT, "webhook": "not a url"}),
            400,
            "INVALID_PARAMETER",
        ),
        (
            json!({"user_number": USER, "agent_number": "+15559990000"}),
            404,
            "INBOUND_NUMBER_NOT_FOUND",
        ),
    ];
    for (body, status, code) in cases {
        let got = sim.post("/v1/sms/send", body.clone()).await;
        assert_error(&got, status, code);
    }
    let missing = sim.post("/v1/sms/send", json!({})).await;
    assert_eq!(
        missing.1["errors"][0]["message"],
        "Missing required fields: user_number, agent_number"
    );
    // None of that created anything.
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(list["extra"]["pagination"]["totalItems"], 0);
}

#[tokio::test]
async fn timeout_overrides_are_checked_against_the_effective_settings_and_persist() {
    let sim = Sim::start().await;
    sim.post(
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "time_out": 300}),
    )
    .await;
    // warning alone is compared with the number's time_out.
    let ok = sim
        .post("/v1/sms/send", json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x", "warning_time": 100}))
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_error(
        &sim.post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "warning_time": 400}),
        )
        .await,
        400,
        "INVALID_TIMEOUT_CONFIG",
    );
    // time_out alone is compared with the conversation's persisted warning override (100).
    assert_error(
        &sim.post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "time_out": 90}),
        )
        .await,
        400,
        "INVALID_TIMEOUT_CONFIG",
    );
    assert_error(
        &sim.post(
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT, "message": "m", "time_out": 90}),
        )
        .await,
        400,
        "INVALID_TIMEOUT_CONFIG",
    );
}

#[tokio::test]
async fn enterprise_gate_applies_to_send_and_update() {
    let sim = Sim::start().await;
    let (s, _) = sim
        .sim(
            hyper::Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "k_free", "phone_number": "+15557770000", "enterprise": false})),
        )
        .await;
    assert_eq!(s, 201);
    let send = sim
        .call(
            hyper::Method::POST,
            "/v1/sms/send",
            Some("k_free"),
            &[],
            Some(json!({"user_number": USER, "agent_number": "+15557770000"})),
        )
        .await;
    assert_error(&send, 403, "ENTERPRISE_REQUIRED");
    let upd = sim
        .call(
            hyper::Method::POST,
            "/v1/sms/number/update",
            Some("k_free"),
            &[],
            Some(json!({"phone_number": "+15557770000"})),
        )
        .await;
    assert_error(&upd, 403, "ENTERPRISE_REQUIRED");
    let (s, _) = sim
        .call(
            hyper::Method::GET,
            "/v1/sms/numbers",
            Some("k_free"),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "reads are not plan-gated");
}

#[tokio::test]
async fn create_stores_a_message_and_positions_the_conversation_without_sending() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let (s, v) = sim
        .post(
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT, "message": "imported", "message_sid": "SM123",
                   "curr_pathway_id": "pw_x", "curr_pathway_version": 3, "current_node_id": "n2"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"]["message"],
        "SMS conversation created successfully"
    );
    // The workflow Bland starts (`api-v1/post/sms-create.mdx`, rev 91809e1).
    let workflow = v["data"]["workflow_id"].as_str().unwrap();
    assert!(
        workflow.starts_with("workflow_") && workflow.len() == 45,
        "{v}"
    );
    let c = sim
        .conversation(v["data"]["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["messages"][0]["id"], "SM123");
    assert_eq!(c["messages"][0]["sender"], "USER");
    assert_eq!(c["messages"][0]["status"], Value::Null);
    assert_eq!(c["curr_pathway_id"], "pw_x");
    assert_eq!(c["curr_pathway_version"], "3");
    assert_eq!(c["current_node_id"], "n2");
    // The same message_sid again stores nothing more.
    sim.post("/v1/sms/create", json!({"user_number": USER, "agent_number": AGENT, "message": "imported", "message_sid": "SM123"}))
        .await;
    assert_eq!(
        sim.conversation(c["id"].as_str().unwrap()).await["message_count"],
        1
    );
    let (_, hooks) = sim.sim(hyper::Method::GET, "/_sim/webhooks", None).await;
    assert_eq!(hooks["data"], json!([]), "create sends nothing");
    let missing = sim
        .post(
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT}),
        )
        .await;
    assert_error(&missing, 400, "MISSING_REQUIRED_FIELDS");
    assert_eq!(
        missing.1["errors"][0]["message"],
        "Missing required fields: message"
    );
    assert_error(
        &sim.post(
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT, "message": "m", "sender": "BOT"}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn whatsapp_templates_are_accepted_on_the_whatsapp_channel() {
    let sim = Sim::start().await;
    let d = sim
        .send(
            json!({"user_number": USER, "agent_number": WHATSAPP, "channel": "whatsapp",
                     "content_sid": "HX42", "content_variables": {"1": "John"}}),
        )
        .await;
    let c = sim
        .conversation(d["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["effective_channel"], "whatsapp");
    assert_eq!(
        c["messages"][0]["message"],
        "[template HX42] {\"1\":\"John\"}"
    );
}
