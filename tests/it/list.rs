use serde_json::{json, Value};

use crate::support::*;

/// Five conversations, one minute apart, with 1..=5 agent messages each.
async fn five(sim: &Sim) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=5u32 {
        let user = format!("+1555000100{i}");
        let d = sim
            .send(json!({"user_number": user, "agent_number": AGENT, "agent_message": "m"}))
            .await;
        let id = d["conversation_id"].as_str().unwrap().to_string();
        for _ in 1..i {
            sim.post(
                &format!("/v1/sms/conversations/{id}/messages"),
                json!({"message": "more", "sender": "AGENT"}),
            )
            .await;
        }
        ids.push(id);
        sim.advance(60.0).await;
    }
    ids
}

fn ids_of(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn page_style_paginates_newest_first_with_totals() {
    let sim = Sim::start().await;
    let ids = five(&sim).await;
    let (s, v) = sim.get("/v1/sms/conversations?page=1&pageSize=2").await;
    assert_eq!(s, 200);
    assert_eq!(v["errors"], Value::Null);
    assert_eq!(
        v["extra"]["pagination"],
        json!({"totalItems": 5, "totalPages": 3, "currentPage": 1, "pageSize": 2})
    );
    assert_eq!(ids_of(&v), vec![ids[4].clone(), ids[3].clone()]);
    let (_, v) = sim.get("/v1/sms/conversations?page=3&pageSize=2").await;
    assert_eq!(ids_of(&v), vec![ids[0].clone()]);
    let item = &v["data"][0];
    assert_eq!(item["message_count"], 1);
    assert_eq!(item["last_message"], "m");
    assert!(
        item.get("messages").is_none(),
        "list items carry no messages"
    );
    let (_, v) = sim
        .get("/v1/sms/conversations?sortBy=message_count&sortDir=asc&pageSize=10")
        .await;
    assert_eq!(ids_of(&v), ids);
    let (_, v) = sim.get("/v1/sms/conversations").await;
    assert_eq!(v["extra"]["pagination"]["pageSize"], 25);
}

#[tokio::test]
async fn offset_style_uses_limit_and_from() {
    let sim = Sim::start().await;
    let ids = five(&sim).await;
    let (s, v) = sim
        .get("/v1/sms/conversations?limit=2&from=1&sort_by=created_at&ascending=true")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ids_of(&v), vec![ids[1].clone(), ids[2].clone()]);
    assert_eq!(
        v["pagination"],
        json!({"totalItems": 5, "limit": 2, "from": 1, "hasMore": true})
    );
    assert!(v.get("extra").is_none());
    let (_, v) = sim.get("/v1/sms/conversations?limit=10&from=3").await;
    assert_eq!(ids_of(&v), vec![ids[1].clone(), ids[0].clone()]);
    assert_eq!(v["pagination"]["hasMore"], false);
    assert_error(
        &sim.get("/v1/sms/conversations?limit=1001").await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.get("/v1/sms/conversations?pageSize=0").await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.get("/v1/sms/conversations?page=x").await,
        400,
        "INVALID_PARAMETER",
    );
    assert_error(
        &sim.get("/v1/sms/conversations?sortBy=color").await,
        400,
        "INVALID_PARAMETER",
    );
}

fn q(filters: Value) -> String {
    let enc: String = form_urlencoded::byte_serialize(filters.to_string().as_bytes()).collect();
    format!("/v1/sms/conversations?pageSize=50&filters={enc}")
}

#[tokio::test]
async fn filters_use_the_documented_fields_and_operators() {
    let sim = Sim::start().await;
    let ids = five(&sim).await;
    let count = |v: &Value| v["extra"]["pagination"]["totalItems"].as_u64().unwrap();
    let (_, v) = sim
        .get(&q(
            json!([{"field": "message_count", "operator": "gte", "value": 4}]),
        ))
        .await;
    assert_eq!(ids_of(&v), vec![ids[4].clone(), ids[3].clone()]);
    assert_eq!(count(&v), 2);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "user_number", "operator": "endsWith", "value": "1003"}]),
        ))
        .await;
    assert_eq!(ids_of(&v), vec![ids[2].clone()]);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "user_number", "operator": "eq", "value": "+15550001001"}]),
        ))
        .await;
    assert_eq!(ids_of(&v), vec![ids[0].clone()]);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "created_at", "operator": "gt", "value": "2026-01-01T12:02:30.000Z"}]),
        ))
        .await;
    assert_eq!(count(&v), 2);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "created_at", "operator": "equals", "value": "2026-01-01"}]),
        ))
        .await;
    assert_eq!(count(&v), 5, "date equality is by whole day");
    sim.patch(
        &format!("/v1/sms/conversations/{}", ids[0]),
        json!({"is_active": false}),
    )
    .await;
    let (_, v) = sim
        .get(&q(
            json!([{"field": "is_active", "operator": "eq", "value": false}]),
        ))
        .await;
    assert_eq!(ids_of(&v), vec![ids[0].clone()]);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "status", "operator": "equals", "value": "inactive"}]),
        ))
        .await;
    assert_eq!(ids_of(&v), vec![ids[0].clone()]);
    // AND by default, OR on request; unknown fields and operators are ignored.
    let two = json!([{"field": "message_count", "operator": "eq", "value": 1}, {"field": "message_count", "operator": "eq", "value": 2}]);
    let (_, v) = sim.get(&q(two.clone())).await;
    assert_eq!(count(&v), 0);
    let (_, v) = sim.get(&format!("{}&mode=OR", q(two))).await;
    assert_eq!(v["pagination"]["totalItems"], 2);
    let (_, v) = sim.get(&q(json!([{"field": "color", "operator": "eq", "value": 1}, {"field": "message_count", "operator": "like", "value": 1}]))).await;
    assert_eq!(count(&v), 5);
    // Repeated filters[] work too.
    let one: String = form_urlencoded::byte_serialize(
        json!({"field": "message_count", "operator": "lt", "value": 3})
            .to_string()
            .as_bytes(),
    )
    .collect();
    let (_, v) = sim
        .get(&format!("/v1/sms/conversations?limit=50&filters[]={one}"))
        .await;
    assert_eq!(v["pagination"]["totalItems"], 2);
    assert_error(
        &sim.get("/v1/sms/conversations?filters=%5Bnot").await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn variable_filters_match_key_values() {
    let sim = Sim::start().await;
    let d = sim.send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}})).await;
    sim.text(USER, BOOKING, "yes").await;
    sim.send(json!({"user_number": "+15550001999", "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let (_, v) = sim
        .get(&q(
            json!([{"field": "variables", "operator": "hasSome", "value": {"intent": "book"}}]),
        ))
        .await;
    assert_eq!(
        ids_of(&v),
        vec![d["conversation_id"].as_str().unwrap().to_string()]
    );
    let (_, v) = sim
        .get(&q(json!([{"field": "variables", "operator": "isEmpty"}])))
        .await;
    assert_eq!(v["extra"]["pagination"]["totalItems"], 1);
    let (_, v) = sim
        .get(&q(
            json!([{"field": "variables", "operator": "none", "value": {"intent": "book"}}]),
        ))
        .await;
    assert_eq!(v["extra"]["pagination"]["totalItems"], 1);
}

#[tokio::test]
async fn conversations_created_at_the_same_instant_list_in_creation_order() {
    let sim = Sim::start().await;
    let mut ids = Vec::new();
    for i in 0..6u32 {
        let d = sim.send(json!({"user_number": format!("+1555000200{i}"), "agent_number": AGENT, "agent_message": "m"})).await;
        ids.push(d["conversation_id"].as_str().unwrap().to_string());
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let (_, fast) = sim.get("/v1/sms/conversations?pageSize=50").await;
    assert_eq!(ids_of(&fast), newest_first);
    // A filter takes the scanning path; the order must be the same.
    let (_, slow) = sim
        .get(&q(
            json!([{"field": "is_active", "operator": "eq", "value": true}]),
        ))
        .await;
    assert_eq!(ids_of(&slow), newest_first);
    let (_, asc) = sim
        .get("/v1/sms/conversations?limit=2&from=2&ascending=true")
        .await;
    assert_eq!(ids_of(&asc), ids[2..4].to_vec());
    assert_eq!(asc["pagination"]["totalItems"], 6);
}

/// The list reads most fields from each conversation's row, which every change updates; a
/// filter on a field only the record holds (`agent_number`) reads the records. Both agree after
/// messages, an end and a deletion.
#[tokio::test]
async fn list_rows_follow_every_change() {
    let sim = Sim::start().await;
    let ids = five(&sim).await;
    let (s, _) = sim
        .post(&format!("/v1/sms/conversations/{}/end", ids[1]), json!({}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = sim
        .delete(&format!("/v1/sms/conversations/{}", ids[3]), None)
        .await;
    assert_eq!(s, 200);
    sim.post(
        &format!("/v1/sms/conversations/{}/messages", ids[0]),
        json!({"message": "later", "sender": "AGENT"}),
    )
    .await;
    let both = |rows: Value| {
        let mut with_record = rows.as_array().unwrap().clone();
        with_record.push(json!({"field": "agent_number", "operator": "eq", "value": AGENT}));
        (q(rows), q(Value::Array(with_record)))
    };
    for (filters, sort) in [
        (
            json!([{"field": "is_active", "operator": "eq", "value": true}]),
            "message_count",
        ),
        (
            json!([{"field": "status", "operator": "eq", "value": "completed"}]),
            "updated_at",
        ),
        (
            json!([{"field": "message_count", "operator": "gte", "value": 2}]),
            "last_message_at",
        ),
    ] {
        let (rows, records) = both(filters);
        let (_, a) = sim.get(&format!("{rows}&sortBy={sort}")).await;
        let (_, b) = sim.get(&format!("{records}&sortBy={sort}")).await;
        assert_eq!(ids_of(&a), ids_of(&b), "{rows}");
    }
    let (_, v) = sim
        .get(&q(
            json!([{"field": "is_active", "operator": "eq", "value": true}]),
        ))
        .await;
    assert_eq!(
        ids_of(&v),
        vec![ids[4].clone(), ids[2].clone(), ids[0].clone()],
        "ended and deleted ones are gone from the active list"
    );
    let (_, v) = sim
        .get(&format!(
            "{}&sortBy=message_count",
            q(json!([{"field": "message_count", "operator": "gte", "value": 2}]))
        ))
        .await;
    assert_eq!(ids_of(&v)[0], ids[4], "5 messages");
    assert_eq!(ids_of(&v).last(), Some(&ids[0]), "2 messages now");
}
