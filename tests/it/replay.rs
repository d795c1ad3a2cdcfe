//! Conversation tests: the shipped replay scripts, recording a conversation and replaying it,
//! and the reports.

use std::path::PathBuf;

use bland_sms_sim::replay::{run, Options, Verdict};
use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

async fn replay(paths: &[PathBuf], options: &Options) -> (Verdict, String) {
    let mut out = Vec::new();
    let verdict = run(paths, options, &mut out).await.unwrap();
    (verdict, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn the_shipped_replays_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("replays");
    let (verdict, out) = replay(&[dir], &Options::default()).await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
    assert!(out.contains("5 passed, 0 failed (5 scripts)"), "{out}");
}

/// Explores a booking by hand, records it, and replays the recording.
#[tokio::test]
async fn a_recorded_conversation_replays_and_an_altered_one_fails_at_its_step() {
    let sim = Sim::with(
        manual()
            .webhook_url("http://127.0.0.1:9/hooks")
            .webhook_attempts(1),
    )
    .await;
    let sent = sim
        .send(json!({"user_number": USER, "agent_number": BOOKING, "request_data": {"first_name": "Ada"}}))
        .await;
    let id = sent["conversation_id"].as_str().unwrap().to_string();
    sim.advance(20.0).await;
    sim.text(USER, BOOKING, "yes").await;
    sim.advance(3.0).await;
    sim.text(USER, BOOKING, "friday").await;
    sim.advance(60.0).await;
    let script = record(&sim, &id).await;
    let steps = script["steps"].as_array().unwrap();
    assert_eq!(steps[0]["call"]["path"], "/v1/sms/send");
    assert_eq!(steps[1], json!({"advance": 20.0}));
    assert_eq!(steps[2]["user"], "yes");
    assert_eq!(
        steps[2]["replies"],
        json!(["Great! Which day works for you?"])
    );
    let last = steps.last().unwrap();
    assert_eq!(last["conversation"]["status"], "completed");
    assert_eq!(
        last["status_webhooks"],
        json!([{"type": "status", "payload": {"status": "ended"}}])
    );

    let (verdict, out) = replay_script(&script.to_string(), "recorded.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");

    let altered = script
        .to_string()
        .replace("Great! Which day works for you?", "Great! Which day?");
    let (verdict, out) = replay_script(&altered, "altered.json").await;
    assert_eq!(verdict, Verdict::Failed);
    assert!(out.contains("FAIL step 3: user texts \"yes\""), "{out}");
    assert!(
        out.contains(
            "replies[0]: expected \"Great! Which day?\", got \"Great! Which day works for you?\""
        ),
        "{out}"
    );
    assert!(out.contains("skip step 4"), "{out}");

    let missing = sim
        .sim(Method::GET, "/_sim/conversations/nope/replay", None)
        .await;
    assert_error(&missing, 404, "CONVERSATION_NOT_FOUND");
}

#[tokio::test]
async fn junit_and_json_reports_parse_and_a_bad_script_exits_2_naming_the_place() {
    let good = temp_file("good.json");
    std::fs::write(&good, r#"{"steps":[{"advance":1}]}"#).unwrap();
    let bad_step = temp_file("bad-step.json");
    std::fs::write(
        &bad_step,
        r#"{"name":"a <bad> & failing one","setup":{"user_number":"+15550001111","agent_number":"+15550002222"},
            "steps":[{"user":"hi","replies":["nope"]}]}"#,
    )
    .unwrap();
    let junit = temp_file("junit.xml");
    let options = Options {
        junit: Some(junit.clone()),
        ..Options::default()
    };
    let (verdict, _) = replay(&[good.clone(), bad_step.clone()], &options).await;
    assert_eq!(verdict, Verdict::Failed);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit XML parses");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1].attribute("name"), Some("a <bad> & failing one"));
    let failure = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("step 1: user texts \"hi\"")
    );
    assert!(failure
        .text()
        .unwrap()
        .starts_with("replies[0]: expected \"nope\""));
    assert!(cases[0].children().all(|n| !n.has_tag_name("failure")));

    let json_options = Options {
        json: true,
        ..Options::default()
    };
    let (_, out) = replay(&[good, bad_step.clone()], &json_options).await;
    let v: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["scripts"][1]["steps"][0]["outcome"], "failed");

    // Two scripts of one name (two recordings of one conversation) are told apart by file.
    let again = temp_file("bad-step-again.json");
    std::fs::copy(&bad_step, &again).unwrap();
    let (_, _) = replay(&[bad_step.clone(), again.clone()], &options).await;
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let names: Vec<_> = doc
        .descendants()
        .filter_map(|n| n.attribute("name").filter(|_| n.has_tag_name("testcase")))
        .collect();
    assert_eq!(
        names,
        [
            format!("a <bad> & failing one [{}]", bad_step.display()),
            format!("a <bad> & failing one [{}]", again.display()),
        ]
    );

    let unparseable = temp_file("unparseable.json");
    std::fs::write(&unparseable, r#"{"steps":[{"advance":"soon"}]}"#).unwrap();
    let (verdict, out) = replay(&[unparseable], &Options::default()).await;
    assert_eq!(verdict, Verdict::Unreadable);
    assert_eq!(verdict.exit_code(), 2);
    assert!(
        out.contains("unparseable.json: at steps[0].advance"),
        "{out}"
    );
}

/// The recording of conversation `id`.
async fn record(sim: &Sim, id: &str) -> Value {
    let (s, script) = sim
        .sim(
            Method::GET,
            &format!("/_sim/conversations/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{script}");
    script
}

/// Writes a script to `file` and replays it in a fresh simulator; answers the report.
async fn replay_script(script: &str, file: &str) -> (Verdict, String) {
    let path = temp_file(file);
    std::fs::write(&path, script).unwrap();
    replay(&[path], &Options::default()).await
}

/// Records `id` and replays the recording.
async fn record_and_replay(sim: &Sim, id: &str, file: &str) -> (Verdict, String) {
    replay_script(&record(sim, id).await.to_string(), file).await
}

#[tokio::test]
async fn recordings_keep_same_instant_conversations_apart_and_template_ids_and_channels() {
    let sim = Sim::start().await;
    // Two conversations of one pair in the same millisecond: send, end, send again.
    let body =
        |text: &str| json!({"user_number": USER, "agent_number": AGENT, "agent_message": text});
    let first = sim.send(body("one")).await["conversation_id"].clone();
    let first = first.as_str().unwrap();
    let (s, _) = sim
        .post(&format!("/v1/sms/conversations/{first}/end"), json!({}))
        .await;
    assert_eq!(s, 200);
    let second = sim.send(body("two")).await["conversation_id"].clone();
    let second = second.as_str().unwrap();
    assert_ne!(first, second);
    for (id, file) in [(first, "first.json"), (second, "second.json")] {
        let (verdict, out) = record_and_replay(&sim, id, file).await;
        assert_eq!(verdict, Verdict::Passed, "{out}");
    }
    // A hidden message: the recording names it by its place, not the recorded id.
    // (The booking scenario: its replies involve no random choice.)
    let other = sim.text("+15550006666", BOOKING, "hello").await;
    let id = other["conversation_id"].as_str().unwrap().to_string();
    let c = sim.conversation(&id).await;
    let (s, _) = sim
        .delete(
            &format!("/v1/sms/conversations/{id}/messages"),
            Some(json!({"message_ids": [c["messages"][1]["id"]]})),
        )
        .await;
    assert_eq!(s, 200);
    let script = record(&sim, &id).await;
    assert_eq!(
        script["steps"][1]["call"]["body"]["message_ids"],
        json!(["{{message_1}}"])
    );
    let (verdict, out) = record_and_replay(&sim, &id, "hidden.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
    // A WhatsApp text keeps its channel (on the booking number, given a WhatsApp config).
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": BOOKING, "channel": "whatsapp", "time_out": 600}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = sim
        .sim(
            Method::POST,
            "/_sim/inbound",
            Some(json!({"user_number": "+15550005555", "agent_number": BOOKING, "message": "hi", "channel": "whatsapp"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["conversation_id"].as_str().unwrap().to_string();
    let script = record(&sim, &id).await;
    assert_eq!(script["steps"][0]["channel"], "whatsapp");
    let (verdict, out) = record_and_replay(&sim, &id, "whatsapp.json").await;
    assert_eq!(verdict, Verdict::Passed, "{out}");
}
