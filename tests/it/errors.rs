use hyper::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn malformed_json_wrong_types_and_big_bodies_answer_in_the_envelope() {
    let sim = Sim::start().await;
    let bad = sim
        .raw(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[],
            b"{not json".to_vec(),
        )
        .await;
    assert_error(&bad, 400, "INVALID_JSON");
    let arr = sim
        .raw(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[],
            b"[1,2]".to_vec(),
        )
        .await;
    assert_error(&arr, 400, "INVALID_JSON");
    let wrong = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": 15550001111u64, "agent_number": AGENT}),
        )
        .await;
    assert_error(&wrong, 400, "INVALID_PARAMETER");
    assert!(wrong.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("user_number"));
    let big = vec![b' '; 2 * 1024 * 1024];
    let too_big = sim
        .raw(Method::POST, "/v1/sms/send", Some(KEY), &[], big)
        .await;
    assert_error(&too_big, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn unknown_paths_404_and_wrong_methods_405() {
    let sim = Sim::start().await;
    assert_error(&sim.get("/v1/sms/nope").await, 404, "NOT_FOUND");
    assert_error(&sim.get("/v2/anything").await, 404, "NOT_FOUND");
    // A real route's segments and more (the longest route has five).
    for path in [
        "/v1/sms/conversations/x/messages/y",
        "/v1/sms/conversations/x/messages/y/z/w/v",
    ] {
        let r = sim.get(path).await;
        assert_error(&r, 404, "NOT_FOUND");
        assert_eq!(
            r.1["errors"][0]["message"],
            format!("No route for GET {path}")
        );
    }
    assert_error(&sim.get("/v1/sms/send").await, 405, "METHOD_NOT_ALLOWED");
    assert_error(
        &sim.post("/v1/sms/conversations", json!({})).await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    assert_error(
        &sim.sim(Method::DELETE, "/_sim/reset", None).await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    assert_error(
        &sim.sim(Method::GET, "/_sim/nothing", None).await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn missing_or_empty_keys_are_refused() {
    let sim = Sim::start().await;
    let none = sim
        .call(Method::GET, "/v1/sms/numbers", None, &[], None)
        .await;
    assert_error(&none, 401, "AUTH_FAILURE");
    assert_eq!(none.1["errors"][0]["message"], "Unauthorized");
    assert_error(
        &sim.call(Method::GET, "/v1/sms/numbers", Some(""), &[], None)
            .await,
        401,
        "AUTH_FAILURE",
    );
    assert_error(
        &sim.call(Method::GET, "/v1/sms/numbers", Some("Bearer "), &[], None)
            .await,
        401,
        "AUTH_FAILURE",
    );
}

#[tokio::test]
async fn only_the_given_api_keys_are_accepted() {
    let sim = Sim::with(manual().api_key("sk_a")).await;
    assert_error(
        &sim.call(Method::GET, "/v1/sms/numbers", Some(KEY), &[], None)
            .await,
        401,
        "AUTH_FAILURE",
    );
    let (s, _) = sim
        .call(Method::GET, "/v1/sms/numbers", Some("sk_a"), &[], None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_wrong_type_names_its_field_in_every_body() {
    let sim = Sim::start().await;
    let cases = [
        (
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "time_out": "soon"}),
            "`time_out`",
        ),
        (
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT, "message": "m", "warning_time": []}),
            "`warning_time`",
        ),
        (
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "restart_after_end_call": "no"}),
            "`restart_after_end_call`",
        ),
        (
            "/v1/sms/conversations/x/handoff",
            json!({"metadata": "vip"}),
            "`metadata`",
        ),
    ];
    for (path, body, field) in cases {
        let got = sim.post(path, body).await;
        assert_error(&got, 400, "INVALID_PARAMETER");
        let message = got.1["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path}: {message}");
    }
    let got = sim
        .sim(
            Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "k", "phone_number": "+15558880000", "sms_config": {"temperature": "hot"}})),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`temperature`"), "{message}");
}

/// `/send` reports its own fields' errors before the timeout fields', wherever they stand.
#[tokio::test]
async fn send_reports_its_fields_before_the_timeout_fields() {
    let sim = Sim::start().await;
    let got = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi",
                   "time_out": "soon", "webhook": "ftp://x"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`webhook`"), "{message}");
    let got = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi",
                   "time_out": "soon"}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`time_out`"), "{message}");
}
