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

/// Each abuse on a fresh simulator, so every figure is its own.
async fn fresh<F, Fut>(f: F) -> (Figure, f64)
where
    F: FnOnce(Arc<Server>) -> Fut,
    Fut: Future<Output = Figure>,
{
    let server = Arc::new(Server::start(&["--clock", "manual"]));
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
