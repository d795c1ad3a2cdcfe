//! Bland pathways as the agent: Bland's own docs example and CLI templates load, and the docs
//! example runs from `Intro` through its Webhook nodes (to a local service here) to an End
//! Call node, and on another path to a Transfer Call node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::*;

/// Bland's example pathway (`tutorials/tutorials-assets/pathway_json_example.json`).
const DOCS_EXAMPLE: &str = include_str!("../data/bland/pathway_json_example.json");

/// Node ids of the docs example.
const GET_RENTAL_INFO: &str = "4f39d355-a53c-4f43-a2f0-0a8657c6659f";
const GET_QUOTE: &str = "279eab51-9031-41e5-985f-adbe633be785";
const EXTEND: &str = "ecb6de50-44a4-4677-b699-a2f17a1d39b0";

/// One request the service got.
#[derive(Clone, Debug)]
struct Got {
    method: String,
    uri: String,
    headers: hyper::HeaderMap,
    body: String,
}

/// A team's service on 127.0.0.1:0: answers each request with the next scripted JSON answer
/// (or `{}`), and keeps what it got.
struct Service {
    base: String,
    got: Arc<Mutex<Vec<Got>>>,
    answers: Arc<Mutex<VecDeque<(u16, Value)>>>,
    /// While closed, each request waits here before it is answered.
    gate: Arc<tokio::sync::Semaphore>,
    held: Arc<std::sync::atomic::AtomicBool>,
}

impl Service {
    async fn start() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, a, gt, hd) = (got.clone(), answers.clone(), gate.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (g, a, gt, hd) = (g.clone(), a.clone(), gt.clone(), hd.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (g, a, gt, hd) = (g.clone(), a.clone(), gt.clone(), hd.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            g.lock().unwrap().push(Got {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                headers: parts.headers,
                                body: String::from_utf8_lossy(&body).into(),
                            });
                            if hd.load(std::sync::atomic::Ordering::SeqCst) {
                                let _ = gt.acquire().await.map(|p| p.forget());
                            }
                            let (status, answer) =
                                a.lock().unwrap().pop_front().unwrap_or((200, json!({})));
                            Ok::<_, std::convert::Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(answer.to_string())))
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
        Service {
            base,
            got,
            answers,
            gate,
            held,
        }
    }

    fn hold(&self) {
        self.held.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn release(&self) {
        self.held.store(false, std::sync::atomic::Ordering::SeqCst);
        self.gate.add_permits(1 << 20);
    }

    /// Waits (up to 10 s) until the service got `n` requests.
    async fn wait_for(&self, n: usize) {
        for _ in 0..1000 {
            if self.got().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the service got {} requests, not {n}", self.got().len());
    }

    fn answer(&self, status: u16, body: Value) {
        self.answers.lock().unwrap().push_back((status, body));
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

/// The overlay a team would write for the docs example, its Webhook nodes pointed at `base`.
fn car_rental(base: &str) -> Value {
    json!({
        "version": 1,
        "name": "car-rental",
        "match": {"pathway_ids": ["pw_car_rental"]},
        "pathway": serde_json::from_str::<Value>(DOCS_EXAMPLE).unwrap(),
        "edges": {
            "You have confirmed the rental record number.": {"when": {"regex": "\\d{6,}"}},
            "You have collected the last name and have repeated it back to the user.":
                {"when": {"regex": "^[A-Za-z' -]+$"}},
            "You have confirmed a rental extension date/time.": {"when": {"contains": "extend"}},
            "The user EXPLCITLY confirms that they want to extend for that time.":
                {"when": {"exact": ["yes", "yes please"]}},
            "User does not have follow up questions": {"when": {"contains": "no"}},
            "Transfer to Agent 2": {"when": {"contains": "agent"}},
            "User Directly Asks To Speak With Someone Else": {"when": {"contains": "representative"}}
        },
        "say": {
            "Collect and Confirm Rental Number": "What's your rental record number?",
            "Collect Last Name": "Thanks. And the driver's last name?",
            "Extension Handling": "Found it, {{last_name}}. Until when would you like to keep the car?",
            "Confirm Extension": "That comes to ${{netDue}}. Shall I extend it?",
            "Extend Rental Webhook": "Processing your extension now.",
            "Rental Success": "You're all set until {{new_date}}. Anything else?",
            "New End Call Node": "Thanks for calling Bland Car Rentals!",
            "Bad Rental ID": "I couldn't find that rental. Could you read the number again?"
        },
        "extract": {
            "new_date": "(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2})"
        },
        "webhooks": {
            GET_RENTAL_INFO: {"url": format!("{base}/{{{{rental_id}}}}/info?customer_last_name={{{{last_name}}}}")},
            GET_QUOTE: {"url": format!("{base}/{{{{rental_id}}}}/quote?new_dropoff_time={{{{new_date}}}}")},
            EXTEND: {"url": format!("{base}/{{{{rental_id}}}}/extend")}
        }
    })
}

async fn with_car_rental(svc: &Service) -> Sim {
    let overlay = car_rental(&svc.base).to_string();
    Sim::with(manual().scenario_json(&overlay).expect("the overlay loads")).await
}

fn replies(r: &Value) -> Vec<String> {
    r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_string())
        .collect()
}

/// Sends a scenario document the simulator must refuse: 400 `INVALID_SCENARIO`, its body.
async fn refused(sim: &Sim, overlay: Value) -> Value {
    let got = sim
        .sim(Method::POST, "/_sim/scenarios", Some(overlay))
        .await;
    assert_error(&got, 400, "INVALID_SCENARIO");
    got.1
}

/// Opens a conversation the pathway `pathway_id` plays with `user`; its id.
async fn open(sim: &Sim, user: &str, pathway_id: &str) -> String {
    let d = sim
        .send(json!({"user_number": user, "agent_number": AGENT, "pathway_id": pathway_id}))
        .await;
    d["conversation_id"]
        .as_str()
        .expect("a conversation")
        .to_string()
}

async fn pathway_view(sim: &Sim, id: &str) -> Value {
    let (s, v) = sim
        .sim(Method::GET, &format!("/_sim/conversations/{id}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"].clone()
}

#[tokio::test]
async fn the_docs_example_loads_reading_its_global_config_and_warning_of_its_missing_node() {
    let svc = Service::start().await;
    let sim = with_car_rental(&svc).await;
    let (s, v) = sim.sim(Method::GET, "/_sim/scenarios", None).await;
    assert_eq!(s, 200);
    let sc = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "car-rental")
        .unwrap()
        .clone();
    assert_eq!(sc["kind"], "pathway");
    assert_eq!(sc["start_node"], "1");
    assert_eq!(sc["node_names"]["1"], "Intro");
    assert_eq!(sc["nodes"].as_array().unwrap().len(), 25);
    assert!(sc["global_prompt"]
        .as_str()
        .unwrap()
        .starts_with("You’re a warm, friendly, and clear AI"));
    let warnings: Vec<&str> = sc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.contains(
            &"edge \"reactflow__edge-ecb6de50-44a4-4677-b699-a2f17a1d39b0-c21a8d20-e48c-4c29-8004-6e21d3d9766b\" \
              (errors == CREDIT_CARD_DECLINED) has a target node \"c21a8d20-e48c-4c29-8004-6e21d3d9766b\" \
              that is not in the pathway: the edge is ignored"
        ) || warnings.iter().any(|w| w.contains("c21a8d20-e48c-4c29-8004-6e21d3d9766b")
            && w.contains("not in the pathway: the edge is ignored")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| {
            w.starts_with(
            "node \"Extend Rental Webhook\": the response pathway `errors == CREDIT_CARD_DECLINED` \
             goes to node \"c21a8d20-e48c-4c29-8004-6e21d3d9766b\", which is not in the pathway"
        )
        }),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "node field `warmTransferFields` is not simulated and is ignored (on \"Transfer to Agent 2\")"
        )),
        "{warnings:#?}"
    );
}

#[tokio::test]
async fn the_docs_example_runs_from_intro_through_its_webhooks_to_an_end_call() {
    let svc = Service::start().await;
    let sim = with_car_rental(&svc).await;
    let id = open(&sim, USER, "pw_car_rental").await;
    // Intro's static text, then (skipUserResponse, alwaysPick) the next node at once.
    assert_eq!(
        sim.transcript(&id).await,
        vec![
            "AGENT: Thank you for calling Bland Car Rentals...",
            "AGENT: What's your rental record number?"
        ]
    );
    assert_eq!(
        sim.conversation(&id).await["current_node_id"],
        "edb0bd8b-1126-4e91-a8bc-68b0e787efcd"
    );

    let r = sim.text(USER, AGENT, "It's 12345678").await;
    assert_eq!(replies(&r), vec!["Thanks. And the driver's last name?"]);
    // An `integer` with no overlay rule: the first whole number in the text.
    assert_eq!(
        sim.conversation(&id).await["variables"]["rental_id"],
        12345678
    );

    // The last name takes the edge to "Get Rental Information", whose request goes out now.
    svc.answer(
        200,
        json!({"counterSystemError": {"code": "0000"}, "returnDateTime": "2026-01-02T10:00:00"}),
    );
    let r = sim.text(USER, AGENT, "Downie").await;
    let got = svc.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "GET");
    assert_eq!(got[0].uri, "/12345678/info?customer_last_name=Downie");
    // `code == 0000` routes to "Extension Handling".
    assert_eq!(
        replies(&r),
        vec!["Found it, Downie. Until when would you like to keep the car?"]
    );
    let v = pathway_view(&sim, &id).await;
    assert_eq!(v["current_node_id"], "e64fab83-3b3a-465d-97dc-aa01e92f5429");
    assert_eq!(v["pathway"]["node_name"], "Extension Handling");
    assert_eq!(v["variables"]["code"], "0000");
    assert_eq!(v["variables"]["last_name"], "Downie");
    let call = &v["pathway"]["webhook_calls"][0];
    assert_eq!(call["node_name"], "Get Rental Information");
    assert_eq!(call["status"], 200);
    assert_eq!(call["variables"], json!({"code": "0000"}));
    assert_eq!(
        call["route"],
        "response pathway `code == 0000` → Extension Handling"
    );

    svc.answer(
        200,
        json!({"netDue": 45.5, "counterSystemError": {"message": "Success"}}),
    );
    let r = sim
        .text(USER, AGENT, "Please extend it to 2026-01-05T10:00:00")
        .await;
    assert_eq!(
        svc.got()[1].uri,
        "/12345678/quote?new_dropoff_time=2026-01-05T10:00:00"
    );
    assert_eq!(replies(&r), vec!["That comes to $45.5. Shall I extend it?"]);

    svc.answer(
        200,
        json!({"counterSystemError": {"code": "0000", "message": "Success"}}),
    );
    let r = sim.text(USER, AGENT, "yes").await;
    let got = svc.got();
    assert_eq!(got[2].method, "POST");
    assert_eq!(got[2].uri, "/12345678/extend");
    assert_eq!(got[2].body, r#"{"newDropoffTime":"2026-01-05T10:00:00"}"#);
    assert_eq!(
        got[2].headers["content-type"], "application/json",
        "a body is sent as JSON"
    );
    assert_eq!(
        replies(&r),
        vec![
            "Processing your extension now.",
            "You're all set until 2026-01-05T10:00:00. Anything else?"
        ]
    );

    let r = sim.text(USER, AGENT, "no, that's it").await;
    assert_eq!(replies(&r), vec!["Thanks for calling Bland Car Rentals!"]);
    let c = sim.conversation(&id).await;
    assert_eq!(c["is_active"], false);
    assert_eq!(c["ended_by_end_call_node"], true);
    assert_eq!(c["current_node_id"], "f3a3ce77-1e7d-41a1-9325-98b4a423626d");
    let v = pathway_view(&sim, &id).await;
    assert_eq!(v["pathway"]["node_type"], "End Call");
    let calls = v["pathway"]["webhook_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[2]["route"],
        "response pathway `errors == 0000` → Rental Success"
    );
    assert_eq!(
        calls[2]["body"],
        r#"{"newDropoffTime":"2026-01-05T10:00:00"}"#
    );
}

#[tokio::test]
async fn on_another_path_the_docs_example_transfers_the_call() {
    let svc = Service::start().await;
    let sim = with_car_rental(&svc).await;
    let id = open(&sim, USER, "pw_car_rental").await;
    sim.text(USER, AGENT, "My number is 99999999").await;
    svc.answer(
        404,
        json!({"counterSystemError": {"code": "INVALID_RA_ID"}}),
    );
    let r = sim.text(USER, AGENT, "Smith").await;
    // The service's 404 still routes: `code == INVALID_RA_ID` → "Bad Rental ID".
    assert_eq!(
        replies(&r),
        vec!["I couldn't find that rental. Could you read the number again?"]
    );
    assert_eq!(
        sim.conversation(&id).await["current_node_id"],
        "57fd03d5-3bb8-4d32-8ed0-4222c313c481"
    );
    let r = sim.text(USER, AGENT, "I want to talk to an agent").await;
    // A prompt node with no `say` in the overlay says its name in brackets.
    assert_eq!(replies(&r), vec!["[Transfer to Agent 2]"]);
    let c = sim.conversation(&id).await;
    assert_eq!(c["current_node_id"], "083be8d0-9b53-4f09-bb8c-9d540c25a318");
    assert!(c["human_handoff_at"].is_string(), "{c}");
    assert_eq!(
        c["human_handoff_reason"],
        "Transfer Call node \"Transfer to Agent 2\""
    );
    // With a human now, the agent stays silent.
    let r = sim.text(USER, AGENT, "hello?").await;
    assert_eq!(replies(&r), Vec::<String>::new());
}

#[tokio::test]
async fn a_global_node_is_reached_from_any_node_by_its_label() {
    let svc = Service::start().await;
    let sim = with_car_rental(&svc).await;
    let id = open(&sim, USER, "pw_car_rental").await;
    let r = sim.text(USER, AGENT, "get me a representative").await;
    assert_eq!(replies(&r), vec!["[Agent Request Node]"]);
    let c = sim.conversation(&id).await;
    assert_eq!(c["current_node_id"], "ba636dd9-3461-4a14-8965-77fb055a80b2");
    assert_eq!(c["is_active"], false, "the global node is an End Call node");
    // No match on a node: it says its text again.
    open(&sim, "+15550001112", "pw_car_rental").await;
    let r = sim.text("+15550001112", AGENT, "what?").await;
    assert_eq!(replies(&r), vec!["What's your rental record number?"]);
}

#[tokio::test]
async fn a_failed_request_is_reported_and_the_conversation_waits_on_its_node() {
    let svc = Service::start().await;
    // Nothing listens on port 9 (discard): the request fails.
    let overlay = car_rental("http://127.0.0.1:9").to_string();
    let sim = Sim::with(manual().scenario_json(&overlay).unwrap()).await;
    let id = open(&sim, USER, "pw_car_rental").await;
    sim.text(USER, AGENT, "12345678").await;
    let r = sim.text(USER, AGENT, "Downie").await;
    assert_eq!(replies(&r), Vec::<String>::new());
    let v = pathway_view(&sim, &id).await;
    assert_eq!(v["current_node_id"], GET_RENTAL_INFO);
    assert_eq!(v["is_active"], true, "a failed request is not fatal");
    let call = &v["pathway"]["webhook_calls"][0];
    assert_eq!(call["status"], Value::Null);
    assert!(
        call["error"]
            .as_str()
            .unwrap()
            .starts_with("connection failed"),
        "{call}"
    );
    assert_eq!(call["next_node_id"], Value::Null);
    assert_eq!(call["variables"], json!({"code": null}));
    assert!(svc.got().is_empty());
    // The user's next text sends the node's request again.
    sim.text(USER, AGENT, "hello?").await;
    let v = pathway_view(&sim, &id).await;
    assert_eq!(v["pathway"]["webhook_calls"].as_array().unwrap().len(), 2);
    assert_eq!(v["current_node_id"], GET_RENTAL_INFO);
}

#[tokio::test]
async fn a_client_that_hangs_up_leaves_no_conversation_waiting() {
    let svc = Service::start().await;
    let sim = with_car_rental(&svc).await;
    let id = open(&sim, USER, "pw_car_rental").await;
    sim.text(USER, AGENT, "12345678").await;
    svc.hold();
    svc.answer(200, json!({"counterSystemError": {"code": "0000"}}));
    // The client gives up while the node's request waits on the service.
    let base = sim.base.clone();
    let texting = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let req = Request::post(format!("{base}/_sim/inbound"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({"user_number": USER, "agent_number": AGENT, "message": "Downie"})
                    .to_string(),
            )))
            .unwrap();
        let _ = client.request(req).await;
    });
    svc.wait_for(1).await;
    texting.abort();
    let _ = texting.await;
    svc.release();
    // The answer still lands, and the conversation goes on.
    for _ in 0..500 {
        if sim.conversation(&id).await["current_node_id"] == "e64fab83-3b3a-465d-97dc-aa01e92f5429"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let c = sim.conversation(&id).await;
    assert_eq!(c["current_node_id"], "e64fab83-3b3a-465d-97dc-aa01e92f5429");
    let r = sim.text(USER, AGENT, "hmm").await;
    assert_eq!(
        replies(&r),
        vec!["Found it, Downie. Until when would you like to keep the car?"]
    );
}

#[tokio::test]
async fn an_answer_never_takes_the_variables_past_their_bound_or_depth() {
    let big = "x".repeat(150_000);
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let overlay = json!({
        "name": "big",
        "match": {"pathway_ids": ["pw_big"]},
        "pathway": {
            "nodes": [
                {"id": "start", "type": "Webhook", "data": {"name": "Fetch", "isStart": true,
                  "url": "http://127.0.0.1:9/x", "method": "GET",
                  "responseData": [{"name": "a", "data": "$.big"}, {"name": "b", "data": "$.big"},
                                   {"name": "deep", "data": "$.deep"}, {"name": "small", "data": "$.small"}]}}
            ],
            "edges": []
        },
        "webhooks": {"Fetch": {"response": {"big": big, "deep": deep, "small": 7}}}
    });
    let sim = Sim::start().await;
    let (s, v) = sim
        .sim(Method::POST, "/_sim/scenarios", Some(overlay))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = open(&sim, USER, "pw_big").await;
    let vars = sim.conversation(&id).await["variables"].clone();
    assert_eq!(vars["a"].as_str().map(str::len), Some(150_000));
    assert_eq!(vars.get("b"), None, "a second copy would pass 256 KiB");
    assert_eq!(vars["deep"], Value::Null, "40 levels is deeper than kept");
    assert_eq!(vars["small"], 7);
    // What it holds saves and loads back.
    let (s, state) = sim.sim(Method::GET, "/_sim/state", None).await;
    assert_eq!(s, 200);
    let (s, v) = sim.sim(Method::PUT, "/_sim/state", Some(state)).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_json_path_with_more_than_one_descendant_segment_is_refused() {
    let sim = Sim::start().await;
    let overlay = json!({
        "name": "paths",
        "pathway": {"nodes": [{"id": "n", "type": "Webhook", "data": {"name": "Fetch", "isStart": true,
            "url": "http://127.0.0.1:9/x", "responseData": [{"name": "v", "data": "$..*..*"}]}}], "edges": []}
    });
    let v = refused(&sim, overlay).await;
    assert_eq!(
        v["errors"][0]["message"],
        "scenario \"paths\": node \"Fetch\": responseData \"v\": \"$..*..*\" has more than one `..` \
         (descendant) segment, each of which multiplies the work over the answer: keep one"
    );
}

#[tokio::test]
async fn secrets_are_sent_but_never_shown_and_the_simulator_itself_is_refused() {
    let svc = Service::start().await;
    let overlay = json!({
        "name": "orders",
        "match": {"pathway_ids": ["pw_orders"]},
        "pathway": "order-status.pathway.json",
        "edges": {"The user gave their order number.": {"when": {"regex": "\\d{4,}"}}},
        "webhooks": {"Look Up Order": {"url": format!("{}/orders/{{{{order_number}}}}", svc.base)}}
    });
    let dir = std::env::temp_dir().join(format!("bland-sim-pathway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/order-status.pathway.json"
        ),
        dir.join("order-status.pathway.json"),
    )
    .unwrap();
    std::fs::write(dir.join("orders.json"), overlay.to_string()).unwrap();
    let sim = Sim::with(
        manual()
            .scenario_path(dir.join("orders.json"))
            .unwrap()
            .pathway_secret("ACME_API_KEY", "sk_live_abc"),
    )
    .await;
    // A service that echoes the key: the log shows the secret's name, not its value.
    svc.answer(
        200,
        json!({"status": "processing", "echo": "Bearer sk_live_abc"}),
    );
    let id = open(&sim, USER, "pw_orders").await;
    let r = sim.text(USER, AGENT, "order 10452 please").await;
    assert_eq!(
        replies(&r),
        vec![
            "One moment while I look up order 10452.",
            "Order 10452 is still being packed. We'll text you when it ships. Anything else?"
        ]
    );
    let got = svc.got();
    assert_eq!(got[0].uri, "/orders/10452");
    assert_eq!(got[0].headers["authorization"], "Bearer sk_live_abc");
    assert_eq!(got[0].headers["x-bland-sim-delivery"], "1");
    let v = pathway_view(&sim, &id).await;
    let shown = v["pathway"]["webhook_calls"][0].to_string();
    assert!(shown.contains("Bearer [secret ACME_API_KEY]"), "{shown}");
    assert!(
        shown.contains(r#"\"echo\":\"Bearer [secret ACME_API_KEY]\""#),
        "{shown}"
    );
    assert!(!shown.contains("sk_live_abc"), "{shown}");

    // A Webhook node pointed at the simulator's own control API is refused.
    let own = json!({
        "name": "own",
        "match": {"pathway_ids": ["pw_own"]},
        "pathway": serde_json::from_str::<Value>(
            &std::fs::read_to_string(dir.join("order-status.pathway.json")).unwrap()).unwrap(),
        "edges": {"The user gave their order number.": {"when": {"regex": "\\d{4,}"}}},
        "webhooks": {"Look Up Order": {"url": format!("{}/_sim/reset", sim.base)}}
    });
    let (s, v) = sim.sim(Method::POST, "/_sim/scenarios", Some(own)).await;
    assert_eq!(s, 201, "{v}");
    let own_id = open(&sim, "+15550001113", "pw_own").await;
    sim.text("+15550001113", AGENT, "10452").await;
    let v = pathway_view(&sim, &own_id).await;
    let err = v["pathway"]["webhook_calls"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with("refused: the URL reaches this simulator itself"),
        "{err}"
    );
    // The error edge ("Webhook failed") leads to the global Transfer Call node.
    assert_eq!(v["current_node_id"], "human");
    assert!(v["human_handoff_at"].is_string(), "{v}");
    // The first conversation is still there: the reset was never sent.
    assert_eq!(sim.conversation(&id).await["id"], id.as_str());
}

#[tokio::test]
async fn an_overlay_key_shared_by_several_nodes_or_edges_is_refused_naming_their_ids() {
    let sim = Sim::start().await;
    let mut overlay = car_rental("http://127.0.0.1:9");
    overlay["webhooks"] = json!({"Get Rental Information": {"url": "http://127.0.0.1:9/x"}});
    let v = refused(&sim, overlay).await;
    assert_eq!(
        v["errors"][0]["message"],
        "scenario \"car-rental\": webhooks \"Get Rental Information\": 3 nodes have that name: \
         \"4f39d355-a53c-4f43-a2f0-0a8657c6659f\" (after \"Collect Last Name\"), \
         \"fa8fc2e6-6c85-4957-a315-1f2e9d53fc6c\" (after \"Bad Rental ID\"), \
         \"b5b5c10f-fda3-42cf-bdff-d51d29816d7c\" (after \"Bad Last Name\"); name one by its id"
    );
    let mut overlay = car_rental("http://127.0.0.1:9");
    overlay["edges"] = json!({"code == INVALID_RA_ID": {"when": "any"}});
    let v = refused(&sim, overlay).await;
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("scenario \"car-rental\": edges \"code == INVALID_RA_ID\": 3 edges have that label: \"reactflow__edge-4f39d355-a53c-4f43-a2f0-0a8657c6659f-57fd03d5-3bb8-4d32-8ed0-4222c313c481\" (from \"Get Rental Information\" to \"Bad Rental ID\")"),
        "{msg}"
    );
    let mut overlay = car_rental("http://127.0.0.1:9");
    overlay["say"] = json!({"Nowhere": "hi"});
    let v = refused(&sim, overlay).await;
    assert_eq!(
        v["errors"][0]["message"],
        "scenario \"car-rental\": say \"Nowhere\" names no node of the pathway (give a node id or name)"
    );
}

#[tokio::test]
async fn bland_cli_yaml_templates_load_bare_and_run() {
    let dir = std::env::temp_dir().join(format!("bland-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["pathway.yaml", "complex-pathway.yaml"] {
        std::fs::copy(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/bland-cli")
                .join(f),
            dir.join(f),
        )
        .unwrap();
    }
    let sim = Sim::with(manual().scenarios_dir(&dir).unwrap()).await;
    let names = sim.scenario_names().await;
    assert!(names.contains(&"pathway".to_string()), "{names:?}");
    assert!(names.contains(&"complex-pathway".to_string()), "{names:?}");
    // `pathway.yaml`: lower-case types, edges by `condition`; each node has one way on.
    let id = open(&sim, USER, "pathway").await;
    assert_eq!(sim.transcript(&id).await, vec!["AGENT: [greeting]"]);
    let r = sim.text(USER, AGENT, "I need help with my bill").await;
    assert_eq!(replies(&r), vec!["[main]"]);
    let r = sim.text(USER, AGENT, "that fixed it").await;
    assert_eq!(replies(&r), vec!["[goodbye]"]);
    let c = sim.conversation(&id).await;
    assert_eq!(
        (c["current_node_id"].as_str(), c["is_active"].as_bool()),
        (Some("goodbye"), Some(false))
    );
    // `complex-pathway.yaml`: a node's webhook tools are named among the warnings.
    let (_, v) = sim.sim(Method::GET, "/_sim/scenarios", None).await;
    let complex = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "complex-pathway")
        .unwrap()
        .clone();
    assert_eq!(complex["node_names"]["Greeting"], "Greeting");
    let warnings = complex["warnings"].to_string();
    assert!(
        warnings.contains("a node's `tools` are called when a language model decides"),
        "{warnings}"
    );
}

#[tokio::test]
async fn a_pathway_conversation_records_and_replays_green() {
    let sim = Sim::start().await;
    let id = open(&sim, USER, "pw_order_status").await;
    sim.text(USER, AGENT, "it's 10452").await;
    sim.text(USER, AGENT, "no thanks").await;
    let c = sim.conversation(&id).await;
    assert_eq!(c["current_node_id"], "goodbye");
    let (s, script) = sim
        .sim(
            Method::GET,
            &format!("/_sim/conversations/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{script}");
    let path = temp_file("pathway.replay.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let mut out = Vec::new();
    let verdict = bland_sms_sim::replay::run(&[path], &Default::default(), &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(verdict, bland_sms_sim::replay::Verdict::Passed, "{out}");
}

use std::path::PathBuf;

/// A small pathway: a name is asked for, then looked up.
fn names_overlay() -> Value {
    json!({
        "name": "names",
        "pathway": {
            "nodes": [
                {"id": "ask", "type": "Default", "data": {"name": "Ask", "isStart": true, "text": "Name?",
                  "extractVars": [["name", "string", "The user's name"]]}},
                {"id": "lookup", "type": "Webhook", "data": {"name": "Lookup", "method": "GET",
                  "url": "https://people.example/{{name}}",
                  "headers": [["Authorization", "Bearer {{SECRET.PW_TEST_KEY}}"]],
                  "responseData": [{"name": "found", "data": "$.found"}]}}
            ],
            "edges": [{"id": "e1", "source": "ask", "target": "lookup", "data": {"label": "The user gave a name"}}]
        },
        "webhooks": {"Lookup": {
            "url": "{{env.BLAND_SIM_PATHWAY_TEST_BASE}}/people/{{name}}",
            "headers": {"X-Client-Id": "team-7"}
        }}
    })
}

#[tokio::test]
async fn an_overlay_without_match_plays_its_name_and_fills_urls_safely() {
    let svc = Service::start().await;
    // What a CI job would set: where the team's service listens.
    std::env::set_var("BLAND_SIM_PATHWAY_TEST_BASE", &svc.base);
    let sim = Sim::start().await;
    let (s, v) = sim
        .sim(Method::POST, "/_sim/scenarios", Some(names_overlay()))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["match"]["pathway_ids"], json!(["names"]));
    assert_eq!(
        v["data"]["warnings"],
        json!([]),
        "the overlay's url replaces the https one"
    );
    let id = open(&sim, USER, "names").await;
    assert_eq!(sim.transcript(&id).await, vec!["AGENT: Name?"]);
    // A secret that is not set: the request is not sent, and the log says what to give.
    sim.text(USER, AGENT, "Van der Berg").await;
    assert!(svc.got().is_empty());
    let v = pathway_view(&sim, &id).await;
    assert_eq!(
        v["pathway"]["webhook_calls"][0]["error"],
        "not sent: the request uses {{SECRET.PW_TEST_KEY}}, which is not set: give \
         --pathway-secret PW_TEST_KEY=VALUE (or BLAND_SIM_SECRET_PW_TEST_KEY)"
    );
    // With the secret: a value filled into the URL is percent-encoded; the overlay's header
    // joins the node's.
    let sim = Sim::with(manual().pathway_secret("PW_TEST_KEY", "k-123")).await;
    let (s, _) = sim
        .sim(Method::POST, "/_sim/scenarios", Some(names_overlay()))
        .await;
    assert_eq!(s, 201);
    svc.answer(200, json!({"found": true}));
    open(&sim, USER, "names").await;
    sim.text(USER, AGENT, "Van der Berg").await;
    let got = svc.got();
    assert_eq!(got[0].uri, "/people/Van%20der%20Berg");
    assert_eq!(got[0].headers["authorization"], "Bearer k-123");
    assert_eq!(got[0].headers["x-client-id"], "team-7");
}

#[tokio::test]
async fn an_https_webhook_and_an_unknown_edge_key_are_named_at_load() {
    let sim = Sim::start().await;
    let mut overlay = names_overlay();
    overlay["webhooks"] = json!({});
    let (s, v) = sim
        .sim(Method::POST, "/_sim/scenarios", Some(overlay))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["data"]["warnings"],
        json!([
            "the Webhook nodes \"Lookup\" call https:// URLs, which the simulator cannot reach \
                (it speaks plain HTTP): give each an http:// `url` or a `response` in the \
                overlay's `webhooks`"
        ])
    );
    let mut overlay = names_overlay();
    overlay["edges"] = json!({"The user gave a nmae": {"when": "any"}});
    let v = refused(&sim, overlay).await;
    assert_eq!(
        v["errors"][0]["message"],
        "scenario \"names\": edges \"The user gave a nmae\" names no edge or node of the \
         pathway: an `edges` key is an edge id, an edge label, a node name or a global label"
    );
}
