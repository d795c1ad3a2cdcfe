//! Webhook deliveries: each is stored with its exact body and `X-Webhook-Signature` (lowercase
//! hex HMAC-SHA256 of that body), then attempted over HTTP. Any 2xx delivers it; other statuses,
//! refused connections and timeouts leave it pending for a retry that `App` schedules on the
//! simulator's clock with capped exponential backoff. Every attempt is logged.
//!
//! The log is a [`Ring`] of `--webhook-log` entries.
//! Attempts never hold a map guard across the network call.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::{header, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore};

use crate::base::event::Event;
use crate::observe::faults::{Faults, WebhookFault};
use crate::observe::metrics::Metrics;
use crate::state::events::{Change, Events};

use crate::base::ring::Ring;
use crate::state::history::Body;

pub(crate) mod call;
mod connect;
mod delivery;

pub(crate) use delivery::{Attempt, Delivery, SendType, State};

/// First retry waits this long; each next one twice as long.
pub const RETRY_BASE_SECS: i64 = 5;
/// No retry waits longer than this.
pub const RETRY_CAP_SECS: i64 = 60;

/// How long to wait before attempt number `next_attempt` (2 for the first retry).
pub fn backoff_secs(next_attempt: u32) -> i64 {
    let exp = next_attempt.saturating_sub(2).min(16);
    (RETRY_BASE_SECS << exp).min(RETRY_CAP_SECS)
}

/// Hex HMAC-SHA256 of `bytes` keyed with `secret`: what a receiver checks
/// `X-Webhook-Signature` against.
pub(crate) fn sign_bytes(secret: &str, bytes: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex HMAC-SHA256 of `body` keyed with `secret`, computed over its pieces (no copy).
pub(crate) fn sign(secret: &str, body: &Body) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    body.for_each_piece(|p| mac.update(p));
    hex::encode(mac.finalize().into_bytes())
}

/// The delivery log and the HTTP client that sends.
pub struct Webhooks {
    log: Ring<Delivery>,
    client: Client<connect::Connector, Full<Bytes>>,
    secret: String,
    max_attempts: u32,
    timeout: Duration,
    /// Attempts in flight at once; the rest wait their turn (a hanging receiver would
    /// otherwise use up file descriptors).
    in_flight: Semaphore,
    /// Attempts waiting for a turn; past [`MAX_WAITING`] an attempt fails as "busy" and is
    /// retried on the usual schedule, so the queue stays bounded.
    waiting: AtomicUsize,
    /// The simulator's own address: no delivery is sent there (the connector checks).
    own: Arc<OnceLock<SocketAddr>>,
    /// Counts resets, so an attempt begun before one never writes into a newer delivery that
    /// reuses its id.
    generation: AtomicU64,
    /// The fault rules, shared with the API side.
    faults: Arc<Faults>,
    /// Signalled after every recorded attempt, for `/_sim/webhooks/wait`.
    attempted: Notify,
    metrics: Arc<Metrics>,
    events: Arc<Events>,
}

/// Sent with every delivery; a request that carries it may not use `/_sim/*` (one simulator's
/// webhook pointed at another's control API).
pub(crate) const DELIVERY_HEADER: &str = "x-bland-sim-delivery";

/// Attempts that may wait for a turn at once.
pub(crate) const MAX_WAITING: usize = 10_000;

/// What one delivery counts for against the log's byte bound: its body, URL, signature and
/// a fixed allowance for the rest (attempts included).
fn delivery_bytes(d: &Delivery) -> usize {
    d.body.own_len()
        + d.url.len()
        + d.signature.len()
        + d.conversation_id.len()
        + 512
        + delivery::ATTEMPTS_BYTES
}

/// The settings of [`Webhooks`].
pub(crate) struct Settings {
    pub secret: String,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub log_entries: usize,
    pub log_bytes: usize,
    pub concurrency: usize,
    pub faults: Arc<Faults>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
}

/// What an attempt leaves to do.
pub enum Next {
    Done,
    /// Retry at this (simulator) time.
    RetryAt(i64),
}

impl Webhooks {
    pub fn new(s: Settings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(s.timeout_ms)));
        let own = Arc::new(OnceLock::new());
        let connector = connect::Connector {
            inner: connector,
            own: Arc::clone(&own),
        };
        Webhooks {
            log: Ring::bounded(s.log_entries, s.log_bytes, delivery_bytes),
            // The client keeps idle connections per receiver and reuses them.
            client: Client::builder(TokioExecutor::new()).build(connector),
            secret: s.secret,
            max_attempts: s.max_attempts,
            timeout: Duration::from_millis(s.timeout_ms),
            in_flight: Semaphore::new(s.concurrency.max(1)),
            waiting: AtomicUsize::new(0),
            own,
            generation: AtomicU64::new(0),
            faults: s.faults,
            attempted: Notify::new(),
            metrics: s.metrics,
            events: s.events,
        }
    }

    /// Tells the dispatcher where the simulator itself listens.
    pub fn set_own_addr(&self, addr: SocketAddr) {
        let _ = self.own.set(addr);
    }

    /// Drops every delivery; ids start over. Attempts still in flight belong to the old
    /// generation and record nothing.
    /// Deliveries kept and the bytes they count for.
    pub fn size(&self) -> (usize, usize) {
        (self.log.len(), self.log.bytes())
    }

    /// Counts `history` against the log's byte bound once its conversation has let go of it
    /// (messages were deleted) and only deliveries still hold it, until they are dropped.
    pub fn orphaned(&self, history: &Arc<crate::state::history::History>) {
        if Arc::strong_count(history) > 1 {
            history.charge(self.log.extra());
        }
    }

    /// Deliveries waiting for a retry.
    pub fn pending(&self) -> usize {
        self.log.count(|d| d.state == State::Pending)
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.log.clear();
    }

    /// Stores a delivery of `payload` about conversation `c` (its id and its account's
    /// `user_id`) to `url` and returns its id; nothing is sent yet.
    /// `after` is how many requests had arrived ([`crate::observe::journal::Journal::arrivals`]).
    pub fn prepare(
        &self,
        (now, after): (i64, u64),
        c: (&str, &str),
        event: Event,
        url: &str,
        body: Body,
    ) -> u64 {
        let signature = sign(&self.secret, &body);
        self.log.push(|id| Delivery {
            id,
            conversation_id: c.0.to_string(),
            user_id: c.1.to_string(),
            event,
            url: url.to_string(),
            body,
            signature,
            created_at: now,
            attempts: Vec::new(),
            earlier_attempts: 0,
            spawned: 0,
            state: State::Pending,
            next_attempt_at: Some(now),
            generation: self.generation.load(Ordering::Acquire),
            after,
        })
    }

    pub fn get(&self, id: u64) -> Option<Delivery> {
        self.log.get(id)
    }

    /// Visits deliveries from a cursor on (see [`Ring::scan`]).
    pub fn scan(&self, from: Option<u64>, newest: bool, f: impl FnMut(&Delivery) -> bool) {
        self.log.scan(from, newest, f)
    }

    /// Deliveries matching the filter, oldest first.
    pub fn list(&self, filter: impl Fn(&Delivery) -> bool) -> Vec<Delivery> {
        self.log.list(filter)
    }

    /// Sends one attempt of delivery `id` and records it; `body` (signed anew) instead of the
    /// stored one when given (the stored delivery keeps its body). `now` reads the simulator
    /// clock.
    pub async fn attempt_with(
        &self,
        id: u64,
        send_type: SendType,
        body: Option<Body>,
        now: impl Fn() -> i64,
    ) -> Next {
        // The turn comes first and the body is read after it, so attempts waiting for a turn
        // hold no bodies (a delivery dropped from the log meanwhile is not sent).
        let turn = self.turn().await;
        let Some(mut out) = self.outgoing(id) else {
            return Next::Done;
        };
        if let Some(b) = body {
            out.signature = sign(&self.secret, &b);
            out.body = b;
        }
        let sent_at = now();
        let started = Instant::now();
        let fault = self.faults.for_delivery(out.event, &out.conversation);
        let (result, extra) = self
            .send_as_ruled(turn, fault, &out, sent_at, started, send_type)
            .await;
        let attempt = attempt_of(sent_at, started, &result, send_type);
        self.metrics.attempt(match &result {
            Ok(a) if (200..300).contains(&a.code) => "delivered",
            Ok(_) => "failed",
            Err(_) => "error",
        });
        let final_ = matches!(&result, Err(e) if !e.retry);
        let code = attempt.response_code;
        let (next, seen) = self.store(id, out.generation, attempt, extra, final_, &now);
        self.attempted.notify_waiters();
        if let Some((attempts, status)) = seen {
            self.events.publish(|| Change::WebhookAttempt {
                delivery_id: id,
                conversation_id: &out.conversation,
                event: out.event.as_str(),
                attempt: attempts,
                response_code: code,
                status,
            });
        }
        next
    }

    /// What an attempt of delivery `id` sends and records, copied out of the log; `None` when
    /// the delivery is no longer there.
    fn outgoing(&self, id: u64) -> Option<Outgoing> {
        self.log.update(id, |d| Outgoing {
            url: d.url.clone(),
            body: d.body.clone(),
            signature: d.signature.clone(),
            generation: d.generation,
            event: d.event,
            conversation: d.conversation_id.clone(),
        })
    }

    /// Sends the attempt as the fault rule that fired (if any) says, within its turn: the
    /// receiver's status or why there is none, and the record of a duplicate's when the rule
    /// sent it twice.
    async fn send_as_ruled(
        &self,
        turn: Result<tokio::sync::SemaphorePermit<'_>, Failure>,
        fault: Option<(u64, WebhookFault)>,
        out: &Outgoing,
        sent_at: i64,
        started: Instant,
        send_type: SendType,
    ) -> (Result<Answer, Failure>, Option<Attempt>) {
        let mut extra = None;
        let result = match (turn, fault) {
            (Err(busy), _) => Err(busy),
            (Ok(_), Some((rule, WebhookFault::Drop))) => Err(Failure::fatal(format!(
                "dropped by fault rule {rule}: not sent"
            ))),
            (Ok(_), Some((_, WebhookFault::Status(code)))) => Ok(Answer { code, body: None }),
            (Ok(_turn), fault) => {
                if let Some((_, WebhookFault::Delay(ms))) = fault {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                let bytes = out.body.to_bytes();
                let result = self.send(&out.url, bytes.clone(), &out.signature).await;
                if let Some((_, WebhookFault::Duplicate)) = fault {
                    let again = self.send(&out.url, bytes, &out.signature).await;
                    extra = Some(attempt_of(sent_at, started, &again, send_type));
                }
                result
            }
        };
        (result, extra)
    }

    /// Records an attempt (after the duplicate's, if any) in delivery `id`, unless a reset
    /// since it began gave the id to another delivery: what comes next, and the delivery's
    /// attempt count and state when it was recorded.
    fn store(
        &self,
        id: u64,
        generation: u64,
        attempt: Attempt,
        extra: Option<Attempt>,
        final_: bool,
        now: &dyn Fn() -> i64,
    ) -> (Next, Option<(usize, &'static str)>) {
        self.log
            .update(id, |d| {
                if d.generation != generation {
                    return (Next::Done, None); // reset meanwhile: this id is another delivery now
                }
                if let Some(a) = extra {
                    d.add_attempt(a);
                }
                let next = self.record(d, attempt, final_, now);
                (next, Some((d.attempt_count(), d.state.as_str())))
            })
            .unwrap_or((Next::Done, None))
    }

    /// Waits until at least `count` deliveries that `keep` accepts have had an attempt; false
    /// when `timeout` passes first.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        keep: impl Fn(&Delivery) -> bool,
    ) -> bool {
        // Counted in place: the caller copies out what it answers with.
        let matching = |d: &Delivery| !d.attempts.is_empty() && keep(d);
        self.until(timeout, || self.log.count(matching) >= count)
            .await
    }

    /// Waits until no delivery has an attempt due by `now()` still to make (a retry on the
    /// clock is not due yet); false when `timeout` passes first.
    pub async fn settled(&self, timeout: Duration, now: impl Fn() -> i64) -> bool {
        self.until(timeout, || self.due(now()) == 0).await
    }

    /// Deliveries with an attempt due by `now` still to make.
    pub fn due(&self, now: i64) -> usize {
        self.log
            .count(|d| d.state == State::Pending && d.next_attempt_at.is_some_and(|at| at <= now))
    }

    /// Waits until `done()` holds, looking again after each attempt; false when `timeout`
    /// passes first.
    async fn until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so an attempt recorded in between is not missed.
            let notified = self.attempted.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Adds an attempt to a delivery and decides what comes next.
    fn record(&self, d: &mut Delivery, a: Attempt, final_: bool, now: &dyn Fn() -> i64) -> Next {
        let (ok, send_type) = (a.error.is_none(), a.send_type);
        d.add_attempt(a);
        if ok {
            d.state = State::Delivered;
            d.next_attempt_at = None;
            return Next::Done;
        }
        if send_type != SendType::Spawn {
            // A resend is one attempt; it does not restart the retry schedule.
            return Next::Done;
        }
        if final_ || d.spawned >= self.max_attempts {
            d.state = State::Failed;
            d.next_attempt_at = None;
            Next::Done
        } else {
            let at = now() + backoff_secs(d.spawned + 1) * 1000;
            d.next_attempt_at = Some(at);
            Next::RetryAt(at)
        }
    }

    /// One HTTP request (the caller holds a turn); the receiver's status and the start of its
    /// answer, or why there is none.
    async fn send(&self, url: &str, body: Bytes, signature: &str) -> Result<Answer, Failure> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| Failure::fatal(format!("bad URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(Failure::fatal(
                "only http:// webhook URLs can be reached from the simulator",
            ));
        }
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "bland-sms-sim")
            // Marks it as a simulator's delivery: no simulator lets one drive its `/_sim` API.
            .header(DELIVERY_HEADER, "1")
            .header("X-Webhook-Signature", signature)
            .body(Full::new(body))
            .map_err(|e| Failure::fatal(format!("bad request: {e}")))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.client.request(req)).await {
            Err(_) => Err(Failure::retry(format!(
                "timed out after {}ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(match connect::refusal(&e) {
                Some(why) => Failure::fatal(why),
                None => Failure::retry(format!("connection failed: {e}")),
            }),
            Ok(Ok(resp)) => {
                let code = resp.status().as_u16();
                let body = answer_start(resp.into_body(), deadline).await;
                Ok(Answer { code, body })
            }
        }
    }

    /// Waits for a free turn; fails as busy when too many attempts already wait.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
        if let Ok(p) = self.in_flight.try_acquire() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Failure::retry(format!(
                "not sent: {MAX_WAITING} webhook attempts were already waiting"
            )));
        }
        let permit = self.in_flight.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| Failure::fatal("the simulator is shutting down"))
    }
}

/// What an attempt sends, and what it needs to record the attempt, copied out of the log so
/// that no map guard is held across the network call.
struct Outgoing {
    url: String,
    body: Body,
    signature: String,
    /// The log's generation when the delivery was stored.
    generation: u64,
    event: Event,
    conversation: String,
}

/// What a receiver answered: its status and the start of its body.
struct Answer {
    code: u16,
    body: Option<Box<str>>,
}

/// The first [`delivery::MAX_ANSWER_TEXT`] bytes of a receiver's answer, read until
/// `deadline` (what has arrived by then); `None` when it is empty. The rest is not read.
async fn answer_start(
    mut body: hyper::body::Incoming,
    deadline: tokio::time::Instant,
) -> Option<Box<str>> {
    use http_body_util::BodyExt;
    let mut kept = Vec::new();
    while kept.len() < delivery::MAX_ANSWER_TEXT {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let room = delivery::MAX_ANSWER_TEXT - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&kept);
    let text = crate::base::input::prefix(&text, delivery::MAX_ANSWER_TEXT);
    (!text.is_empty()).then(|| text.into())
}

/// The log's record of one attempt.
fn attempt_of(
    sent_at: i64,
    started: Instant,
    result: &Result<Answer, Failure>,
    send_type: SendType,
) -> Attempt {
    Attempt {
        sent_at,
        response_code: result.as_ref().ok().map(|a| a.code),
        response_body: result.as_ref().ok().and_then(|a| a.body.clone()),
        response_time_ms: started.elapsed().as_millis() as u64,
        error: match result {
            Ok(a) if (200..300).contains(&a.code) => None,
            Ok(a) => Some(format!("receiver answered HTTP {}", a.code)),
            Err(e) => Some(e.message.clone()),
        },
        send_type,
    }
}

/// Why an attempt got no status from the receiver, and whether a retry can help.
struct Failure {
    message: String,
    retry: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retry: true,
        }
    }
    fn fatal(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retry: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(
                "Jefe",
                &Body::whole(Bytes::from_static(b"what do ya want for nothing?"))
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let v: Vec<i64> = (2..=7).map(backoff_secs).collect();
        assert_eq!(v, vec![5, 10, 20, 40, 60, 60]);
    }
}
