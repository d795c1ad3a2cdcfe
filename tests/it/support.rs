//! Test harness: a real simulator on 127.0.0.1:0, an HTTP client for it, and a webhook receiver
//! on 127.0.0.1:0 that records what it gets and answers with scripted statuses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bland_sms_sim::{Simulator, SimulatorBuilder};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify, Semaphore};

pub const KEY: &str = "sk_sim_default";
pub const AGENT: &str = "+15550002222";
pub const BOOKING: &str = "+15550003333";
pub const WHATSAPP: &str = "+15550004444";
pub const USER: &str = "+15550001111";
pub const SECRET: &str = "whsec_bland_sim_default";

/// A running simulator and an HTTP client for it; shuts down when dropped.
pub struct Sim {
    pub base: String,
    pub sim: Simulator,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A manual clock with a fixed seed and start time.
pub fn manual() -> SimulatorBuilder {
    Simulator::builder()
        .manual_clock()
        .seed(42)
        .start_time("2026-01-01T12:00:00Z") // a Thursday
}

impl Sim {
    pub async fn start() -> Sim {
        Self::with(manual()).await
    }

    pub async fn with(builder: SimulatorBuilder) -> Sim {
        Self::attach(builder.start().await.expect("the options are valid"))
    }

    /// A client for a simulator started elsewhere.
    pub fn attach(sim: Simulator) -> Sim {
        Sim {
            base: sim.base_url().to_string(),
            sim,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request; `key` goes in `authorization` when given. Returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, key, headers, bytes.into_bytes())
            .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self.full(method, path, key, headers, body).await;
        (s, v)
    }

    /// [`Sim::raw`] with the response headers.
    pub async fn full(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, hyper::HeaderMap, Value) {
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
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .expect("simulator answers");
        let status = resp.status();
        let response_headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, response_headers, v)
    }

    /// Opens `GET path` and hands back the status, headers and the body as it streams.
    pub async fn open(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, hyper::HeaderMap, hyper::body::Incoming) {
        let mut req = Request::builder().uri(format!("{}{}", self.base, path));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::new())).unwrap())
            .await
            .expect("simulator answers");
        let (parts, body) = resp.into_parts();
        (parts.status, parts.headers, body)
    }

    /// The whole answer of `GET path` as text (for `/_sim/metrics`, `/_sim/ui`).
    pub async fn text_of(&self, path: &str) -> String {
        let (_, _, body) = self.open(path, &[]).await;
        let bytes = body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(KEY), &[], None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(KEY), &[], Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(KEY), &[], Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(KEY), &[], body).await
    }
    /// POST as another API key.
    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), &[], Some(body))
            .await
    }
    /// POST with an `idempotency-key`.
    pub async fn post_idem(&self, idem: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            path,
            Some(KEY),
            &[("idempotency-key", idem)],
            Some(body),
        )
        .await
    }
    /// A control call (no key).
    pub async fn sim(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, None, &[], body).await
    }

    /// `/_sim/inbound`: a text from `user` to `agent`; returns the `data`.
    pub async fn text(&self, user: &str, agent: &str, message: &str) -> Value {
        let (s, v) = self
            .sim(
                Method::POST,
                "/_sim/inbound",
                Some(json!({"user_number": user, "agent_number": agent, "message": message})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].clone()
    }

    /// Advances the manual clock.
    /// `POST /_sim/conversations/{id}/messages/{message}/{what}` (`read` or `click`) with
    /// `body`: the message's read receipt or link click.
    pub async fn receipt(
        &self,
        id: &str,
        message: &str,
        what: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let path = format!("/_sim/conversations/{id}/messages/{message}/{what}");
        self.sim(Method::POST, &path, Some(body)).await
    }

    pub async fn advance(&self, seconds: f64) -> Value {
        let (s, v) = self
            .sim(
                Method::POST,
                "/_sim/clock/advance",
                Some(json!({"seconds": seconds})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].clone()
    }

    /// A POST with the key; returns status, headers and JSON body.
    pub async fn post_full(
        &self,
        path: &str,
        body: &Value,
    ) -> (StatusCode, hyper::HeaderMap, Value) {
        self.full(
            Method::POST,
            path,
            Some(KEY),
            &[],
            body.to_string().into_bytes(),
        )
        .await
    }

    /// The names of the scenarios loaded, in order.
    pub async fn scenario_names(&self) -> Vec<String> {
        let (_, list) = self.sim(Method::GET, "/_sim/scenarios", None).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// `/send`; asserts 200 and returns `data`.
    pub async fn send(&self, body: Value) -> Value {
        let (s, v) = self.post("/v1/sms/send", body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].clone()
    }

    /// The conversation's `data`.
    pub async fn conversation(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/v1/sms/conversations/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].clone()
    }

    /// Hides message `message_id` of conversation `id` (`DELETE …/messages`), which must work.
    pub async fn hide(&self, id: &str, message_id: &Value) {
        let (s, v) = self
            .delete(
                &format!("/v1/sms/conversations/{id}/messages"),
                Some(json!({"message_ids": [message_id]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    /// The texts of a conversation's messages, as `SENDER: text`.
    pub async fn transcript(&self, id: &str) -> Vec<String> {
        self.conversation(id).await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m["sender"].as_str().unwrap(),
                    m["message"].as_str().unwrap()
                )
            })
            .collect()
    }
}

/// Asserts an error envelope with this status and code.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "body: {}", got.1);
    assert_eq!(got.1["data"], Value::Null, "body: {}", got.1);
    assert_eq!(got.1["errors"][0]["error"], code, "body: {}", got.1);
    assert!(
        got.1["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without a message: {}",
        got.1
    );
}

/// One webhook the receiver got.
#[derive(Clone, Debug)]
pub struct Hook {
    pub body: Bytes,
    pub json: Value,
    pub signature: String,
    /// The request's headers.
    pub headers: hyper::HeaderMap,
}

/// A webhook receiver on 127.0.0.1:0.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Hook>>>,
    /// Statuses to answer with, in order; 200 once it runs out.
    pub script: Arc<Mutex<VecDeque<u16>>>,
    notify: Arc<Notify>,
    /// While `hold` is set, each request waits for a permit here before it is answered.
    gate: Arc<Semaphore>,
    hold: Arc<AtomicBool>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    /// Makes the receiver hang on every request until [`Receiver::release`].
    pub fn hold(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
        self.gate.add_permits(1 << 20);
    }

    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let notify = Arc::new(Notify::new());
        let gate = Arc::new(Semaphore::new(0));
        let hold = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = oneshot::channel::<()>();
        let (g, s, n) = (got.clone(), script.clone(), notify.clone());
        let (gt, hd) = (gate.clone(), hold.clone());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    r = listener.accept() => r.unwrap().0,
                    _ = &mut rx => return,
                };
                let (g, s, n) = (g.clone(), s.clone(), n.clone());
                let (gt, hd) = (gt.clone(), hd.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (g, s, n) = (g.clone(), s.clone(), n.clone());
                        let (gt, hd) = (gt.clone(), hd.clone());
                        async move {
                            let signature = req
                                .headers()
                                .get("x-webhook-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let headers = req.headers().clone();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let status = s.lock().unwrap().pop_front().unwrap_or(200);
                            g.lock().unwrap().push(Hook {
                                body,
                                json,
                                signature,
                                headers,
                            });
                            n.notify_waiters();
                            if hd.load(Ordering::SeqCst) {
                                let _ = gt.acquire().await.map(|p| p.forget());
                            }
                            Ok::<_, std::convert::Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver {
            url,
            got,
            script,
            notify,
            gate,
            hold,
            _stop: tx,
        }
    }

    /// Answers the next requests with these statuses.
    pub fn fail_with(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses.iter().copied());
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 10 s of real time) until at least `n` webhooks arrived; for deliveries the
    /// API sends in the background.
    pub async fn wait_for(&self, n: usize) -> Vec<Hook> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.notify.notified();
            let hooks = self.hooks();
            if hooks.len() >= n {
                return hooks;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} webhooks, got {}: {:#?}",
                    hooks.len(),
                    hooks.iter().map(|h| &h.json).collect::<Vec<_>>()
                );
            }
        }
    }

    /// Webhooks of one kind: `message` bodies or `status` bodies with this status.
    pub fn statuses(&self) -> Vec<String> {
        self.hooks()
            .iter()
            .filter(|h| h.json["type"] == "status")
            .map(|h| h.json["status"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Points a number's webhook at the receiver.
pub async fn set_webhook(sim: &Sim, number: &str, url: &str) {
    let (s, v) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": number, "webhook": url}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// A path for a test's file named `name`, in a folder of its own: tests running at once never
/// write one another's files.
pub fn temp_file(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bland-sim-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
