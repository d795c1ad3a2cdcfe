//! The binary (the default `cli` feature): its first line, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The binary prints `listening on http://HOST:PORT` first, then serves.
#[tokio::test]
async fn the_binary_announces_its_real_port_first() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bland-sms-sim"))
        .args(["--port", "0", "--clock", "manual"])
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
        .expect("first line")
        .to_string();
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
