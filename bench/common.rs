//! What the soak and memory tools share: the simulator binary as a child process (its RSS and
//! its stderr), an HTTP client for it, and webhook receivers on loopback that fail or hang.
//! Every address is on 127.0.0.1.

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

pub const KEY: &str = "sk_sim_default";
pub const AGENT: &str = "+15550002222";

/// The release binary, started with `args` on 127.0.0.1 and a free port.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub stderr_path: std::path::PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let bin =
            // The scripts name it (they know CARGO_TARGET_DIR); else the usual place.
            std::env::var_os("SIM_BIN").map(std::path::PathBuf::from).unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/bland-sms-sim")
            });
        assert!(bin.exists(), "build it first: cargo build --release");
        let mut all = vec!["--host", "127.0.0.1", "--port", "0", "--seed", "1"];
        all.extend_from_slice(args);
        Server::launch(&bin, &all)
    }

    /// Any server binary that prints `listening on http://127.0.0.1:PORT` first.
    pub fn launch(bin: &std::path::Path, args: &[&str]) -> Server {
        let stderr_path =
            std::env::temp_dir().join(format!("bland-sim-stderr-{}", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("first line")
            .to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Server {
            child,
            base,
            stderr_path,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// (resident, peak) set size in KiB, from /proc.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the process has used (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command's closing parenthesis: utime and stime are the 12th
        // and 13th, in clock ticks (100 a second on Linux).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse().ok())
            .collect();
        f.iter().sum::<u64>() as f64 / 100.0
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// One request; `key` goes in `authorization`. Returns the status and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        if let Some(k) = key {
            req = req.header("authorization", k);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let req = req.body(Full::new(body.unwrap_or_default())).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
            .await
            .expect("the simulator answers within 60 s")
            .expect("the simulator answers");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A GET answered as text (`/_sim/metrics`).
    pub async fn text(&self, path: &str) -> String {
        let req = Request::get(format!("{}{}", self.base, path))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = self
            .client
            .request(req)
            .await
            .expect("the simulator answers");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let key = (!path.starts_with("/_sim")).then_some(KEY);
        self.call(method, path, key, &[], Some(Bytes::from(body.to_string())))
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let key = (!path.starts_with("/_sim")).then_some(KEY);
        self.call(Method::GET, path, key, &[], None).await
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    /// However the tool ends (a failed check, a panic), the simulator does not outlive it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// A webhook receiver on 127.0.0.1: answers every request with `status`, after holding it
/// `hold` (a hanging receiver holds longer than the simulator's webhook timeout).
pub async fn receiver(status: u16, hold: Duration) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(hold).await;
                        let resp = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, got)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The machine's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The commit measured (`git describe`), or `?`.
pub fn revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// Replaces what docs/performance.md holds between `<!-- begin SCRIPT -->` and `<!-- end SCRIPT -->`
/// with `text`, so the performance section is what the scripts last printed.
pub fn splice_performance(script: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/performance.md");
    let readme = std::fs::read_to_string(&path).expect("docs/performance.md");
    let (begin, end) = (
        format!("<!-- begin {script} -->\n"),
        format!("<!-- end {script} -->"),
    );
    let (Some(b), Some(e)) = (readme.find(&begin), readme.find(&end)) else {
        panic!("docs/performance.md has no {begin:?} … {end:?} section");
    };
    let updated = format!("{}{begin}{text}{}", &readme[..b], &readme[e..]);
    std::fs::write(&path, updated).expect("docs/performance.md written");
    println!("docs/performance.md: section {script} updated");
}

/// Runs `f(0..n)`, `c` at a time.
pub async fn many<F, Fut>(n: usize, c: usize, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..c)
        .map(|_| {
            let (f, next) = (f.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    f(i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
}
