use serde_json::{json, Value};

use crate::support::*;

async fn started(sim: &Sim, rx: &Receiver) -> String {
    let (s, _) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": rx.url, "time_out": 60}),
        )
        .await;
    assert_eq!(s, 200);
    let d = sim.text(USER, AGENT, "hello").await;
    d["conversation_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn handoff_silences_the_agent_until_resume() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let id = started(&sim, &rx).await;
    let (s, v) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({"reason": "Final rate negotiation", "actor": "broker@example.com", "metadata": {"load_id": "L-77"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["message"], "Conversation handed off to a human");
    assert_eq!(d["already_active"], false);
    assert_eq!(d["conversation"]["id"], id.as_str());
    assert_eq!(
        d["conversation"]["human_handoff_reason"],
        "Final rate negotiation"
    );
    assert_eq!(
        d["conversation"]["human_handoff_at"],
        "2026-01-01T12:00:00.000Z"
    );
    assert_eq!(
        d["conversation"]["human_handoff_metadata"],
        json!({"source": "api", "actor": "broker@example.com", "load_id": "L-77"})
    );
    let (_, outbox) = sim.sim(hyper::Method::GET, "/_sim/outbox", None).await;
    assert_eq!(outbox["data"], json!([]), "no notify_number, no notice");
    let hooks = rx.wait_for(3).await;
    assert_eq!(hooks[2].json["status"], "human_handoff");
    assert_eq!(hooks[2].json["reason"], "Final rate negotiation");
    // Repeat: idempotent.
    let (_, again) = sim
        .post(&format!("/v1/sms/conversations/{id}/handoff"), json!({}))
        .await;
    assert_eq!(again["data"]["already_active"], true);
    // The agent stays silent; the user's text still fires a message webhook with the handoff.
    let r = sim.text(USER, AGENT, "are you there?").await;
    assert_eq!(r["replies"], json!([]));
    let user_hook = rx.hooks().last().unwrap().json.clone();
    assert_eq!(user_hook["sender"], "USER");
    assert_eq!(
        user_hook["metadata"]["human_handoff"]["reason"],
        "Final rate negotiation"
    );
    // The timer is suspended.
    sim.advance(600.0).await;
    assert_eq!(sim.conversation(&id).await["is_active"], true);
    // A rep writes during the handoff.
    let (s, m) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "Rep here"}),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(m["data"]["human_handoff_active"], true);
    // Resume with a fixed message re-arms the timer.
    let (s, v) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/resume"),
            json!({"message": "Back to the bot", "actor": "rep"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["message"], "Conversation returned to the agent");
    assert_eq!(v["data"]["was_active"], true);
    assert_eq!(v["data"]["status"], "processing");
    assert!(v["data"]["message_id"].is_string());
    assert_eq!(v["data"]["conversation"]["human_handoff_at"], Value::Null);
    assert_eq!(rx.statuses(), vec!["human_handoff", "human_handoff_ended"]);
    let t = sim.transcript(&id).await;
    assert_eq!(
        &t[t.len() - 2..],
        ["HUMAN: Rep here", "AGENT: Back to the bot"]
    );
    sim.advance(60.0).await;
    assert_eq!(
        sim.conversation(&id).await["timed_out_at"],
        "2026-01-01T12:11:00.000Z"
    );
}

#[tokio::test]
async fn resume_without_a_handoff_still_jumps_nodes_and_can_generate_a_reply() {
    let sim = Sim::start().await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    let (s, v) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/resume"),
            json!({"node_id": "declined", "generate_reply": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["was_active"], false);
    assert_eq!(v["data"]["conversation"]["current_node_id"], "declined");
    assert_eq!(
        sim.transcript(id).await.last().unwrap(),
        "AGENT: No problem. Text us any time to book. Bye!"
    );
    let both = sim
        .post(
            &format!("/v1/sms/conversations/{id}/resume"),
            json!({"message": "x", "generate_reply": true}),
        )
        .await;
    assert_error(&both, 400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn end_closes_once_with_one_ended_webhook() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let id = started(&sim, &rx).await;
    sim.post(
        &format!("/v1/sms/conversations/{id}/handoff"),
        json!({"reason": "VIP"}),
    )
    .await;
    let (s, v) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/end"),
            json!({"actor": "rep"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["message"], "Conversation ended");
    assert_eq!(
        (d["was_active"].clone(), d["was_handed_off"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(d["conversation"]["is_active"], false);
    assert!(d["workflow_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("sms-end:{id}:")));
    rx.wait_for(4).await;
    assert_eq!(
        rx.statuses(),
        vec!["human_handoff", "ended"],
        "no human_handoff_ended on /end"
    );
    let ended = rx.hooks().last().unwrap().json.clone();
    assert_eq!(
        ended["status_reason"],
        "Conversation ended by the human rep"
    );
    let c = sim.conversation(&id).await;
    assert_eq!(c["metadata"]["last_human_handoff"]["reason"], "VIP");
    assert_eq!(c["human_handoff_at"], Value::Null);
    // Nothing was texted; a second /end changes nothing.
    assert_eq!(c["message_count"], 2);
    let (_, again) = sim
        .post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    assert_eq!(again["data"]["was_active"], false);
    assert_eq!(rx.statuses().len(), 2);
    // The user's next text starts a new conversation.
    assert_ne!(
        sim.text(USER, AGENT, "hi").await["conversation_id"],
        id.as_str()
    );
    let long = "r".repeat(501);
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/end"),
            json!({"reason": long}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.post("/v1/sms/conversations/nope/handoff", json!({}))
            .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.post(&format!("/v1/sms/conversations/{id}/handoff"), json!({}))
            .await,
        400,
        "CONVERSATION_ENDED",
    );
}

#[tokio::test]
async fn handoff_texts_the_notify_number_a_notice() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let id = started(&sim, &rx).await;
    let (s, _) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({"reason": "VIP", "notify_number": "+15550009999"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, outbox) = sim.sim(hyper::Method::GET, "/_sim/outbox", None).await;
    let n = &outbox["data"][0];
    assert_eq!(
        (n["from"].as_str(), n["to"].as_str()),
        (Some(AGENT), Some("+15550009999"))
    );
    assert_eq!(
        n["message"],
        format!("Conversation {id} was handed off to you: VIP")
    );
    assert_eq!(
        sim.conversation(&id).await["message_count"],
        2,
        "the notice is not in the thread"
    );
    let bad = sim
        .post(
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({"notify_number": "555"}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_PHONE_NUMBER");
}

#[tokio::test]
async fn end_without_handoff_uses_the_api_reason() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let id = started(&sim, &rx).await;
    sim.post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    rx.wait_for(3).await;
    assert_eq!(
        rx.hooks().last().unwrap().json["status_reason"],
        "Conversation ended via API"
    );
}

#[tokio::test]
async fn a_transfer_to_human_node_hands_off_and_again_after_resume() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "start_node_id": "support_menu", "webhook": rx.url, "request_data": {"balance": "$12"}}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    let r = sim.text(USER, AGENT, "2").await;
    assert_eq!(
        r["replies"][0]["message"],
        "Transferring you to a specialist now."
    );
    let c = sim.conversation(id).await;
    assert_eq!(c["current_node_id"], "escalate");
    assert_eq!(
        c["human_handoff_reason"],
        "Escalated from the support menu (escalation)"
    );
    assert_eq!(c["human_handoff_metadata"]["source"], "pathway");
    sim.post(&format!("/v1/sms/conversations/{id}/resume"), json!({}))
        .await;
    sim.text(USER, AGENT, "hello?").await;
    assert!(
        sim.conversation(id).await["human_handoff_at"].is_string(),
        "still on the transfer node"
    );
    sim.post(
        &format!("/v1/sms/conversations/{id}/resume"),
        json!({"node_id": "support_menu"}),
    )
    .await;
    let r = sim.text(USER, AGENT, "1").await;
    assert_eq!(
        r["replies"][0]["message"],
        "Your balance is $12. Anything else?"
    );
    rx.wait_for(1).await;
}

#[tokio::test]
async fn stop_blacklists_until_start() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    let id = started(&sim, &rx).await;
    let r = sim.text(USER, AGENT, "STOP").await;
    assert_eq!(r["conversation_id"], id.as_str());
    assert_eq!(r["replies"], json!([]));
    let c = sim.conversation(&id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(rx.statuses(), vec!["blacklisted"]);
    let refused = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Come back!"}),
        )
        .await;
    assert_error(&refused, 400, "USER_OPTED_OUT");
    assert!(refused.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("START"));
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "x"}),
        )
        .await,
        400,
        "USER_OPTED_OUT",
    );
    // Texts while opted out are stored without a reply.
    let r = sim.text(USER, AGENT, "what?").await;
    assert_eq!(r["replies"], json!([]));
    assert_eq!(r["conversation_id"], id.as_str());
    sim.text(USER, AGENT, "START").await;
    let ok = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Welcome back"}),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    // Other numbers were never blocked.
    let other = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": "+15550007777", "agent_number": AGENT, "agent_message": "hi"}),
        )
        .await;
    assert_eq!(other.0, 200);
}

/// A scenario's Transfer-to-Human node takes what `/handoff` takes: a rep's number to notify
/// and the conversation's webhook from then on (`tutorials/messaging/sms.mdx`).
#[tokio::test]
async fn a_handoff_node_notifies_a_rep_and_moves_the_webhook() {
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    let scenario = json!({
        "version": 1, "name": "escalate", "default": true, "start_node": "chat",
        "nodes": {
            "chat": {"rules": [{"when": {"contains": "agent"}, "reply": "Connecting you.", "goto": "human"}]},
            "human": {"handoff": {"reason": "asked for {{message}}", "notify_number": "+15550009999", "webhook": second.url}}
        }
    });
    let sim = Sim::with(manual().scenario_json(&scenario.to_string()).unwrap()).await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": first.url}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let reply = sim.text(USER, AGENT, "an agent please").await;
    let id = reply["conversation_id"].as_str().unwrap().to_string();
    let (_, outbox) = sim.sim(hyper::Method::GET, "/_sim/outbox", None).await;
    assert_eq!(outbox["data"][0]["to"], "+15550009999");
    assert_eq!(
        outbox["data"][0]["message"],
        format!("Conversation {id} was handed off to you: asked for an agent please")
    );
    // The handoff's status webhook, and what follows, go to the node's webhook.
    let moved = second.wait_for(1).await;
    assert_eq!(
        moved[0].json["status"], "human_handoff",
        "{:?}",
        moved[0].json
    );
    sim.text(USER, AGENT, "hello?").await;
    let moved = second.wait_for(2).await;
    assert_eq!(moved[1].json["message"], "hello?");
    assert!(first.hooks().iter().all(|h| h.json["type"] == "message"));

    // A rendered reason is cut to /handoff's 500 characters before it is kept and texted.
    let long = scenario
        .to_string()
        .replace("asked for {{message}}", &"r".repeat(600));
    let sim = Sim::with(manual().scenario_json(&long).unwrap()).await;
    let reply = sim.text(USER, AGENT, "an agent please").await;
    let id = reply["conversation_id"].as_str().unwrap().to_string();
    let (_, outbox) = sim.sim(hyper::Method::GET, "/_sim/outbox", None).await;
    assert_eq!(
        outbox["data"][0]["message"],
        format!(
            "Conversation {id} was handed off to you: {}",
            "r".repeat(500)
        )
    );
    // Checked as /handoff checks them.
    for (bad, says) in [
        (json!({"notify_number": "555"}), "notify_number"),
        (
            json!({"webhook": "ftp://x"}),
            "webhook must be an http:// or https:// URL",
        ),
    ] {
        let mut s = scenario.clone();
        s["nodes"]["human"]["handoff"] = bad;
        let e = bland_sms_sim::Simulator::builder()
            .scenario_json(&s.to_string())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("node \"human\": handoff") && e.contains(says),
            "{e}"
        );
    }
}
