//! The embedding API: a simulator started, driven, inspected and stopped from Rust.

use std::time::Duration;

use bland_sms_sim::{Error, Simulator};
use hyper::Method;
use serde_json::json;

use crate::support::*;

const FIXTURES: &str = r#"{"accounts":[{"api_key":"sk_test","numbers":[
    {"phone_number":"+15550002222","sms_config":{"time_out":60,"timeout_message":"Bye"}}]}]}"#;

const SCENARIO: &str = r#"{"name":"greeter","default":true,"start_node":"start",
    "nodes":{"start":{"rules":[{"when":{"contains":"hi"},"reply":"Hello {{user_number}}"}]}}}"#;

#[test]
fn the_simulator_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Simulator>();
}

#[tokio::test]
async fn a_test_drives_it_through_the_handle() -> Result<(), Error> {
    let started = Simulator::builder()
        .manual_clock()
        .start_time("2026-01-01T12:00:00Z")
        .seed(7)
        .webhook_secret("whsec_test")
        .fixtures_json(FIXTURES)?
        .scenario_json(SCENARIO)?
        .auto_provision(true)
        .start()
        .await?;
    let http = Sim::attach(started);
    let sim = &http.sim;
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(sim.api_key(), "sk_test");

    let replies = sim.inbound("+15550001111", "+15550002222", "hi").await?;
    assert_eq!(replies, vec!["Hello +15550001111"]);

    // The timeout (60 s) falls due inside the advance: its message is stored.
    sim.advance(Duration::from_secs(61)).await;
    let (_, list) = http
        .call(
            Method::GET,
            "/v1/sms/conversations",
            Some("sk_test"),
            &[],
            None,
        )
        .await;
    assert_eq!(list["data"][0]["status"], "timed_out");
    assert_eq!(list["data"][0]["last_message"], "Bye");
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.requests()[0]["path"], "/v1/sms/conversations");
    assert_eq!(sim.webhooks(), Vec::<serde_json::Value>::new());

    sim.reset().await;
    assert_eq!(sim.requests().len(), 0);
    let base = sim.base_url().to_string();
    http.sim.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn simulators_in_one_process_are_isolated() {
    let a = Sim::start().await;
    let b = Sim::start().await;
    a.send(json!({"user_number": USER, "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let (_, list) = b.get("/v1/sms/conversations").await;
    assert_eq!(list["data"], json!([]));
    assert_ne!(a.sim.base_url(), b.sim.base_url());
}

#[tokio::test]
async fn dropping_the_simulator_stops_it() {
    let sim = Simulator::builder().start().await.unwrap();
    let addr = sim.addr();
    drop(sim);
    // The accept loop ends on the next poll; give the runtime a turn or two.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("still listening on {addr} after drop");
}

#[tokio::test]
async fn errors_name_the_problem() {
    let bad_rule = r#"{"name":"broken","start_node":"s","nodes":{"s":{"rules":[{"when":"any","goto":"nope"}]}}}"#;
    let e = Simulator::builder().scenario_json(bad_rule).err().unwrap();
    assert!(matches!(e, Error::Scenario(_)));
    let text = e.to_string();
    assert!(
        text.contains("\"broken\"") && text.contains("rule 1") && text.contains("nope"),
        "{text}"
    );

    let typo = r#"{"accounts":[{"api_key":"k","numbers":[{"phone_number":"+15550002222","sms_config":{"webhok":"http://x/"}}]}]}"#;
    let e = Simulator::builder().fixtures_json(typo).err().unwrap();
    assert!(matches!(e, Error::Fixtures(_)));
    assert!(e.to_string().contains("\"webhok\""), "{e}");

    let e = Simulator::builder()
        .start_time("yesterday")
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::Option(_)));
    assert!(e.to_string().contains("RFC 3339"), "{e}");

    let sim = Sim::start().await;
    match sim.sim.inbound(USER, "+15559990000", "hi").await {
        Err(Error::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "INBOUND_NUMBER_NOT_FOUND"))
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    match sim.sim.inbound("555", AGENT, "hi").await {
        Err(Error::Api { code, .. }) => assert_eq!(code, "INVALID_PHONE_NUMBER"),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn the_banner_names_a_key_that_works_under_api_key() {
    let sim = Sim::with(manual().api_key("sk_a")).await;
    assert_eq!(sim.sim.api_key(), "sk_a");
    let banner = sim.sim.banner();
    assert!(banner.starts_with("api key: sk_a\n"), "{banner}");
    assert!(banner.contains("accepted keys: sk_a\n"), "{banner}");
    assert!(banner.contains("clock: manual, seed: 42\n"), "{banner}");
    let (s, _) = sim
        .call(
            Method::GET,
            "/v1/sms/numbers",
            Some(sim.sim.api_key()),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn unknown_keys_in_a_provisioned_config_are_refused() {
    let sim = Sim::start().await;
    let got = sim
        .sim(
            Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": "sk_b", "phone_number": "+15558880000", "sms_config": {"webhok": "http://x/"}})),
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("sms_config") && message.contains("\"webhok\""),
        "{message}"
    );
    let (_, numbers) = sim.sim(Method::GET, "/_sim/numbers", None).await;
    assert!(numbers["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["phone_number"] != "+15558880000"));
}

#[test]
fn the_readme_shows_the_example_that_cargo_test_runs() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/embedding.rs");
    let block = example
        .split("// README example start\n")
        .nth(1)
        .and_then(|rest| rest.split("// README example end").next())
        .expect("the example marks the README's part");
    assert!(
        readme.contains(&format!("```rust\n{block}```")),
        "README.md's \"Use it from Rust tests\" differs from examples/embedding.rs"
    );
}
