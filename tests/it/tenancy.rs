use hyper::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn one_key_never_sees_or_changes_another_keys_data() {
    let sim = Sim::start().await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "private"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap();
    let other = Some("sk_other");
    let (s, v) = sim
        .call(Method::GET, "/v1/sms/numbers", other, &[], None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"], json!([]));
    let (_, v) = sim
        .call(Method::GET, "/v1/sms/conversations", other, &[], None)
        .await;
    assert_eq!(v["extra"]["pagination"]["totalItems"], 0);
    let path = format!("/v1/sms/conversations/{id}");
    assert_error(
        &sim.call(Method::GET, &path, other, &[], None).await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.call(
            Method::PATCH,
            &path,
            other,
            &[],
            Some(json!({"is_active": false})),
        )
        .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.call(Method::DELETE, &path, other, &[], None).await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.call(
            Method::POST,
            &format!("{path}/messages"),
            other,
            &[],
            Some(json!({"message": "x"})),
        )
        .await,
        404,
        "CONVERSATION_NOT_FOUND",
    );
    assert_error(
        &sim.call(
            Method::POST,
            "/v1/sms/send",
            other,
            &[],
            Some(json!({"user_number": USER, "agent_number": AGENT})),
        )
        .await,
        404,
        "INBOUND_NUMBER_NOT_FOUND",
    );
    assert_error(
        &sim.call(
            Method::POST,
            "/v1/sms/number/update",
            other,
            &[],
            Some(json!({"phone_number": AGENT, "objective": "x"})),
        )
        .await,
        404,
        "INBOUND_NUMBER_NOT_FOUND",
    );
    let c = sim.conversation(id).await;
    assert_eq!(c["is_active"], true);
    assert_eq!(c["message_count"], 1);
}

#[tokio::test]
async fn numbers_are_provisioned_once_per_owner() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .sim(Method::POST, "/_sim/numbers", Some(json!({"api_key": "sk_b", "phone_number": "+15558880000", "sms_config": {"time_out": 60}})))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["sms_config"]["time_out"], 60);
    let taken = sim
        .sim(
            Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "sk_c", "phone_number": "+15558880000"})),
        )
        .await;
    assert_error(&taken, 409, "NUMBER_ALREADY_OWNED");
    assert_error(
        &sim.sim(
            Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "sk_b", "phone_number": AGENT})),
        )
        .await,
        409,
        "NUMBER_ALREADY_OWNED",
    );
    assert_error(
        &sim.sim(
            Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "sk_b", "phone_number": "12"})),
        )
        .await,
        400,
        "INVALID_PHONE_NUMBER",
    );
    assert_error(
        &sim.sim(Method::POST, "/_sim/numbers", Some(json!({"api_key": "sk_b", "phone_number": "+15558880001", "sms_config": {"time_out": 60, "warning_time": 60}}))).await,
        400,
        "INVALID_TIMEOUT_CONFIG",
    );
    let (_, v) = sim
        .call(Method::GET, "/v1/sms/numbers", Some("sk_b"), &[], None)
        .await;
    assert_eq!(v["data"][0]["phone_number"], "+15558880000");
}

#[tokio::test]
async fn auto_provision_gives_an_unowned_number_to_its_first_user() {
    let sim = Sim::with(manual().auto_provision(true)).await;
    // A request that fails validation provisions nothing.
    let bad = sim
        .post_as(
            "sk_late",
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": "+15556660000", "warning_time": 10}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_TIMEOUT_CONFIG");
    let (_, numbers) = sim.sim(Method::GET, "/_sim/numbers", None).await;
    assert!(numbers["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["phone_number"] != "+15556660000"));
    let body = json!({"user_number": USER, "agent_number": "+15556660000", "agent_message": "hi"});
    let (s, v) = sim.post_as("sk_new", "/v1/sms/send", body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_error(
        &sim.post_as("sk_late", "/v1/sms/send", body).await,
        404,
        "INBOUND_NUMBER_NOT_FOUND",
    );
    // Owned numbers stay owned.
    assert_error(
        &sim.post_as(
            "sk_new",
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT}),
        )
        .await,
        404,
        "INBOUND_NUMBER_NOT_FOUND",
    );
}
