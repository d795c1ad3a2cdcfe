//! `POST /v1/files/attach` and `POST /v1/sms/batch` (§3.4): each row a `/send`, sent on the
//! simulator's clock, with every documented error; `GET /_sim/batches/{id}` reports the rows.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn attach(sim: &Sim, body: Value) -> String {
    attach_as(sim, KEY, body).await
}

async fn attach_as(sim: &Sim, key: &str, body: Value) -> String {
    let (status, v) = sim.post_as(key, "/v1/files/attach", body).await;
    assert_eq!(status, 200, "{v}");
    v["data"]["file_id"].as_str().unwrap().to_string()
}

async fn report(sim: &Sim, id: &str) -> Value {
    let (status, v) = sim
        .sim(Method::GET, &format!("/_sim/batches/{id}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    v["data"].clone()
}

fn statuses(report: &Value) -> Vec<&str> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

/// The simulator-only part of a conversation in the state document.
async fn saved(sim: &Sim, id: &str) -> Value {
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    state["accounts"][0]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["simulator"]
        .clone()
}

#[tokio::test]
async fn each_row_is_a_send_at_the_batch_rate_on_the_clock() {
    let sim = Sim::start().await;
    let rows = json!([
        {"phone_number": "15550001201", "first_name": "Ada", "code": "A1",
         "request_data.tier": "gold"},
        {"phone_number": "+15550001202", "first_name": "Bo", "code": "B2"},
        {"first_name": "Nobody"},
        {"phone_number": "not-a-number", "first_name": "Typo"}
    ]);
    let (status, attached) = sim
        .post(
            "/v1/files/attach",
            json!({"file_type": "batches", "rows": rows}),
        )
        .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["data"]["rows"], 4);
    assert_eq!(attached["data"]["file_type"], "batches");
    let file_id = attached["data"]["file_id"].as_str().unwrap().to_string();
    assert!(uuid_like(&file_id), "{file_id}");

    let (status, started) = sim
        .post(
            "/v1/sms/batch",
            json!({"file_id": file_id, "column_mapping": {"code": "request_data"},
                   "global": {"agent_number": AGENT,
                              "agent_message": "Hi {{first_name}}, your code is {{code}} ({{request_data.tier}}, {{request_data.campaign}})",
                              "request_data": {"campaign": "fall", "tier": "basic"},
                              "metadata": {"source": "batch"}}}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["data"]["batch_id"], file_id.as_str());
    assert_eq!(
        started["data"]["message"],
        "SMS batch processing initiated via Temporal workflow"
    );
    assert!(started["data"]["workflow_id"]
        .as_str()
        .unwrap()
        .starts_with("workflow_"));

    // 10 rows a second of simulator time: due at +0, +100, +200 and +300 ms.
    let r = report(&sim, &file_id).await;
    assert_eq!(r["status"], "running");
    assert_eq!(statuses(&r), ["pending"; 4]);
    assert_eq!(r["rows"][1]["due_at"], "2026-01-01T12:00:00.100Z");
    sim.advance(0.0).await;
    assert_eq!(
        statuses(&report(&sim, &file_id).await),
        ["sent", "pending", "pending", "pending"]
    );
    sim.advance(0.25).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(statuses(&r), ["sent", "sent", "failed", "pending"]);
    assert_eq!(r["rows"][2]["error"]["error"], "MISSING_PHONE_NUMBER");
    sim.advance(1.0).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(r["status"], "done");
    // A page at a time.
    let (_, page) = sim
        .sim(
            Method::GET,
            &format!("/_sim/batches/{file_id}?offset=1&limit=2"),
            None,
        )
        .await;
    let rows: Vec<&Value> = page["data"]["rows"].as_array().unwrap().iter().collect();
    assert_eq!((rows.len(), rows[0]["row"].clone()), (2, json!(2)));
    assert_eq!(page["data"]["has_more"], true);
    assert_eq!(page["data"]["sent"], 2);
    assert_eq!(
        (r["sent"].clone(), r["failed"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(r["rows"][3]["error"]["error"], "INVALID_PHONE_NUMBER");

    // Row 1: `+` added, the text rendered from its columns, the columns as variables,
    // request_data merged with the recipient's values winning.
    let first = r["rows"][0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = sim.conversation(&first).await;
    assert_eq!(c["user_number"], "+15550001201");
    assert_eq!(
        c["messages"][0]["message"],
        "Hi Ada, your code is A1 (gold, fall)"
    );
    assert_eq!(c["messages"][0]["id"], r["rows"][0]["message_id"]);
    assert_eq!(c["variables"], json!({"first_name": "Ada", "code": "A1"}));
    assert_eq!(c["metadata"], json!({"source": "batch"}));
    assert_eq!(
        saved(&sim, &first).await["request_data"],
        json!({"campaign": "fall", "tier": "gold", "code": "A1"})
    );
    let second = r["rows"][1]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        saved(&sim, &second).await["request_data"],
        json!({"campaign": "fall", "tier": "basic", "code": "B2"})
    );
    assert_eq!(
        sim.conversation(&second).await["messages"][0]["message"],
        "Hi Bo, your code is B2 (basic, fall)"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn a_csv_uploaded_as_a_form_is_sent_at_the_configured_rate() {
    let sim = Sim::with(manual().batch_rate(1.0)).await;
    let csv = "phone_number,name\n15550001301,Ana\n15550001302, Ben \n";
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\nbatches\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--XyZ--\r\n"
    );
    let (status, _, v) = sim
        .full(
            Method::POST,
            "/v1/files/attach",
            Some(KEY),
            &[("content-type", "multipart/form-data; boundary=XyZ")],
            body.into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["rows"], 2);
    let file_id = v["data"]["file_id"].as_str().unwrap().to_string();
    // No agent_message: the scenario speaks first, and sees the columns as variables.
    let (status, _) = sim
        .post(
            "/v1/sms/batch",
            json!({"file_id": file_id, "global": {"agent_number": AGENT}}),
        )
        .await;
    assert_eq!(status, 200);
    sim.advance(0.5).await;
    assert_eq!(statuses(&report(&sim, &file_id).await), ["sent", "pending"]);
    sim.advance(0.5).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(statuses(&r), ["sent", "sent"]);
    let c = sim
        .conversation(r["rows"][1]["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(
        c["variables"],
        json!({"name": "Ben"}),
        "CSV values are trimmed"
    );
    assert!(c["messages"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Hi! This is the Bland SMS simulator's default agent"));
}

#[tokio::test]
async fn every_documented_error() {
    let sim = Sim::with(manual().files_bytes(2000)).await;
    let rows = json!([{"phone_number": "+15550001401"}]);
    let file_id = attach(&sim, json!({"file_type": "batches", "rows": rows})).await;
    let other_type = attach(&sim, json!({"file_type": "contacts", "rows": rows})).await;
    let send = |body: Value| {
        let sim = &sim;
        async move { sim.post("/v1/sms/batch", body).await }
    };
    let global = json!({"agent_number": AGENT});
    for (body, status, code) in [
        (json!({"global": global}), 400, "MISSING_FILE_ID"),
        (
            json!({"file_id": "", "global": global}),
            400,
            "MISSING_FILE_ID",
        ),
        (json!({"file_id": file_id}), 400, "INVALID_GLOBAL_FORMAT"),
        (
            json!({"file_id": file_id, "global": "x"}),
            400,
            "INVALID_GLOBAL_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": {"agent_number": AGENT, "metadata": 3}}),
            400,
            "INVALID_GLOBAL_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": {"agent_number": AGENT, "agent_message": "{{x"}}),
            400,
            "INVALID_GLOBAL_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": {"agent_number": AGENT, "agent_message": "  "}}),
            400,
            "INVALID_GLOBAL_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": {}}),
            400,
            "MISSING_AGENT_NUMBER",
        ),
        (
            json!({"file_id": file_id, "global": global, "column_mapping": {"phone_number": "request_data"}}),
            400,
            "INVALID_COLUMN_MAPPING_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": global, "column_mapping": {"code": "variables"}}),
            400,
            "INVALID_COLUMN_MAPPING_FORMAT",
        ),
        (
            json!({"file_id": file_id, "global": global, "column_mapping": ["code"]}),
            400,
            "INVALID_COLUMN_MAPPING_FORMAT",
        ),
        (
            json!({"file_id": "nope", "global": global}),
            404,
            "FILE_NOT_FOUND",
        ),
        (
            json!({"file_id": other_type, "global": global}),
            404,
            "FILE_NOT_FOUND",
        ),
        (
            json!({"file_id": file_id, "global": {"agent_number": "+15559999999"}}),
            404,
            "AGENT_NUMBER_NOT_FOUND",
        ),
    ] {
        let got = send(body).await;
        assert_error(&got, status, code);
    }
    let got = send(json!({"file_id": 5, "global": global})).await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    // Fields Bland would ignore are named in the warning, and refused under --strict.
    let (status, headers, _) = sim
        .full(
            Method::POST,
            "/v1/sms/batch",
            Some(KEY),
            &[],
            json!({"file_id": file_id, "extra": 1, "global": {"agent_number": AGENT, "objective": "x"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["x-bland-sim-warning"],
        "ignored body field: extra, global.objective"
    );
    let got = send(json!({"file_id": "nope", "global": global})).await;
    assert_eq!(
        got.1["errors"][0]["message"],
        "File not found or invalid file type for SMS batches"
    );
    // Another account's file is not found either.
    let got = sim
        .post_as(
            "sk_other",
            "/v1/sms/batch",
            json!({"file_id": file_id, "global": {"agent_number": AGENT}}),
        )
        .await;
    assert_error(&got, 404, "FILE_NOT_FOUND");
    // A key whose plan is not Enterprise.
    let (status, _) = sim
        .sim(
            Method::POST,
            "/_sim/numbers",
            Some(
                json!({"api_key": "sk_small", "phone_number": "+15550007777", "enterprise": false}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let got = sim
        .post_as(
            "sk_small",
            "/v1/sms/batch",
            json!({"file_id": file_id, "global": {"agent_number": "+15550007777"}}),
        )
        .await;
    assert_error(&got, 403, "ENTERPRISE_REQUIRED");

    // Uploads.
    for (body, code) in [
        (json!({"rows": rows}), "MISSING_FILE_TYPE"),
        (json!({"file_type": "batches"}), "MISSING_FILE"),
        (json!({"file_type": "batches", "rows": []}), "INVALID_FILE"),
        (
            json!({"file_type": "batches", "rows": [1, 2]}),
            "INVALID_FILE",
        ),
        (
            json!({"file_type": "batches", "rows": "a,b\n1,2,3\n"}),
            "INVALID_FILE",
        ),
    ] {
        let got = sim.post("/v1/files/attach", body).await;
        assert_error(&got, 400, code);
    }
    // Files are counted as they take memory: 40 empty rows upload as 120 bytes but take more
    // than the 600 allowed here once parsed.
    let empty: Vec<Value> = (0..40).map(|_| json!({})).collect();
    let got = sim
        .post(
            "/v1/files/attach",
            json!({"file_type": "batches", "rows": empty}),
        )
        .await;
    assert_error(&got, 413, "FILE_STORAGE_FULL");
    let got = sim
        .post(
            "/v1/files/attach",
            json!({"file_type": "x".repeat(65), "rows": rows}),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    // Files are bounded in bytes per account (here 600).
    let big: Vec<Value> = (0..8)
        .map(|i| json!({"phone_number": format!("+1555000{i:04}"), "note": "x".repeat(20)}))
        .collect();
    let got = sim
        .post(
            "/v1/files/attach",
            json!({"file_type": "batches", "rows": big}),
        )
        .await;
    assert_error(&got, 413, "FILE_STORAGE_FULL");
    let got = sim.sim(Method::GET, "/_sim/batches/nope", None).await;
    assert_error(&got, 404, "BATCH_NOT_FOUND");
}

#[tokio::test]
async fn a_row_to_an_opted_out_user_or_with_a_message_too_long_fails_alone() {
    let sim = Sim::start().await;
    let opted_out = "+15550001502";
    sim.text(opted_out, AGENT, "STOP").await;
    let long = "x".repeat(1_601);
    let rows = json!([
        {"phone_number": "+15550001501", "body": "hello"},
        {"phone_number": opted_out, "body": "hello"},
        {"phone_number": "+15550001503", "body": long},
        {"phone_number": "+15550001504", "body": "bye"}
    ]);
    let file_id = attach(&sim, json!({"file_type": "batches", "rows": rows})).await;
    let (status, v) = sim
        .post(
            "/v1/sms/batch",
            json!({"file_id": file_id,
                   "global": {"agent_number": AGENT, "agent_message": "{{body}}"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    sim.advance(1.0).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(r["status"], "done");
    assert_eq!(statuses(&r), ["sent", "failed", "failed", "sent"]);
    assert_eq!(r["rows"][1]["error"]["error"], "USER_OPTED_OUT");
    assert_eq!(
        r["rows"][1]["error"]["message"],
        // The same message /send answers with.
        format!(
            "{opted_out} replied STOP to {AGENT} and has opted out; no message can be sent \
             until they text START"
        )
    );
    assert_eq!(r["rows"][2]["error"]["error"], "MESSAGE_TOO_LONG");
    assert_eq!(
        r["rows"][2]["error"]["message"],
        "message must be at most 1600 characters"
    );
    assert_eq!(
        (r["sent"].clone(), r["failed"].clone()),
        (json!(2), json!(2))
    );
    // The failed rows opened nothing.
    assert!(r["rows"][1]["conversation_id"].is_null());
    assert!(r["rows"][2]["conversation_id"].is_null());
    let last = sim
        .conversation(r["rows"][3]["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(last["messages"][0]["message"], "bye");
}

#[tokio::test]
async fn a_plan_accounts_rows_stop_at_its_hourly_limit_and_reach_only_plus_one_numbers() {
    const FIXTURES: &str = r#"{"accounts": [
      {"api_key": "sk_plan", "plan": "agent_phone", "plan_limits": {"hourly": 2, "daily": 5},
       "numbers": [{"phone_number": "+15550008888"}]}
    ]}"#;
    let sim = Sim::with(manual().fixtures_json(FIXTURES).unwrap()).await;
    let rows = json!([
        {"phone_number": "+15550001601"},
        {"phone_number": "+445550001602"},
        {"phone_number": "+15550001603"},
        {"phone_number": "+15550001604"}
    ]);
    let file_id = attach_as(
        &sim,
        "sk_plan",
        json!({"file_type": "batches", "rows": rows}),
    )
    .await;
    let (status, v) = sim
        .post_as(
            "sk_plan",
            "/v1/sms/batch",
            json!({"file_id": file_id,
                   "global": {"agent_number": "+15550008888", "agent_message": "hi"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    sim.advance(1.0).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(statuses(&r), ["sent", "failed", "sent", "failed"]);
    assert_eq!(r["rows"][1]["error"]["error"], "INVALID_PHONE_NUMBER");
    assert_eq!(r["rows"][3]["error"]["error"], "SMS_RL_PLAN_HOURLY");
    let message = r["rows"][3]["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 2 texts an hour"), "{message}");
}

#[tokio::test]
async fn a_second_batch_of_a_file_replaces_the_first_and_its_rows_go_once() {
    let sim = Sim::start().await;
    let rows = json!([
        {"phone_number": "+15550001701"},
        {"phone_number": "+15550001702"},
        {"phone_number": "+15550001703"}
    ]);
    let file_id = attach(&sim, json!({"file_type": "batches", "rows": rows})).await;
    let start = |text: &'static str| {
        let (sim, file_id) = (&sim, file_id.clone());
        async move {
            let (status, v) = sim
                .post(
                    "/v1/sms/batch",
                    json!({"file_id": file_id,
                           "global": {"agent_number": AGENT, "agent_message": text}}),
                )
                .await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["data"]["batch_id"], file_id.as_str());
        }
    };
    start("first").await;
    // 10 rows a second: the first row goes now, the others are due at +100 and +200 ms.
    sim.advance(0.0).await;
    assert_eq!(
        statuses(&report(&sim, &file_id).await),
        ["sent", "pending", "pending"]
    );
    start("second").await;
    let r = report(&sim, &file_id).await;
    assert_eq!(r["status"], "running");
    assert_eq!(statuses(&r), ["pending"; 3]);
    sim.advance(1.0).await;
    let r = report(&sim, &file_id).await;
    assert_eq!(r["status"], "done");
    assert_eq!(statuses(&r), ["sent"; 3]);
    // The first batch's rows still pending when it was replaced never went.
    let texts = |i: usize| {
        let (sim, id) = (
            &sim,
            r["rows"][i]["conversation_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        async move {
            let c = sim.conversation(&id).await;
            c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(texts(0).await, ["first", "second"]);
    assert_eq!(texts(1).await, ["second"]);
    assert_eq!(texts(2).await, ["second"]);
}

#[tokio::test]
async fn files_are_bounded_across_accounts_too() {
    // 2,000 bytes an account, 16,000 in all: every key is an account of its own.
    let sim = Sim::with(manual().files_bytes(2000)).await;
    let rows = json!([{"phone_number": "+15550001801", "note": "x"}]);
    let mut accepted = 0;
    let mut each = 0;
    let refused = loop {
        let key = format!("sk_account_{accepted:02}");
        let (status, v) = sim
            .post_as(
                &key,
                "/v1/files/attach",
                json!({"file_type": "batches", "rows": rows}),
            )
            .await;
        if status != 200 {
            break (status, v);
        }
        each = v["data"]["bytes"].as_u64().unwrap();
        accepted += 1;
        assert!(accepted < 1_000, "no bound across accounts");
    };
    assert_error(&refused, 413, "FILE_STORAGE_FULL");
    let message = refused.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("or 16000 in all"), "{message}");
    // Each key was well under its own 2,000 bytes, so the bound across accounts refused it.
    // Every upload counts the same bytes, each well under its account's 2,000: exactly as many
    // fit as the 16,000 across accounts allow.
    assert!(each < 2000 / 2, "{each}");
    assert_eq!(accepted, 16_000 / each);
    // A reset makes room again.
    sim.sim(Method::POST, "/_sim/reset", None).await;
    attach_as(
        &sim,
        "sk_account_00",
        json!({"file_type": "batches", "rows": rows}),
    )
    .await;
}
