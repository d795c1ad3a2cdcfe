//! The simulator against the ceiling: a bare hyper server (`bench/bare.rs`) and the simulator,
//! one after the other, under the same oha load on 127.0.0.1 (keep-alive connections, a fixed
//! duration each), in one run. Prints a table of each figure as a ratio of the bare server's,
//! with the targets; `--readme` also writes it into docs/performance.md.
//!
//!   bench/ratio.sh              # 3 rounds of 5 s per load and server, 32 connections
//!   ROUNDS=5 SECONDS_EACH=10 bench/ratio.sh

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

/// Idle RSS (MiB) a moment after start.
fn idle_rss(server: &Server) -> f64 {
    std::thread::sleep(Duration::from_millis(300));
    server.rss_kib().0 as f64 / 1024.0
}

/// The median of what `f` picks from each round.
fn median(runs: &[Measured], f: impl Fn(&Measured) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let readme = std::env::args().any(|a| a == "--readme");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (seconds, conns, rounds) = (
        env("SECONDS_EACH", 5),
        env("CONNS", 32) as u32,
        env("ROUNDS", 3),
    );
    let bare_bin = std::env::var("BARE_BIN").expect("bench/ratio.sh names the bare server");
    let loads = [&NUMBERS, &RESUME];

    let bare = Server::launch(std::path::Path::new(&bare_bin), &[]);
    let sim = Server::start(&[]);
    let (bare_idle, sim_idle) = (idle_rss(&bare), idle_rss(&sim));
    // Rounds of the bare server then the simulator under each load, so that whatever else the
    // machine does falls on both alike; each figure is the median over the rounds.
    let mut bare_runs: Vec<Vec<Measured>> = loads.iter().map(|_| Vec::new()).collect();
    let mut sim_runs: Vec<Vec<Measured>> = loads.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, load) in loads.iter().enumerate() {
            for (server, runs) in [(&bare, &mut bare_runs), (&sim, &mut sim_runs)] {
                oha(server, load, 1, conns);
                runs[i].push(oha(server, load, seconds, conns));
            }
        }
    }
    let (status, _) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sim.get("/v1/sms/numbers"));
    assert!(status.is_success(), "the simulator still answers: {status}");
    drop((bare, sim));

    let mut failed = Vec::new();
    for (what, runs) in [("bare", &bare_runs), ("simulator", &sim_runs)] {
        for (load, runs) in loads.iter().zip(runs.iter()) {
            let not_ok: u64 = runs.iter().map(|r| r.not_ok).sum();
            if not_ok > 0 {
                failed.push(format!(
                    "{what} {} {}: {not_ok} answers not 200",
                    load.method, load.path
                ));
            }
        }
    }

    // A load's figure for each server (medians), and the median of the rounds' ratios.
    let paired = |i: usize, f: fn(&Measured) -> f64| {
        let mut ratios: Vec<f64> = bare_runs[i]
            .iter()
            .zip(&sim_runs[i])
            .map(|(b, s)| f(s) / f(b))
            .collect();
        ratios.sort_by(f64::total_cmp);
        (
            median(&bare_runs[i], f),
            median(&sim_runs[i], f),
            ratios[ratios.len() / 2],
        )
    };
    let int = |x: f64| common::thousands(x.round() as u64);
    let (numbers, send) = (paired(0, |m| m.rps), paired(1, |m| m.rps));
    let (p99, cpu) = (paired(1, |m| m.p99_ms), paired(1, |m| m.cpu_us));
    let rows = [
        (
            "`GET /v1/sms/numbers` req/s",
            int(numbers.0),
            int(numbers.1),
            format!("**{:.2}×**", numbers.2),
            "≥ 0.85×",
        ),
        (
            "`POST /v1/sms/send` (resume) req/s",
            int(send.0),
            int(send.1),
            format!("**{:.2}×**", send.2),
            "≥ 0.85×",
        ),
        (
            "p99 `/send`",
            format!("{:.2} ms", p99.0),
            format!("{:.2} ms", p99.1),
            format!("**{:.2}×**", p99.2),
            "≤ 1.2×",
        ),
        (
            "server CPU per `/send`",
            format!("{:.1} µs", cpu.0),
            format!("{:.1} µs", cpu.1),
            format!("{:.2}×", cpu.2),
            "≤ 12 µs",
        ),
        (
            "idle RSS",
            format!("{bare_idle:.1} MiB"),
            format!("{sim_idle:.1} MiB"),
            format!("{:.2}×", sim_idle / bare_idle),
            "≤ 6 MiB",
        ),
    ];
    let mut table = format!(
        "oha, {conns} keep-alive connections, {seconds} s per load after a 1 s warm-up, bare server and simulator alternating, median of {rounds} rounds, {} cores, {}\n\n\
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
        common::splice_performance("bench/ratio.sh", &table);
    }
}
