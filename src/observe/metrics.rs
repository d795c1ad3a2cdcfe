//! `GET /_sim/metrics`: Prometheus text format (prometheus-client). Counters and the latency
//! histogram are kept as requests and attempts happen; gauges are read when scraped.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabel {
    encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogLabel {
    log: &'static str,
}

/// What a scrape reads from the state at that moment.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub conversations: i64,
    pub active_conversations: i64,
    pub webhooks_pending: i64,
    /// Open `GET /_sim/events` streams.
    pub event_subscribers: i64,
    /// `(log, entries, bytes)` for the journal, the webhook log and the idempotency answers.
    pub logs: Vec<(&'static str, i64, i64)>,
}

/// The simulator's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram>,
    attempts: Family<OutcomeLabel, Counter>,
    messages: Counter,
    conversations: Gauge,
    active: Gauge,
    pending: Gauge,
    subscribers: Gauge,
    /// Segments of outbound texts, by encoding (handles into one family).
    segments_gsm: Counter,
    segments_ucs2: Counter,
    segments: Family<EncodingLabel, Counter>,
    carrier: Family<OutcomeLabel, Counter>,
    /// Handles into `carrier`: delivered, failed, undelivered.
    carrier_outcomes: [Counter; 3],
    log_entries: Family<LogLabel, Gauge>,
    log_bytes: Family<LogLabel, Gauge>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            // 50 µs to about 3 s.
            Histogram::new(exponential_buckets(0.00005, 3.0, 11))
        });
        let attempts = Family::<OutcomeLabel, Counter>::default();
        let (messages, conversations, active, pending, subscribers) = Default::default();
        let segments = Family::<EncodingLabel, Counter>::default();
        let segments_gsm = segments
            .get_or_create(&EncodingLabel { encoding: "GSM-7" })
            .clone();
        let segments_ucs2 = segments
            .get_or_create(&EncodingLabel { encoding: "UCS-2" })
            .clone();
        let carrier = Family::<OutcomeLabel, Counter>::default();
        let carrier_outcomes = ["delivered", "failed", "undelivered"]
            .map(|outcome| carrier.get_or_create(&OutcomeLabel { outcome }).clone());
        let (log_entries, log_bytes) = Default::default();
        let mut m = Metrics {
            registry: Registry::with_prefix("bland_sim"),
            requests,
            latency,
            attempts,
            messages,
            conversations,
            active,
            pending,
            subscribers,
            segments_gsm,
            segments_ucs2,
            segments,
            carrier,
            carrier_outcomes,
            log_entries,
            log_bytes,
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "requests",
            "API and control requests by route and status",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time to answer, by route",
            self.latency.clone(),
        );
        r.register(
            "webhook_attempts",
            "Webhook attempts by outcome",
            self.attempts.clone(),
        );
        r.register("messages", "Messages stored", self.messages.clone());
        r.register(
            "conversations",
            "Conversations held",
            self.conversations.clone(),
        );
        r.register(
            "conversations_active",
            "Active conversations",
            self.active.clone(),
        );
        r.register(
            "webhooks_pending",
            "Deliveries waiting for a retry",
            self.pending.clone(),
        );
        r.register(
            "message_segments",
            "Segments of outbound texts, by encoding",
            self.segments.clone(),
        );
        r.register(
            "carrier_outcomes",
            "Final delivery statuses of outbound texts the carrier delayed or failed",
            self.carrier.clone(),
        );
        r.register(
            "event_subscribers",
            "Open GET /_sim/events streams",
            self.subscribers.clone(),
        );
        r.register(
            "log_entries",
            "Entries kept, by log",
            self.log_entries.clone(),
        );
        r.register("log_bytes", "Bytes kept, by log", self.log_bytes.clone());
    }

    /// A request answered on `route` with `status` after `seconds`.
    pub fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabel { route })
            .observe(seconds);
    }

    /// A webhook attempt: `delivered`, `failed` (the receiver answered non-2xx) or `error`.
    pub fn attempt(&self, outcome: &'static str) {
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn message(&self) {
        self.messages.inc();
    }

    /// An outbound text's segments.
    pub fn segments(&self, (encoding, n): (crate::state::carrier::Encoding, usize)) {
        match encoding {
            crate::state::carrier::Encoding::Gsm7 => self.segments_gsm.inc_by(n as u64),
            crate::state::carrier::Encoding::Ucs2 => self.segments_ucs2.inc_by(n as u64),
        };
    }

    /// A text the carrier delayed or failed ended `status` (delivered, failed or
    /// undelivered).
    pub fn carrier_outcome(&self, status: crate::state::model::MessageStatus) {
        use crate::state::model::MessageStatus as S;
        let i = match status {
            S::Failed => 1,
            S::Undelivered => 2,
            _ => 0,
        };
        self.carrier_outcomes[i].inc();
    }

    /// The text format, with the gauges set from `now`.
    pub fn render(&self, now: Snapshot) -> String {
        self.conversations.set(now.conversations);
        self.active.set(now.active_conversations);
        self.pending.set(now.webhooks_pending);
        self.subscribers.set(now.event_subscribers);
        for (log, entries, bytes) in now.logs {
            self.log_entries
                .get_or_create(&LogLabel { log })
                .set(entries);
            self.log_bytes.get_or_create(&LogLabel { log }).set(bytes);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_prometheus_text_format() {
        let m = Metrics::new();
        m.request("GET /v1/sms/numbers", 200, 0.001);
        m.attempt("delivered");
        let text = m.render(Snapshot::default());
        assert!(
            text.contains(
                "bland_sim_requests_total{route=\"GET /v1/sms/numbers\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("bland_sim_webhook_attempts_total{outcome=\"delivered\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
