//! `GET /_sim/events`: the Server-Sent Events stream of what changes — order, `Last-Event-ID`
//! resumption, the bounded backlog, and a consumer that never reads.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::support::*;

/// One event as the stream sent it.
#[derive(Debug)]
struct Ev {
    id: Option<u64>,
    data: Value,
}

impl Ev {
    fn kind(&self) -> &str {
        self.data["type"].as_str().unwrap_or("")
    }
}

/// A reader of the stream.
struct Events {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl Events {
    async fn open(sim: &Sim, headers: &[(&str, &str)]) -> Events {
        let (status, h, body) = sim.open("/_sim/events", headers).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-cache");
        let mut events = Events {
            body,
            buf: Vec::new(),
        };
        // The stream's first block says how soon to reconnect; no event in it.
        let first = events.block().await;
        assert!(first.starts_with("retry: 1000\n"), "{first}");
        events
    }

    /// The next blank-line-ended block.
    async fn block(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                return String::from_utf8(block).expect("UTF-8");
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s")
                .expect("the stream is open")
                .expect("the stream reads");
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }

    /// The next event (comments skipped).
    async fn next(&mut self) -> Ev {
        loop {
            let block = self.block().await;
            let mut ev = Ev {
                id: None,
                data: Value::Null,
            };
            for line in block.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    ev.id = Some(id.parse().expect("a numeric id"));
                } else if let Some(data) = line.strip_prefix("data: ") {
                    ev.data = serde_json::from_str(data).expect("JSON data");
                }
            }
            if !ev.data.is_null() {
                return ev;
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Ev> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }
}

fn kinds(evs: &[Ev]) -> Vec<&str> {
    evs.iter().map(Ev::kind).collect()
}

fn gauge(metrics: &str, name: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in the metrics"))
}

#[tokio::test]
async fn events_arrive_in_order_with_consecutive_ids() {
    let sim = Sim::start().await;
    let receiver = Receiver::start().await;
    set_webhook(&sim, AGENT, &receiver.url).await;
    let mut events = Events::open(&sim, &[]).await;

    let id = sim.text(USER, AGENT, "hi").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let opened = events.take(6).await;
    assert_eq!(
        kinds(&opened),
        [
            "conversation.created",
            "message.created",
            "message.created",
            "conversation.updated",
            "webhook.attempt",
            "webhook.attempt",
        ]
    );
    let first = opened[0].id.expect("events carry ids");
    for (i, ev) in opened.iter().enumerate() {
        assert_eq!(ev.id, Some(first + i as u64), "consecutive ids");
    }
    assert_eq!(
        opened[0].data,
        json!({"type": "conversation.created", "conversation_id": id,
               "agent_number": AGENT, "user_number": USER})
    );
    assert_eq!(opened[1].data["sender"], "USER");
    assert_eq!(opened[2].data["sender"], "AGENT");
    assert_eq!(opened[1].data["conversation_id"], id.as_str());
    let detail = sim.conversation(&id).await;
    assert_eq!(opened[1].data["message_id"], detail["messages"][0]["id"]);
    assert_eq!(opened[2].data["message_id"], detail["messages"][1]["id"]);
    let hook = &opened[4].data;
    assert_eq!(hook["conversation_id"], id.as_str());
    assert_eq!(hook["attempt"], 1);
    assert_eq!(hook["response_code"], 200);
    assert_eq!(hook["status"], "delivered");
    assert_eq!(hook["event"], "message");
    assert_eq!(hook["delivery_id"], 1, "the user's message first");
    assert_eq!(opened[5].data["delivery_id"], 2);

    // A human's message, the end, the clock and a reset, in that order.
    let (status, _) = sim
        .post(
            &format!("/v1/sms/conversations/{id}/messages"),
            json!({"message": "A person here", "sender": "HUMAN"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let human = events.take(3).await;
    assert_eq!(
        kinds(&human),
        ["message.created", "conversation.updated", "webhook.attempt"]
    );
    assert_eq!(human[0].data["sender"], "HUMAN");

    let (status, _) = sim
        .post(&format!("/v1/sms/conversations/{id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ended = events.next().await;
    assert_eq!(ended.kind(), "conversation.ended");
    assert_eq!(ended.data["conversation_id"], id.as_str());
    // Its status webhook.
    assert_eq!(events.next().await.data["event"], "ended");

    sim.advance(90.0).await;
    let moved = events.next().await;
    assert_eq!(moved.kind(), "clock.moved");
    assert_eq!(moved.data["by_ms"], 90_000);
    assert_eq!(moved.data["now"], "2026-01-01T12:01:30.000Z");

    let (status, _) = sim.sim(hyper::Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::OK);
    // The reload of the fixtures is not told number by number: one `reset` stands for it.
    let reset = events.next().await;
    assert_eq!(reset.data, json!({"type": "reset", "cause": "reset"}));

    let (status, _) = sim
        .sim(
            hyper::Method::POST,
            "/_sim/numbers",
            Some(json!({"api_key": KEY, "phone_number": "+15550009999"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        events.next().await.data,
        json!({"type": "number.updated", "phone_number": "+15550009999"})
    );
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_without_losses() {
    let sim = Sim::start().await;
    let mut events = Events::open(&sim, &[]).await;
    sim.text(USER, AGENT, "one").await;
    let seen = events.take(4).await;
    let last = seen[1].id.unwrap();
    drop(events);

    // Missed while away: the rest of the first text, and all of a second one.
    sim.text("+15550001112", AGENT, "two").await;
    let mut back = Events::open(&sim, &[("last-event-id", &last.to_string())]).await;
    let resumed = back.take(6).await;
    let ids: Vec<u64> = resumed.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids, (last + 1..last + 7).collect::<Vec<_>>());
    assert_eq!(resumed[0].data, seen[2].data, "the first missed event");
    assert_eq!(
        kinds(&resumed[2..]),
        [
            "conversation.created",
            "message.created",
            "message.created",
            "conversation.updated"
        ]
    );
    assert_eq!(resumed[2].data["user_number"], "+15550001112");

    // The query parameter does the same for clients that cannot set the header.
    let mut by_query = Events::open_path(&sim, &format!("last_event_id={}", last + 5)).await;
    assert_eq!(by_query.next().await.id, Some(last + 6));

    // An id from an earlier run (ids go on from the start time, so it is older than all of
    // this run's) cannot be resumed: a resync says so, then the whole backlog follows.
    let first = seen[0].id.unwrap();
    assert!(
        first > 1_700_000_000_000_000,
        "ids start from the time in µs"
    );
    let mut stale = Events::open(&sim, &[("last-event-id", "999999")]).await;
    let resync = stale.next().await;
    assert_eq!(resync.kind(), "resync");
    assert_eq!(resync.id, None, "a resync keeps the client's Last-Event-ID");
    assert_eq!(resync.data["next_id"], first);
    assert_eq!(stale.next().await.id, Some(first));
    // One from the future goes on from the next event.
    let ahead = (last + 1000).to_string();
    let mut future = Events::open(&sim, &[("last-event-id", &ahead)]).await;
    let resync = future.next().await;
    assert_eq!(resync.kind(), "resync");
    assert_eq!(resync.data["next_id"], last + 7);
}

impl Events {
    async fn open_path(sim: &Sim, query: &str) -> Events {
        let (status, _, body) = sim.open(&format!("/_sim/events?{query}"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        let mut events = Events {
            body,
            buf: Vec::new(),
        };
        events.block().await;
        events
    }
}

#[tokio::test]
async fn the_backlog_is_bounded_and_what_fell_out_is_announced() {
    let sim = Sim::with(manual().events_backlog(10, 1 << 20)).await;
    let mut events = Events::open(&sim, &[]).await;
    for i in 0..8 {
        sim.text(&format!("+1555000{i:04}"), AGENT, "hello").await;
    }
    // 8 texts × 4 events; the first subscriber reads them all as they come.
    let all = events.take(32).await;
    let first = all[0].id.unwrap();
    assert_eq!(all.last().unwrap().id, Some(first + 31));
    let m = sim.text_of("/_sim/metrics").await;
    assert_eq!(gauge(&m, "bland_sim_log_entries{log=\"events\"}"), 10);
    assert_eq!(gauge(&m, "bland_sim_event_subscribers"), 1);

    // A client back from event 1 finds only the newest 10: told so, then given those.
    let mut late = Events::open(&sim, &[("last-event-id", &first.to_string())]).await;
    let resync = late.next().await;
    assert_eq!(resync.kind(), "resync");
    assert_eq!(resync.data["next_id"], first + 22);
    let kept = late.take(10).await;
    let ids: Vec<u64> = kept.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids, (first + 22..=first + 31).collect::<Vec<_>>());
    assert_eq!(kept[9].data, all[31].data);

    // Bounded in bytes too.
    let small = Sim::with(manual().events_backlog(10_000, 2_000)).await;
    let _watch = Events::open(&small, &[]).await;
    for i in 0..20 {
        small.text(&format!("+1555000{i:04}"), AGENT, "hello").await;
    }
    let m = small.text_of("/_sim/metrics").await;
    let bytes = gauge(&m, "bland_sim_log_bytes{log=\"events\"}");
    assert!(bytes > 0 && bytes <= 2_000, "{bytes} bytes kept");
    assert!(gauge(&m, "bland_sim_log_entries{log=\"events\"}") < 20);
}

#[tokio::test]
async fn a_consumer_that_never_reads_does_not_slow_the_api() {
    let sim = Sim::with(manual().events_backlog(50, 1 << 20)).await;
    // A subscriber with a tiny receive window that reads nothing.
    let addr = sim.sim.addr();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(addr).await.unwrap();
    stuck
        .write_all(b"GET /_sim/events HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    // And one that reads as events come. (The kernel's socket buffers take in far more than
    // these texts publish, so whether the stuck stream falls behind is the unit tests' part:
    // `events::tests` block a subscriber for sure.)
    let mut reader = Events::open(&sim, &[]).await;
    let texts = 600;
    let collect = tokio::spawn(async move {
        let evs = reader.take(texts * 4).await;
        (
            reader,
            evs.iter().map(|e| e.id.unwrap()).collect::<Vec<u64>>(),
        )
    });

    // Each text is answered while the stuck consumer's backlog runs out from under it.
    let api = async {
        for i in 0..texts {
            let r = sim.text(&format!("+1555{i:07}"), AGENT, "hi").await;
            assert!(r["conversation_id"].is_string());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), api)
        .await
        .expect("the API never waits for a subscriber");

    let (_reader, ids) = collect.await.unwrap();
    let gaps = ids.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(gaps, 0, "a reading subscriber gets every event, in order");
    assert_eq!(ids.len(), texts * 4);

    // The stuck one is held only by its own backlog, which stays within its bound.
    let m = sim.text_of("/_sim/metrics").await;
    assert_eq!(gauge(&m, "bland_sim_log_entries{log=\"events\"}"), 50);
    assert_eq!(gauge(&m, "bland_sim_event_subscribers"), 2);
    drop(stuck);
}

#[tokio::test]
async fn a_bad_last_event_id_is_refused_and_the_admin_token_may_come_in_the_query() {
    let sim = Sim::start().await;
    let (status, body) = sim
        .call(
            hyper::Method::GET,
            "/_sim/events",
            None,
            &[("last-event-id", "abc")],
            None,
        )
        .await;
    assert_error(&(status, body.clone()), 400, "INVALID_PARAMETER");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("leave it out to start from the next event"));

    let guarded = Sim::with(manual().admin_token("t0ken")).await;
    let (status, body) = guarded
        .call(hyper::Method::GET, "/_sim/events", None, &[], None)
        .await;
    assert_error(&(status, body), 401, "AUTH_FAILURE");
    let (status, _, _) = guarded.open("/_sim/events?admin_token=t0ken", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, h, _) = guarded.open("/_sim/ui?admin_token=t0ken", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    // Elsewhere the query does not count.
    let (status, body) = guarded
        .call(
            hyper::Method::GET,
            "/_sim/clock?admin_token=t0ken",
            None,
            &[],
            None,
        )
        .await;
    assert_error(&(status, body), 401, "AUTH_FAILURE");
}

#[tokio::test]
async fn the_ui_page_is_served_whole_with_its_hooks() {
    let sim = Sim::start().await;
    let (status, h, _) = sim.open("/_sim/ui", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let page = sim.text_of("/_sim/ui").await;
    for hook in [
        "number-item",
        "conversation-item",
        "thread-message",
        "user-input",
        "user-send",
        "human-input",
        "human-send",
        "clock-now",
        "clock-advance-60",
        "webhook-item",
    ] {
        assert!(page.contains(&format!("\"{hook}\"")), "data-testid {hook}");
    }
    // Nothing from the network: no external script, style or font.
    assert!(!page.contains("http://") && !page.contains("https://"));
}

#[tokio::test]
async fn open_streams_keep_their_connections_and_are_capped() {
    // Four connections: at most two of them streams.
    let sim = Sim::with(manual().max_connections(4)).await;
    let _a = Events::open(&sim, &[]).await;
    let _b = Events::open(&sim, &[]).await;
    let (status, body) = sim
        .call(hyper::Method::GET, "/_sim/events", None, &[], None)
        .await;
    assert_error(&(status, body.clone()), 503, "TOO_MANY_SUBSCRIBERS");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("2 event streams are open"));
    // The streams are not taken for idle connections: others are still served, and the
    // streams go on.
    for _ in 0..3 {
        let (status, _) = sim.sim(hyper::Method::GET, "/_sim/health", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut a = _a;
    sim.text(USER, AGENT, "still there").await;
    assert_eq!(a.next().await.kind(), "conversation.created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_never_pass_the_stream_cap() {
    // 40 connections: at most 20 streams; 30 opened at once, each on a connection of its own.
    let sim = std::sync::Arc::new(Sim::with(manual().max_connections(40)).await);
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let sim = sim.clone();
        opens.spawn(async move {
            let (status, _, body) = sim.open("/_sim/events", &[]).await;
            // A stream stays open (its body is held) until the test ends.
            (status, body)
        });
    }
    let mut kept = Vec::new();
    let (mut open, mut refused) = (0, 0);
    while let Some(answer) = opens.join_next().await {
        let (status, body) = answer.expect("the open runs");
        match status {
            StatusCode::OK => open += 1,
            StatusCode::SERVICE_UNAVAILABLE => refused += 1,
            other => panic!("unexpected {other}"),
        }
        kept.push(body);
    }
    assert_eq!((open, refused), (20, 10));
    let metrics = sim.text_of("/_sim/metrics").await;
    assert!(
        metrics.contains("bland_sim_event_subscribers 20\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stopping_server_ends_its_streams() {
    let sim = Sim::start().await;
    let mut events = Events::open(&sim, &[]).await;
    let Sim { sim: handle, .. } = sim;
    // Well within the 5 s grace period that a stream still open would use up.
    tokio::time::timeout(Duration::from_secs(4), handle.shutdown())
        .await
        .expect("shutdown does not wait for an open stream");
    let end = tokio::time::timeout(Duration::from_secs(4), events.body.frame())
        .await
        .expect("the stream ends");
    assert!(end.is_none_or(|f| f.is_err()), "no more frames");
}

#[tokio::test]
async fn the_uis_views_read_conversations_without_a_key_faults_or_the_journal() {
    let sim = Sim::start().await;
    let first = sim.text(USER, AGENT, "one").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = sim.text("+15550001112", AGENT, "two").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let through_api = sim.conversation(&first).await;
    // A fault on the API's reads does not touch the views.
    let (status, _) = sim
        .sim(
            hyper::Method::POST,
            "/_sim/faults",
            Some(json!({"method": "GET", "path": "/v1/sms/conversations/*", "status": 503})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = sim
        .sim(hyper::Method::GET, "/_sim/requests/count", None)
        .await
        .1["data"]["count"]
        .clone();

    let path = format!(
        "/_sim/conversations?agent_number={}",
        AGENT.replace('+', "%2B")
    );
    let (status, list) = sim.sim(hyper::Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    let (status, detail) = sim
        .sim(
            hyper::Method::GET,
            &format!("/_sim/conversations/{first}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The same, with what the carrier makes of each message added.
    let mut same = detail["data"].clone();
    for m in same["messages"].as_array_mut().unwrap() {
        assert_eq!(m["carrier"]["encoding"], "GSM-7");
        m.as_object_mut().unwrap().remove("carrier");
    }
    assert_eq!(same, through_api);
    let after = sim
        .sim(hyper::Method::GET, "/_sim/requests/count", None)
        .await
        .1["data"]["count"]
        .clone();
    assert_eq!(before, after, "nothing journaled");
    // The fault is live: the API's own read of the same conversation gets it.
    let (status, _) = sim.get(&format!("/v1/sms/conversations/{first}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // An unencoded `+` (read as a space) still finds the number.
    let (status, plain) = sim
        .sim(
            hyper::Method::GET,
            &format!("/_sim/conversations?agent_number={AGENT}&limit=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plain["data"][0]["id"], second.as_str());
    let got = sim
        .sim(
            hyper::Method::GET,
            &format!("/_sim/conversations?agent_number={AGENT}&limit=0"),
            None,
        )
        .await;
    assert_error(&got, 400, "INVALID_PARAMETER");
    let got = sim
        .sim(hyper::Method::GET, "/_sim/conversations/nope", None)
        .await;
    assert_error(&got, 404, "CONVERSATION_NOT_FOUND");
    let got = sim
        .sim(hyper::Method::GET, "/_sim/conversations", None)
        .await;
    assert_error(&got, 400, "MISSING_REQUIRED_FIELDS");
    let got = sim
        .sim(
            hyper::Method::GET,
            "/_sim/conversations?agent_number=%2B15559999999",
            None,
        )
        .await;
    assert_error(&got, 404, "INBOUND_NUMBER_NOT_FOUND");
}
