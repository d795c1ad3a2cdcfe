//! The binary (the default `cli` feature): its first line, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The binary prints `listening on http://HOST:PORT` first, then serves.
#[tokio::test]
async fn the_binary_announces_its_real_port_first() {
    let (mut child, url) = spawn(&["--clock", "manual"]);
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client
        .get(format!("{url}/_sim/health").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // SIGTERM shuts it down gracefully, with a zero exit status.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// Options that do nothing or replace something say so on stderr, and the banner names every
/// account's numbers with the scenario each plays.
#[test]
fn the_binary_says_what_it_ignores_replaces_and_runs() {
    let dir = std::env::temp_dir().join(format!("bland-sim-notices-{}", std::process::id()));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let replacement = dir.join("default.json");
    std::fs::write(
        &replacement,
        r#"{"name":"default","default":true,"start_node":"s","nodes":{"s":{}}}"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["--port", "0", "--start-time", "2026-01-01T00:00:00Z"])
        .arg("--scenarios")
        .arg(&empty)
        .arg("--scenarios")
        .arg(&replacement)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("scenarios: ") {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        banner.contains(
            "accounts:\n  sk_sim_default: +15550002222 (default), +15550003333 \
             (appointment-booking), +15550004444 (default)\n"
        ),
        "{banner}"
    );
    assert!(banner.contains("clock: real, seed: "), "{banner}");
    assert!(err.contains("no effect with the real clock"), "{err}");
    assert!(err.contains("holds no *.json scenario files"), "{err}");
    assert!(err.contains("replaces the embedded one"), "{err}");
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_live_simulator_and_1_otherwise() {
    let sim = crate::support::Sim::start().await;
    let bin = env!("CARGO_BIN_EXE_bland-sms-sim");
    let base = sim.base.clone();
    let ok = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["healthcheck", "--url", &base])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A port nothing listens on (the listener is dropped before the check).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let down = Command::new(bin)
        .args(["healthcheck", "--url", &dead])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("/_sim/health"));
}

/// In a container the port and host come from the environment; the health check follows them
/// (a wildcard host is asked on loopback), so a changed port stays healthy.
#[tokio::test]
async fn healthcheck_follows_the_port_and_host_from_the_environment() {
    let sim = crate::support::Sim::start().await;
    let bin = env!("CARGO_BIN_EXE_bland-sms-sim");
    let port = sim.base.rsplit(':').next().unwrap().to_string();
    let ok = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .arg("healthcheck")
            .env("BLAND_SIM_HOST", "0.0.0.0")
            .env("BLAND_SIM_PORT", &port)
            .env("BLAND_SIM_ADMIN_TOKEN", "t0ken")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = free.local_addr().unwrap().port().to_string();
    drop(free);
    let down = Command::new(bin)
        .arg("healthcheck")
        .env("BLAND_SIM_HOST", "0.0.0.0")
        .env("BLAND_SIM_PORT", &dead)
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.contains(&format!("http://127.0.0.1:{dead}/_sim/health")),
        "{err}"
    );
}

#[test]
fn a_bad_value_from_the_environment_names_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .env("BLAND_SIM_PORT", "abc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BLAND_SIM_PORT") && err.contains("--port"),
        "{err}"
    );
    let mut on = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["--port", "0", "--api-key", "kx"])
        .env("BLAND_SIM_AUTO_PROVISION", "yes")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(on.stdout.take().unwrap()).lines();
    let banner: Vec<String> = (0..3).filter_map(|_| lines.next()?.ok()).collect();
    on.kill().unwrap();
    on.wait().unwrap();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("the first unowned number this key uses")),
        "{banner:?}"
    );
}

/// Starts the binary with `args` and answers it with its base URL.
fn spawn(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (child, url)
}

async fn call(method: &str, url: String, body: &str) -> serde_json::Value {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", "sk_sim_default")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// SIGTERM writes the state file; a restart with it continues with the same conversations and
/// the same pending timers.
#[tokio::test]
async fn the_state_file_survives_a_sigterm_restart() {
    let dir = std::env::temp_dir().join(format!("bland-sim-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let file = path.to_str().unwrap();
    let args = ["--clock", "manual", "--seed", "5", "--state-file", file];
    let (mut child, url) = spawn(&args);
    let sent = call(
        "POST",
        format!("{url}/v1/sms/send"),
        r#"{"user_number":"+15550001111","agent_number":"+15550002222","agent_message":"hi","time_out":90}"#,
    )
    .await;
    let id = sent["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let clock = call("GET", format!("{url}/_sim/clock"), "").await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(path.exists(), "written on SIGTERM");

    let (mut child, url) = spawn(&args);
    assert_eq!(call("GET", format!("{url}/_sim/clock"), "").await, clock);
    let c = call("GET", format!("{url}/v1/sms/conversations/{id}"), "").await;
    assert_eq!(c["data"]["messages"][0]["message"], "hi");
    let ended = call(
        "POST",
        format!("{url}/_sim/clock/advance"),
        r#"{"seconds":90}"#,
    )
    .await;
    assert_eq!(ended["data"]["pending_timers"], serde_json::json!([]));
    let c = call("GET", format!("{url}/v1/sms/conversations/{id}"), "").await;
    assert_eq!(c["data"]["status"], "timed_out");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bland-sms-sim receive` prints each delivery with its signature checked, and says when a
/// signature does not match the secret.
#[tokio::test]
async fn receive_prints_each_delivery_and_checks_its_signature() {
    use serde_json::json;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["receive", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let base_for_page = base.clone();
    let sim =
        crate::support::Sim::with(crate::support::manual().webhook_url(format!("{base}/hook")))
            .await;
    sim.send(json!({"user_number": crate::support::USER, "agent_number": crate::support::AGENT, "agent_message": "hello there"}))
        .await;
    let (status, _) = sim
        .sim(
            hyper::Method::POST,
            "/_sim/webhooks/wait",
            Some(json!({"count": 1})),
        )
        .await;
    assert_eq!(status, 200);
    // A delivery signed with another secret, a control character in its status.
    let forged = raw_post(
        &base,
        "x-webhook-signature: 00\r\n",
        r#"{"type":"status","status":"ended\u001b[2J","conversation_id":"c1"}"#,
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 200"), "{forged}");
    // A web page's request is refused, and prints nothing: the next line is the one after it.
    let from_page = raw_post(
        &base_for_page,
        "origin: http://evil.example\r\n",
        r#"{"type":"status","status":"from a page"}"#,
    )
    .await;
    assert!(from_page.starts_with("HTTP/1.1 403"), "{from_page}");
    let after = raw_post(
        &base_for_page,
        "",
        r#"{"type":"status","status":"after","conversation_id":"c2"}"#,
    )
    .await;
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    let got = tokio::task::spawn_blocking(move || {
        let out: Vec<String> = lines.by_ref().take(3).map(Result::unwrap).collect();
        (out, lines)
    })
    .await
    .unwrap()
    .0;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        got[0].starts_with("POST /hook message AGENT \"hello there\" (conversation ")
            && got[0].ends_with(") signature ok"),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        "POST /hook status ended\\u{1b}[2J (conversation c1) signature MISMATCH: not signed with this --webhook-secret"
    );
    assert!(
        got[2].starts_with("POST /hook status after (conversation c2)"),
        "{got:?}"
    );
}

/// A raw HTTP/1.1 POST of `body` to `/hook` at `base` with `headers` (each ending in CRLF);
/// the whole answer.
async fn raw_post(base: &str, headers: &str, body: &str) -> String {
    let (addr, headers, body) = (
        base.trim_start_matches("http://").to_string(),
        headers.to_string(),
        body.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let client = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(
            &mut &client,
            format!(
                "POST /hook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut &client, &mut answer).unwrap();
        answer
    })
    .await
    .unwrap()
}

/// A state file whose folder cannot take a file is said at start, not found out at shutdown.
#[test]
fn a_state_file_that_cannot_be_written_is_warned_about_at_start() {
    let dir = std::env::temp_dir().join(format!("bland-sim-nostate-{}", std::process::id()));
    let file = dir.join("missing").join("state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["--port", "0", "--state-file"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on "), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    child.wait().unwrap();
    assert!(
        err.contains("the state file cannot be written")
            && err.contains(&dir.join("missing").display().to_string()),
        "{err}"
    );
}
