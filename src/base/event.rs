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
    /// The user read a message (RCS and WhatsApp).
    Read,
    /// The user tapped a link in a message (RCS and WhatsApp).
    LinkClicked,
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
            Status::Read => "read",
            Status::LinkClicked => "link_clicked",
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
    /// Every event.
    pub const ALL: [Event; 9] = [
        Event::Message,
        Event::Status(Status::Ended),
        Event::Status(Status::Timeout),
        Event::Status(Status::Blacklisted),
        Event::Status(Status::Inactive),
        Event::Status(Status::HumanHandoff),
        Event::Status(Status::HumanHandoffEnded),
        Event::Status(Status::Read),
        Event::Status(Status::LinkClicked),
    ];

    /// Every event's name, as `/_sim/webhooks?event=` takes it.
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
        names.join(", ")
    }

    /// The event a name stands for.
    pub fn parse(name: &str) -> Option<Event> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
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
