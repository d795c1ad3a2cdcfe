//! What a webhook is about: a message, or one of the status changes (§5). A closed set the
//! engine fires, the dispatcher logs and the fault rules and filters match on.

/// A status webhook's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Ended,
    Timeout,
    Blacklisted,
    Inactive,
    HumanHandoff,
    HumanHandoffEnded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ended => "ended",
            Status::Timeout => "timeout",
            Status::Blacklisted => "blacklisted",
            Status::Inactive => "inactive",
            Status::HumanHandoff => "human_handoff",
            Status::HumanHandoffEnded => "human_handoff_ended",
        }
    }
}

/// What a delivery is about: a message, or a status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Message,
    Status(Status),
}

impl Event {
    /// Every event's name, as `/_sim/webhooks?event=` takes it.
    pub const NAMES: &'static [&'static str] = &[
        "message",
        "ended",
        "timeout",
        "blacklisted",
        "inactive",
        "human_handoff",
        "human_handoff_ended",
    ];

    /// The event a name stands for.
    pub fn parse(name: &str) -> Option<Event> {
        use Status::*;
        Some(match name {
            "message" => Event::Message,
            "ended" => Event::Status(Ended),
            "timeout" => Event::Status(Timeout),
            "blacklisted" => Event::Status(Blacklisted),
            "inactive" => Event::Status(Inactive),
            "human_handoff" => Event::Status(HumanHandoff),
            "human_handoff_ended" => Event::Status(HumanHandoffEnded),
            _ => return None,
        })
    }

    /// The payload's `type`: `message` or `status`.
    pub fn kind(self) -> &'static str {
        match self {
            Event::Message => "message",
            Event::Status(_) => "status",
        }
    }
    /// `message`, or the status value (`ended`, `timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Message => "message",
            Event::Status(s) => s.as_str(),
        }
    }
}
