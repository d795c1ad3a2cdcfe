//! What each abuse costs, at fixed sizes, against the release binary on 127.0.0.1: the RSS
//! after it (and the time it took, where time was the problem), each against the bound the
//! README states. Exits non-zero when a figure is over its bound.
//!
//!   bench/memory.sh

#[path = "common.rs"]
mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{many, receiver, Server, AGENT, KEY};
use hyper::Method;
use serde_json::json;
use tokio::net::TcpStream;

/// One abuse's figures.
struct Figure {
    what: &'static str,
    rss_mib: f64,
    bound_mib: f64,
    note: String,
}

fn rss(s: &Server) -> f64 {
    s.rss_kib().0 as f64 / 1024.0
}

fn send_body(user: &str, text: &str) -> Bytes {
    Bytes::from(
        json!({"user_number": user, "agent_number": AGENT, "agent_message": text}).to_string(),
    )
}

/// `n` sends (`c` at a time) from users `PREFIX0000000`, `PREFIX0000001`, … to the agent.
async fn sends(s: &Arc<Server>, n: usize, c: usize, prefix: &'static str) {
    let srv = s.clone();
    many(n, c, move |i| {
        let s = srv.clone();
        async move {
            let user = format!("{prefix}{i:07}");
            let body = Some(send_body(&user, "x"));
            s.call(Method::POST, "/v1/sms/send", Some(KEY), &[], body)
                .await;
        }
    })
    .await;
}

/// 1,500 POSTs of 1 MB to an unknown path: the journal keeps copies of 16 KiB prefixes.
async fn journal(s: Arc<Server>) -> Figure {
    let body = Bytes::from(vec![b'x'; 1_000_000]);
    let srv = s.clone();
    many(1500, 8, move |_| {
        let (s, body) = (srv.clone(), body.clone());
        async move {
            s.call(Method::POST, "/nope", None, &[], Some(body)).await;
        }
    })
    .await;
    Figure {
        what: "1,500 POSTs of 1 MB to an unknown path",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: "journal: 1,000 entries of at most 16 KiB".into(),
    }
}

/// 4,000 messages in one conversation with a dead receiver: the webhook log is bounded in
/// bytes (64 MiB by default).
async fn webhook_log(s: Arc<Server>) -> Figure {
    let dead = "http://127.0.0.1:9/hook"; // the discard port: nothing listens
    s.json(
        Method::POST,
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "webhook": dead}),
    )
    .await;
    let text = "x".repeat(50);
    let mut last = Duration::ZERO;
    for i in 0..4000 {
        let started = Instant::now();
        s.call(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[],
            Some(send_body("+15558000000", &text)),
        )
        .await;
        if i >= 3000 {
            last += started.elapsed();
        }
    }
    Figure {
        what: "4,000 messages in one conversation, dead receiver",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "chat_history shared; the last 1,000 sends took {:.2} s",
            last.as_secs_f64()
        ),
    }
}

/// 100,000 conversations with a 60 s timeout, then one advance past them all.
async fn timers(s: Arc<Server>) -> Figure {
    s.json(
        Method::POST,
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "webhook": null, "time_out": 60}),
    )
    .await;
    sends(&s, 100_000, 32, "+1556").await;
    let started = Instant::now();
    let (st, _) = s
        .json(Method::POST, "/_sim/clock/advance", json!({"seconds": 61}))
        .await;
    let took = started.elapsed();
    assert_eq!(st, 200);
    Figure {
        what: "100,000 due timers fired by one advance",
        rss_mib: rss(&s),
        bound_mib: 400.0,
        note: format!(
            "advance took {:.2} s (100,000 conversations stay in memory)",
            took.as_secs_f64()
        ),
    }
}

/// 1,100 idle connections, then a health check: the cap closes the longest-idle ones.
async fn idle_connections(s: Arc<Server>) -> Figure {
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..1100 {
        if let Ok(c) = TcpStream::connect(&addr).await {
            held.push(c);
        }
    }
    let started = Instant::now();
    let (st, _) = s.get("/_sim/health").await;
    let took = started.elapsed();
    drop(held);
    Figure {
        what: "1,100 idle connections, then /_sim/health",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "health answered {st} in {:.0} ms",
            took.as_secs_f64() * 1000.0
        ),
    }
}

/// 1,500 sends to a receiver that hangs: attempts in flight are capped, fresh requests flow.
async fn hanging_receiver(s: Arc<Server>) -> Figure {
    let (hang, _) = receiver(200, Duration::from_secs(60)).await;
    s.json(
        Method::POST,
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "webhook": hang, "time_out": null}),
    )
    .await;
    sends(&s, 1500, 16, "+1557").await;
    let started = Instant::now();
    let (st, _) = s.get("/v1/sms/numbers").await;
    let took = started.elapsed();
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.child.id())).map_or(0, |d| d.count());
    Figure {
        what: "1,500 sends to a hanging receiver",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "{fds} open fds; a fresh request answered {st} in {:.0} ms",
            took.as_secs_f64() * 1000.0
        ),
    }
}

/// A conversation of 50,000 messages: deleting 26,000 ids, reading it three times.
async fn long_conversation(s: Arc<Server>) -> Figure {
    let srv = s.clone();
    let create = |i: usize| {
        Bytes::from(json!({"user_number": "+15559000000", "agent_number": AGENT, "message": format!("m{i}"), "message_sid": format!("sid-{i}")}).to_string())
    };
    many(50_000, 16, move |i| {
        let (s, body) = (srv.clone(), create(i));
        async move {
            s.call(Method::POST, "/v1/sms/create", Some(KEY), &[], Some(body))
                .await;
        }
    })
    .await;
    let (_, list) = s
        .get("/v1/sms/conversations?limit=1&sort_by=message_count")
        .await;
    let id = list["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ids: Vec<String> = (0..26_000).map(|i| format!("sid-{i}")).collect();
    let started = Instant::now();
    s.call(
        Method::DELETE,
        &format!("/v1/sms/conversations/{id}/messages"),
        Some(KEY),
        &[],
        Some(Bytes::from(json!({"message_ids": ids}).to_string())),
    )
    .await;
    let deleted = started.elapsed();
    let started = Instant::now();
    for _ in 0..3 {
        s.get(&format!("/v1/sms/conversations/{id}")).await;
    }
    let read = started.elapsed() / 3;
    Figure {
        what: "50,000 messages: delete 26,000 ids, read it 3 times",
        rss_mib: rss(&s),
        bound_mib: 128.0,
        note: format!(
            "delete took {:.0} ms, a read {:.0} ms",
            deleted.as_secs_f64() * 1000.0,
            read.as_secs_f64() * 1000.0
        ),
    }
}

/// 12,000 sends with 60 KB idempotency keys (refused), then 12,000 with 255-byte ones.
async fn idempotency(s: Arc<Server>) -> Figure {
    let long = "k".repeat(60_000);
    let srv = s.clone();
    many(12_000, 16, move |i| {
        let (s, key) = (srv.clone(), format!("{long}{i}"));
        async move {
            s.call(
                Method::POST,
                "/v1/sms/send",
                Some(KEY),
                &[("idempotency-key", &key)],
                Some(Bytes::new()),
            )
            .await;
        }
    })
    .await;
    let srv = s.clone();
    many(12_000, 16, move |i| {
        let s = srv.clone();
        async move {
            let key = format!("{:0>255}", i);
            s.call(
                Method::POST,
                "/v1/sms/send",
                Some(KEY),
                &[("idempotency-key", &key)],
                Some(send_body("+15559100000", "x")),
            )
            .await;
        }
    })
    .await;
    Figure {
        what: "24,000 idempotency keys (half 60 KB, refused)",
        rss_mib: rss(&s),
        bound_mib: 128.0,
        note: "answers remembered: ≤ 10,000 per account, ≤ 32 MiB in all".into(),
    }
}

/// A multipart upload of `file` as a `batches` file.
fn form(file: &[u8]) -> (String, Bytes) {
    let b = "xBOUNDARYx";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\nbatches\r\n--{b}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={b}"),
        Bytes::from(body),
    )
}

/// Finding 1: a 1 MB CSV of two 100 KB column names and 400,000 rows of `,`, 20 times.
async fn csv_amplification(s: Arc<Server>) -> Figure {
    let mut csv = vec![b'a'; 100_000];
    csv.push(b',');
    csv.extend_from_slice(&[b'b'; 100_000]);
    csv.push(b'\n');
    for _ in 0..400_000 {
        csv.extend_from_slice(b",\n");
    }
    let (content_type, body) = form(&csv);
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (st, _) = s
            .call(
                Method::POST,
                "/v1/files/attach",
                Some(KEY),
                &[("content-type", &content_type)],
                Some(body.clone()),
            )
            .await;
        statuses.push(st.as_u16());
    }
    statuses.dedup();
    Figure {
        what: "20 CSVs of 100 KB column names, 400k empty rows",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "answered {statuses:?}, {:.0} ms each (counted while read)",
            started.elapsed().as_secs_f64() * 50.0
        ),
    }
}

/// Finding 11: files uploaded until the bound across accounts refuses them; what they
/// count against what RSS grew by.
async fn files_bound(s: Arc<Server>) -> Figure {
    let before = rss(&s);
    let mut csv = b"phone_number,name,note\n".to_vec();
    for i in 0..20_000 {
        csv.extend_from_slice(
            format!("+1555{i:07},Name {i},a short note for row {i}\n").as_bytes(),
        );
    }
    let (content_type, body) = form(&csv);
    let (mut counted, mut kept) = (0u64, 0);
    'accounts: for a in 0..16 {
        let key = format!("sk_files_{a}");
        loop {
            let (st, v) = s
                .call(
                    Method::POST,
                    "/v1/files/attach",
                    Some(&key),
                    &[("content-type", &content_type)],
                    Some(body.clone()),
                )
                .await;
            if st != 200 {
                if a >= 8 {
                    break 'accounts;
                }
                break;
            }
            counted += v["data"]["bytes"].as_u64().unwrap_or(0);
            kept += 1;
        }
    }
    let grew = rss(&s) - before;
    let mib = |b: f64| b / 1024.0 / 1024.0;
    let counted_mib = mib(counted as f64);
    // Of what a file counts, 144 bytes a row are the report its batch will keep (no batch
    // runs here): the rest is what the rows hold now.
    let rows_mib = counted_mib - mib((kept * 20_000 * 144) as f64);
    Figure {
        what: "files until the bound across accounts refuses",
        rss_mib: rss(&s),
        bound_mib: 256.0 * 1.25 + 16.0,
        note: format!(
            "{kept} files count {counted_mib:.0} MiB (bound 256): rows {rows_mib:.0}, RSS grew \
             {grew:.0}; the rest their batches' reports"
        ),
    }
}

/// Finding 2: 300 rules of `\w{200}` (refused), then scenarios of 20 `\w{20}` rules each until
/// the scenarios' bound refuses one.
async fn regexes(s: Arc<Server>) -> Figure {
    let scenario = |name: String, rules: usize, re: &str| {
        let rules: Vec<_> = (0..rules)
            .map(|_| json!({"when": {"regex": re}, "reply": "x"}))
            .collect();
        json!({"version": 1, "name": name, "start_node": "a",
               "nodes": {"a": {"say": "hi", "rules": rules}}})
    };
    let started = Instant::now();
    let (big, _) = s
        .json(
            Method::POST,
            "/_sim/scenarios",
            scenario("big".into(), 300, r"\w{200}"),
        )
        .await;
    let refused_in = started.elapsed();
    let mut added = 0;
    let last = loop {
        let (st, _) = s
            .json(
                Method::POST,
                "/_sim/scenarios",
                scenario(format!("s{added}"), 20, r"\w{20}"),
            )
            .await;
        if st.as_u16() != 201 || added >= 5000 {
            break st;
        }
        added += 1;
    };
    Figure {
        what: "300 rules of \\w{200}; then scenarios to the bound",
        rss_mib: rss(&s),
        bound_mib: 128.0 + 48.0,
        note: format!(
            "\\w{{200}}: {big} in {:.0} ms; {added} scenarios of 20 \\w{{20}} kept, then {last}",
            refused_in.as_secs_f64() * 1000.0
        ),
    }
}

/// Finding 3: 1,000 human messages in one conversation, then the webhook log listed: its
/// default page, and whole payloads.
async fn webhook_listing(s: Arc<Server>) -> Figure {
    s.json(
        Method::POST,
        "/v1/sms/number/update",
        json!({"phone_number": AGENT, "webhook": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let (_, d) = s
        .json(
            Method::POST,
            "/v1/sms/send",
            json!({"user_number": "+15558100000", "agent_number": AGENT, "agent_message": "hi"}),
        )
        .await;
    let id = d["data"]["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for i in 0..1000 {
        s.json(
            Method::POST,
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": format!("human text {i} of a long conversation"), "sender": "HUMAN"}),
        )
        .await;
    }
    let size = |v: &serde_json::Value| v.to_string().len() as f64 / 1024.0;
    let started = Instant::now();
    let (_, page) = s.get(&format!("/_sim/webhooks?conversation_id={id}")).await;
    let summary = started.elapsed();
    let started = Instant::now();
    let (_, full) = s.get("/_sim/webhooks?payload=full&limit=1000").await;
    let whole = started.elapsed();
    Figure {
        what: "1,000 human messages; GET /_sim/webhooks",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "page {:.0} KiB in {:.0} ms; payload=full {:.0} KiB ({} items) in {:.0} ms",
            size(&page),
            summary.as_secs_f64() * 1000.0,
            size(&full),
            full["data"].as_array().map_or(0, Vec::len),
            whole.as_secs_f64() * 1000.0
        ),
    }
}

/// Finding 4: a /send of 32,000 unknown fields (384 KB), and /_sim/health while two run.
async fn unknown_fields(s: Arc<Server>) -> Figure {
    let mut body = serde_json::Map::new();
    body.insert("user_number".into(), json!("+15558200000"));
    body.insert("agent_number".into(), json!(AGENT));
    body.insert("agent_message".into(), json!("x"));
    for i in 0..32_000 {
        body.insert(format!("u{i:05}"), json!(1));
    }
    let body = Bytes::from(serde_json::Value::Object(body).to_string());
    let started = Instant::now();
    s.call(
        Method::POST,
        "/v1/sms/send",
        Some(KEY),
        &[],
        Some(body.clone()),
    )
    .await;
    let one = started.elapsed();
    let (a, b) = (s.clone(), s.clone());
    let (ba, bb) = (body.clone(), body.clone());
    let t1 = tokio::spawn(async move {
        a.call(Method::POST, "/_sim/inbound", None, &[], Some(ba))
            .await
    });
    let t2 = tokio::spawn(async move {
        b.call(Method::POST, "/_sim/clock/advance", None, &[], Some(bb))
            .await
    });
    let started = Instant::now();
    s.get("/_sim/health").await;
    let health = started.elapsed();
    let _ = (t1.await, t2.await);
    Figure {
        what: "/send with 32,000 unknown fields (384 KB)",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "answered in {:.0} ms; /_sim/health beside two more: {:.0} ms",
            one.as_secs_f64() * 1000.0,
            health.as_secs_f64() * 1000.0
        ),
    }
}

/// Finding 10: 1,000 requests with a 200 KB authorization, a 150 KB idempotency-key and a
/// 30 KB query string.
async fn journal_fields(s: Arc<Server>) -> Figure {
    let key = "k".repeat(200_000);
    let idem = "i".repeat(150_000);
    let path = format!("/v1/nope?q={}", "x".repeat(30_000));
    let srv = s.clone();
    many(1000, 8, move |_| {
        let (s, key, idem, path) = (srv.clone(), key.clone(), idem.clone(), path.clone());
        async move {
            s.call(
                Method::POST,
                &path,
                Some(&key),
                &[("idempotency-key", &idem)],
                None,
            )
            .await;
        }
    })
    .await;
    let metrics = s.text("/_sim/metrics").await;
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bland_sim_log_bytes{log=\"journal\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    Figure {
        what: "1,000 requests with 380 KB of headers and query",
        rss_mib: rss(&s),
        bound_mib: 64.0,
        note: format!(
            "the journal counts {:.1} MiB of them",
            counted / 1024.0 / 1024.0
        ),
    }
}

/// Finding 9: 210,000 conversations saved to the state file, then a restart that loads it.
async fn state_file(s: Arc<Server>) -> Figure {
    sends(&s, 210_000, 32, "+1559").await;
    let started = Instant::now();
    let (st, _) = s.json(Method::POST, "/_sim/state/save", json!({})).await;
    let saved = started.elapsed();
    let path = state_path();
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let peak = s.rss_kib().1 as f64 / 1024.0;
    let started = Instant::now();
    let again = Server::start(&[
        "--clock",
        "manual",
        "--state-file",
        path.to_str().unwrap_or(""),
    ]);
    let loaded = started.elapsed();
    let metrics = again.text("/_sim/metrics").await;
    let loaded_count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bland_sim_conversations "))
        .unwrap_or("?")
        .trim()
        .to_string();
    let after = rss(&again);
    drop(again);
    let _ = std::fs::remove_file(&path);
    Figure {
        what: "210,000 conversations saved, then loaded",
        rss_mib: after,
        bound_mib: 1024.0,
        note: format!(
            "save {st} in {:.1} s ({:.0} MB, peak {peak:.0} MiB); restart loaded \
             {loaded_count} in {:.1} s",
            saved.as_secs_f64(),
            bytes as f64 / 1e6,
            loaded.as_secs_f64()
        ),
    }
}

fn state_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "bland-sim-memory-state-{}.json",
        std::process::id()
    ))
}

/// Each abuse on a fresh simulator, so every figure is its own.
async fn fresh<F, Fut>(f: F) -> (Figure, f64)
where
    F: FnOnce(Arc<Server>) -> Fut,
    Fut: Future<Output = Figure>,
{
    let state = state_path();
    let server = Arc::new(Server::start(&[
        "--clock",
        "manual",
        "--state-file",
        state.to_str().unwrap_or(""),
    ]));
    let figure = f(server.clone()).await;
    let (_, peak) = server.rss_kib();
    // Dropping the last handle stops the simulator.
    drop(server);
    (figure, peak as f64 / 1024.0)
}

#[tokio::main]
async fn main() {
    let idle = Server::start(&["--clock", "manual"]);
    println!("idle RSS {:.1} MiB", rss(&idle));
    idle.stop();
    let only = std::env::args().nth(1).unwrap_or_default();
    let mut figures = Vec::new();
    if only.is_empty() || only == "journal" {
        figures.push(fresh(journal).await);
    }
    if only.is_empty() || only == "webhooks" {
        figures.push(fresh(webhook_log).await);
    }
    if only.is_empty() || only == "connections" {
        figures.push(fresh(idle_connections).await);
    }
    if only.is_empty() || only == "receiver" {
        figures.push(fresh(hanging_receiver).await);
    }
    if only.is_empty() || only == "idempotency" {
        figures.push(fresh(idempotency).await);
    }
    if only.is_empty() || only == "conversation" {
        figures.push(fresh(long_conversation).await);
    }
    if only.is_empty() || only == "timers" {
        figures.push(fresh(timers).await);
    }
    if only.is_empty() || only == "csv" {
        figures.push(fresh(csv_amplification).await);
    }
    if only.is_empty() || only == "files" {
        figures.push(fresh(files_bound).await);
    }
    if only.is_empty() || only == "regex" {
        figures.push(fresh(regexes).await);
    }
    if only.is_empty() || only == "listing" {
        figures.push(fresh(webhook_listing).await);
    }
    if only.is_empty() || only == "unknown" {
        figures.push(fresh(unknown_fields).await);
    }
    if only.is_empty() || only == "headers" {
        figures.push(fresh(journal_fields).await);
    }
    if only.is_empty() || only == "state" {
        figures.push(fresh(state_file).await);
    }
    let mut over = false;
    println!(
        "{:<52} {:>8} {:>8} {:>6}  note",
        "abuse (each on a fresh simulator)", "RSS MiB", "peak", "bound"
    );
    for (f, peak) in &figures {
        let flag = if f.rss_mib > f.bound_mib {
            over = true;
            "  OVER"
        } else {
            ""
        };
        println!(
            "{:<52} {:>8.1} {:>8.1} {:>6.0}  {}{flag}",
            f.what, f.rss_mib, peak, f.bound_mib, f.note
        );
    }
    if over {
        std::process::exit(1);
    }
}
