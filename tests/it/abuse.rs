//! What a client, a receiver or a long run may throw at the simulator: each case must answer
//! in the envelope and leave state whole.

use std::sync::Arc;

use bland_sms_sim::{Error, Simulator};
use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Every conversation of the key, from the offset-style list.
async fn all_conversations(sim: &Sim) -> Vec<Value> {
    let (_, v) = sim.get("/v1/sms/conversations?limit=1000").await;
    v["data"].as_array().unwrap().clone()
}

// Two worker threads: on one, the handlers (synchronous steps) could never interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reactivation_and_new_conversations_leave_one_active_per_pair() {
    let sim = Arc::new(Sim::start().await);
    let body = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"});
    let fresh = json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x", "new_conversation": true});
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            sim.send(fresh.clone()).await["conversation_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for round in 0..100 {
        let mut tasks = Vec::new();
        for id in &ids {
            let (sim, id) = (sim.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                sim.patch(
                    &format!("/v1/sms/conversations/{id}"),
                    json!({"is_active": true}),
                )
                .await
            }));
        }
        let (s2, b2) = (
            sim.clone(),
            if round % 2 == 0 {
                fresh.clone()
            } else {
                body.clone()
            },
        );
        tasks.push(tokio::spawn(
            async move { s2.post("/v1/sms/send", b2).await },
        ));
        for t in tasks {
            assert_eq!(t.await.unwrap().0, 200);
        }
        let active = all_conversations(&sim)
            .await
            .iter()
            .filter(|c| c["is_active"] == true)
            .count();
        assert_eq!(
            active, 1,
            "round {round}: the pair has {active} active conversations"
        );
    }
}

#[tokio::test]
async fn every_text_is_capped_at_1600_characters() {
    let sim = Sim::start().await;
    let long = "x".repeat(1601);
    let id = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        (
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": long}),
        ),
        (
            "/v1/sms/create",
            json!({"user_number": USER, "agent_number": AGENT, "message": long}),
        ),
    ];
    for (path, body) in cases {
        assert_error(&sim.post(path, body).await, 400, "MESSAGE_TOO_LONG");
    }
    let inbound = json!({"user_number": USER, "agent_number": AGENT, "message": long});
    assert_error(
        &sim.sim(Method::POST, "/_sim/inbound", Some(inbound)).await,
        400,
        "MESSAGE_TOO_LONG",
    );
    match sim.sim.inbound(USER, AGENT, &long).await {
        Err(Error::Api { code, .. }) => assert_eq!(code, "MESSAGE_TOO_LONG"),
        other => panic!("expected MESSAGE_TOO_LONG, got {other:?}"),
    }
    assert_error(
        &sim.post(
            &format!("/v1/sms/conversations/{id}/handoff"),
            json!({"reason": "r".repeat(501)}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    // Exactly 1,600 is fine, and nothing above was stored.
    sim.send(
        json!({"user_number": USER, "agent_number": AGENT, "agent_message": "y".repeat(1600)}),
    )
    .await;
    assert_eq!(sim.conversation(&id).await["message_count"], 2);
}

#[tokio::test]
async fn urls_files_and_times_out_of_range_are_refused() {
    let sim = Sim::start().await;
    assert_error(
        &sim.post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": "http://127.0.0.1:99999/hook"}),
        )
        .await,
        400,
        "INVALID_PARAMETER",
    );
    let e = Simulator::builder()
        .webhook_url("ftp://example.test/")
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::Option(_)), "{e}");
    let e = Simulator::builder()
        .fixtures_path("/dev/zero")
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    let e = Simulator::builder()
        .start_time("10000-01-01T00:00:00Z")
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::Option(_)), "{e}");

    // The clock stops at 9999-12-31: a move past it is refused and changes nothing.
    let before = sim.sim(Method::GET, "/_sim/clock", None).await.1["data"]["now"].clone();
    let far = json!({"seconds": 3.0e9 * 100.0});
    assert_error(
        &sim.sim(Method::POST, "/_sim/clock/advance", Some(far))
            .await,
        400,
        "INVALID_PARAMETER",
    );
    for _ in 0..25 {
        sim.sim(
            Method::POST,
            "/_sim/clock/advance",
            Some(json!({"seconds": 315_360_000})),
        )
        .await;
    }
    let now = sim.sim(Method::GET, "/_sim/clock", None).await.1["data"]["now"].clone();
    assert_ne!(now, before);
    assert!(now.as_str().unwrap().starts_with("2"), "{now}");
    sim.sim
        .advance(std::time::Duration::from_secs(u64::MAX))
        .await;
    let end = sim.sim(Method::GET, "/_sim/clock", None).await.1["data"]["now"].clone();
    assert_eq!(end, "9999-12-31T23:59:59.999Z");
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_among_the_scenarios_is_refused_not_waited_on() {
    let dir = std::env::temp_dir().join(format!("bland-sim-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        std::fs::remove_dir_all(&dir).unwrap();
        return; // no mkfifo here: nothing to check
    }
    let e = Simulator::builder().scenarios_dir(&dir).err().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[tokio::test]
async fn a_webhook_to_the_simulators_own_control_api_is_refused() {
    let sim = Sim::start().await;
    let own = format!("{}/_sim/reset", sim.base);
    set_webhook(&sim, AGENT, &own).await;
    let d = sim
        .send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "hi"}))
        .await;
    // Deliveries run in the background: wait for the refusal to be logged.
    let mut log = Vec::new();
    for _ in 0..200 {
        log = sim.sim.webhooks();
        if log.first().is_some_and(|d| d["status"] == "failed") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 1);
    let why = log[0]["attempts"][0]["error_message"].as_str().unwrap();
    assert!(why.starts_with("refused"), "{why}");
    // Nothing was reset: the conversation is still there.
    let id = d["conversation_id"].as_str().unwrap();
    assert_eq!(sim.conversation(id).await["message_count"], 1);
}

#[tokio::test]
async fn thousands_of_due_timers_fire_in_one_advance_in_order() {
    let sim = Sim::start().await;
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 60, "timeout_message": "Bye"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let n = 2_000;
    for i in 0..n {
        let user = format!("+1555100{i:04}");
        sim.send(json!({"user_number": user, "agent_number": AGENT, "agent_message": "x"}))
            .await;
    }
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["data"]["pending_timers"].as_array().unwrap().len(), n);
    let after = sim.advance(61.0).await;
    assert_eq!(after["pending_timers"], json!([]));
    let (_, list) = sim
        .get("/v1/sms/conversations?limit=1000&filters=%5B%7B%22field%22%3A%22status%22%2C%22operator%22%3A%22eq%22%2C%22value%22%3A%22timed_out%22%7D%5D")
        .await;
    assert_eq!(list["pagination"]["totalItems"], n);
}

#[tokio::test]
async fn reset_during_an_advance_waits_for_it_and_does_not_deadlock() {
    let sim = Arc::new(Sim::start().await);
    sim.post(
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "time_out": 60}),
    )
    .await;
    for i in 0..200 {
        let user = format!("+1555200{i:04}");
        sim.send(json!({"user_number": user, "agent_number": AGENT, "agent_message": "x"}))
            .await;
    }
    let (a, b) = (sim.clone(), sim.clone());
    let advance = tokio::spawn(async move { a.advance(120.0).await });
    let reset = tokio::spawn(async move { b.sim(Method::POST, "/_sim/reset", None).await });
    let (advanced, reset) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        (advance.await.unwrap(), reset.await.unwrap())
    })
    .await
    .expect("advance and reset both finish");
    assert_eq!(reset.0, 200);
    assert!(advanced["now"].is_string());
    assert_eq!(all_conversations(&sim).await, Vec::<Value>::new());
}

#[tokio::test]
async fn an_admin_token_guards_the_control_api_but_health() {
    let sim = Sim::with(manual().admin_token("s3cret")).await;
    let refused = sim.sim(Method::POST, "/_sim/reset", None).await;
    assert_error(&refused, 401, "AUTH_FAILURE");
    let message = refused.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("x-sim-admin-token"), "{message}");
    let wrong = sim
        .call(
            Method::GET,
            "/_sim/requests",
            None,
            &[("x-sim-admin-token", "nope")],
            None,
        )
        .await;
    assert_error(&wrong, 401, "AUTH_FAILURE");
    let (s, _) = sim
        .call(
            Method::GET,
            "/_sim/requests",
            None,
            &[("x-sim-admin-token", "s3cret")],
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = sim
        .call(
            Method::POST,
            "/_sim/reset",
            Some("Bearer s3cret"),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = sim.sim(Method::GET, "/_sim/health", None).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("ok")));
    // Bland's API is unaffected: it takes API keys, not the token.
    let (s, _) = sim.get("/v1/sms/numbers").await;
    assert_eq!(s, 200);
}

mod connections {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::support::*;

    /// Reads until the server closes the connection (or 5 s pass); returns what it sent.
    async fn read_to_close(s: &mut TcpStream) -> Option<String> {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        read.ok()
            .map(|_| String::from_utf8_lossy(&out).into_owned())
    }

    async fn connect(sim: &Sim) -> TcpStream {
        TcpStream::connect(sim.base.trim_start_matches("http://"))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn idle_keep_alive_connections_and_slow_headers_are_closed() {
        let timeout = Duration::from_millis(300);
        let sim = Sim::with(manual().keep_alive_timeout(timeout)).await;
        let mut idle = connect(&sim).await;
        idle.write_all(b"GET /_sim/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let got = read_to_close(&mut idle)
            .await
            .expect("closed after the idle timeout");
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        let mut slow = connect(&sim).await;
        slow.write_all(b"GET /_sim/health HTTP/1.1\r\nhos")
            .await
            .unwrap();
        let got = read_to_close(&mut slow)
            .await
            .expect("closed after the header timeout");
        assert!(!got.contains("200 OK"), "{got}");
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_answers_408() {
        let sim = Sim::with(manual().body_timeout(Duration::from_millis(300))).await;
        let mut s = connect(&sim).await;
        s.write_all(
            b"POST /v1/sms/send HTTP/1.1\r\nhost: localhost\r\nauthorization: sk_sim_default\r\n\
              content-length: 100000000\r\n\r\n{\"a\"",
        )
        .await
        .unwrap();
        let got = read_to_close(&mut s).await.expect("answered and closed");
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(got.contains("\"error\":\"REQUEST_TIMEOUT\""), "{got}");
    }

    #[tokio::test]
    async fn at_the_connection_cap_the_longest_idle_one_makes_room() {
        let sim = Sim::with(manual().max_connections(4)).await;
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(connect(&sim).await);
        }
        // A fifth client still gets answers: the oldest idle connection is closed for it.
        let (s, v) = sim.sim(hyper::Method::GET, "/_sim/health", None).await;
        assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("ok")));
        let first = read_to_close(&mut idle[0])
            .await
            .expect("the oldest was closed");
        assert_eq!(first, "");
    }
}

#[tokio::test]
async fn a_self_feeding_scenario_variable_stops_growing() {
    let scenario = r#"{"name":"grow","match":{"agent_numbers":["+15550002222"]},"start_node":"s",
        "nodes":{"s":{"rules":[{"when":"any","set":{"a":"{{a}}{{a}}x"},"reply":"{{a}}"}]}}}"#;
    let sim = Sim::with(manual().scenario_json(scenario).unwrap()).await;
    let mut id = String::new();
    for _ in 0..30 {
        let r = sim.text(USER, AGENT, "more").await;
        let reply = r["replies"][0]["message"].as_str().unwrap();
        assert!(
            reply.chars().count() <= 1600,
            "a reply of {} chars",
            reply.len()
        );
        id = r["conversation_id"].as_str().unwrap().to_string();
    }
    let c = sim.conversation(&id).await;
    let a = c["variables"]["a"].as_str().unwrap();
    assert!(a.len() <= 16 * 1024, "a variable of {} bytes", a.len());
    assert_eq!(c["message_count"], 60);
}

#[tokio::test]
async fn chat_history_is_shared_yet_each_body_stays_as_it_was_sent() {
    let sim = Sim::start().await;
    let rx = Receiver::start().await;
    set_webhook(&sim, AGENT, &rx.url).await;
    let body = |t: &str| json!({"user_number": USER, "agent_number": AGENT, "agent_message": t});
    let id = sim.send(body("one")).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.send(body("two")).await;
    let first_id = sim.conversation(&id).await["messages"][0]["id"].clone();
    sim.hide(&id, &first_id).await;
    sim.send(body("three")).await;
    let hooks = rx.wait_for(3).await;
    let history = |h: &Hook| -> Vec<String> {
        h.json["chat_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(history(&hooks[0]), ["one"]);
    assert_eq!(history(&hooks[1]), ["one", "two"]);
    assert_eq!(history(&hooks[2]), ["two", "three"]);
    // What the log keeps is what was sent, byte for byte.
    let log = sim.sim.webhooks();
    for (h, d) in hooks.iter().zip(&log) {
        assert_eq!(
            serde_json::from_slice::<Value>(&h.body).unwrap(),
            d["payload"]
        );
        assert_eq!(h.signature, d["signature"]);
    }
}
