use serde_json::{json, Value};

use crate::support::*;

async fn convo(sim: &Sim) -> String {
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello"}))
        .await;
    d["conversation_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn get_returns_the_documented_detail_shape() {
    let sim = Sim::start().await;
    let id = convo(&sim).await;
    sim.text(USER, AGENT, "hi there").await;
    let c = sim.conversation(&id).await;
    for field in [
        "id",
        "created_at",
        "updated_at",
        "user_id",
        "user_number",
        "agent_number",
        "inbound_id",
        "variables",
        "current_node_id",
        "curr_pathway_id",
        "curr_pathway_version",
        "timed_out_at",
        "last_message_at",
        "is_active",
        "effective_channel",
        "summary",
        "citation_variables",
        "disposition_tag",
        "messages",
        "disposition_logs",
    ] {
        assert!(c.get(field).is_some(), "missing {field} in {c}");
    }
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["created_at"], "2026-01-01T12:00:00.000Z");
    assert!(c["user_id"].as_str().unwrap().starts_with("user_"));
    let senders: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["AGENT", "USER", "AGENT"], "messages in order");
    assert_eq!(c["messages"][1]["status"], Value::Null);
    assert_error(
        &sim.get("/v1/sms/conversations/nope").await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
}

#[tokio::test]
async fn patch_sets_is_active_in_the_envelope() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let id = convo(&sim).await;
    let (s, v) = sim
        .patch(
            &format!("/v1/sms/conversations/{id}"),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], Value::Null);
    assert_eq!(v["data"]["message"], "Conversation updated successfully");
    assert_eq!(v["data"]["conversation"]["id"], id.as_str());
    assert_eq!(v["data"]["conversation"]["is_active"], false);
    assert!(v["data"]["conversation"]["updated_at"].is_string());
    assert_eq!(sim.conversation(&id).await["is_active"], false);
    rx.wait_for(2).await;
    assert_eq!(rx.statuses(), vec!["inactive"]);
    // The next inbound text starts a new conversation.
    let next = sim.text(USER, AGENT, "hello again").await;
    assert_ne!(next["conversation_id"], id.as_str());
    // Re-activating makes it the pair's current one again.
    let (s, v) = sim
        .patch(
            &format!("/v1/sms/conversations/{id}"),
            json!({"is_active": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["conversation"]["is_active"], true);
    let other = sim
        .conversation(next["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(other["is_active"], false);
    assert_eq!(
        sim.text(USER, AGENT, "back").await["conversation_id"],
        id.as_str()
    );
    assert_error(
        &sim.patch(
            &format!("/v1/sms/conversations/{id}"),
            json!({"is_active": "no"}),
        )
        .await,
        400,
        "INVALID_IS_ACTIVE_VALUE",
    );
    assert_error(
        &sim.patch(&format!("/v1/sms/conversations/{id}"), json!({}))
            .await,
        400,
        "INVALID_IS_ACTIVE_VALUE",
    );
    assert_error(
        &sim.patch("/v1/sms/conversations/nope", json!({"is_active": false}))
            .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
}

#[tokio::test]
async fn post_message_sends_a_human_or_agent_message_with_202() {
    let sim = Sim::start().await;
    let id = convo(&sim).await;
    let (s, v) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "A person here"}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["data"]["status"], "processing");
    assert_eq!(v["data"]["message"], "Message accepted for delivery");
    assert_eq!(v["data"]["sender"], "HUMAN");
    assert_eq!(v["data"]["conversation_id"], id.as_str());
    assert_eq!(v["data"]["human_handoff_active"], false);
    let (s, v2) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "Bot here", "sender": "AGENT"}),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(v2["data"]["sender"], "AGENT");
    let c = sim.conversation(&id).await;
    let last2: Vec<(&str, &str)> = c["messages"].as_array().unwrap()[1..]
        .iter()
        .map(|m| (m["sender"].as_str().unwrap(), m["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        last2,
        vec![
            ("HUMAN", v["data"]["message_id"].as_str().unwrap()),
            ("AGENT", v2["data"]["message_id"].as_str().unwrap())
        ]
    );
    let long = "x".repeat(1601);
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": long}),
        )
        .await,
        400,
        "MESSAGE_TOO_LONG",
    );
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "  "}),
        )
        .await,
        400,
        "MISSING_REQUIRED_FIELDS",
    );
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "m", "sender": "USER"}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.post(
            "/v1/sms/conversations/nope/messages",
            json!({"message": "m"}),
        )
        .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
}

#[tokio::test]
async fn delete_messages_hides_them_and_fixes_the_count() {
    let sim = Sim::start().await;
    let id = convo(&sim).await;
    sim.text(USER, AGENT, "one").await;
    let c = sim.conversation(&id).await;
    assert_eq!(c["message_count"], 3);
    let ids: Vec<Value> = c["messages"].as_array().unwrap()[..2]
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    let (s, v) = sim
        .delete(
            &format!("/v1/sms/conversations/{id}/messages"),
            Some(json!({"message_ids": [ids[0], ids[1], "not-mine"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"message": "2 messages marked as deleted", "deleted_count": 2})
    );
    let c = sim.conversation(&id).await;
    assert_eq!(c["message_count"], 1);
    assert_eq!(c["messages"].as_array().unwrap().len(), 1);
    let (_, list) = sim.get("/v1/sms/conversations").await;
    assert_eq!(list["data"][0]["message_count"], 1);
    // Deleting again counts nothing.
    let (_, v) = sim
        .delete(
            &format!("/v1/sms/conversations/{id}/messages"),
            Some(json!({"message_ids": [ids[0]]})),
        )
        .await;
    assert_eq!(v["data"]["deleted_count"], 0);
    for body in [
        json!({}),
        json!({"message_ids": []}),
        json!({"message_ids": "x"}),
        json!({"message_ids": [{}]}),
    ] {
        assert_error(
            &sim.delete(&format!("/v1/sms/conversations/{id}/messages"), Some(body))
                .await,
            400,
            "MESSAGE_IDS_REQUIRED",
        );
    }
    assert_error(
        &sim.delete(
            "/v1/sms/conversations/nope/messages",
            Some(json!({"message_ids": ["a"]})),
        )
        .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
}

#[tokio::test]
async fn delete_conversation_removes_it_for_good() {
    let sim = Sim::start().await;
    let id = convo(&sim).await;
    let (s, v) = sim
        .delete(&format!("/v1/sms/conversations/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["data"]["message"],
        "Conversation and all associated messages deleted successfully"
    );
    assert_error(
        &sim.get(&format!("/v1/sms/conversations/{id}")).await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.delete(&format!("/v1/sms/conversations/{id}"), None)
            .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    let (_, n) = sim.get("/v1/sms/numbers").await;
    assert_eq!(n["data"][0]["conversation_count"], 0);
    let next = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "new"}))
        .await;
    assert_ne!(next["conversation_id"], id.as_str());
}

/// `POST /v1/citation_schemas/backfill` on SMS conversations (citation-schemas-backfill.mdx,
/// 91809e1): synchronous, the scenario's schema run again and merged into what it holds.
#[tokio::test]
async fn citation_backfill_runs_a_schema_on_conversations_synchronously() {
    let sim = Sim::with(manual()).await;
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap().to_string();
    let (s, v) = sim
        .post(
            "/v1/citation_schemas/backfill",
            json!({"conversation_ids": [id, "nope"], "schema_id": "schema_booking"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "complete");
    assert_eq!(
        (
            v["call_count"].as_u64(),
            v["conversation_count"].as_u64(),
            v["schema_count"].as_u64()
        ),
        (Some(0), Some(2), Some(1))
    );
    let done = &v["conversations"][0];
    assert_eq!(done["status"], "success", "{v}");
    assert_eq!(done["previous_variables"], json!({}));
    assert_eq!(done["newly_extracted_variables"]["patient_name"], "Ada");
    assert_eq!(done["final_variables"], done["newly_extracted_variables"]);
    assert_eq!(done["variables_extracted"], 2);
    assert_eq!(v["conversations"][1]["status"], "error");
    // The conversation holds the result.
    let c = sim.conversation(&id).await;
    assert_eq!(c["citation_variables"]["patient_name"], "Ada");
    // A schema named twice runs once; more than 50 distinct ones are refused.
    let (_, v) = sim
        .post(
            "/v1/citation_schemas/backfill",
            json!({"conversation_id": id, "schema_ids": ["schema_booking", "schema_booking"], "schema_id": "schema_booking"}),
        )
        .await;
    assert_eq!(v["schema_count"], 1, "{v}");
    let schemas: Vec<String> = (0..51).map(|i| format!("s{i}")).collect();
    assert_error(
        &sim.post(
            "/v1/citation_schemas/backfill",
            json!({"conversation_id": id, "schema_ids": schemas}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    // Refused as the page says: more than 50, calls, no schema.
    let many: Vec<String> = (0..51).map(|i| format!("c{i}")).collect();
    for (body, code) in [
        (
            json!({"conversation_ids": many, "schema_id": "schema_booking"}),
            "INVALID_PARAMETER",
        ),
        (
            json!({"call_id": "call-1", "schema_id": "schema_booking"}),
            "INVALID_PARAMETER",
        ),
        (json!({"conversation_id": id}), "MISSING_REQUIRED_FIELDS"),
    ] {
        assert_error(
            &sim.post("/v1/citation_schemas/backfill", body).await,
            400,
            code,
        );
    }
}
