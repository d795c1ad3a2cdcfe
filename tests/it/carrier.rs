//! Carrier realism (opt-in): queued → sent → delivered on the simulator's clock, encodings and
//! segments, and failure rules that end texts `failed` or `undelivered` with an error code.

use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn send(sim: &Sim, user: &str, text: &str) -> String {
    let sent = sim
        .send(json!({"user_number": user, "agent_number": AGENT, "agent_message": text}))
        .await;
    sent["conversation_id"].as_str().unwrap().to_string()
}

async fn last(sim: &Sim, id: &str) -> Value {
    let c = sim.conversation(id).await;
    c["messages"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test]
async fn texts_go_queued_sent_delivered_on_the_clock() {
    let sim =
        Sim::with(manual().realistic_carrier(Duration::from_secs(1), Duration::from_secs(2))).await;
    let id = send(&sim, USER, "Your table is ready").await;
    assert_eq!(last(&sim, &id).await["status"], "queued");
    sim.advance(1.0).await;
    assert_eq!(last(&sim, &id).await["status"], "sent");
    sim.advance(1.5).await;
    assert_eq!(last(&sim, &id).await["status"], "sent");
    sim.advance(0.5).await;
    let m = last(&sim, &id).await;
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["error_code"], Value::Null);

    // The simulator's view adds each text's encoding and segments.
    send(&sim, USER, &"é€".repeat(60)).await;
    send(&sim, USER, "Привет").await;
    let (_, view) = sim
        .sim(Method::GET, &format!("/_sim/conversations/{id}"), None)
        .await;
    let carrier: Vec<Value> = view["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["carrier"].clone())
        .collect();
    assert_eq!(
        carrier,
        [
            json!({"encoding": "GSM-7", "segments": 1}),
            json!({"encoding": "GSM-7", "segments": 2}),
            json!({"encoding": "UCS-2", "segments": 1}),
        ]
    );
    // And the metrics count segments by encoding, and the outcomes the carrier decided.
    let m = sim.text_of("/_sim/metrics").await;
    assert!(
        m.contains("bland_sim_message_segments_total{encoding=\"GSM-7\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("bland_sim_message_segments_total{encoding=\"UCS-2\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("bland_sim_carrier_outcomes_total{outcome=\"delivered\"} 1"),
        "{m}"
    );
    // `/create` stores a message without sending it: the carrier never sees it.
    let (status, _) = sim
        .post(
            "/v1/sms/create",
            json!({"user_number": "+15550001119", "agent_number": AGENT, "message": "noted",
                   "sender": "AGENT", "message_sid": "SM1"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    let created = state["accounts"][0]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["user_number"] == "+15550001119")
        .unwrap()["messages"][0]
        .clone();
    assert_eq!(created["status"], "delivered");
    // Bland's own message object keeps its documented fields only.
    assert!(sim.conversation(&id).await["messages"][0]
        .get("carrier")
        .is_none());
}

#[tokio::test]
async fn failure_rules_end_texts_failed_or_undelivered_with_a_code() {
    let sim = Sim::start().await;
    for rule in [
        json!({"prefix": "+1555000", "status": "undelivered", "error_code": 30006}),
        json!({"user_number": "+15559990000", "status": "failed", "error_code": 21610}),
    ] {
        let (status, body) = sim
            .sim(Method::POST, "/_sim/carrier/rules", Some(rule.clone()))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"], rule);
    }
    // Delivered at once (the default), but to these users the rules decide.
    let id = send(&sim, USER, "hi").await;
    let m = last(&sim, &id).await;
    assert_eq!(
        (m["status"].clone(), m["error_code"].clone()),
        (json!("undelivered"), json!(30006))
    );
    let id = send(&sim, "+15559990000", "hi").await;
    let m = last(&sim, &id).await;
    assert_eq!(
        (m["status"].clone(), m["error_code"].clone()),
        (json!("failed"), json!(21610))
    );
    let id = send(&sim, "+14155550100", "hi").await;
    assert_eq!(last(&sim, &id).await["status"], "delivered");

    let (_, rules) = sim.sim(Method::GET, "/_sim/carrier/rules", None).await;
    assert_eq!(rules["data"].as_array().unwrap().len(), 2);
    for bad in [
        json!({"status": "failed", "error_code": 30003}),
        json!({"prefix": "1555", "status": "failed", "error_code": 30003}),
        json!({"prefix": "+1555", "status": "lost", "error_code": 30003}),
        json!({"prefix": "+1555", "status": "failed", "error_code": 42}),
        json!({"prefix": format!("+{}", "1".repeat(100)), "status": "failed", "error_code": 30003}),
        json!({"user_number": "5550001111", "status": "failed", "error_code": 30003}),
    ] {
        let got = sim
            .sim(Method::POST, "/_sim/carrier/rules", Some(bad))
            .await;
        assert_error(&got, 400, "INVALID_CARRIER_RULE");
    }
    let (status, _) = sim.sim(Method::DELETE, "/_sim/carrier/rules", None).await;
    assert_eq!(status, 200);
    let id = send(&sim, USER, "again").await;
    assert_eq!(last(&sim, &id).await["status"], "delivered");
}

#[tokio::test]
async fn with_realistic_timing_a_failed_text_fails_when_it_would_be_sent() {
    let fixtures = r#"{
      "accounts": [{"api_key": "sk_sim_default", "carrier": "realistic",
                    "numbers": [{"phone_number": "+15550002222"}]}],
      "carrier_rules": [{"user_number": "+15550001111", "status": "failed", "error_code": 30003}]
    }"#;
    let sim = Sim::with(manual().fixtures_json(fixtures).unwrap()).await;
    let id = send(&sim, USER, "hello").await;
    assert_eq!(last(&sim, &id).await["status"], "queued");
    sim.advance(1.0).await;
    let m = last(&sim, &id).await;
    assert_eq!(
        (m["status"].clone(), m["error_code"].clone()),
        (json!("failed"), json!(30003))
    );
    // The account's mode and the rules are part of the state document, and come back.
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(state["accounts"][0]["carrier"], "realistic");
    assert_eq!(state["carrier_rules"][0]["error_code"], 30003);
    assert_eq!(
        state["accounts"][0]["conversations"][0]["messages"][0]["status"],
        "failed"
    );
    let (status, body) = sim
        .sim(Method::PUT, "/_sim/state", Some(state.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, again) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(again["carrier_rules"], state["carrier_rules"]);
    assert_eq!(
        again["accounts"][0]["conversations"][0]["messages"][0]["error_code"],
        30003
    );
}

/// The carrier's pending steps are not in a state document: texts saved `queued` or `sent` go
/// on from the restore (sent after `--carrier-sent-ms`, delivered after
/// `--carrier-delivered-ms`), with the failure rules then in force.
#[tokio::test]
async fn texts_in_flight_go_on_after_a_restore() {
    let sim =
        Sim::with(manual().realistic_carrier(Duration::from_secs(1), Duration::from_secs(2))).await;
    let sent = send(&sim, USER, "on its way").await;
    sim.advance(1.0).await;
    assert_eq!(last(&sim, &sent).await["status"], "sent");
    let queued = send(&sim, "+15550001112", "just written").await;
    assert_eq!(last(&sim, &queued).await["status"], "queued");
    let doomed = send(&sim, "+15550001113", "never arrives").await;
    let (_, mut state) = sim.sim(Method::GET, "/_sim/state", None).await;
    // The restored document brings a failure rule the text was not sent under.
    assert_eq!(state["carrier_rules"], json!(null));
    state["carrier_rules"] =
        json!([{"user_number": "+15550001113", "status": "failed", "error_code": 30003}]);

    let (status, body) = sim.sim(Method::PUT, "/_sim/state", Some(state)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last(&sim, &sent).await["status"], "sent");
    assert_eq!(last(&sim, &queued).await["status"], "queued");
    assert_eq!(last(&sim, &doomed).await["status"], "queued");
    sim.advance(1.0).await;
    assert_eq!(last(&sim, &queued).await["status"], "sent");
    assert_eq!(last(&sim, &sent).await["status"], "sent");
    let failed = last(&sim, &doomed).await;
    assert_eq!(
        (failed["status"].clone(), failed["error_code"].clone()),
        (json!("failed"), json!(30003))
    );
    sim.advance(1.0).await;
    assert_eq!(last(&sim, &sent).await["status"], "delivered");
    sim.advance(1.0).await;
    assert_eq!(last(&sim, &queued).await["status"], "delivered");
}

/// RCS (`tutorials/messaging/rcs.mdx`): a number whose channel priority puts RCS first texts
/// by RCS, unless a carrier rule says the user's phone does not take it (then SMS); `/send`'s
/// `channel: "rcs"` asks for RCS first; the channel shows in the API, the webhooks and the
/// state, and RCS messages take read receipts.
#[tokio::test]
async fn rcs_goes_first_by_the_numbers_priority_and_falls_back_to_sms() {
    let rx = Receiver::start().await;
    let fixtures = json!({"accounts": [{"api_key": KEY, "numbers": [
        {"phone_number": AGENT, "channel_priority": ["rcs", "sms"], "sms_config": {"webhook": rx.url}},
        {"phone_number": BOOKING, "sms_config": {"webhook": rx.url}}
    ]}]});
    let sim = Sim::with(manual().fixtures_json(&fixtures.to_string()).unwrap()).await;
    let (s, v) = sim
        .sim(
            Method::POST,
            "/_sim/carrier/rules",
            Some(json!({"user_number": "+15550007777", "rcs": false})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let rcs = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "by RCS"}))
        .await;
    let sms = sim
        .send(json!({"user_number": "+15550007777", "agent_number": AGENT, "agent_message": "by SMS"}))
        .await;
    let asked = sim
        .send(json!({"user_number": USER, "agent_number": BOOKING, "agent_message": "asked", "channel": "rcs"}))
        .await;
    let channel = |d: &Value| {
        let id = d["conversation_id"].as_str().unwrap().to_string();
        let sim = &sim;
        async move { sim.conversation(&id).await["effective_channel"].clone() }
    };
    assert_eq!(channel(&rcs).await, "rcs");
    assert_eq!(channel(&sms).await, "sms", "the rule's user has no RCS");
    assert_eq!(
        channel(&asked).await,
        "rcs",
        "channel \"rcs\" asks for RCS first"
    );
    // Listing filters on the same channel the conversation shows.
    let filters = json!([{"field": "channel", "operator": "eq", "value": "rcs"}]);
    let enc: String = form_urlencoded::byte_serialize(filters.to_string().as_bytes()).collect();
    let (_, listed) = sim
        .get(&format!("/v1/sms/conversations?pageSize=50&filters={enc}"))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let hooks = rx.wait_for(3).await;
    let by_text =
        |t: &str| hooks.iter().find(|h| h.json["message"] == t).unwrap().json["channel"].clone();
    assert_eq!(by_text("by RCS"), "rcs");
    assert_eq!(by_text("by SMS"), "sms");
    // An RCS message takes a read receipt.
    let (s, v) = sim
        .receipt(
            rcs["conversation_id"].as_str().unwrap(),
            rcs["message_id"].as_str().unwrap(),
            "read",
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Saved and loaded back as it was.
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(
        state["accounts"][0]["numbers"][0]["channel_priority"],
        json!(["rcs", "sms"])
    );
    let (s, v) = sim
        .sim(Method::PUT, "/_sim/state", Some(state.clone()))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(channel(&rcs).await, "rcs");
    let (_, again) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(again, state);
    // Provisioned again with SMS first, the number texts by SMS.
    let (s, v) = sim
        .sim(
            Method::POST,
            "/_sim/numbers",
            Some(
                json!({"api_key": KEY, "phone_number": AGENT, "channel_priority": ["sms", "rcs"]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert!(
        state["accounts"][0]["numbers"][0]
            .get("channel_priority")
            .is_none(),
        "{state}"
    );
    // A priority that is not RCS and SMS is refused, naming the number.
    let bad = json!({"accounts": [{"api_key": KEY, "numbers": [{"phone_number": AGENT, "channel_priority": ["fax"]}]}]});
    let e = bland_sms_sim::Simulator::builder()
        .fixtures_json(&bad.to_string())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("channel_priority") && e.contains("fax"), "{e}");
}

/// With carrier realism, a read rule makes the user read RCS and WhatsApp messages a delay
/// after they are delivered: the message becomes `read` and a `read` webhook fires. SMS has no
/// read receipts.
#[tokio::test]
async fn a_read_rule_reads_rcs_and_whatsapp_messages_after_delivery() {
    let rx = Receiver::start().await;
    let sim = Sim::with(
        manual().realistic_carrier(Duration::from_millis(1000), Duration::from_millis(2000)),
    )
    .await;
    for (number, channel) in [(WHATSAPP, "whatsapp"), (AGENT, "sms")] {
        let (s, v) = sim
            .post(
                "/v1/sms/number/update",
                json!({"phone_number": number, "webhook": rx.url, "channel": channel}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = sim
        .sim(
            Method::POST,
            "/_sim/carrier/rules",
            Some(json!({"prefix": "+1555", "read_after_ms": 5000})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let wa = sim
        .send(json!({"user_number": USER, "agent_number": WHATSAPP, "agent_message": "read me", "channel": "whatsapp"}))
        .await;
    let sms = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "no receipts"}))
        .await;
    let status = |d: &Value| {
        let id = d["conversation_id"].as_str().unwrap().to_string();
        let sim = &sim;
        async move { sim.conversation(&id).await["messages"][0]["status"].clone() }
    };
    // Not delivered yet: no receipt (the carrier would take the read back).
    let early = sim
        .receipt(
            wa["conversation_id"].as_str().unwrap(),
            wa["message_id"].as_str().unwrap(),
            "read",
            json!({}),
        )
        .await;
    assert_error(&early, 400, "INVALID_PARAMETER");
    assert!(early.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not delivered yet"));
    sim.advance(3.0).await;
    assert_eq!(status(&wa).await, "delivered");
    sim.advance(4.9).await;
    assert_eq!(status(&wa).await, "delivered");
    sim.advance(0.1).await;
    assert_eq!(status(&wa).await, "read");
    assert_eq!(status(&sms).await, "delivered", "SMS has no read receipts");
    let hooks = rx.wait_for(3).await;
    let read: Vec<_> = hooks
        .iter()
        .filter(|h| h.json["status"] == "read")
        .collect();
    assert_eq!(
        read.len(),
        1,
        "{:?}",
        hooks.iter().map(|h| &h.json["status"]).collect::<Vec<_>>()
    );
    assert_eq!(read[0].json["message_id"], wa["message_id"]);
    assert_eq!(read[0].json["channel"], "whatsapp");
    // A rule that is both a failure and a read rule is refused.
    let got = sim
        .sim(
            Method::POST,
            "/_sim/carrier/rules",
            Some(json!({"prefix": "+1555", "status": "failed", "error_code": 30003, "read_after_ms": 1})),
        )
        .await;
    assert_eq!(got.0, 400, "{}", got.1);
}

/// `--carrier-pending-ms`: with carrier realism a text is `pending` that long, then `queued`,
/// `sent` and `delivered` as before (the docs' `pending`, `sms-conversations-id.mdx`).
#[tokio::test]
async fn a_pending_step_comes_before_queued_when_asked_for() {
    let sim = Sim::with(
        manual()
            .realistic_carrier(Duration::from_secs(1), Duration::from_secs(2))
            .carrier_pending(Duration::from_millis(500)),
    )
    .await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hold on"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    for step in [0.0, 0.5, 1.0, 2.0] {
        sim.advance(step).await;
        seen.push(sim.conversation(&id).await["messages"][0]["status"].clone());
    }
    assert_eq!(
        seen,
        [
            json!("pending"),
            json!("queued"),
            json!("sent"),
            json!("delivered")
        ]
    );
}
