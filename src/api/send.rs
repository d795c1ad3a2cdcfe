//! `POST /v1/sms/send` (§3.3) and `POST /v1/sms/create` (§3.5). Both read their body into a
//! typed request, check it whole (nothing changes on an error), then open or resume the pair's
//! conversation through the engine and apply the per-conversation overrides.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    agent_number, agent_text, channel, check_length, check_opt_out, check_plan, claim, phone,
    require_enterprise, require_hinted, sender,
};
use crate::base::error::ApiError;
use crate::base::input::{self, de_object, de_object_or_array, de_seconds, de_url, de_version};
use crate::base::reply::Reply;
use crate::base::validation::Channel;
use crate::engine::app::App;
use crate::engine::send::Outbound;
use crate::engine::{self, check_timing, Opening, Overrides};
use crate::request::req::Req;
use crate::state::model::{NumberRecord, Sender, TimingOverrides};

/// The timeout fields `/send` and `/create` share (§6).
#[derive(Deserialize, Default)]
struct TimingFields {
    #[serde(default, deserialize_with = "de_seconds")]
    time_out: Option<u64>,
    timeout_message: Option<String>,
    #[serde(default, deserialize_with = "de_seconds")]
    warning_time: Option<u64>,
    warning_message: Option<String>,
}

impl TimingFields {
    fn overrides(self) -> TimingOverrides {
        TimingOverrides {
            time_out: self.time_out,
            timeout_message: self.timeout_message,
            warning_time: self.warning_time,
            warning_message: self.warning_message,
        }
    }
}

/// `persona_settings`, whose fields win over the top-level ones.
#[derive(Deserialize, Default)]
struct PersonaSettings {
    pathway_id: Option<String>,
    #[serde(default, deserialize_with = "de_version")]
    pathway_version: Option<String>,
    start_node_id: Option<String>,
}

/// The `/send` body, with Bland's CLI aliases `phone_number`, `from` and `message`.
#[derive(Deserialize)]
struct SendBody {
    user_number: Option<String>,
    phone_number: Option<String>,
    agent_number: Option<String>,
    from: Option<String>,
    agent_message: Option<String>,
    message: Option<String>,
    content_sid: Option<String>,
    content_variables: Option<Map<String, Value>>,
    persona_id: Option<String>,
    persona_version: Option<String>,
    #[serde(default, deserialize_with = "de_object")]
    persona_settings: Option<PersonaSettings>,
    pathway_id: Option<String>,
    #[serde(default, deserialize_with = "de_version")]
    pathway_version: Option<String>,
    start_node_id: Option<String>,
    #[serde(default, deserialize_with = "de_url")]
    webhook: Option<String>,
    metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "de_object_or_array")]
    request_data: Option<Value>,
    disposition_ids: Option<Vec<String>>,
    citation_schema_ids: Option<Vec<String>>,
    new_conversation: Option<bool>,
    #[allow(dead_code)]
    use_candidate_model: Option<bool>,
    channel: Option<Value>,
    objective: Option<Value>,
    // The timeout fields, taken as they are in the same pass and checked as [`TimingFields`]
    // after the rest (so an error in the rest is the one reported, as when they were read
    // apart).
    time_out: Option<Value>,
    timeout_message: Option<Value>,
    warning_time: Option<Value>,
    warning_message: Option<Value>,
}

impl SendBody {
    /// The timeout fields, checked.
    fn timing(&mut self) -> Result<TimingFields, ApiError> {
        let fields = [
            ("time_out", self.time_out.take()),
            ("timeout_message", self.timeout_message.take()),
            ("warning_time", self.warning_time.take()),
            ("warning_message", self.warning_message.take()),
        ];
        let given: Map<String, Value> = fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        if given.is_empty() {
            return Ok(TimingFields::default());
        }
        input::typed(&Value::Object(given))
    }
}

/// Longest `objective`, in characters (§11).
pub(crate) const MAX_OBJECTIVE_CHARS: usize = 20_000;

/// `objective`: a non-empty string of at most 20,000 characters.
///
/// # Errors
/// 400 `INVALID_OBJECTIVE` saying which rule it broke.
fn objective(v: Option<Value>) -> Result<Option<String>, ApiError> {
    let bad = |why: String| ApiError::bad_request("INVALID_OBJECTIVE", why);
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(bad(
            "`objective` must not be empty: say what the conversation is for, or leave it out \
             to keep the current one"
                .into(),
        )),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n > MAX_OBJECTIVE_CHARS {
                Err(bad(format!(
                    "`objective` is {n} characters; at most {MAX_OBJECTIVE_CHARS} are allowed"
                )))
            } else {
                Ok(Some(s))
            }
        }
        Some(other) => Err(bad(format!(
            "`objective` must be a string, got {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::Array(_) => "an array",
                _ => "an object",
            }
        ))),
    }
}

/// A checked `/send`.
struct Send {
    number: Arc<NumberRecord>,
    user: String,
    channel: Channel,
    /// `channel: "rcs"`: RCS first, falling back to SMS.
    rcs_requested: bool,
    text: Option<String>,
    new_conversation: bool,
    pathway_id: Option<String>,
    pathway_version: Option<String>,
    start_node_id: Option<String>,
    persona_id: Option<String>,
    overrides: Overrides,
}

/// The text `/send` delivers: `agent_message`, else a rendered WhatsApp template, else none
/// (the scenario speaks first).
fn send_text(b: &mut SendBody) -> Result<Option<String>, ApiError> {
    match b.agent_message.take().or(b.message.take()) {
        Some(s) => agent_text(s).map(Some),
        None => Ok(b.content_sid.as_ref().map(|sid| {
            let vars = b.content_variables.take().map(Value::Object);
            format!("[template {sid}] {}", vars.unwrap_or(json!({})))
        })),
    }
}

fn check_persona(b: &SendBody) -> Result<(), ApiError> {
    if let Some(p) = &b.persona_id {
        if uuid::Uuid::parse_str(p).is_err() {
            return Err(ApiError::bad_request(
                "INVALID_PERSONA_ID",
                format!("persona_id {p:?} is not a UUID"),
            ));
        }
    }
    match b.persona_version.as_deref() {
        None | Some("production" | "draft") => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "`persona_version` must be production or draft",
        )),
    }
}

/// Reads and checks a `/send`; changes nothing.
fn parse_send(app: &App, req: &Req, key: &str) -> Result<Send, ApiError> {
    let mut b: SendBody = req.json()?;
    for (given, documented, used) in [
        ("phone_number", "user_number", b.phone_number.is_some()),
        ("from", "agent_number", b.from.is_some()),
        ("message", "agent_message", b.message.is_some()),
    ] {
        if used {
            req.alias(given, documented)?;
        }
    }
    let timing = b.timing()?.overrides();
    let user = phone(&mut [
        ("user_number", &mut b.user_number),
        ("phone_number", &mut b.phone_number),
    ])?;
    let agent = phone(&mut [("agent_number", &mut b.agent_number), ("from", &mut b.from)])?;
    require_hinted(
        Some(req),
        &[
            ("user_number", user.is_some()),
            ("agent_number", agent.is_some()),
        ],
    )?;
    let (user, agent) = (user.expect("checked"), agent.expect("checked"));
    let text = send_text(&mut b)?;
    let objective = objective(b.objective.take())?;
    check_persona(&b)?;
    let number = agent_number(app, key, &agent)?;
    // `"rcs"` asks for RCS first (`tutorials/messaging/rcs.mdx`): an SMS conversation that
    // goes by RCS when the user's phone takes it.
    let rcs_requested = b
        .channel
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case("rcs"));
    if rcs_requested {
        b.channel = Some(json!("sms"));
    }
    let channel = channel(&b.channel)?.unwrap_or(number.default_channel());
    check_plan(app, key, channel, &user)?;
    if b.content_sid.is_some() && channel != Channel::Whatsapp {
        return Err(ApiError::bad_request(
            "INVALID_TEMPLATE_USAGE",
            "content_sid templates need channel \"whatsapp\"",
        ));
    }
    let new_conversation = b.new_conversation.unwrap_or(false);
    check_timing(app, &timing, &number, channel, &user, new_conversation)?;
    check_opt_out(app, &agent, &user)?;
    let ps = b.persona_settings.unwrap_or_default();
    Ok(Send {
        number,
        user,
        channel,
        rcs_requested,
        text,
        new_conversation,
        pathway_id: ps.pathway_id.or(b.pathway_id),
        pathway_version: ps.pathway_version.or(b.pathway_version),
        start_node_id: ps.start_node_id.or(b.start_node_id),
        persona_id: b.persona_id,
        overrides: Overrides {
            timing,
            request_data: b.request_data,
            metadata: b.metadata,
            webhook: b.webhook,
            disposition_ids: b.disposition_ids,
            citation_schema_ids: b.citation_schema_ids,
            objective,
        },
    })
}

/// `POST /v1/sms/send`: the agent texts the user (or the scenario speaks first).
pub(crate) fn send(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    require_enterprise(app, key)?;
    let s = parse_send(app, req, key)?;
    let number = claim(app, key, s.number)?;
    // Read by the opening (it may choose a new conversation's scenario) and kept by it.
    let objective = s.overrides.objective.clone();
    let (id, message_id) = engine::send::send(
        app,
        Outbound {
            opening: Opening {
                key,
                number: &number,
                user: &s.user,
                channel: s.channel,
                rcs_requested: s.rcs_requested,
                new_conversation: s.new_conversation,
                reuse_inactive: false,
                pathway_id: s.pathway_id,
                pathway_version: s.pathway_version,
                start_node_id: s.start_node_id,
                persona_id: s.persona_id,
                objective: objective.as_deref(),
            },
            overrides: s.overrides,
            variables: Map::new(),
            text: s.text,
        },
    )?;
    let id = req.resolved(id);
    Ok(Reply::ok_typed(&Sent {
        status: "processing",
        message: if message_id.is_some() {
            "SMS accepted for delivery. Check status of SMS with the message_id"
        } else {
            "Conversation ready; no message was sent"
        },
        conversation_id: id,
        message_id: message_id.as_deref(),
    }))
}

/// `/send`'s answer.
#[derive(serde::Serialize)]
struct Sent<'a> {
    status: &'static str,
    message: &'static str,
    conversation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
}

/// The `/create` body.
#[derive(Deserialize)]
struct CreateBody {
    user_number: Option<String>,
    agent_number: Option<String>,
    message: Option<String>,
    sender: Option<String>,
    message_sid: Option<String>,
    curr_pathway_id: Option<String>,
    #[serde(default, deserialize_with = "de_version")]
    curr_pathway_version: Option<String>,
    current_node_id: Option<String>,
    #[serde(default, deserialize_with = "de_object_or_array")]
    request_data: Option<Value>,
    new_conversation: Option<bool>,
    #[allow(dead_code)]
    use_candidate_model: Option<bool>,
    channel: Option<Value>,
}

/// `POST /v1/sms/create`: stores a message and positions the conversation; sends nothing and
/// fires no webhook.
pub(crate) fn create(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let (mut b, timing): (CreateBody, TimingFields) = req.json2()?;
    let timing = timing.overrides();
    let user = phone(&mut [("user_number", &mut b.user_number)])?;
    let agent = phone(&mut [("agent_number", &mut b.agent_number)])?;
    let message = b.message.filter(|s| !s.trim().is_empty());
    if let Some(m) = &message {
        check_length(m)?;
    }
    require_hinted(
        Some(req),
        &[
            ("user_number", user.is_some()),
            ("agent_number", agent.is_some()),
            ("message", message.is_some()),
        ],
    )?;
    let (user, agent) = (user.expect("checked"), agent.expect("checked"));
    let sender = sender(b.sender.as_deref(), &[Sender::User, Sender::Agent])?;
    let number = agent_number(app, key, &agent)?;
    let channel = channel(&b.channel)?.unwrap_or(number.default_channel());
    let new_conversation = b.new_conversation.unwrap_or(false);
    check_timing(app, &timing, &number, channel, &user, new_conversation)?;
    let number = claim(app, key, number)?;
    let (pathway_id, version, node) =
        (b.curr_pathway_id, b.curr_pathway_version, b.current_node_id);
    let id = req.resolved(engine::open(
        app,
        &Opening {
            key,
            number: &number,
            user: &user,
            channel,
            rcs_requested: false,
            new_conversation,
            reuse_inactive: false,
            pathway_id: pathway_id.clone(),
            pathway_version: version.clone(),
            start_node_id: node.clone(),
            persona_id: None,
            objective: None,
        },
    ));
    let overrides = Overrides {
        timing,
        request_data: b.request_data,
        ..Overrides::default()
    };
    let message_sid = b.message_sid.filter(|s| !s.is_empty());
    engine::apply(app, Some(key), id, |ctx, c| {
        overrides.apply(c);
        ctx.position(c, pathway_id, version, node);
        ctx.record(c, sender, message.expect("checked"), message_sid);
    })?;
    Ok(Reply::ok(json!({
        "message": "SMS conversation created successfully",
        "conversation_id": id,
        "workflow_id": format!("workflow_{}", app.store.ids().uuid()),
    })))
}
