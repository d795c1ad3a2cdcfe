use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

/// The signature a receiver computes: lowercase hex HMAC-SHA256 of the body.
fn verify(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn every_message_fires_a_signed_message_webhook() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello", "metadata": {"crm_id": "c-1"}}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    rx.wait_for(1).await;
    let reply = sim.text(USER, AGENT, "hi").await;
    // /_sim/inbound answers only after the USER and AGENT webhooks were tried.
    let hooks = rx.hooks();
    assert_eq!(hooks.len(), 3);
    let senders: Vec<&str> = hooks
        .iter()
        .map(|h| h.json["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["AGENT", "USER", "AGENT"]);
    let user = &hooks[1].json;
    assert_eq!(user["type"], "message");
    assert_eq!(user["conversation_id"], id);
    assert_eq!(user["phone_number"], USER);
    assert_eq!(user["agent_number"], AGENT);
    assert_eq!(user["channel"], "sms");
    assert_eq!(user["message"], "hi");
    assert_eq!(user["message_id"], reply["message_id"]);
    assert_eq!(user["metadata"], json!({"crm_id": "c-1"}));
    assert_eq!(user["created_at"], "2026-01-01T12:00:00.000Z");
    assert_eq!(user["chat_history"].as_array().unwrap().len(), 2);
    assert_eq!(user["chat_history"][0]["message"], "Hello");
    for field in ["pathway_id", "pathway_version", "variables", "pathway_tags"] {
        assert!(user.get(field).is_some(), "missing {field}");
    }
    for h in &hooks {
        assert_eq!(
            h.signature,
            verify(SECRET, &h.body),
            "signature is HMAC-SHA256 of the exact body"
        );
        assert_eq!(h.signature.len(), 64);
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_on_the_simulator_clock() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    rx.fail_with(&[500, 503]);
    set_webhook(&sim, AGENT, &rx.url).await;
    sim.text(USER, AGENT, "hello").await; // USER webhook: 500; AGENT reply webhook: 503
    assert_eq!(rx.hooks().len(), 2);
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    let d = &v["data"][0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"][0]["response_code"], 500);
    assert_eq!(d["next_attempt_at"], "2026-01-01T12:00:05.000Z");
    sim.advance(4.0).await;
    assert_eq!(rx.hooks().len(), 2, "nothing is retried before its time");
    sim.advance(1.0).await;
    let hooks = rx.hooks();
    assert_eq!(hooks.len(), 4, "both retried at +5 s");
    assert_eq!(hooks[2].body, hooks[0].body, "same body");
    assert_eq!(hooks[2].signature, hooks[0].signature, "same signature");
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    let d = &v["data"][0];
    assert_eq!(d["status"], "delivered");
    let codes: Vec<Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(200)]);
    assert_eq!(d["attempts"][1]["sent_at"], "2026-01-01T12:00:05.000Z");
}

#[tokio::test]
async fn a_dead_receiver_gets_a_bounded_number_of_attempts() {
    let sim = Sim::with(manual().webhook_attempts(3)).await;
    // Nothing listens on this port: connection refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", l.local_addr().unwrap())
    };
    set_webhook(&sim, AGENT, &dead).await;
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    sim.advance(600.0).await;
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    let d = &v["data"][0];
    assert_eq!(d["status"], "failed");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    let times: Vec<&str> = attempts
        .iter()
        .map(|a| a["sent_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        vec![
            "2026-01-01T12:00:00.000Z",
            "2026-01-01T12:00:05.000Z",
            "2026-01-01T12:00:15.000Z"
        ]
    );
    assert!(attempts[0]["error_message"]
        .as_str()
        .unwrap()
        .contains("connection failed"));
    assert_eq!(attempts[0]["response_code"], Value::Null);
}

#[tokio::test]
async fn the_conversation_webhook_outranks_the_numbers_and_the_flag_outranks_both() {
    let sim = Sim::start().await;
    let (num, conv) = (Receiver::start().await, Receiver::start().await);
    set_webhook(&sim, AGENT, &num.url).await;
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "a", "webhook": conv.url})).await;
    sim.send(json!({"user_number": "+15550007777", "agent_number": AGENT, "agent_message": "b"}))
        .await;
    conv.wait_for(1).await;
    num.wait_for(1).await;
    assert_eq!(conv.hooks()[0].json["message"], "a");
    assert_eq!(num.hooks()[0].json["message"], "b");

    let global = Receiver::start().await;
    let sim = Sim::with(manual().webhook_url(global.url.clone())).await;
    set_webhook(&sim, AGENT, &num.url).await;
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "c", "webhook": conv.url})).await;
    global.wait_for(1).await;
    assert_eq!(global.hooks()[0].json["message"], "c");
}

#[tokio::test]
async fn status_webhook_log_and_resend() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    let (_, log) = sim
        .get(&format!("/v1/sms/conversations/{id}/webhook"))
        .await;
    assert_eq!(log["data"], Value::Null, "no status webhook yet");
    let (s, _) = sim
        .post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    assert_eq!(s, 200);
    let hooks = rx.wait_for(2).await;
    let status = hooks
        .iter()
        .find(|h| h.json["type"] == "status")
        .unwrap()
        .clone();
    assert_eq!(status.json["status"], "ended");
    let (_, log) = sim
        .get(&format!("/v1/sms/conversations/{id}/webhook"))
        .await;
    let log = &log["data"];
    assert_eq!(log["conversation_id"], id);
    assert_eq!(log["url"], rx.url.as_str());
    assert_eq!(log["payload"], status.json);
    assert!(log["user_id"].as_str().unwrap().starts_with("user_"));
    assert_eq!(log["metadata"][0]["send_type"], "spawn");
    assert_eq!(log["metadata"][0]["response_code"], 200);
    assert!(log["metadata"][0]["response_time"]
        .as_str()
        .unwrap()
        .ends_with("ms"));

    // `rebuild: false`: the stored payload byte for byte, with its signature.
    let (s, v) = sim
        .post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id], "rebuild": false}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["conversation_id"], id);
    assert_eq!(v["data"][0]["rebuilt"], false);
    assert_eq!(v["data"][0]["sent_payload"], status.json);
    // The answer comes once the attempt was made, and lists it.
    assert_eq!(v["data"][0]["metadata"][1]["send_type"], "resend");
    assert_eq!(v["data"][0]["metadata"][1]["response_code"], 200);
    let hooks = rx.hooks();
    assert_eq!(hooks.len(), 3);
    assert_eq!(hooks[2].body, status.body);
    assert_eq!(hooks[2].signature, status.signature);

    // The default rebuilds from the conversation as it is: unchanged, the same bytes.
    let (s, v) = sim
        .post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["rebuilt"], true);
    assert_eq!(v["data"][0]["metadata"][2]["send_type"], "rebuild");
    assert_eq!(rx.hooks()[3].body, status.body);
    // Changed (its message hidden), the rebuilt payload says so and is signed anew; the
    // stored one stays.
    let message = sim.conversation(id).await["messages"][0]["id"].clone();
    sim.hide(id, &message).await;
    let (s, v) = sim
        .post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id], "rebuild": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["payload"]["message_count"], 1);
    assert_eq!(v["data"][0]["sent_payload"]["message_count"], 0);
    assert_eq!(
        v["data"][0]["sent_payload"]["created_at"],
        status.json["created_at"]
    );
    let last = rx.hooks()[4].clone();
    assert_eq!(last.json, v["data"][0]["sent_payload"]);
    assert_eq!(last.signature, verify(SECRET, &last.body));
    assert_ne!(last.signature, status.signature);
    let (_, log) = sim
        .get(&format!("/v1/sms/conversations/{id}/webhook"))
        .await;
    assert_eq!(log["data"]["payload"], status.json);
    let types: Vec<&Value> = log["data"]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["send_type"])
        .collect();
    assert_eq!(
        types,
        [
            &json!("spawn"),
            &json!("resend"),
            &json!("rebuild"),
            &json!("rebuild")
        ]
    );
    // At most 100 ids; rebuild is a boolean.
    let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    let got = sim
        .post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": many}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("at most 100"));
    assert_error(
        &sim.post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id], "rebuild": "yes"}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );

    let other = sim
        .send(json!({"user_number": "+15550007777", "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let none = sim
        .post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id, other["conversation_id"]]}),
        )
        .await;
    assert_error(&none, 404, "WEBHOOK_NOT_FOUND");
    assert_eq!(
        none.1["errors"][0]["message"],
        format!(
            "No webhook log found for conversation ids: {}",
            other["conversation_id"].as_str().unwrap()
        )
    );
    assert_eq!(rx.hooks().len(), 6, "nothing resent when one id has no log");
    assert_error(
        &sim.post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": []}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.post(
            "/v1/sms/conversations/webhooks/resend",
            json!({"conversation_ids": [id, id]}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn sim_webhooks_can_be_filtered() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let a = sim.text(USER, AGENT, "hi").await;
    sim.text("+15550007777", AGENT, "hi").await;
    let path = format!(
        "/_sim/webhooks?conversation_id={}",
        a["conversation_id"].as_str().unwrap()
    );
    let (_, v) = sim.sim(Method::GET, &path, None).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (_, v) = sim
        .sim(Method::GET, "/_sim/webhooks?type=status", None)
        .await;
    assert_eq!(v["data"], json!([]));
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 4);
    assert_eq!(v["data"][0]["payload"]["message"], "hi");
    assert_eq!(v["data"][0]["url"], rx.url.as_str());
}

#[tokio::test]
async fn a_hanging_receiver_never_holds_up_the_api() {
    let sim = Sim::with(manual().webhook_timeout(std::time::Duration::from_millis(60_000))).await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    rx.hold();
    // Each call answers while the receiver still holds the first webhook; were the API waiting
    // for it, these calls would not return until release (60 s attempt timeout).
    let first = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "a"})),
    )
    .await
    .expect("send answered while the receiver hangs");
    rx.wait_for(1).await;
    let id = first["conversation_id"].as_str().unwrap();
    let (s, _) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "b"}),
        ),
    )
    .await
    .expect("messages answered while the receiver hangs");
    assert_eq!(s, 202);
    assert_eq!(sim.conversation(id).await["message_count"], 2);
    rx.release();
    rx.wait_for(2).await;
}

#[tokio::test]
async fn a_receiver_that_times_out_is_retried() {
    let sim = Sim::with(manual().webhook_timeout(std::time::Duration::from_millis(200))).await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    rx.hold();
    sim.text(USER, AGENT, "hello").await; // both attempts time out after 200 ms of real time
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    let first = &v["data"][0];
    assert_eq!(first["status"], "pending");
    assert_eq!(first["attempts"][0]["response_code"], Value::Null);
    assert_eq!(
        first["attempts"][0]["error_message"],
        "timed out after 200ms"
    );
    rx.release();
    sim.advance(5.0).await;
    let (_, v) = sim.sim(Method::GET, "/_sim/webhooks", None).await;
    for d in v["data"].as_array().unwrap() {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 2);
    }
}

/// Read receipts and link clicks on WhatsApp (post-call-webhooks.mdx, 0071aa80), through the
/// control API: the message becomes `read`; `read` and `link_clicked` status webhooks fire and
/// leave the conversation's webhook log as it was.
#[tokio::test]
async fn a_read_and_a_click_fire_their_status_webhooks_on_whatsapp() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": WHATSAPP, "webhook": rx.url, "channel": "whatsapp"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = sim
        .send(json!({"user_number": USER, "agent_number": WHATSAPP, "agent_message": "See https://example.test/book", "channel": "whatsapp"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    let mid = d["message_id"].as_str().unwrap().to_string();
    rx.wait_for(1).await;
    let base = format!("/_sim/conversations/{id}/messages/{mid}");
    let (s, m) = sim
        .sim(Method::POST, &format!("{base}/read"), Some(json!({})))
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["data"]["status"], "read");
    assert_eq!(sim.conversation(&id).await["messages"][0]["status"], "read");
    let (s, _) = sim
        .sim(
            Method::POST,
            &format!("{base}/click"),
            Some(json!({"url": "https://example.test/book"})),
        )
        .await;
    assert_eq!(s, 200);
    let hooks = rx.wait_for(3).await;
    let statuses: Vec<&Value> = hooks.iter().map(|h| &h.json["status"]).collect();
    assert_eq!(
        statuses,
        [&Value::Null, &json!("read"), &json!("link_clicked")]
    );
    assert_eq!(hooks[1].json["message_id"], mid.as_str());
    assert!(hooks[1].json["read_at"].is_string());
    assert_eq!(hooks[2].json["url"], "https://example.test/book");
    assert_eq!(hooks[2].json["type"], "status");
    // Reading again sends nothing more; the conversation's webhook log is not a receipt.
    sim.sim(Method::POST, &format!("{base}/read"), Some(json!({})))
        .await;
    // Deliveries go out in the background: every attempt due is made before counting.
    let (s, _) = sim
        .sim(
            Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"settled": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(rx.hooks().len(), 3);
    let (_, log) = sim
        .get(&format!("/v1/sms/conversations/{id}/webhook"))
        .await;
    assert_eq!(log["data"], Value::Null);

    // Refused: an SMS conversation, the user's own message, no such message, a click without url.
    let sms = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    let got = sim
        .receipt(
            sms["conversation_id"].as_str().unwrap(),
            sms["message_id"].as_str().unwrap(),
            "read",
            json!({}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("RCS's and WhatsApp's"));
    let user = sim
        .sim(
            Method::POST,
            "/_sim/inbound",
            Some(json!({"user_number": USER, "agent_number": WHATSAPP, "message": "ok", "channel": "whatsapp"})),
        )
        .await;
    let user_mid = user.1["data"]["message_id"].as_str().unwrap().to_string();
    let got = sim
        .sim(
            Method::POST,
            &format!("/_sim/conversations/{id}/messages/{user_mid}/read"),
            Some(json!({})),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let got = sim
        .sim(
            Method::POST,
            &format!("/_sim/conversations/{id}/messages/nope/read"),
            Some(json!({})),
        )
        .await;
    assert_error(&got, 404, "MESSAGE_NOT_FOUND");
    let got = sim
        .sim(Method::POST, &format!("{base}/click"), Some(json!({})))
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
}
