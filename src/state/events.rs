//! [`Events`]: what changes in the simulator, as the Server-Sent Events stream of
//! `GET /_sim/events` (the browser UI reads it; other tools may too).
//!
//! Each event is one JSON object with a `type` and the ids it concerns, framed once as
//! `id: N\ndata: {…}\n\n` and kept in a backlog bounded in entries and bytes. A subscriber reads
//! the backlog at its own pace: publishing never waits for one, so a slow consumer cannot slow
//! the API. One that falls further behind than the backlog reaches (or resumes with a
//! `Last-Event-ID` the backlog no longer holds) gets a `resync` event, then the oldest kept.
//!
//! Recording starts with the first subscriber: a simulator nobody watches pays one atomic load
//! per change.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::base::error::ApiError;
use crate::base::ring::Ring;
use crate::state::model::{Conversation, Message};

/// Events kept for reconnecting subscribers, by default.
pub(crate) const DEFAULT_BACKLOG: usize = 10_000;
/// Bytes of events kept, by default.
pub(crate) const DEFAULT_BACKLOG_BYTES: usize = 8 * 1024 * 1024;
/// A comment line sent this often (real time) keeps idle streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames a subscriber's connection may have waiting in memory before its reader waits.
const IN_FLIGHT: usize = 64;
/// What one kept event counts for besides its bytes (map slot, `Bytes` header).
const ENTRY_OVERHEAD: usize = 64;
/// Most streams open at once (and at most half of `--max-connections`): each one wakes on
/// every event, and holds a connection.
pub(crate) const MAX_SUBSCRIBERS: usize = 100;

/// One change, as its `data:` line shows it.
#[derive(Serialize)]
#[serde(tag = "type")]
pub(crate) enum Change<'a> {
    #[serde(rename = "conversation.created")]
    ConversationCreated(Ends<'a>),
    #[serde(rename = "conversation.updated")]
    ConversationUpdated(Ends<'a>),
    #[serde(rename = "conversation.ended")]
    ConversationEnded(Ends<'a>),
    #[serde(rename = "conversation.deleted")]
    ConversationDeleted(Ends<'a>),
    #[serde(rename = "message.created")]
    MessageCreated {
        #[serde(flatten)]
        ends: Ends<'a>,
        message_id: &'a crate::state::model::MessageId,
        sender: &'static str,
    },
    #[serde(rename = "number.updated")]
    NumberUpdated { phone_number: &'a str },
    #[serde(rename = "webhook.attempt")]
    WebhookAttempt {
        delivery_id: u64,
        conversation_id: &'a str,
        event: &'a str,
        attempt: usize,
        response_code: Option<u16>,
        status: &'a str,
    },
    /// A pathway Webhook node made its request (or the overlay answered for it).
    #[serde(rename = "pathway.call")]
    PathwayCall {
        call_id: u64,
        conversation_id: &'a str,
        node_id: &'a str,
        node_name: &'a str,
        status: Option<u16>,
        error: Option<&'a str>,
        next_node_id: Option<&'a str>,
    },
    #[serde(rename = "clock.moved")]
    ClockMoved { now: String, by_ms: i64 },
    #[serde(rename = "reset")]
    Reset { cause: &'static str },
}

/// The conversation an event is about.
#[derive(Serialize)]
pub(crate) struct Ends<'a> {
    pub conversation_id: &'a str,
    pub agent_number: &'a str,
    pub user_number: &'a str,
}

impl<'a> Ends<'a> {
    pub fn of(c: &'a Conversation) -> Self {
        Ends {
            conversation_id: &c.id,
            agent_number: &c.agent_number,
            user_number: &c.user_number,
        }
    }
}

/// What a conversation looked like before a change, to tell what the change did.
#[derive(PartialEq)]
pub(crate) struct Glance {
    messages: usize,
    visible: u32,
    updated_at: i64,
    active: bool,
    ended: bool,
    handoff: bool,
    timed_out: bool,
    variables: usize,
    message_updates: u16,
}

impl Glance {
    pub fn of(c: &Conversation) -> Self {
        Glance {
            messages: c.messages.len(),
            visible: c.visible,
            updated_at: c.updated_at,
            active: c.is_active,
            ended: c.ended.is_some(),
            handoff: c.handoff.is_some(),
            timed_out: c.timed_out_at.is_some(),
            variables: c.variables.as_ref().map_or(0, |v| v.len()),
            message_updates: c.message_updates,
        }
    }
}

/// A stream's place under the subscriber cap, held by its pump.
struct Place(std::sync::Arc<Events>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The event stream's backlog and its subscribers.
pub(crate) struct Events {
    on: AtomicBool,
    /// Above 0 while a reset or a state replacement reloads everything: its `reset` event
    /// stands for all of that.
    muted: AtomicUsize,
    backlog: Ring<Bytes>,
    published: Notify,
    subscribers: AtomicUsize,
    /// Most streams open at once.
    streams: usize,
    /// Cancelled when the server stops, so open streams end and shutdown need not wait.
    closing: CancellationToken,
}

impl Events {
    /// A backlog of at most `entries` events and `bytes` of them, for at most `streams`
    /// subscribers at once.
    pub fn new(entries: usize, bytes: usize, streams: usize) -> Self {
        // Ids go on from the start time in microseconds, so an id a client kept from an
        // earlier run of the simulator is older than any of this run's, and gets a `resync`.
        let first = (crate::base::clock::system_ms().max(0) as u64).saturating_mul(1000);
        Events {
            on: AtomicBool::new(false),
            muted: AtomicUsize::new(0),
            backlog: Ring::bounded(entries.max(1), bytes, |b: &Bytes| b.len() + ENTRY_OVERHEAD)
                .first_id(first),
            published: Notify::new(),
            subscribers: AtomicUsize::new(0),
            streams: streams.max(1),
            closing: CancellationToken::new(),
        }
    }

    /// Whether events are recorded (from the first subscriber on).
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed) && self.muted.load(Ordering::Relaxed) == 0
    }

    /// Runs `f` with no event recorded but the one `after` builds, published when `f` is done.
    pub fn muted<'a, T>(&self, f: impl FnOnce() -> T, after: impl FnOnce() -> Change<'a>) -> T {
        /// Unmutes when dropped, also when `f` panics.
        struct Unmute<'e>(&'e AtomicUsize);
        impl Drop for Unmute<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.muted.fetch_add(1, Ordering::AcqRel);
        let unmute = Unmute(&self.muted);
        let out = f();
        drop(unmute);
        self.publish(after);
        out
    }

    /// Records the event `make` builds, if anyone has subscribed.
    pub fn publish<'a>(&self, make: impl FnOnce() -> Change<'a>) {
        if !self.enabled() {
            return;
        }
        let json = serde_json::to_vec(&make()).expect("an event serializes");
        self.backlog.push(|id| frame(id, &json));
        self.published.notify_waiters();
    }

    /// Events for what `change` did to a conversation that looked like `before`: each new
    /// message, then the end or an update.
    pub fn changed(&self, before: &Glance, after: &Conversation) {
        if !self.enabled() {
            return;
        }
        let ends = || Ends::of(after);
        for m in after.messages.iter().skip(before.messages) {
            self.message(after, m);
        }
        if after.ended.is_some() && !before.ended {
            self.publish(|| Change::ConversationEnded(ends()));
        } else if *before != Glance::of(after) {
            self.publish(|| Change::ConversationUpdated(ends()));
        }
    }

    /// A conversation that was stored: created, then its messages.
    pub fn created(&self, c: &Conversation) {
        if !self.enabled() {
            return;
        }
        self.publish(|| Change::ConversationCreated(Ends::of(c)));
        for m in &c.messages {
            self.message(c, m);
        }
    }

    fn message(&self, c: &Conversation, m: &Message) {
        let id = m.id();
        self.publish(|| Change::MessageCreated {
            ends: Ends::of(c),
            message_id: &id,
            sender: m.sender().as_str(),
        });
    }

    /// Events kept now, and the bytes they count for.
    pub fn size(&self) -> (usize, usize) {
        (self.backlog.len(), self.backlog.bytes())
    }

    /// Streams end (the server is stopping).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Subscribes from the event after `last` (`None`: from the next one published), and
    /// starts recording if this is the first subscriber. The frames come through the returned
    /// body, fed by a task of its own.
    ///
    /// # Errors
    /// 503 `TOO_MANY_SUBSCRIBERS` when as many streams are open as it serves: the place is
    /// taken atomically, so concurrent opens never pass the cap.
    pub fn subscribe(
        self: &std::sync::Arc<Self>,
        last: Option<u64>,
    ) -> Result<EventStream, ApiError> {
        let most = self.streams;
        if self
            .subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .is_err()
        {
            return Err(ApiError::new(
                hyper::StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_SUBSCRIBERS",
                format!(
                    "{most} event streams are open, the most this simulator serves at once (at \
                     most {MAX_SUBSCRIBERS} and half of --max-connections): close one, or raise \
                     --max-connections"
                ),
            ));
        }
        self.on.store(true, Ordering::Relaxed);
        let next = match last {
            Some(id) => id.saturating_add(1),
            None => self.backlog.next_id(),
        };
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        // Gives the place back when the pump ends, or when its task is dropped unfinished (a
        // runtime shutting down).
        let place = Place(self.clone());
        tokio::spawn(async move {
            place.0.pump(next, tx).await;
        });
        Ok(EventStream { rx, _hold: None })
    }

    /// Open streams.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Feeds one subscriber from event `next` on until it goes away or the server stops.
    async fn pump(&self, mut next: u64, tx: mpsc::Sender<Bytes>) {
        let hello = Bytes::from_static(b"retry: 1000\n: bland-sms-sim events\n\n");
        if !self.send(&tx, hello).await {
            return;
        }
        if next > self.backlog.next_id() {
            // An id this stream has not sent yet (ids go on from the start time, so one from an
            // earlier run is below the backlog and is handled as fallen behind, below).
            next = self.backlog.next_id();
            let why = "that Last-Event-ID is not one this stream has sent yet";
            if !self.send_resync(&tx, next, why).await {
                return;
            }
        }
        loop {
            let published = self.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            while next < self.backlog.next_id() {
                match self.backlog.get(next) {
                    Some(frame) => {
                        if !self.send(&tx, frame).await {
                            return;
                        }
                        next += 1;
                    }
                    None if next < self.backlog.oldest() => {
                        next = self.backlog.oldest();
                        let why = "events after the last one this subscriber read are no \
                                   longer in the backlog (it fell behind, or the id is from an \
                                   earlier run)";
                        if !self.send_resync(&tx, next, why).await {
                            return;
                        }
                    }
                    // Numbered but not stored yet: its publisher is between the two steps.
                    None => tokio::task::yield_now().await,
                }
            }
            tokio::select! {
                _ = published => {}
                _ = tx.closed() => return,
                _ = self.closing.cancelled() => return,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    if !self.send(&tx, Bytes::from_static(b": keep-alive\n\n")).await {
                        return;
                    }
                }
            }
        }
    }

    /// Tells a subscriber that events before `next` were lost to it (no `id:`, so its
    /// `Last-Event-ID` stays where it was); false when it has gone.
    async fn send_resync(&self, tx: &mpsc::Sender<Bytes>, next: u64, why: &str) -> bool {
        let json = serde_json::json!({
            "type": "resync",
            "next_id": next,
            "message": format!("{why}: read the state again; the stream goes on from next_id"),
        });
        self.send(tx, Bytes::from(format!("data: {json}\n\n")))
            .await
    }

    /// Hands a frame to the connection; false when the subscriber has gone or the server is
    /// stopping (a subscriber that stopped reading cannot hold up the shutdown).
    async fn send(&self, tx: &mpsc::Sender<Bytes>, frame: Bytes) -> bool {
        tokio::select! {
            sent = tx.send(frame) => sent.is_ok(),
            _ = self.closing.cancelled() => false,
        }
    }
}

/// One event as the stream sends it.
fn frame(id: u64, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The body of a `GET /_sim/events` answer: the frames its task sends.
pub(crate) struct EventStream {
    rx: mpsc::Receiver<Bytes>,
    /// Kept for as long as the stream is open (the server's note that its connection is busy).
    _hold: Option<Box<dyn Send + Sync>>,
}

impl EventStream {
    /// Keeps `x` until the stream is dropped.
    pub fn hold(&mut self, x: impl Send + Sync + 'static) {
        self._hold = Some(Box::new(x));
    }
}

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;

    async fn next_frame(s: &mut EventStream) -> String {
        let f = s.frame().await.expect("open").expect("infallible");
        String::from_utf8(f.into_data().expect("data").to_vec()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_past_the_cap_are_refused_even_when_they_race() {
        let events = Arc::new(Events::new(10, usize::MAX, 50));
        // Eight threads try 100 opens each at once; exactly 50 may be open.
        let runtime = tokio::runtime::Handle::current();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (events, runtime) = (events.clone(), runtime.clone());
                std::thread::spawn(move || {
                    let _in = runtime.enter();
                    (0..100)
                        .filter_map(|_| events.subscribe(None).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let streams: Vec<EventStream> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect();
        assert_eq!(streams.len(), 50);
        assert_eq!(events.subscribers(), 50);
        let refused = events.subscribe(None).map(|_| ()).unwrap_err();
        assert_eq!(refused.code, "TOO_MANY_SUBSCRIBERS");
        assert_eq!(refused.status, hyper::StatusCode::SERVICE_UNAVAILABLE);
        // A stream that goes gives its place back.
        drop(streams);
        for _ in 0..1000 {
            if events.subscribers() == 0 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(events.subscribers(), 0);
        assert!(events.subscribe(None).is_ok());
    }

    #[test]
    fn a_runtime_dropped_under_an_open_stream_gives_its_place_back() {
        let events = Arc::new(Events::new(10, usize::MAX, 1));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let stream = runtime.block_on(async {
            let s = events.subscribe(None).expect("a place");
            tokio::task::yield_now().await;
            s
        });
        assert_eq!(events.subscribers(), 1);
        assert!(events.subscribe(None).is_err());
        // The pump is waiting on the open stream when its task is dropped.
        drop(runtime);
        assert_eq!(events.subscribers(), 0);
        drop(stream);
    }

    #[tokio::test]
    async fn nothing_is_recorded_until_someone_subscribes() {
        let events = Events::new(10, usize::MAX, 1);
        events.publish(|| Change::Reset { cause: "reset" });
        assert_eq!(events.size(), (0, 0));
    }

    #[tokio::test]
    async fn a_subscriber_left_behind_is_told_and_goes_on_from_the_oldest_kept() {
        let events = Arc::new(Events::new(50, usize::MAX, 1));
        let first = events.backlog.next_id();
        assert!(
            first > 1_700_000_000_000_000,
            "ids start from the time in µs"
        );
        let mut stream = events.subscribe(None).expect("a place");
        assert!(next_frame(&mut stream).await.starts_with("retry: 1000\n"));
        // The subscriber reads nothing while 500 events are published: none of them waits.
        for _ in 0..500 {
            events.publish(|| Change::Reset { cause: "reset" });
        }
        assert_eq!(events.size().0, 50);
        let resync = next_frame(&mut stream).await;
        let expect = format!("data: {{\"type\":\"resync\",\"next_id\":{},", first + 450);
        assert!(resync.starts_with(&expect), "{resync}");
        for id in first + 450..first + 500 {
            let f = next_frame(&mut stream).await;
            assert_eq!(
                f,
                format!("id: {id}\ndata: {{\"type\":\"reset\",\"cause\":\"reset\"}}\n\n")
            );
        }
        events.publish(|| Change::NumberUpdated { phone_number: "+1" });
        let next = format!("id: {}\n", first + 500);
        assert!(next_frame(&mut stream).await.starts_with(&next));
        // Stopping the server ends the stream.
        events.close();
        assert!(stream.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_subscriber_blocked_on_its_connection_holds_up_no_publisher() {
        let events = Arc::new(Events::new(100, usize::MAX, 1));
        let first = events.backlog.next_id();
        let mut stream = events.subscribe(None).expect("a place");
        assert!(next_frame(&mut stream).await.starts_with("retry: 1000\n"));
        // Its task fills what its connection may hold, then waits on it: it is blocked.
        for _ in 0..IN_FLIGHT + 10 {
            events.publish(|| Change::Reset { cause: "reset" });
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // Publishing goes on meanwhile (it never awaits), past what the backlog keeps.
        for _ in 0..1000 {
            events.publish(|| Change::NumberUpdated { phone_number: "+1" });
        }
        assert_eq!(events.size().0, 100);
        // Once read: what its connection held, and the frame its task was waiting to hand
        // over, then a resync, then the newest.
        for i in 0..=IN_FLIGHT as u64 {
            assert!(next_frame(&mut stream)
                .await
                .starts_with(&format!("id: {}\n", first + i)));
        }
        let resync = next_frame(&mut stream).await;
        let oldest = first + (IN_FLIGHT as u64 + 10 + 1000) - 100;
        assert!(
            resync.starts_with(&format!(
                "data: {{\"type\":\"resync\",\"next_id\":{oldest},"
            )),
            "{resync}"
        );
        assert!(next_frame(&mut stream)
            .await
            .starts_with(&format!("id: {oldest}\n")));
    }

    #[tokio::test]
    async fn muted_changes_are_summed_up_by_one_event() {
        let events = Arc::new(Events::new(50, usize::MAX, 1));
        let mut stream = events.subscribe(None).expect("a place");
        next_frame(&mut stream).await;
        events.muted(
            || events.publish(|| Change::NumberUpdated { phone_number: "+1" }),
            || Change::Reset { cause: "state" },
        );
        assert_eq!(
            next_frame(&mut stream).await,
            format!(
                "id: {}\ndata: {{\"type\":\"reset\",\"cause\":\"state\"}}\n\n",
                events.backlog.next_id() - 1
            )
        );
    }
}
