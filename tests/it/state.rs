//! Seeded conversations in fixtures, `GET`/`PUT /_sim/state`, and the state file.

use hyper::Method;
use serde_json::{json, Value};

use crate::support::*;

/// A fixtures document with one account, one number and one conversation pasted in the API's
/// shape (no `simulator` object), in the middle of the booking scenario.
fn seeded() -> Value {
    json!({"accounts": [{
        "api_key": "sk_seed",
        "numbers": [{"phone_number": BOOKING, "sms_config": {"time_out": 600}}],
        "conversations": [{
            "id": "11111111-2222-4333-8444-555555555555",
            "user_number": USER,
            "agent_number": BOOKING,
            "created_at": "2025-12-31T09:00:00.000Z",
            "is_active": true,
            "variables": {"name": "Ada"},
            "current_node_id": "pick_day",
            "messages": [
                {"sender": "AGENT", "message": "Would you like to book a cleaning? (yes/no)", "created_at": "2025-12-31T09:00:00.000Z"},
                {"sender": "USER", "message": "yes", "created_at": "2025-12-31T09:00:05.000Z"},
                {"sender": "AGENT", "message": "Which day works for you?", "created_at": "2025-12-31T09:00:06.000Z"}
            ]
        }]
    }]})
}

const SEEDED: &str = "11111111-2222-4333-8444-555555555555";

async fn get_as(sim: &Sim, key: &str, path: &str) -> Value {
    let (s, v) = sim.call(Method::GET, path, Some(key), &[], None).await;
    assert_eq!(s, 200, "{v}");
    v["data"].clone()
}

#[tokio::test]
async fn a_seeded_conversation_reads_as_given_and_continues_from_its_node() {
    let sim = Sim::with(manual().fixtures_json(&seeded().to_string()).unwrap()).await;
    let c = get_as(&sim, "sk_seed", &format!("/v1/sms/conversations/{SEEDED}")).await;
    assert_eq!(c["created_at"], "2025-12-31T09:00:00.000Z");
    assert_eq!(c["variables"], json!({"name": "Ada"}));
    assert_eq!(c["message_count"], 3);
    assert_eq!(c["messages"][1]["from"], USER);
    assert_eq!(c["messages"][1]["sender"], "USER");
    assert_eq!(c["last_message_at"], "2025-12-31T09:00:06.000Z");
    // Its inactivity timer was armed from the load, as the number's config says.
    let (_, clock) = sim.sim(Method::GET, "/_sim/clock", None).await;
    let timers = &clock["data"]["pending_timers"];
    assert_eq!(timers[0]["timer"], format!("timeout {SEEDED}"), "{clock}");
    assert_eq!(timers[0]["due_at"], "2026-01-01T12:10:00.000Z");
    // The next user text continues it at `pick_day`, in the same conversation.
    let reply = sim.text(USER, BOOKING, "Tuesday").await;
    assert_eq!(reply["conversation_id"], SEEDED);
    sim.advance(5.0).await;
    let c = get_as(&sim, "sk_seed", &format!("/v1/sms/conversations/{SEEDED}")).await;
    assert_eq!(c["message_count"], 5);
    let said = c["messages"][4]["message"].as_str().unwrap();
    assert!(
        said.starts_with("Checking the calendar for Tuesday"),
        "{said}"
    );
}

#[tokio::test]
async fn a_bad_seeded_conversation_names_the_conversation_and_the_field() {
    let mut doc = seeded();
    doc["accounts"][0]["conversations"][0]["messages"][1]["sender"] = json!("BOT");
    let e = manual()
        .fixtures_json(&doc.to_string())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(SEEDED) && e.contains("messages[1].sender") && e.contains("BOT"),
        "{e}"
    );
    let mut doc = seeded();
    doc["accounts"][0]["conversations"][0]["agent_number"] = json!(AGENT);
    let e = manual()
        .fixtures_json(&doc.to_string())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not one of this account's numbers"), "{e}");
    let mut doc = seeded();
    doc["accounts"][0]["conversations"][0]["created_at"] = json!("yesterday");
    let e = manual()
        .fixtures_json(&doc.to_string())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`created_at`") && e.contains("ISO 8601"), "{e}");
}

/// Some state worth saving: a booking with a delayed reply pending, a timer, a STOP, a
/// remembered idempotent answer, a handoff and a hidden message.
async fn busy(sim: &Sim) -> String {
    let (s, _) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 300, "warning_time": 120, "warning_message": "Still there?"}),
        )
        .await;
    assert_eq!(s, 200);
    let sent = sim
        .post_idem(
            "idem-1",
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello!", "metadata": {"crm": 7}}),
        )
        .await;
    assert_eq!(sent.0, 200);
    let id = sent.1["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.text(USER, AGENT, "hi").await;
    sim.text("+15550009999", AGENT, "STOP").await;
    sim.text("+15550008888", BOOKING, "yes").await;
    let other = sim.text("+15550007777", AGENT, "hello").await;
    let other = other["conversation_id"].as_str().unwrap();
    let (s, _) = sim
        .post(
            &format!("/v1/sms/conversations/{other}/handoff"),
            json!({"reason": "VIP"}),
        )
        .await;
    assert_eq!(s, 200);
    let c = sim.conversation(&id).await;
    sim.hide(&id, &c["messages"][0]["id"]).await;
    sim.advance(30.0).await;
    // A booking reply waits its 5 s delay.
    sim.text("+15550008888", BOOKING, "friday").await;
    id
}

async fn state(sim: &Sim) -> Value {
    let (s, v) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(s, 200);
    v
}

#[tokio::test]
async fn export_import_export_gives_the_same_document_and_the_same_future() {
    let a = Sim::start().await;
    let id = busy(&a).await;
    let doc = state(&a).await;
    assert_eq!(doc["simulator"]["now"], "2026-01-01T12:00:30.000Z");
    let conversations = doc["accounts"][0]["conversations"].as_array().unwrap();
    let booking = conversations
        .iter()
        .find(|c| c["user_number"] == "+15550008888")
        .unwrap();
    assert_eq!(
        booking["simulator"]["agent_turns"][0]["due"],
        "2026-01-01T12:00:35.000Z"
    );
    // A second simulator takes the document and continues exactly as the first.
    let b = Sim::with(manual().seed(1)).await;
    let (s, v) = b.sim(Method::PUT, "/_sim/state", Some(doc.clone())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["conversations"], 4);
    assert_eq!(state(&b).await, doc, "export → import → export");
    for sim in [&a, &b] {
        sim.advance(100.0).await; // past the warning and the delayed booking reply
    }
    assert_eq!(state(&a).await, state(&b).await);
    let c = b.conversation(&id).await;
    let n = c["messages"].as_array().unwrap().len();
    assert_eq!(c["messages"][n - 1]["message"], "Still there?");
    assert_eq!(a.conversation(&id).await, b.conversation(&id).await);
    // Ids continue the same sequence; the idempotent answer is remembered; STOP is kept.
    let next = json!({"user_number": "+15550006666", "agent_number": AGENT, "agent_message": "x"});
    assert_eq!(a.send(next.clone()).await, b.send(next).await);
    let again = b
        .post_idem(
            "idem-1",
            "/v1/sms/send",
            json!({"user_number": USER, "agent_number": AGENT, "agent_message": "Hello!"}),
        )
        .await;
    assert_eq!(again.1["data"]["conversation_id"], id.as_str());
    let stopped = b
        .post(
            "/v1/sms/send",
            json!({"user_number": "+15550009999", "agent_number": AGENT, "agent_message": "x"}),
        )
        .await;
    assert_error(&stopped, 400, "USER_OPTED_OUT");
}

#[tokio::test]
async fn a_refused_document_leaves_the_state_as_it_was() {
    let sim = Sim::start().await;
    busy(&sim).await;
    let before = state(&sim).await;
    let mut bad = before.clone();
    bad["accounts"][0]["conversations"][1]["messages"][0]["created_at"] = json!("soon");
    let got = sim.sim(Method::PUT, "/_sim/state", Some(bad)).await;
    assert_error(&got, 400, "INVALID_STATE");
    let message = got.1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("messages[0].created_at"), "{message}");
    let (s, v) = sim
        .raw(
            Method::PUT,
            "/_sim/state",
            None,
            &[],
            b"{\"accounts\":".to_vec(),
        )
        .await;
    assert_eq!(
        (s.as_u16(), &v["errors"][0]["error"]),
        (400, &json!("INVALID_JSON"))
    );
    let got = sim
        .sim(
            Method::PUT,
            "/_sim/state",
            Some(json!({"accounts": [], "colour": 1})),
        )
        .await;
    assert_error(&got, 400, "INVALID_STATE");
    assert_eq!(state(&sim).await, before);
    let got = sim.sim(Method::POST, "/_sim/state/save", None).await;
    assert_error(&got, 400, "STATE_FILE_NOT_SET");
}

#[tokio::test]
async fn the_state_file_is_loaded_saved_and_written_on_shutdown() {
    let dir = std::env::temp_dir().join(format!("bland-sim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let first = Sim::with(manual().state_file(&path)).await;
    let id = busy(&first).await;
    let (s, v) = first.sim(Method::POST, "/_sim/state/save", None).await;
    assert_eq!(s, 200, "{v}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved, state(&first).await);
    first.advance(10.0).await;
    let at_stop = state(&first).await;
    first.sim.shutdown().await;
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(on_disk, at_stop, "written on shutdown");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    // A restart with the same file continues: same state, and the pending timers fire.
    let second = Sim::with(manual().state_file(&path)).await;
    assert_eq!(state(&second).await, at_stop);
    let before = second.conversation(&id).await["message_count"].clone();
    second.advance(100.0).await;
    let c = second.conversation(&id).await;
    assert_eq!(
        c["message_count"].as_u64(),
        before.as_u64().map(|n| n + 1),
        "the warning was sent after the restart: {c}"
    );
    assert_eq!(
        c["last_message"],
        json!(null),
        "the detail has no last_message"
    );
    let n = c["messages"].as_array().unwrap().len();
    assert_eq!(c["messages"][n - 1]["message"], "Still there?");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every part of a conversation and its messages that is kept compactly (boxed when set,
/// packed beside the time) reads back exactly, and both simulators go on the same.
#[tokio::test]
async fn compactly_kept_parts_survive_a_state_round_trip() {
    let a = Sim::start().await;
    let (status, _) = a
        .sim(
            Method::POST,
            "/_sim/carrier/rules",
            Some(json!({"user_number": "+15550007777", "status": "failed", "error_code": 30003})),
        )
        .await;
    assert_eq!(status, 201);
    let sent = a
        .send(json!({
            "user_number": USER, "agent_number": AGENT, "agent_message": "Hello!",
            "metadata": {"crm": 7}, "request_data": {"timezone": "Europe/Paris"},
            "disposition_ids": [], "citation_schema_ids": [],
            "webhook": "http://127.0.0.1:9/hook", "objective": "book a table",
            "pathway_id": "pw-1", "pathway_version": "2"
        }))
        .await;
    let id = sent["conversation_id"].as_str().unwrap().to_string();
    a.text(USER, AGENT, "hi").await;
    a.hide(&id, &sent["message_id"]).await;
    let (status, _) = a
        .post(
            "/v1/sms/create",
            json!({"user_number": "+15550006666", "agent_number": AGENT, "message": "noted",
                   "sender": "AGENT", "message_sid": "SM1"}),
        )
        .await;
    assert_eq!(status, 200);
    let failed = a
        .send(json!({"user_number": "+15550007777", "agent_number": AGENT, "agent_message": "x"}))
        .await;
    let failed = failed["conversation_id"].as_str().unwrap().to_string();
    let doc = state(&a).await;
    let convs = doc["accounts"][0]["conversations"].as_array().unwrap();
    let c = convs.iter().find(|c| c["id"] == id.as_str()).unwrap();
    // What the export wrote, field by field (the round trip below compares export with
    // export, which would not see a field both sides dropped).
    let sim_part = &c["simulator"];
    assert_eq!(sim_part["disposition_ids"], json!([]));
    assert_eq!(sim_part["citation_schema_ids"], json!([]));
    assert_eq!(sim_part["objective"], json!("book a table"));
    assert_eq!(
        sim_part["request_data"],
        json!({"timezone": "Europe/Paris"})
    );
    assert_eq!(sim_part["webhook"], json!("http://127.0.0.1:9/hook"));
    assert_eq!(c["metadata"], json!({"crm": 7}));
    assert_eq!(
        (&c["curr_pathway_id"], &c["curr_pathway_version"]),
        (&json!("pw-1"), &json!("2"))
    );
    assert_eq!(c["messages"][0]["deleted"], json!(true));
    let given = convs
        .iter()
        .find(|c| c["user_number"] == "+15550006666")
        .unwrap();
    assert_eq!(given["messages"][0]["id"], "SM1");
    let f = &a.conversation(&failed).await["messages"][0];
    assert_eq!(
        (&f["status"], &f["error_code"]),
        (&json!("failed"), &json!(30003))
    );

    let b = Sim::with(manual().seed(1)).await;
    let (status, v) = b.sim(Method::PUT, "/_sim/state", Some(doc.clone())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(state(&b).await, doc);
    for id in [&id, &failed] {
        assert_eq!(a.conversation(id).await, b.conversation(id).await);
    }
    for sim in [&a, &b] {
        sim.text(USER, AGENT, "hi again").await;
        sim.advance(1000.0).await;
    }
    assert_eq!(state(&a).await, state(&b).await);
}

/// JavaScript's `JSON.parse` loses the digits of a number past 2^53: the state writes its seed
/// as a string, and reads it as a string or a number.
#[tokio::test]
async fn a_seed_is_written_as_a_string_and_read_as_either() {
    let sim = Sim::with(manual().seed(u64::MAX)).await;
    let (_, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(
        state["simulator"]["seed"], "18446744073709551615",
        "{state}"
    );
    for seed in [json!("9007199254740993"), json!(12)] {
        let mut doc = state.clone();
        doc["simulator"]["seed"] = seed.clone();
        let (s, v) = sim.sim(Method::PUT, "/_sim/state", Some(doc)).await;
        assert_eq!(s, 200, "{v}");
        let (_, back) = sim.sim(Method::GET, "/_sim/state", None).await;
        let want = seed.as_str().map_or(seed.to_string(), str::to_string);
        assert_eq!(back["simulator"]["seed"], want.as_str());
    }
    for bad in [json!("12ab"), json!(-1), json!(1.5), json!(true)] {
        let mut doc = state.clone();
        doc["simulator"]["seed"] = bad;
        let got = sim.sim(Method::PUT, "/_sim/state", Some(doc)).await;
        assert_error(&got, 400, "INVALID_STATE");
        assert!(got.1["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a seed is a whole number"));
    }
}
