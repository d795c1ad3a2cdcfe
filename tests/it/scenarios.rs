use hyper::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_booking_scenario_runs_end_to_end_with_outcomes() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, BOOKING, &rx.url).await;
    let d = sim.send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}})).await;
    let id = d["conversation_id"].as_str().unwrap();
    assert!(
        d["message_id"].is_string(),
        "the scenario wrote the opening"
    );
    // 12:00 UTC on Thursday 2026-01-01 is 7:00 AM in the number's America/New_York.
    assert_eq!(
        sim.transcript(id).await,
        vec!["AGENT: Hi Ada, this is Bright Smile Dental. It's Thursday 7:00 AM here. Would you like to book a cleaning?"]
    );
    let r = sim.text(USER, BOOKING, "Yes please").await;
    assert_eq!(
        r["replies"][0]["message"],
        "Great! Which day works for you?"
    );
    // The booking reply waits 5 virtual seconds.
    let r = sim.text(USER, BOOKING, "How about Tuesday?").await;
    assert_eq!(r["replies"], json!([]));
    sim.advance(4.0).await;
    assert_eq!(sim.conversation(id).await["message_count"], 4);
    sim.advance(1.0).await;
    let c = sim.conversation(id).await;
    assert_eq!(
        c["messages"][4]["message"],
        "Checking the calendar for Tuesday... You're booked for Tuesday at 10:00 AM. See you then!"
    );
    assert_eq!(c["messages"][4]["created_at"], "2026-01-01T12:00:05.000Z");
    assert_eq!(c["is_active"], false);
    assert_eq!(c["ended_by_end_call_node"], true);
    assert_eq!(c["variables"], json!({"intent": "book", "day": "Tuesday"}));
    assert_eq!(
        c["summary"],
        "Ada was offered a cleaning; intent: book; day: Tuesday."
    );
    assert_eq!(
        c["citation_variables"],
        json!({"patient_name": "Ada", "preferred_day": "Tuesday"})
    );
    assert_eq!(c["disposition_tag"], "appointment_booked");
    let log = &c["disposition_logs"][0];
    assert_eq!(log["disposition_id"], "disp_appointment");
    assert_eq!(log["status"], "COMPLETE");
    assert_eq!(
        log["result"],
        json!({"appointmentBooked": true, "day": "Tuesday", "intent": "book"})
    );
    assert_eq!(log["reference_type"], "SMS");
    rx.wait_for(6).await;
    assert_eq!(
        rx.hooks().len(),
        6,
        "opening, yes, reply, Tuesday, booking reply, ended"
    );
    let ended = rx
        .hooks()
        .into_iter()
        .find(|h| h.json["type"] == "status")
        .unwrap()
        .json;
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["summary"], c["summary"]);
    assert_eq!(ended["citations"], c["citation_variables"]);
    assert_eq!(ended["dispositions"][0]["tag"], "appointment_booked");
    assert_eq!(ended["variables"]["day"], "Tuesday");

    // analyze answers from the same data.
    let (s, v) = sim
        .post(
            "/v1/sms/analyze",
            json!({"schema_id": "schema_booking", "conversation_id": id}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let a = &v["data"];
    assert_eq!(a["status"], "success");
    assert_eq!(a["schema_name"], "Booking details");
    assert_eq!(a["variables_extracted"], 2);
    assert_eq!(a["extracted_variables"]["preferred_day"], "Tuesday");
    assert_eq!(a["messages_processed"], 5);
    let cite = a["citations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["variable"] == "preferred_day")
        .unwrap();
    assert_eq!(cite["message"], "How about Tuesday?");
}

#[tokio::test]
async fn analyze_errors() {
    let sim = Sim::start().await;
    let d = sim.send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}})).await;
    let id = d["conversation_id"].as_str().unwrap();
    assert_error(
        &sim.post("/v1/sms/analyze", json!({"conversation_id": id}))
            .await,
        400,
        "MISSING_SCHEMA_ID",
    );
    assert_error(
        &sim.post("/v1/sms/analyze", json!({"schema_id": "schema_booking"}))
            .await,
        400,
        "MISSING_CONVERSATION_ID",
    );
    assert_error(
        &sim.post(
            "/v1/sms/analyze",
            json!({"schema_id": "nope", "conversation_id": id}),
        )
        .await,
        404,
        "SCHEMA_NOT_FOUND",
    );
    assert_error(
        &sim.post(
            "/v1/sms/analyze",
            json!({"schema_id": "schema_booking", "conversation_id": "nope"}),
        )
        .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    let other = sim
        .post_as(
            "sk_other",
            "/v1/sms/analyze",
            json!({"schema_id": "schema_booking", "conversation_id": id}),
        )
        .await;
    assert_error(&other, 403, "FORBIDDEN");
    let empty = sim
        .post(
            "/v1/sms/create",
            json!({"user_number": "+15550006666", "agent_number": AGENT, "message": "m"}),
        )
        .await;
    let eid = empty.1["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let msg_id = sim.conversation(&eid).await["messages"][0]["id"].clone();
    sim.delete(
        &format!("/v1/sms/conversations/{eid}/messages"),
        Some(json!({"message_ids": [msg_id]})),
    )
    .await;
    assert_error(
        &sim.post(
            "/v1/sms/analyze",
            json!({"schema_id": "schema_booking", "conversation_id": eid}),
        )
        .await,
        404,
        "NO_MESSAGES",
    );
}

#[tokio::test]
async fn the_default_scenario_greets_echoes_and_says_goodbye() {
    let sim = Sim::start().await;
    let r = sim.text(USER, AGENT, "hello there").await;
    let reply = r["replies"][0]["message"].as_str().unwrap();
    assert!(
        reply == "Got it: \"hello there\". Anything else?"
            || reply == "Thanks! You said \"hello there\". Anything else?",
        "{reply}"
    );
    let r = sim.text(USER, AGENT, "ok bye").await;
    assert_eq!(r["replies"][0]["message"], "Thanks for chatting. Goodbye!");
    let c = sim
        .conversation(r["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["ended_by_end_call_node"], true);
    let d = sim
        .send(json!({"user_number": "+15550007777", "agent_number": AGENT}))
        .await;
    assert_eq!(
        sim.transcript(d["conversation_id"].as_str().unwrap()).await,
        vec!["AGENT: Hi! This is the Bland SMS simulator's default agent. How can I help?"]
    );
}

#[tokio::test]
async fn random_choices_are_reproducible_under_the_seed() {
    async fn replies(seed: u64) -> Vec<String> {
        let sim = Sim::with(manual().seed(seed)).await;
        let mut out = Vec::new();
        for i in 0..8 {
            let r = sim.text(USER, AGENT, &format!("message {i}")).await;
            out.push(r["replies"][0]["message"].as_str().unwrap().to_string());
        }
        out
    }
    let a = replies(42).await;
    assert_eq!(a, replies(42).await);
    let distinct: std::collections::HashSet<_> = a
        .iter()
        .map(|s| s.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(distinct.len(), 2, "both replies occur: {a:?}");
}

#[tokio::test]
async fn scenarios_are_chosen_by_persona_pathway_start_node_or_number() {
    let sim = Sim::start().await;
    let persona = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "persona_id": "6f1f7c1e-0000-4000-8000-00000000a11e"}))
        .await;
    assert_eq!(
        sim.transcript(persona["conversation_id"].as_str().unwrap())
            .await[0],
        "AGENT: Support here. Reply 1 for billing, 2 for a human."
    );
    let r = sim.text(USER, AGENT, "banana").await;
    assert_eq!(
        r["replies"][0]["message"], "Sorry, I only understand 1 or 2.",
        "fallback reply"
    );
    let pathway = sim
        .send(json!({"user_number": "+15550007777", "agent_number": AGENT, "persona_settings": {"pathway_id": "pathway_booking", "pathway_version": 2}}))
        .await;
    let c = sim
        .conversation(pathway["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(c["curr_pathway_id"], "pathway_booking");
    assert_eq!(c["curr_pathway_version"], "2");
    assert!(c["messages"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Bright Smile Dental"));
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
async fn scenario_files_from_a_directory_load_or_fail_with_the_path() {
    let dir = std::env::temp_dir().join(format!("bland-sim-scen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("echo.json"),
        r#"{"name":"echo","match":{"agent_numbers":["+15550002222"]},"start_node":"a",
            "nodes":{"a":{"rules":[{"when":{"contains":"ping"},"reply":"pong {{user_number}}"}]}}}"#,
    )
    .unwrap();
    let sim = Sim::with(manual().scenarios_dir(&dir).unwrap()).await;
    let r = sim.text(USER, AGENT, "PING").await;
    assert_eq!(r["replies"][0]["message"], format!("pong {USER}"));
    std::fs::write(
        dir.join("zbad.json"),
        r#"{"name":"bad","start_node":"x","nodes":{}}"#,
    )
    .unwrap();
    let err = manual()
        .scenarios_dir(&dir)
        .err()
        .expect("a bad scenario stops start-up")
        .to_string();
    assert!(
        err.contains("zbad.json") && err.contains("start_node"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn replies_only_include_what_is_due_now() {
    let sim = Sim::start().await;
    sim.send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}})).await;
    sim.text(USER, BOOKING, "yes").await;
    let r = sim.text(USER, BOOKING, "friday").await;
    assert_eq!(r["replies"], json!([]));
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    let pending = &clock["data"]["pending_timers"];
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["due_at"], "2026-01-01T12:00:05.000Z");
    assert!(pending[0]["timer"]
        .as_str()
        .unwrap()
        .starts_with("agent_reply"));
    let clock = sim.advance(5.0).await;
    assert_eq!(clock["pending_timers"], json!([]));
    let id = r["conversation_id"].as_str().unwrap();
    assert_eq!(
        sim.transcript(id).await.last().unwrap(),
        "AGENT: Checking the calendar for friday... You're booked for friday at 10:00 AM. See you then!"
    );
    // A text after the conversation ended starts a new one; its reply is due at once.
    let again = sim.text(USER, BOOKING, "hello?").await;
    assert_ne!(again["conversation_id"], id);
    assert_eq!(again["replies"].as_array().unwrap().len(), 1);
}
