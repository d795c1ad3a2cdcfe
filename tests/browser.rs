//! The browser UI (`/_sim/ui`) end to end, in headless Chromium driven over WebDriver.
//!
//! These tests need `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`),
//! so they are ignored by a plain `cargo test`; `.ci/run` installs both and runs them with
//! `cargo test --test browser -- --ignored`. `CHROMIUM` and `CHROMEDRIVER` override the paths.
//! Screenshots of the main views go to `target/tmp/ui-screenshots/`.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use support::*;

const WHY: &str = "needs chromium and chromedriver; .ci/run installs them";

/// A chromedriver on a free loopback port and the one browser profile its session uses; both
/// are stopped when dropped, also when a test fails midway.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which Chromium joins: one signal stops them all.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} does not start ({e}): {WHY}"));
        // Stopped by `Drop` on every path from here.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempdir("chromium-profile"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on {port} within 5 s");
    }

    /// A headless Chromium session that touches nothing but loopback.
    async fn browser(&self, width: u32, height: u32) -> Client {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = &self.profile;
        let caps = json!({
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--disable-default-apps", "--no-default-browser-check",
                    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session ({e}): {WHY}"))
    }

    /// The browser console's entries at `SEVERE` level since the last call.
    async fn console_errors(&self, client: &Client) -> Vec<String> {
        let session = client.session_id().await.unwrap().expect("a session");
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build_http::<Full<bytes::Bytes>>();
        let req = hyper::Request::post(format!("{}/session/{session}/se/log", self.url))
            .header("content-type", "application/json")
            .body(Full::from(r#"{"type":"browser"}"#))
            .unwrap();
        let resp = http.request(req).await.expect("chromedriver answers");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        v["value"]
            .as_array()
            .expect("log entries")
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        // A browser process that left the group still names its profile.
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", &self.profile.display().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// `attr` (or the text, for `None`) of every element `css` matches, read in one step (a live
/// update between finding and reading cannot leave a stale element).
async fn read_all(client: &Client, css: &str, attr: Option<&str>) -> Vec<String> {
    let v = client
        .execute(
            "const [css, attr] = arguments; return [...document.querySelectorAll(css)]\
               .map(e => attr ? e.getAttribute(attr) : e.innerText);",
            vec![json!(css), json!(attr)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Waits (up to 10 s) until `css` matches at least `n` elements; returns their texts.
async fn wait_count(client: &Client, css: &str, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let texts = read_all(client, css, None).await;
        if texts.len() >= n {
            return texts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} did not reach {n} elements within 10 s");
}

/// Waits (up to 10 s) until the element's text is `want`.
async fn wait_text(client: &Client, css: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last == want {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} reads {last:?}, not {want:?}");
}

async fn type_and_send(client: &Client, input: &str, button: &str, text: &str) {
    let field = client
        .find(Locator::Css(&format!("[data-testid={input}]")))
        .await
        .unwrap();
    field.send_keys(text).await.unwrap();
    client
        .find(Locator::Css(&format!("[data-testid={button}]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks the element `css` matches, waiting (up to 10 s) for it, and trying again when a live
/// update replaced it between finding and clicking.
async fn click(client: &Client, css: &str) {
    let mut last = None;
    for _ in 0..200 {
        match client.find(Locator::Css(css)).await {
            Ok(e) => match e.click().await {
                Ok(()) => return,
                Err(err) => last = Some(err),
            },
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: {last:?}");
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them"]
async fn a_person_plays_the_user_and_a_human_agent_and_watches_it_live() {
    let sim = Sim::start().await;
    let receiver = Receiver::start().await;
    set_webhook(&sim, AGENT, &receiver.url).await;
    let (status, body) = sim
        .post(
            "/v1/sms/number/update",
            json!({"phone_number": AGENT, "time_out": 600, "warning_time": 300,
                   "warning_message": "Still there?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let driver = Driver::start().await;
    let client = driver.browser(1400, 860).await;
    client.goto(&format!("{}/_sim/ui", sim.base)).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "bland-sms-sim");
    wait_text(&client, "[data-testid=live-status]", "live").await;
    wait_text(&client, "[data-testid=clock-now]", "2026-01-01 12:00:00Z").await;

    // Pick the number, then text it as the user: the agent's reply appears with no reload.
    let numbers = wait_count(&client, "[data-testid=number-item]", 3).await;
    assert!(numbers[0].starts_with(AGENT), "{numbers:?}");
    click(
        &client,
        &format!("[data-testid=number-item][data-phone='{AGENT}']"),
    )
    .await;
    type_and_send(&client, "user-input", "user-send", "Hello from the browser").await;
    let thread = wait_count(&client, "[data-testid=thread-message]", 2).await;
    assert!(
        thread[0].starts_with("Hello from the browser"),
        "{thread:?}"
    );
    assert_eq!(senders(&client).await, ["USER", "AGENT"]);
    let conversations = wait_count(&client, "[data-testid=conversation-item]", 1).await;
    assert!(
        conversations[0].starts_with("+15555550100"),
        "{conversations:?}"
    );

    // The user's and the agent's message webhooks, delivered.
    wait_count(
        &client,
        "[data-testid=webhook-item][data-status=delivered]",
        2,
    )
    .await;
    shoot(&client, "thread.png").await;

    // A minute, then the rest of the way to the warning: it arrives in the thread.
    click(&client, "[data-testid=clock-advance-60]").await;
    wait_text(&client, "[data-testid=clock-now]", "2026-01-01 12:01:00Z").await;
    type_and_send(
        &client,
        "clock-advance-input",
        "clock-advance-custom",
        "240",
    )
    .await;
    wait_text(&client, "[data-testid=clock-now]", "2026-01-01 12:05:00Z").await;
    let thread = wait_count(&client, "[data-testid=thread-message]", 3).await;
    assert!(thread[2].starts_with("Still there?"), "{thread:?}");
    assert_eq!(senders(&client).await, ["USER", "AGENT", "AGENT"]);

    // A human replies from the page: in the thread, and in the API.
    type_and_send(&client, "human-input", "human-send", "A person here").await;
    let thread = wait_count(&client, "[data-testid=thread-message]", 4).await;
    assert!(thread[3].starts_with("A person here"), "{thread:?}");
    assert_eq!(senders(&client).await, ["USER", "AGENT", "AGENT", "HUMAN"]);
    let id = client
        .find(Locator::Css("[data-testid=conversation-item]"))
        .await
        .unwrap()
        .attr("data-id")
        .await
        .unwrap()
        .expect("the item names its conversation");
    let detail = sim.conversation(&id).await;
    let last = &detail["messages"][3];
    assert_eq!(last["sender"], "HUMAN");
    assert_eq!(last["message"], "A person here");
    // Its webhook attempt is listed too.
    wait_count(
        &client,
        "[data-testid=webhook-item][data-status=delivered]",
        4,
    )
    .await;

    // Something done elsewhere (an API client) shows up live as well.
    let (status, _) = sim
        .post(&format!("/v1/sms/conversations/{id}/handoff"), json!({}))
        .await;
    assert_eq!(status, 200);
    wait_text(
        &client,
        "[data-testid=conversation-status]",
        "active (with a human since 2026-01-01 12:05:00Z)",
    )
    .await;
    shoot(&client, "handoff.png").await;

    // A delivery opens to its payload, signature and attempts.
    click(&client, "[data-testid=webhook-item] summary").await;
    let opened = client
        .find(Locator::Css("[data-testid=webhook-item][open]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(opened.contains("\"status\": \"human_handoff\""), "{opened}");
    let signed = sim
        .sim(
            hyper::Method::GET,
            "/_sim/webhooks?event=human_handoff",
            None,
        )
        .await;
    let signature = signed.1["data"][0]["signature"].as_str().unwrap();
    assert!(opened.contains(signature), "the signature is shown");
    assert!(opened.contains("#1 2026-01-01 12:05:00Z → 200"), "{opened}");
    shoot(&client, "webhook.png").await;
    let open_id = read_all(&client, "[data-testid=webhook-item][open]", Some("data-id")).await;
    // A live update redraws the list; the opened delivery stays open.
    let (status, _) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "Still me", "sender": "HUMAN"}),
        )
        .await;
    assert_eq!(status, 202);
    wait_count(&client, "[data-testid=thread-message]", 5).await;
    wait_count(&client, "[data-testid=webhook-item]", 6).await;
    assert_eq!(
        read_all(&client, "[data-testid=webhook-item][open]", Some("data-id")).await,
        open_id
    );

    // A reload opens the same thread.
    client.refresh().await.unwrap();
    let thread = wait_count(&client, "[data-testid=thread-message]", 5).await;
    assert!(thread[3].starts_with("A person here"), "{thread:?}");
    // The selection is marked for the eye and for assistive technology.
    assert_eq!(
        read_all(&client, "[aria-current=true]", Some("data-testid")).await,
        ["number-item", "conversation-item"]
    );
    // Reported, not asserted (timing belongs in benchmarks): the page's first paint on reload.
    let paint: Value = client
        .execute(
            "const p = performance.getEntriesByName('first-contentful-paint')[0];\
             return p ? p.startTime : null;",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("first contentful paint after a reload: {paint} ms");

    // Deleted elsewhere while selected: the page lets go of it (without asking for it again).
    let (status, _) = sim
        .delete(&format!("/v1/sms/conversations/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let let_go = || async {
        wait_text(
            &client,
            "#thread-title",
            "New conversation with +15550002222",
        )
        .await;
        let left = read_all(&client, "[data-testid=thread-message]", None).await;
        assert!(left.is_empty(), "{left:?}");
    };
    let_go().await;
    // And a reset while one is selected.
    sim.text(USER, AGENT, "again").await;
    click(&client, "[data-testid=conversation-item]").await;
    wait_count(&client, "[data-testid=thread-message]", 2).await;
    let (status, _) = sim.sim(hyper::Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, 200);
    let_go().await;

    let errors = driver.console_errors(&client).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    client.close().await.unwrap();
}

/// A conversation a Bland pathway plays: the details show its node by name and type, and its
/// Webhook node requests, live.
#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them"]
async fn a_pathway_conversation_shows_its_node_and_webhook_calls() {
    let sim = Sim::start().await;
    let user = "+15555550100";
    let d = sim
        .send(json!({"user_number": user, "agent_number": AGENT, "pathway_id": "pw_order_status"}))
        .await;
    assert!(d["conversation_id"].is_string(), "{d}");
    let driver = Driver::start().await;
    let client = driver.browser(1400, 860).await;
    client.goto(&format!("{}/_sim/ui", sim.base)).await.unwrap();
    wait_text(&client, "[data-testid=live-status]", "live").await;
    click(
        &client,
        &format!("[data-testid=number-item][data-phone='{AGENT}']"),
    )
    .await;
    click(&client, "[data-testid=conversation-item]").await;
    wait_text(&client, "[data-testid=pathway-node]", "Greeting (Default)").await;
    type_and_send(&client, "user-input", "user-send", "It's 10452").await;
    wait_text(&client, "[data-testid=pathway-node]", "Shipped (Default)").await;
    let calls = wait_count(&client, "[data-testid=pathway-call][data-status='200']", 1).await;
    assert!(
        calls[0].starts_with("Look Up Order: GET → 200 (overlay) · response pathway `order_status == shipped` → Shipped"),
        "{calls:?}"
    );
    shoot(&client, "pathway.png").await;
    let errors = driver.console_errors(&client).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    client.close().await.unwrap();
}

async fn senders(client: &Client) -> Vec<String> {
    read_all(client, "[data-testid=thread-message]", Some("data-sender")).await
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them"]
async fn the_page_fits_a_narrow_window() {
    let sim = Sim::start().await;
    sim.text(USER, AGENT, "hi").await;
    let driver = Driver::start().await;
    let client = driver.browser(400, 860).await;
    client.goto(&format!("{}/_sim/ui", sim.base)).await.unwrap();
    wait_text(&client, "[data-testid=live-status]", "live").await;
    click(
        &client,
        &format!("[data-testid=number-item][data-phone='{AGENT}']"),
    )
    .await;
    wait_count(&client, "[data-testid=conversation-item]", 1).await;
    click(&client, "[data-testid=conversation-item]").await;
    wait_count(&client, "[data-testid=thread-message]", 2).await;
    let overflow: Value = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, json!(0), "no sideways scrolling");
    // Every control has an accessible name.
    let unnamed: Value = client
        .execute(
            "return [...document.querySelectorAll('button, input')].filter(e => \
               !(e.getAttribute('aria-label') || e.textContent.trim() || \
                 (e.id && document.querySelector(`label[for=\"${e.id}\"]`)))).map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unnamed, json!([]));
    shoot(&client, "narrow.png").await;
    let errors = driver.console_errors(&client).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    client.close().await.unwrap();
}
