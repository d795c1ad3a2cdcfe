//! The simulator against the ceiling: a bare hyper server (`bench/bare.rs`) and the simulator,
//! one after the other, under the same oha load on 127.0.0.1 (keep-alive connections, a fixed
//! duration each), in one run. Prints a table of each figure as a ratio of the bare server's,
//! with the targets; `--readme` also writes it into README.md's performance section.
//!
//!   bench/ratio.sh              # 10 s per load, 32 connections
//!   SECONDS_EACH=3 bench/ratio.sh

#[path = "common.rs"]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, KEY};
use serde_json::Value;

/// One load: a request repeated on every connection.
struct Load {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
}

const NUMBERS: Load = Load {
    method: "GET",
    path: "/v1/sms/numbers",
    body: None,
};

/// The same user and agent each time: every request continues one conversation.
const RESUME: Load = Load {
    method: "POST",
    path: "/v1/sms/send",
    body: Some(
        r#"{"user_number":"+15550001111","agent_number":"+15550002222","agent_message":"Your appointment is confirmed for Tuesday at 10."}"#,
    ),
};

/// What one load measured.
#[derive(Default)]
struct Measured {
    rps: f64,
    p99_ms: f64,
    /// Server CPU per request, in µs.
    cpu_us: f64,
    /// Requests answered with a status other than 200.
    not_ok: u64,
}

fn oha(server: &Server, load: &Load, seconds: u64, conns: u32) -> Measured {
    let url = format!("{}{}", server.base, load.path);
    let mut cmd = Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json", "-m", load.method])
        .args(["-z", &format!("{seconds}s"), "-c", &conns.to_string()])
        .args(["-H", &format!("authorization: {KEY}")]);
    if let Some(body) = load.body {
        cmd.args(["-T", "application/json", "-d", body]);
    }
    let cpu = server.cpu_seconds();
    let out = cmd
        .arg(&url)
        .output()
        .expect("oha runs (cargo install oha)");
    let cpu = server.cpu_seconds() - cpu;
    assert!(
        out.status.success(),
        "oha: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oha's JSON");
    let statuses = v["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let count = |pred: &dyn Fn(&str) -> bool| -> u64 {
        statuses
            .iter()
            .filter(|(k, _)| pred(k))
            .filter_map(|(_, n)| n.as_u64())
            .sum()
    };
    let ok = count(&|k| k == "200");
    let all = count(&|_| true);
    Measured {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p99_ms: v["latencyPercentiles"]["p99"].as_f64().unwrap_or(f64::NAN) * 1000.0,
        cpu_us: cpu * 1e6 / all.max(1) as f64,
        not_ok: all - ok,
    }
}

/// Idle RSS (MiB) a moment after start, then each load after a one-second warm-up.
fn measure(server: &Server, loads: &[&Load], seconds: u64, conns: u32) -> (f64, Vec<Measured>) {
    std::thread::sleep(Duration::from_millis(300));
    let idle = server.rss_kib().0 as f64 / 1024.0;
    let runs = loads
        .iter()
        .map(|load| {
            oha(server, load, 1, conns);
            oha(server, load, seconds, conns)
        })
        .collect();
    (idle, runs)
}

fn main() {
    let readme = std::env::args().any(|a| a == "--readme");
    let seconds: u64 = std::env::var("SECONDS_EACH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let conns: u32 = std::env::var("CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let bare_bin = std::env::var("BARE_BIN").expect("bench/ratio.sh names the bare server");
    let loads = [&NUMBERS, &RESUME];

    let bare = Server::launch(std::path::Path::new(&bare_bin), &[]);
    let (bare_idle, bare_runs) = measure(&bare, &loads, seconds, conns);
    drop(bare);
    let sim = Server::start(&[]);
    let (sim_idle, sim_runs) = measure(&sim, &loads, seconds, conns);
    let (status, _) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sim.get("/v1/sms/numbers"));
    assert!(status.is_success(), "the simulator still answers: {status}");
    drop(sim);

    let mut failed = Vec::new();
    for (what, runs) in [("bare", &bare_runs), ("simulator", &sim_runs)] {
        for (load, run) in loads.iter().zip(runs.iter()) {
            if run.not_ok > 0 {
                failed.push(format!(
                    "{what} {} {}: {} answers not 200",
                    load.method, load.path, run.not_ok
                ));
            }
        }
    }

    let ratio = |s: f64, b: f64| s / b;
    let int = |x: f64| common::thousands(x.round() as u64);
    let rows = [
        (
            "`GET /v1/sms/numbers` req/s".to_string(),
            int(bare_runs[0].rps),
            int(sim_runs[0].rps),
            format!("**{:.2}×**", ratio(sim_runs[0].rps, bare_runs[0].rps)),
            "≥ 0.85×",
        ),
        (
            "`POST /v1/sms/send` (resume) req/s".into(),
            int(bare_runs[1].rps),
            int(sim_runs[1].rps),
            format!("**{:.2}×**", ratio(sim_runs[1].rps, bare_runs[1].rps)),
            "≥ 0.85×",
        ),
        (
            "p99 `/send`".into(),
            format!("{:.2} ms", bare_runs[1].p99_ms),
            format!("{:.2} ms", sim_runs[1].p99_ms),
            format!("**{:.2}×**", ratio(sim_runs[1].p99_ms, bare_runs[1].p99_ms)),
            "≤ 1.2×",
        ),
        (
            "server CPU per `/send`".into(),
            format!("{:.1} µs", bare_runs[1].cpu_us),
            format!("{:.1} µs", sim_runs[1].cpu_us),
            format!("{:.2}×", ratio(sim_runs[1].cpu_us, bare_runs[1].cpu_us)),
            "≤ 12 µs",
        ),
        (
            "idle RSS".into(),
            format!("{bare_idle:.1} MiB"),
            format!("{sim_idle:.1} MiB"),
            format!("{:.2}×", ratio(sim_idle, bare_idle)),
            "≤ 6 MiB",
        ),
    ];
    let mut table = format!(
        "oha, {conns} keep-alive connections, {seconds} s per load after a 1 s warm-up, {} cores, {}\n\n\
         | figure | bare hyper | simulator | ratio | target |\n|---|---:|---:|---:|---:|\n",
        common::cores(),
        common::revision(),
    );
    for (figure, bare, sim, ratio, target) in rows {
        table.push_str(&format!(
            "| {figure} | {bare} | {sim} | {ratio} | {target} |\n"
        ));
    }
    print!("{table}");
    if !failed.is_empty() {
        eprintln!("{}", failed.join("\n"));
        std::process::exit(1);
    }
    if readme {
        common::splice_readme("bench/ratio.sh", &table);
    }
}
