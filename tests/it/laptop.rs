//! Safe on a developer's laptop: no web page on another origin, no rebound DNS name, no upload
//! or document can drive the simulator, crash it or take it past its bounds. Each test is a
//! bounded version of an abuse, on loopback, with the bound it must hold.

use std::time::Duration;

use bland_sms_sim::Simulator;
use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

// ---- Host and Origin ---------------------------------------------------------------------

#[tokio::test]
async fn a_rebound_host_name_is_refused_before_anything_is_read() {
    let sim = Sim::start().await;
    let port = sim.sim.addr().port();
    let rebound = format!("rebind.attacker.example:{port}");
    let got = sim
        .call(
            Method::GET,
            "/_sim/state",
            None,
            &[("host", &rebound)],
            None,
        )
        .await;
    assert_error(&got, 403, "HOST_NOT_ALLOWED");
    let why = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("--allowed-host rebind.attacker.example"),
        "{why}"
    );
    let got = sim
        .call(
            Method::GET,
            "/v1/sms/numbers",
            Some(KEY),
            &[("host", &rebound)],
            None,
        )
        .await;
    assert_error(&got, 403, "HOST_NOT_ALLOWED");
    // Loopback names pass, with any port.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
    ] {
        assert_eq!(health_as(&sim, &host).await.0, 200, "{host}");
    }
    // Refused requests are not journaled.
    assert!(sim.sim.requests().is_empty());
}

/// `GET /_sim/health` sent with this `Host`.
async fn health_as(sim: &Sim, host: &str) -> (hyper::StatusCode, Value) {
    sim.call(Method::GET, "/_sim/health", None, &[("host", host)], None)
        .await
}

#[tokio::test]
async fn an_allowed_host_admits_a_container_name_and_star_admits_any() {
    let sim = Sim::with(manual().allowed_host("bland-sim")).await;
    assert_eq!(health_as(&sim, "bland-sim:8790").await.0, 200);
    assert_error(
        &health_as(&sim, "other:8790").await,
        403,
        "HOST_NOT_ALLOWED",
    );
    let any = Sim::with(manual().allowed_host("*")).await;
    assert_eq!(health_as(&any, "other:8790").await.0, 200);
}

/// What a page on another origin sends with `fetch(url, {mode: "no-cors", method: "POST",
/// body: "…"})`: a text/plain body, its Origin, and `Sec-Fetch-Site: cross-site`.
fn from_a_page(origin: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("content-type", "text/plain;charset=UTF-8"),
        ("origin", origin),
        ("sec-fetch-site", "cross-site"),
    ]
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_drive_the_control_api_or_the_api() {
    let sim = Sim::start().await;
    let page = from_a_page("http://evil.example");
    let attempts: [(Method, &str, Option<&str>, Value); 5] = [
        (Method::POST, "/_sim/reset", None, json!({})),
        (
            Method::POST,
            "/_sim/faults",
            None,
            json!({"path": "/v1/sms/send", "status": 500}),
        ),
        (
            Method::POST,
            "/_sim/inbound",
            None,
            json!({"user_number": USER, "agent_number": AGENT, "message": "hi"}),
        ),
        (
            Method::POST,
            "/v1/sms/number/update",
            Some(KEY),
            json!({"phone_number": AGENT, "webhook": "http://evil.example/hook"}),
        ),
        (Method::GET, "/_sim/state", None, Value::Null),
    ];
    for (method, path, key, body) in attempts {
        let body = (!body.is_null()).then_some(body);
        let got = sim.call(method.clone(), path, key, &page, body).await;
        assert_error(&got, 403, "ORIGIN_NOT_ALLOWED");
        let why = got.1["errors"][0]["message"].as_str().unwrap();
        assert!(
            why.contains("--allowed-origin http://evil.example"),
            "{why}"
        );
    }
    // Nothing changed: no fault, no conversation, the number's webhook as it was.
    assert_eq!(sim.get("/_sim/faults").await.1["data"], json!([]));
    assert!(sim.sim.webhooks().is_empty());
    let (_, state) = sim.get("/_sim/state").await;
    assert_eq!(state["accounts"][0]["conversations"], json!([]));
    assert_eq!(
        state["accounts"][0]["numbers"][0]["sms_config"]["webhook"],
        Value::Null
    );
    // A sandboxed frame or a file:// page (Origin: null), and a request without Origin that
    // says it comes from another site, are refused too.
    let got = sim
        .call(
            Method::POST,
            "/_sim/reset",
            None,
            &from_a_page("null"),
            None,
        )
        .await;
    assert_error(&got, 403, "ORIGIN_NOT_ALLOWED");
    for site in ["cross-site", "same-site"] {
        let got = sim
            .call(
                Method::POST,
                "/_sim/reset",
                None,
                &[("sec-fetch-site", site)],
                None,
            )
            .await;
        assert_error(&got, 403, "ORIGIN_NOT_ALLOWED");
    }
    // And no CORS is granted on a refusal.
    let (_, headers, _) = sim
        .full(Method::POST, "/_sim/reset", None, &page, b"{}".to_vec())
        .await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn its_own_pages_an_allowed_origin_and_clients_without_origin_pass() {
    let sim = Sim::with(manual().allowed_origin("http://tool.example")).await;
    let own = sim.base.clone();
    let port = sim.sim.addr().port();
    let own_host = format!("127.0.0.1:{port}");
    let same = [
        ("origin", own.as_str()),
        ("host", own_host.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let (status, _) = sim
        .call(Method::POST, "/_sim/reset", None, &same, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = sim
        .call(
            Method::POST,
            "/_sim/reset",
            None,
            &from_a_page("http://tool.example"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // curl -d: a form content type, no Origin.
    let (status, body) = sim
        .raw(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[("content-type", "application/x-www-form-urlencoded")],
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Following a link to the UI from another site opens it.
    let (status, _) = sim
        .call(
            Method::GET,
            "/_sim/health",
            None,
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
}

// ---- Webhooks to the simulator itself ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_its_own_address_gets_a_webhook_to_its_control_api() {
    let sim = Sim::start().await;
    let port = sim.sim.addr().port();
    let d = sim
        .send(json!({"user_number": USER, "agent_number": BOOKING, "agent_message": "kept"}))
        .await;
    let kept = d["conversation_id"].as_str().unwrap().to_string();
    let spellings = [
        format!("http://127.0.0.1:{port}//_sim/reset"),
        format!("http://127.1:{port}/_sim/reset"),
        format!("http://2130706433:{port}/_sim/reset"),
        format!("http://[::ffff:127.0.0.1]:{port}/_sim/reset"),
        format!("http://localhost:{port}/_sim/reset"),
        format!("http://127.0.0.1:{port}/_sim/./reset"),
    ];
    for (i, url) in spellings.iter().enumerate() {
        set_webhook(&sim, AGENT, url).await;
        let user = format!("+1555000900{i}");
        let d = sim
            .send(json!({"user_number": user, "agent_number": AGENT, "agent_message": "hi"}))
            .await;
        let id = d["conversation_id"].as_str().unwrap();
        let got = sim
            .sim
            .wait_for_webhooks(json!({"conversation_id": id, "timeout_ms": 5000}))
            .await
            .expect("the attempt is logged");
        assert_eq!(got[0]["status"], "failed", "{url}: {got:?}");
        let why = got[0]["attempts"][0]["error_message"].as_str().unwrap();
        assert!(
            why.starts_with("refused: the URL reaches this simulator itself"),
            "{url}: {why}"
        );
        assert_eq!(
            got[0]["attempts"].as_array().unwrap().len(),
            1,
            "{url}: not retried"
        );
    }
    // Nothing was reset.
    assert_eq!(sim.conversation(&kept).await["message_count"], 1);
}

// ---- Unknown fields ------------------------------------------------------------------------

#[tokio::test]
async fn many_unknown_fields_cost_linear_time_and_the_warning_names_twenty() {
    let sim = Sim::start().await;
    // 16,000 unknown fields (about 250 KB): quadratic work took a minute here.
    let mut body = serde_json::Map::new();
    body.insert("user_number".into(), json!(USER));
    body.insert("agent_number".into(), json!(AGENT));
    body.insert("agent_message".into(), json!("hi"));
    for i in 0..16_000 {
        body.insert(format!("unknown_field_{i:05}"), json!(1));
    }
    let bytes = Value::Object(body).to_string().into_bytes();
    for path in ["/v1/sms/send", "/_sim/inbound", "/_sim/clock/advance"] {
        let started = std::time::Instant::now();
        let (status, headers, v) = sim
            .full(Method::POST, path, Some(KEY), &[], bytes.clone())
            .await;
        let took = started.elapsed();
        assert!(took.as_secs_f64() < 3.0, "{path} took {took:?}");
        if path == "/v1/sms/send" {
            assert_eq!(status, 200, "{v}");
            let warning = headers["x-bland-sim-warning"].to_str().unwrap();
            assert!(
                warning.starts_with("ignored body field: unknown_field_00000, "),
                "{warning}"
            );
            assert!(
                warning.ends_with("unknown_field_00019 and 15980 more"),
                "{warning}"
            );
            assert!(warning.len() < 1000, "{} bytes", warning.len());
        }
    }
}

// ---- Uploads -------------------------------------------------------------------------------

/// A multipart form with `file` and `file_type: batches`.
fn form(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "xBOUNDARYx";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\nbatches\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /v1/files/attach` of `file` as a multipart form.
async fn upload(sim: &Sim, file: &[u8]) -> (hyper::StatusCode, Value) {
    let (content_type, body) = form(file);
    let headers = [("content-type", content_type.as_str())];
    sim.raw(Method::POST, "/v1/files/attach", Some(KEY), &headers, body)
        .await
}

#[tokio::test]
async fn a_csv_of_long_column_names_and_empty_rows_is_refused_while_it_is_read() {
    let sim = Sim::start().await;
    // Two 100 KB column names and 400,000 rows of `,`: about 1 MB that, with the names copied
    // per row, asked for 80 GB and killed the process.
    let mut csv = Vec::new();
    csv.extend_from_slice(&vec![b'a'; 100_000]);
    csv.push(b',');
    csv.extend_from_slice(&vec![b'b'; 100_000]);
    csv.push(b'\n');
    for _ in 0..400_000 {
        csv.extend_from_slice(b",\n");
    }
    assert_error(&upload(&sim, &csv).await, 413, "FILE_STORAGE_FULL");
    // The same names with 1,000 rows: kept, and counted at what it holds: the names once,
    // four bytes a cell, and the report a batch of it keeps.
    let mut small = csv[..200_002].to_vec();
    for i in 0..1_000 {
        small.extend_from_slice(format!("x{i},y\n").as_bytes());
    }
    let (status, v) = upload(&sim, &small).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["rows"], 1000);
    let bytes = v["data"]["bytes"].as_u64().unwrap();
    assert!(
        (200_000..200_000 + 1_000 * 300).contains(&bytes),
        "{bytes} bytes counted"
    );
}

// ---- Depth ---------------------------------------------------------------------------------

/// `{"a": {"a": … 1 …}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = json!({ "a": v });
    }
    v
}

#[tokio::test]
async fn what_a_request_may_nest_can_be_saved_and_loaded_back() {
    let sim = Sim::start().await;
    // 126 levels passed serde_json's own limit as a body, then the state did not load.
    let deep = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi",
                      "request_data": nested(125)});
    let got = sim.post("/v1/sms/send", deep).await;
    assert_error(&got, 400, "INVALID_JSON");
    assert!(got.1["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("more than 64 levels"));
    // The deepest a body may be (64 levels: the body and 63 in request_data) is kept, and the
    // state and the replay recording that carry it load back.
    let deepest = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi",
                         "request_data": nested(62), "metadata": nested(62)});
    let d = sim.send(deepest).await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    let (status, state) = sim.get("/_sim/state").await;
    assert_eq!(status, 200);
    let (status, v) = sim
        .call(Method::PUT, "/_sim/state", None, &[], Some(state.clone()))
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, again) = sim.get("/_sim/state").await;
    assert_eq!(again["accounts"], state["accounts"]);
    let (status, script) = sim.get(&format!("/_sim/conversations/{id}/replay")).await;
    assert_eq!(status, 200, "{script}");
}

// ---- Regexes -------------------------------------------------------------------------------

/// A scenario whose one node has `rules` rules of `regex`.
fn scenario_with(name: &str, rules: usize, regex: &str) -> Value {
    let routes: Vec<Value> = (0..rules)
        .map(|_| json!({"when": {"regex": regex}, "reply": "matched"}))
        .collect();
    json!({"version": 1, "name": name, "start_node": "a",
           "nodes": {"a": {"say": "hi", "rules": routes}}})
}

#[tokio::test]
async fn a_regex_too_big_to_compile_is_refused_naming_its_rule() {
    let sim = Sim::start().await;
    // `\w{200}` compiles to about 6 MB: 300 of them took 1.75 GB and killed the process.
    let got = sim
        .post("/_sim/scenarios", scenario_with("big", 3, r"\w{200}"))
        .await;
    assert_error(&got, 400, "INVALID_SCENARIO");
    let why = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(why.contains("node \"a\""), "{why}");
    assert!(why.contains("compiles to more than 1024 KiB"), "{why}");
    // Rules just under the limit count what they compile to against the scenarios' bound of
    // 128 MiB, so repeated uploads stop at it instead of growing without end.
    let mut added = 0;
    let refused = loop {
        let got = sim
            .post(
                "/_sim/scenarios",
                scenario_with(&format!("s{added}"), 20, r"\w{20}"),
            )
            .await;
        if got.0 != 201 {
            break got;
        }
        added += 1;
        assert!(added < 1000, "no bound on the scenarios' bytes");
    };
    assert_error(&refused, 413, "SCENARIO_STORAGE_FULL");
    assert!(added > 0);
}

// ---- The webhook log -----------------------------------------------------------------------

/// The body of an answer, as bytes.
async fn bytes_of(sim: &Sim, path: &str) -> (Value, usize) {
    let (status, _, v) = sim.full(Method::GET, path, None, &[], Vec::new()).await;
    assert_eq!(status, 200, "{v}");
    let n = v.to_string().len();
    (v, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_deliveries_costs_the_page_not_the_conversations_length() {
    let sim = Sim::start().await;
    // Nothing listens on the discard port: each delivery is logged and waits for a retry.
    set_webhook(&sim, AGENT, "http://127.0.0.1:9/hook").await;
    // 500 texts and their replies: about 1,000 deliveries, each carrying the chat history so
    // far (the log counts it once, shared), about 80 MB if every payload were written out.
    let mut id = String::new();
    for i in 0..500 {
        id = sim.text(USER, AGENT, &format!("text {i}")).await["conversation_id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let (page, _) = bytes_of(&sim, "/_sim/webhooks?order=newest&limit=1").await;
    let all = page["data"][0]["id"].as_u64().unwrap() as usize;
    assert!(all >= 1000, "{all} deliveries");
    // The default page: 100 summaries (no chat_history), a few hundred bytes each.
    let (page, bytes) = bytes_of(&sim, &format!("/_sim/webhooks?conversation_id={id}")).await;
    let items = page["data"].as_array().unwrap();
    assert_eq!(items.len(), 100);
    assert_eq!(page["has_more"], true);
    assert!(bytes < 200_000, "{bytes} bytes");
    assert!(items[99]["payload"].get("chat_history").is_none());
    assert!(items[99]["chat_history_length"].as_u64().unwrap() > 0);
    // Following the cursor visits every delivery once, oldest first.
    let (mut seen, mut cursor) = (Vec::new(), None::<u64>);
    loop {
        let path = match cursor {
            Some(c) => format!("/_sim/webhooks?limit=1000&cursor={c}"),
            None => "/_sim/webhooks?limit=1000".to_string(),
        };
        let (page, bytes) = bytes_of(&sim, &path).await;
        assert!(bytes < 2_000_000, "{bytes} bytes");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=all as u64).collect::<Vec<_>>());
    // Whole payloads when asked for: the page ends at its byte bound.
    let (page, bytes) = bytes_of(&sim, "/_sim/webhooks?payload=full&limit=1000").await;
    assert_eq!(page["has_more"], true);
    assert!(bytes < 10 * 1024 * 1024, "{bytes} bytes");
    // The newest first, and one delivery by id with its whole payload.
    let (page, _) = bytes_of(&sim, "/_sim/webhooks?order=newest&limit=1").await;
    let newest = page["data"][0]["id"].as_u64().unwrap();
    assert_eq!(newest, all as u64);
    let (one, _) = bytes_of(&sim, &format!("/_sim/webhooks/{newest}")).await;
    let history = one["data"]["payload"]["chat_history"].as_array().unwrap();
    assert_eq!(history.len(), 1000);
    let got = sim.get("/_sim/webhooks/99999").await;
    assert_error(&got, 404, "WEBHOOK_NOT_FOUND");
    let got = sim.get("/_sim/webhooks?limit=0").await;
    assert_error(&got, 400, "INVALID_PARAMETER");
}

// ---- Ids -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_id_never_equals_a_stored_one_whatever_the_seed() {
    // A conversation recorded under seed 1 ...
    let first = Sim::with(manual().seed(1)).await;
    let a = first.text(USER, AGENT, "hello").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, state) = first.get("/_sim/state").await;
    // ... pasted into the fixtures of a later run under seed 1, whose first new conversation
    // draws the same id, and whose next texts the same message ids.
    let second = Sim::with(manual().seed(1).fixtures_json(&state.to_string()).unwrap()).await;
    let other = "+15550007777";
    let b = second.text(other, AGENT, "hi").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a, b, "the new conversation took the stored one's id");
    let (_, list) = second
        .get("/v1/sms/conversations?agent_number=%2B15550002222&limit=100")
        .await;
    let mut ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 2, "{list}");
    ids.dedup();
    assert_eq!(ids.len(), 2, "an id is listed twice");
    // The first user's next text lands in the first user's conversation, and no two of its
    // messages share an id.
    let again = second.text(USER, AGENT, "still me").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(again, a);
    let c = second.conversation(&a).await;
    assert_eq!(c["user_number"], USER);
    let mut message_ids: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let n = message_ids.len();
    message_ids.sort_unstable();
    message_ids.dedup();
    assert_eq!(message_ids.len(), n, "{c}");
    // `PUT /_sim/state` with `ids_issued` set back: the same.
    let mut back = state.clone();
    back["simulator"]["ids_issued"] = json!(0);
    let (status, v) = second
        .call(Method::PUT, "/_sim/state", None, &[], Some(back))
        .await;
    assert_eq!(status, 200, "{v}");
    let c2 = second.text(other, AGENT, "hi").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(c2, a);
}

// ---- State in, state out -------------------------------------------------------------------

#[tokio::test]
async fn a_remembered_answer_that_is_not_final_is_refused() {
    let sim = Sim::start().await;
    let (_, state) = sim.get("/_sim/state").await;
    for status in [100, 101, 103, 600] {
        let mut doc = state.clone();
        doc["accounts"][0]["idempotency"] = json!([{
            "scope": "send", "key": "k1", "status": status, "body": "{}"
        }]);
        let got = sim
            .call(Method::PUT, "/_sim/state", None, &[], Some(doc))
            .await;
        assert_error(&got, 400, "INVALID_STATE");
        assert!(
            got.1["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("final HTTP status (200 to 599)"),
            "{status}: {}",
            got.1
        );
    }
}

#[tokio::test]
async fn timers_past_the_end_of_time_are_not_saved_so_the_state_loads() {
    let sim = Sim::with(
        Simulator::builder()
            .manual_clock()
            .seed(42)
            .start_time("9999-12-31T23:00:00Z"),
    )
    .await;
    // The inactivity timer falls in the year 10000, which no document can say.
    let got = sim
        .post(
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi",
                   "time_out": 86_400}),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let (status, state) = sim.get("/_sim/state").await;
    assert_eq!(status, 200);
    assert!(!state.to_string().contains("+10000"), "{state}");
    let (status, v) = sim
        .call(Method::PUT, "/_sim/state", None, &[], Some(state))
        .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn a_deleted_conversations_carrier_steps_go_with_it() {
    let sim =
        Sim::with(manual().realistic_carrier(Duration::from_secs(1), Duration::from_secs(2))).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    let pending = |clock: &Value| clock["data"]["pending_timers"].to_string();
    let (_, clock) = sim.get("/_sim/clock").await;
    assert!(pending(&clock).contains(&id), "{clock}");
    let (status, _) = sim
        .delete(&format!("/v1/sms/conversations/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (_, clock) = sim.get("/_sim/clock").await;
    assert!(!pending(&clock).contains(&id), "{clock}");
}

#[tokio::test]
async fn a_save_killed_mid_way_leaves_nothing_behind_at_the_next_start() {
    let dir = std::env::temp_dir().join(format!("bland-sim-leftover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    // What `kill -9` during a save leaves: the temporary file of a process that is gone.
    let gone = dir.join("state.json.4000000000.tmp");
    std::fs::write(&gone, b"{\"accounts\": [").unwrap();
    let unrelated = dir.join("other.json.4000000000.tmp");
    std::fs::write(&unrelated, b"x").unwrap();
    let _sim = Sim::with(manual().state_file(&path)).await;
    assert!(!gone.exists(), "the leftover is still there");
    assert!(unrelated.exists(), "another file's was removed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_replay_step_path_stays_on_the_simulator() {
    // A receiver that would see the API key if the step reached it.
    let receiver = Receiver::start().await;
    let authority = receiver
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/hook");
    let (verdict, out) = replay_one(
        "elsewhere",
        json!({"name": "elsewhere", "steps": [{"call": {"method": "POST",
               "path": format!("@{authority}/x"), "body": {}}, "expect": {"status": 200}}]}),
    )
    .await;
    assert_eq!(verdict, bland_sms_sim::replay::Verdict::Failed, "{out}");
    assert!(
        out.contains("`path` must be a path on the simulator"),
        "{out}"
    );
    assert!(receiver.hooks().is_empty(), "the step reached another host");
}

/// Runs one replay script written from `script`; the verdict and the report.
async fn replay_one(name: &str, script: Value) -> (bland_sms_sim::replay::Verdict, String) {
    use bland_sms_sim::replay::{run, Options};
    let dir = std::env::temp_dir().join(format!("bland-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, script.to_string()).unwrap();
    let mut out = Vec::new();
    let (paths, options) = ([path], Options::default());
    let verdict = tokio::time::timeout(Duration::from_secs(30), run(&paths, &options, &mut out))
        .await
        .expect("the run ends")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (verdict, String::from_utf8(out).unwrap())
}

// ---- The request journal -------------------------------------------------------------------

#[tokio::test]
async fn the_journal_cuts_and_counts_every_field_it_keeps() {
    let sim = Sim::start().await;
    let (key, idem) = ("k".repeat(100_000), "i".repeat(50_000));
    let query = format!("q={}", "x".repeat(30_000));
    for _ in 0..20 {
        let got = sim
            .call(
                Method::POST,
                &format!("/v1/nope?{query}"),
                Some(&key),
                &[("idempotency-key", &idem)],
                Some(json!({})),
            )
            .await;
        assert_error(&got, 404, "NOT_FOUND");
    }
    let m = sim.text_of("/_sim/metrics").await;
    let bytes: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("bland_sim_log_bytes{log=\"journal\"} "))
        .expect("the journal's bytes are a metric")
        .parse()
        .unwrap();
    // Whole, the 20 would be 3.6 MB; each is cut to a few KiB, and all of it is counted.
    assert!(
        (20.0 * 2_000.0..20.0 * 8_000.0).contains(&bytes),
        "{bytes} bytes"
    );
    let (_, list) = sim.get("/_sim/requests").await;
    let first = &list["data"][0];
    assert_eq!(first["query"].as_str().unwrap().len(), 2048);
    assert_eq!(first["idempotency_key"].as_str().unwrap().len(), 256);
}

// ---- From the second pass ------------------------------------------------------------------

/// A metric's value.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in the metrics"))
}

/// A conversation of `n` long messages, its number's webhook to the discard port.
async fn long_conversation(sim: &Sim, n: usize) -> String {
    set_webhook(sim, AGENT, "http://127.0.0.1:9/hook").await;
    let text = "x".repeat(1600);
    let id = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": text}))
        .await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 1..n {
        let (status, v) = sim
            .post(
                &format!("/v1/sms/conversations/{id}/messages"),
                json!({"message": text, "sender": "HUMAN"}),
            )
            .await;
        assert_eq!(status, 202, "{v}");
    }
    id
}

#[tokio::test]
async fn deleting_messages_counts_the_history_old_deliveries_keep() {
    // 2 MiB of log; each delete leaves the earlier deliveries a history of their own (about
    // 170 KB here) that the conversation no longer shares.
    let sim = Sim::with(manual().webhook_log_bytes(2 * 1024 * 1024)).await;
    let id = long_conversation(&sim, 100).await;
    let text = "y".repeat(1600);
    for _ in 0..30 {
        let c = sim.conversation(&id).await;
        let first = c["messages"][0]["id"].clone();
        let (status, v) = sim
            .delete(
                &format!("/v1/sms/conversations/{id}/messages"),
                Some(json!({"message_ids": [first]})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        sim.post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": text, "sender": "HUMAN"}),
        )
        .await;
    }
    let m = sim.text_of("/_sim/metrics").await;
    let bytes = metric(&m, "bland_sim_log_bytes{log=\"webhooks\"}");
    // Counted (uncounted, it stayed under 1 MiB while 5 MB were held), and held to the bound:
    // at most one list over it.
    assert!(bytes > 1024.0 * 1024.0, "{bytes}");
    assert!(bytes < 2.0 * 1024.0 * 1024.0 + 200_000.0, "{bytes}");
}

#[tokio::test]
async fn waiting_for_deliveries_answers_a_bounded_page() {
    let sim = Sim::start().await;
    // 300 deliveries whose chat histories add up to about 75 MB.
    long_conversation(&sim, 300).await;
    let (status, _, v) = sim
        .full(
            Method::POST,
            "/_sim/webhooks/wait",
            None,
            &[],
            json!({"count": 1, "timeout_ms": 5000})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    let bytes = v.to_string().len();
    assert!(bytes < 5 * 1024 * 1024, "{bytes} bytes");
    let (_, _, v) = sim
        .full(
            Method::POST,
            "/_sim/webhooks/wait",
            None,
            &[],
            json!({"count": 300, "payload": "summary"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 300);
}

#[tokio::test]
async fn resends_keep_the_latest_twenty_attempts() {
    let sim = Sim::start().await;
    set_webhook(&sim, AGENT, "http://127.0.0.1:9/hook").await;
    let id = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = sim
        .post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    assert_eq!(status, 200);
    for _ in 0..30 {
        let (status, v) = sim
            .post(
                "/v1/sms/conversations/webhooks/resend",
                json!({"conversation_ids": [id]}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        tokio::task::yield_now().await;
    }
    // Let the background resends land.
    let mut attempts = Vec::new();
    for _ in 0..500 {
        let (_, page) = sim
            .get(&format!("/_sim/webhooks?conversation_id={id}&type=status"))
            .await;
        attempts = page["data"][0]["attempts"].as_array().unwrap().clone();
        if attempts.last().and_then(|a| a["attempt"].as_u64()) == Some(31) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(attempts.len(), 20);
    assert_eq!(attempts[0]["attempt"], 12);
    assert_eq!(attempts[19]["attempt"], 31);
}

#[tokio::test]
async fn a_rules_set_cannot_grow_a_conversations_variables_past_their_bound() {
    let sim = Sim::start().await;
    let set: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("v{i}"), json!("{{request_data.x}}")))
        .collect();
    let scenario = json!({"version": 1, "name": "amplify", "start_node": "a",
        "match": {"agent_numbers": [WHATSAPP]},
        "nodes": {"a": {"say": "hi", "rules": [{"when": "any", "set": set, "reply": "ok"}]}}});
    let (status, v) = sim.post("/_sim/scenarios", scenario).await;
    assert_eq!(status, 201, "{v}");
    let d = sim
        .send(json!({"user_number": USER, "agent_number": WHATSAPP,
                     "request_data": {"x": "z".repeat(16_000)}}))
        .await;
    let id = d["conversation_id"].as_str().unwrap().to_string();
    sim.text(USER, WHATSAPP, "yo").await;
    let c = sim.conversation(&id).await;
    let held = c["variables"].to_string().len();
    // 100 × 16 KB asked for; 256 KiB kept.
    assert!(
        (200_000..=262_144).contains(&held),
        "{held} bytes of variables"
    );
}

#[tokio::test]
async fn the_ui_is_never_framed_and_a_framed_navigation_is_refused() {
    let sim = Sim::start().await;
    // The page says no other site may frame it; a JSON answer needs no such header.
    let (status, headers, _) = sim.open("/_sim/ui", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
    let (status, headers, _) = sim
        .full(Method::GET, "/_sim/health", None, &[], vec![])
        .await;
    assert_eq!(status, 200);
    assert!(headers.get("x-frame-options").is_none());
    let got = sim
        .call(
            Method::GET,
            "/_sim/ui",
            None,
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "iframe"),
            ],
            None,
        )
        .await;
    assert_error(&got, 403, "ORIGIN_NOT_ALLOWED");
}

#[tokio::test]
async fn a_simulators_delivery_cannot_drive_a_control_api() {
    let sim = Sim::start().await;
    let got = sim
        .call(
            Method::POST,
            "/_sim/reset",
            None,
            &[("x-bland-sim-delivery", "1")],
            None,
        )
        .await;
    assert_error(&got, 403, "WEBHOOK_NOT_ALLOWED");
    // Its deliveries say so.
    let receiver = Receiver::start().await;
    set_webhook(&sim, AGENT, &receiver.url).await;
    sim.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    let hooks = receiver.wait_for(1).await;
    assert_eq!(hooks[0].headers["x-bland-sim-delivery"], "1");
}

#[tokio::test]
async fn a_state_with_an_inbound_id_past_any_runs_is_refused() {
    let sim = Sim::start().await;
    let (_, mut state) = sim.get("/_sim/state").await;
    state["simulator"]["next_inbound_id"] = json!(u64::MAX);
    let got = sim
        .call(Method::PUT, "/_sim/state", None, &[], Some(state))
        .await;
    assert_error(&got, 400, "INVALID_STATE");
}

#[tokio::test]
async fn a_replay_step_cannot_open_the_event_stream() {
    let (verdict, out) = replay_one(
        "stream",
        json!({"name": "stream", "steps": [{"call": {"method": "GET", "path": "/_sim/events"}}]}),
    )
    .await;
    assert_eq!(verdict, bland_sms_sim::replay::Verdict::Failed, "{out}");
    assert!(out.contains("cannot call /_sim/events"), "{out}");
}
