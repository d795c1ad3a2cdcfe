//! What the simulator costs as the work grows, against the release binary on 127.0.0.1, at a
//! stated size (100,000 by default; `SIZE=1000000` for a million):
//! - memory per conversation holding one 40-character message, and per further message;
//! - a filtered, sorted list page over all of one account's conversations (median of 21);
//! - one `advance` firing a due inactivity timer in every conversation;
//! - webhook deliveries a second to a loopback receiver, and the memory they leave behind.
//!
//! Prints a table; `--readme` also writes it into docs/performance.md.
//!
//!   bench/figures.sh
//!   SIZE=1000000 bench/figures.sh

#[path = "common.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{many, receiver, thousands, Server, AGENT, KEY};
use hyper::Method;
use serde_json::json;

/// Exactly 40 characters.
const TEXT: &str = "Your appointment is confirmed for Tue 10";

fn rss_bytes(s: &Server) -> f64 {
    s.rss_kib().0 as f64 * 1024.0
}

/// One `/send` from the agent to user `{prefix}{i:07}`.
async fn send(s: &Server, prefix: &str, i: usize) {
    let body = json!({"user_number": format!("{prefix}{i:07}"), "agent_number": AGENT, "agent_message": TEXT});
    let (st, _) = s
        .call(
            Method::POST,
            "/v1/sms/send",
            Some(KEY),
            &[],
            Some(Bytes::from(body.to_string())),
        )
        .await;
    assert_eq!(st, 200, "send {i}");
}

/// `/send`s to `users` users (`+1555…`), each `rounds` times.
async fn sends(s: &Arc<Server>, users: usize, rounds: usize) {
    let srv = s.clone();
    many(users * rounds, 32, move |i| {
        let s = srv.clone();
        async move { send(&s, "+1555", i % users).await }
    })
    .await;
}

/// What every later send reuses, allocated: 1,000 sends to other users (`+1556…`).
async fn warm_up(s: &Arc<Server>) {
    let srv = s.clone();
    many(1000, 32, move |i| {
        let s = srv.clone();
        async move { send(&s, "+1556", i).await }
    })
    .await;
}

/// A fresh simulator on a manual clock, settled.
fn fresh() -> Arc<Server> {
    let s = Arc::new(Server::start(&["--clock", "manual"]));
    std::thread::sleep(Duration::from_millis(200));
    s
}

struct Row {
    figure: String,
    value: String,
    target: &'static str,
}

/// Memory per conversation and per further message, then the list over the same state.
async fn conversations(n: usize, rows: &mut Vec<Row>) {
    let s = fresh();
    warm_up(&s).await;
    let before = rss_bytes(&s);
    sends(&s, n, 1).await;
    let after = rss_bytes(&s);
    rows.push(Row {
        figure: format!(
            "memory per conversation holding one 40-char message ({} conversations)",
            thousands(n as u64)
        ),
        value: format!("{:.0} B", (after - before) / n as f64),
        target: "≤ 500 B",
    });
    // 20 further messages in each of a tenth of them.
    let (users, rounds) = (n / 10, 20);
    sends(&s, users, rounds).await;
    let grown = rss_bytes(&s);
    rows.push(Row {
        figure: format!(
            "memory per further 40-char message ({} messages)",
            thousands((users * rounds) as u64)
        ),
        value: format!("{:.0} B", (grown - after) / (users * rounds) as f64),
        target: "≤ 120 B",
    });

    let filters = json!([
        {"field": "user_number", "operator": "contains", "value": "+15550"},
        {"field": "is_active", "operator": "eq", "value": true},
    ])
    .to_string();
    let enc: String = form_urlencoded::byte_serialize(filters.as_bytes()).collect();
    let path = format!("/v1/sms/conversations?filters={enc}&sort_by=message_count&limit=25");
    let mut took = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let (st, body) = s.get(&path).await;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(st, 200, "{body}");
        assert_eq!(
            body["data"].as_array().map(Vec::len),
            Some(25),
            "a full page"
        );
        assert_eq!(body["data"][0]["message_count"], 21, "the longest first");
    }
    took.sort_by(f64::total_cmp);
    rows.push(Row {
        figure: format!(
            "filtered list page over {} conversations (contains on `user_number`, `is_active` eq, sort by `message_count`), median",
            thousands(n as u64 + 1000)
        ),
        value: format!("{:.1} ms", took[took.len() / 2]),
        target: "≤ 10 ms",
    });
}

/// One advance past the inactivity timeout of `n` conversations.
async fn timers(n: usize, rows: &mut Vec<Row>) {
    let s = fresh();
    let (st, _) = s
        .json(
            Method::POST,
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 60}),
        )
        .await;
    assert_eq!(st, 200);
    sends(&s, n, 1).await;
    let started = Instant::now();
    let (st, body) = s
        .json(Method::POST, "/_sim/clock/advance", json!({"seconds": 61}))
        .await;
    let took = started.elapsed();
    assert_eq!(st, 200, "{body}");
    let (st, list) = s
        .get("/v1/sms/conversations?limit=1&sort_by=updated_at")
        .await;
    assert_eq!(st, 200);
    assert_eq!(list["data"][0]["is_active"], false, "timed out: {list}");
    rows.push(Row {
        figure: format!("`advance` firing {} due timers", thousands(n as u64)),
        value: format!("{:.2} s", took.as_secs_f64()),
        target: "≤ 0.5 s",
    });
}

/// `n` sends with a webhook each to a receiver on loopback, each to a new user (so each
/// body carries a one-item `chat_history`), and what the delivery log holds after.
async fn webhooks(n: usize, rows: &mut Vec<Row>) {
    let s = fresh();
    let (url, got) = receiver(200, Duration::ZERO).await;
    let (st, _) = s
        .json(
            Method::POST,
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "webhook": url}),
        )
        .await;
    assert_eq!(st, 200);
    warm_up(&s).await;
    while got.load(Ordering::Relaxed) < 1000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let base = got.load(Ordering::Relaxed);
    let started = Instant::now();
    let srv = s.clone();
    many(n, 32, move |i| {
        let s = srv.clone();
        async move { send(&s, "+1557", i).await }
    })
    .await;
    // Until the receiver has had nothing new for half a second.
    let (mut last, mut last_at) = (got.load(Ordering::Relaxed), Instant::now());
    while last_at.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = got.load(Ordering::Relaxed);
        if now != last {
            (last, last_at) = (now, Instant::now());
        }
    }
    let delivered = last - base;
    let secs = (last_at - started).as_secs_f64();
    assert!(
        delivered >= n as u64,
        "every send's webhook arrived: {delivered} of {n}"
    );
    rows.push(Row {
        figure: format!(
            "webhook deliveries to a loopback receiver ({} sends, each answered and delivered)",
            thousands(n as u64)
        ),
        value: format!("{}/s", thousands((delivered as f64 / secs) as u64)),
        target: "≥ 20,000/s",
    });
    let metrics = s.text("/_sim/metrics").await;
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.contains(name) && l.contains("log=\"webhooks\"") && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    rows.push(Row {
        figure: "the delivery log after them (bounds: 10,000 deliveries, 64 MiB)".into(),
        value: format!(
            "{} deliveries, {:.1} MiB",
            thousands(gauge("log_entries") as u64),
            gauge("log_bytes") / 1048576.0
        ),
        target: "bounded",
    });
}

#[tokio::main]
async fn main() {
    let readme = std::env::args().any(|a| a == "--readme");
    let n: usize = std::env::var("SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut rows = Vec::new();
    conversations(n, &mut rows).await;
    timers(n, &mut rows).await;
    webhooks(n, &mut rows).await;
    let mut table = format!(
        "release build on 127.0.0.1, {} cores, {}; memory is the RSS growth over a step divided by what it added\n\n\
         | figure | measured | target |\n|---|---:|---:|\n",
        common::cores(),
        common::revision()
    );
    for r in rows {
        table.push_str(&format!("| {} | {} | {} |\n", r.figure, r.value, r.target));
    }
    print!("{table}");
    if readme {
        common::splice_performance(&format!("bench/figures.sh {}", thousands(n as u64)), &table);
    }
}
