//! The soak: N seconds (default 20) of 48 clients mixing every operation on a few (agent,
//! user) pairs — sends, idempotent repeats, inbound texts, human messages, handoff, resume,
//! end, PATCH, deletes, lists, number updates pointing webhooks at a failing and a hanging
//! receiver, clock advances and resets — against the release binary on 127.0.0.1. Then it
//! checks the invariants and reports throughput and peak RSS; it exits non-zero on a breach.
//!
//!   bench/soak.sh            # 20 s
//!   bench/soak.sh 10         # what CI runs

#[path = "common.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{receiver, Server, AGENT, KEY};
use hyper::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const CLIENTS: usize = 48;
const AGENTS: &[&str] = &[AGENT, "+15550003333", "+15550004444"];
const USERS: usize = 6;

/// What the clients saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    server_errors: Mutex<Vec<String>>,
    conversations: Mutex<Vec<String>>,
}

fn user(i: usize) -> String {
    format!("+1555700{i:04}")
}

/// One random operation; returns its path and status.
async fn operation(
    s: &Server,
    rng: &mut StdRng,
    seen: &Seen,
    hooks: &[String],
) -> (String, StatusCode) {
    let agent = AGENTS[rng.random_range(0..AGENTS.len())];
    let user = user(rng.random_range(0..USERS));
    let known = {
        let c = seen.conversations.lock().unwrap();
        (!c.is_empty()).then(|| c[rng.random_range(0..c.len())].clone())
    };
    let id = known.unwrap_or_else(|| "none".into());
    let pick = rng.random_range(0..100);
    let (method, path, body): (Method, String, Option<Value>) = match pick {
        0..=19 => (
            Method::POST,
            "/v1/sms/send".into(),
            Some(
                json!({"user_number": user, "agent_number": agent, "agent_message": "hello", "new_conversation": rng.random_bool(0.2)}),
            ),
        ),
        20..=24 => {
            let key = format!("idem-{}", rng.random_range(0..50));
            let body = json!({"user_number": user, "agent_number": agent, "agent_message": key});
            let (st, v) = s
                .call(
                    Method::POST,
                    "/v1/sms/send",
                    Some(KEY),
                    &[("idempotency-key", &key)],
                    Some(Bytes::from(body.to_string())),
                )
                .await;
            note(seen, &v);
            return ("/v1/sms/send (idempotent)".into(), st);
        }
        25..=29 => (
            Method::POST,
            "/v1/sms/create".into(),
            Some(
                json!({"user_number": user, "agent_number": agent, "message": "noted", "sender": "USER"}),
            ),
        ),
        30..=44 => {
            let texts = [
                "hi",
                "yes",
                "1",
                "2",
                "human please",
                "STOP",
                "START",
                "bye",
            ];
            let text = texts[rng.random_range(0..texts.len())];
            (
                Method::POST,
                "/_sim/inbound".into(),
                Some(json!({"user_number": user, "agent_number": agent, "message": text})),
            )
        }
        45..=49 => (
            Method::POST,
            format!("/v1/sms/conversations/{id}/messages"),
            Some(json!({"message": "a person here"})),
        ),
        50..=53 => (
            Method::PATCH,
            format!("/v1/sms/conversations/{id}"),
            Some(json!({"is_active": rng.random_bool(0.5)})),
        ),
        54..=56 => (
            Method::POST,
            format!("/v1/sms/conversations/{id}/handoff"),
            Some(json!({"reason": "soak"})),
        ),
        57..=59 => (
            Method::POST,
            format!("/v1/sms/conversations/{id}/resume"),
            Some(json!({"message": "back"})),
        ),
        60..=61 => (
            Method::POST,
            format!("/v1/sms/conversations/{id}/end"),
            Some(json!({})),
        ),
        62..=63 => (
            Method::DELETE,
            format!("/v1/sms/conversations/{id}/messages"),
            Some(json!({"message_ids": ["x", "y"]})),
        ),
        64 => (Method::DELETE, format!("/v1/sms/conversations/{id}"), None),
        65..=74 => (Method::GET, "/v1/sms/conversations?limit=50".into(), None),
        75..=84 => (Method::GET, format!("/v1/sms/conversations/{id}"), None),
        85..=89 => (
            Method::POST,
            "/v1/sms/number/update".into(),
            Some(
                json!({"phone_number": agent, "webhook": hooks[rng.random_range(0..hooks.len())], "time_out": 60, "warning_time": 30, "warning_message": "still there?"}),
            ),
        ),
        90..=91 => (
            Method::POST,
            "/_sim/clock/advance".into(),
            Some(json!({"seconds": rng.random_range(1..90)})),
        ),
        92..=98 => (Method::GET, "/v1/sms/numbers".into(), None),
        _ => (Method::POST, "/_sim/reset".into(), None),
    };
    let key = (!path.starts_with("/_sim")).then_some(KEY);
    let (st, v) = s
        .call(
            method,
            &path,
            key,
            &[],
            body.map(|b| Bytes::from(b.to_string())),
        )
        .await;
    note(seen, &v);
    (path, st)
}

/// Remembers a conversation id an answer names.
fn note(seen: &Seen, v: &Value) {
    if let Some(id) = v["data"]["conversation_id"].as_str() {
        let mut c = seen.conversations.lock().unwrap();
        if c.len() < 500 {
            c.push(id.to_string());
        } else {
            let i = (seen.requests.load(Ordering::Relaxed) as usize) % c.len();
            c[i] = id.to_string();
        }
    }
}

/// Every conversation of the key.
async fn all_conversations(s: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let (_, v) = s
            .get(&format!(
                "/v1/sms/conversations?limit=1000&from={}&ascending=true",
                out.len()
            ))
            .await;
        let page = v["data"].as_array().cloned().unwrap_or_default();
        let more = v["pagination"]["hasMore"] == true;
        out.extend(page);
        if !more {
            return out;
        }
    }
}

/// The invariants; returns what is broken.
async fn check(s: &Server) -> Vec<String> {
    let mut broken = Vec::new();
    let all = all_conversations(s).await;
    let mut active: HashMap<(String, String), usize> = HashMap::new();
    for c in &all {
        let id = c["id"].as_str().unwrap_or_default();
        let (_, d) = s.get(&format!("/v1/sms/conversations/{id}")).await;
        let shown = d["data"]["messages"].as_array().map_or(0, Vec::len);
        if d["data"]["message_count"] != json!(shown) || c["message_count"] != json!(shown) {
            broken.push(format!(
                "{id}: message_count {} but {shown} messages",
                c["message_count"]
            ));
        }
        if c["is_active"] == true {
            let pair = (c["agent_number"].to_string(), c["user_number"].to_string());
            *active.entry(pair).or_default() += 1;
        }
    }
    for (pair, n) in active.iter().filter(|(_, n)| **n > 1) {
        broken.push(format!("pair {pair:?} has {n} active conversations"));
    }
    let (_, numbers) = s.get("/v1/sms/numbers").await;
    for n in numbers["data"].as_array().cloned().unwrap_or_default() {
        let phone = n["phone_number"].as_str().unwrap_or_default();
        let listed = all.iter().filter(|c| c["agent_number"] == phone).count();
        if n["conversation_count"] != json!(listed) {
            broken.push(format!(
                "{phone}: conversation_count {} but {listed} listed",
                n["conversation_count"]
            ));
        }
    }
    broken
}

/// 32 concurrent repeats of one idempotency key store one message.
async fn check_idempotency(s: &Arc<Server>) -> Option<String> {
    let body =
        json!({"user_number": "+15557999999", "agent_number": AGENT, "agent_message": "once only"});
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (s, body) = (s.clone(), body.to_string());
        tasks.push(tokio::spawn(async move {
            s.call(
                Method::POST,
                "/v1/sms/send",
                Some(KEY),
                &[("idempotency-key", "soak-once")],
                Some(Bytes::from(body)),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        if st != 200 {
            return Some(format!("an idempotent repeat answered {st}: {v}"));
        }
        ids.push(
            v["data"]["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let (_, d) = s.get(&format!("/v1/sms/conversations/{}", ids[0])).await;
    let stored = d["data"]["messages"].as_array().map_or(0, |m| {
        m.iter().filter(|m| m["message"] == "once only").count()
    });
    (stored != 1).then(|| format!("32 idempotent repeats stored {stored} messages"))
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let (failing, _) = receiver(500, Duration::ZERO).await;
    let (hanging, _) = receiver(200, Duration::from_secs(30)).await;
    let (fine, delivered) = receiver(200, Duration::ZERO).await;
    let hooks = Arc::new(vec![failing, hanging, fine]);
    let server = Arc::new(Server::start(&[
        "--clock",
        "manual",
        "--webhook-timeout-ms",
        "500",
        "--auto-provision",
    ]));
    let seen = Arc::new(Seen::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (server, seen, hooks) = (server.clone(), seen.clone(), hooks.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(c as u64);
            while Instant::now() < deadline {
                let (path, st) = operation(&server, &mut rng, &seen, &hooks).await;
                seen.requests.fetch_add(1, Ordering::Relaxed);
                if st.is_server_error() {
                    seen.server_errors
                        .lock()
                        .unwrap()
                        .push(format!("{st} {path}"));
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut broken = seen.server_errors.lock().unwrap().clone();
    broken.extend(check(&server).await);
    broken.extend(check_idempotency(&server).await);
    let (_, peak) = server.rss_kib();
    if server.stderr().contains("panicked") {
        broken.push(format!("a panic on stderr:\n{}", server.stderr()));
    }
    let requests = seen.requests.load(Ordering::Relaxed);
    println!(
        "soak: {requests} requests from {CLIENTS} clients in {elapsed:.1} s ({:.0} req/s), {} webhooks delivered, peak RSS {:.1} MiB",
        requests as f64 / elapsed,
        delivered.load(Ordering::Relaxed),
        peak as f64 / 1024.0
    );
    let server = Arc::try_unwrap(server).ok().expect("the clients are done");
    let status = server.stop();
    if !status.success() {
        broken.push(format!("the simulator exited with {status} on SIGTERM"));
    }
    if broken.is_empty() {
        println!("soak: every invariant holds");
    } else {
        for b in broken.iter().take(20) {
            eprintln!("soak: BROKEN: {b}");
        }
        std::process::exit(1);
    }
}
