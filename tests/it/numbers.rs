use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn lists_the_keys_numbers_with_their_sms_config() {
    let sim = Sim::start().await;
    let (s, v) = sim.get("/v1/sms/numbers").await;
    assert_eq!(s, 200);
    assert_eq!(v["errors"], serde_json::Value::Null);
    let data = v["data"].as_array().unwrap();
    let phones: Vec<&str> = data
        .iter()
        .map(|n| n["phone_number"].as_str().unwrap())
        .collect();
    assert_eq!(phones, vec![AGENT, BOOKING, WHATSAPP]);
    let first = &data[0];
    assert_eq!(first["conversation_count"], 0);
    assert_eq!(first["sms_config"]["objective"], "Chat with the user");
    assert_eq!(first["sms_config"]["temperature"], 0);
    assert_eq!(first["sms_config"]["tools"], json!([]));
    assert_eq!(first["sms_config"]["request_data"], json!([]));
    assert_eq!(first["sms_config"]["restart_after_end_call"], true);
    assert_eq!(first["sms_config"]["time_out"], serde_json::Value::Null);
}

#[tokio::test]
async fn channel_filter_lists_only_numbers_with_that_config() {
    let sim = Sim::start().await;
    let (s, v) = sim.get("/v1/sms/numbers?channel=whatsapp").await;
    assert_eq!(s, 200);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["phone_number"], WHATSAPP);
    assert_eq!(data[0]["whatsapp_config"]["time_out"], 300);
    assert!(data[0].get("sms_config").is_none());
    assert_error(
        &sim.get("/v1/sms/numbers?channel=fax").await,
        400,
        "INVALID_CHANNEL",
    );
}

#[tokio::test]
async fn update_merges_into_the_stored_config() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "prompt": "Be brief", "time_out": 10, "webhook": "http://127.0.0.1:9/x", "ignored": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"]["message"],
        format!("SMS config updated for number {AGENT}")
    );
    let cfg = &v["data"]["sms_config"];
    assert_eq!(cfg["objective"], "Be brief");
    assert_eq!(
        cfg["time_out"], 30,
        "positive values under 30 are raised to 30"
    );
    // A second update touches only what it names.
    let (_, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "task": "Sell", "warning_time": 20}),
        )
        .await;
    let cfg = &v["data"]["sms_config"];
    assert_eq!(cfg["objective"], "Sell");
    assert_eq!(cfg["warning_time"], 20);
    assert_eq!(cfg["webhook"], "http://127.0.0.1:9/x");
    let (_, list) = sim.get("/v1/sms/numbers").await;
    assert_eq!(list["data"][0]["sms_config"]["objective"], "Sell");
    // null resets a field to its default; 0 disables the timeout.
    let (_, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "objective": null, "warning_time": null, "time_out": 0}),
        )
        .await;
    assert_eq!(v["data"]["sms_config"]["objective"], "Chat with the user");
    assert_eq!(v["data"]["sms_config"]["time_out"], serde_json::Value::Null);
}

#[tokio::test]
async fn update_rejects_a_warning_not_under_the_timeout_and_keeps_the_config() {
    let sim = Sim::start().await;
    let ok = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 120, "warning_time": 60}),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let bad = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "warning_time": 120, "objective": "x"}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_TIMEOUT_CONFIG");
    let bad = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 50}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_TIMEOUT_CONFIG");
    let (_, list) = sim.get("/v1/sms/numbers").await;
    let cfg = &list["data"][0]["sms_config"];
    assert_eq!(
        (cfg["time_out"].clone(), cfg["warning_time"].clone()),
        (json!(120), json!(60))
    );
    assert_eq!(cfg["objective"], "Chat with the user");
}

#[tokio::test]
async fn update_errors() {
    let sim = Sim::start().await;
    assert_error(
        &sim.post("/v1/sms/number/update", json!({})).await,
        400,
        "PHONE_NUMBER_REQUIRED",
    );
    assert_error(
        &sim.post(
            "/v1/sms/number/update",
            json!({"phone_number": "5550002222"}),
        )
        .await,
        400,
        "INVALID_PHONE_NUMBER",
    );
    let nf = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": "+15559990000"}),
        )
        .await;
    assert_error(&nf, 404, "INBOUND_NUMBER_NOT_FOUND");
    assert!(nf.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("/_sim/numbers"));
    assert_error(
        &sim.post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "channel": "rcs"}),
        )
        .await,
        400,
        "INVALID_CHANNEL",
    );
    let wrong = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "temperature": "hot"}),
        )
        .await;
    assert_error(&wrong, 400, "INVALID_PARAMETER");
    assert!(wrong.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("temperature"));
    assert_error(
        &sim.post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "timezone": "Mars/Base"}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn whatsapp_update_creates_that_channels_config() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "channel": "whatsapp", "time_out": 45}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["whatsapp_config"]["time_out"], 45);
    assert_eq!(
        v["data"]["message"],
        format!("WhatsApp config updated for number {AGENT}")
    );
    let (_, list) = sim.get("/v1/sms/numbers?channel=whatsapp").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}
