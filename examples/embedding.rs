//! The README's "Use it from Rust tests" example. `cargo test` runs it (and
//! `cargo test --example embedding` runs only it).

// Outside `cargo test` the example is only its `main`, and the test's items are unused.
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

// README example start
use bland_sms_sim::Simulator;
use std::time::Duration;

const FIXTURES: &str = r#"{"accounts":[{"api_key":"sk_test","numbers":[
    {"phone_number":"+15550002222","sms_config":{"time_out":60,"timeout_message":"Bye"}}]}]}"#;
const SCENARIO: &str = r#"{"name":"greeter","default":true,"start_node":"start","nodes":{
    "start":{"rules":[{"when":{"contains":"hi"},"reply":"Hello {{user_number}}"}]}}}"#;

#[tokio::test]
async fn the_agent_greets_then_times_out() -> Result<(), bland_sms_sim::Error> {
    let sim = Simulator::builder()
        .manual_clock() // time moves only by advance()
        .start_time("2026-01-01T12:00:00Z")
        .seed(7)
        .webhook_secret("whsec_test")
        .fixtures_json(FIXTURES)?
        .scenario_json(SCENARIO)?
        .auto_provision(true)
        .start()
        .await?; // binds 127.0.0.1:0
    let base: &str = sim.base_url(); // point your client here, with this key:
    let key: &str = sim.api_key(); // "sk_test", the first fixtures key
    assert!(base.starts_with("http://127.0.0.1:") && key == "sk_test");

    // Play the user; the scenario answers.
    let replies = sim.inbound("+15550001111", "+15550002222", "hi").await?;
    assert_eq!(replies, ["Hello +15550001111"]);

    // A minute of silence: the number's 60 s timeout sends its message and ends it.
    sim.advance(Duration::from_secs(60)).await;
    let hooks: Vec<serde_json::Value> = sim.webhooks(); // as GET /_sim/webhooks
    let reqs: Vec<serde_json::Value> = sim.requests(); // as GET /_sim/requests
    assert!(hooks.is_empty() && reqs.is_empty()); // no webhook URL set, no HTTP call made

    sim.reset().await; // as POST /_sim/reset
    sim.shutdown().await; // dropping `sim` also stops it
    Ok(())
}
// README example end

fn main() {
    eprintln!("this example is a test: run it with `cargo test --example embedding`");
}
