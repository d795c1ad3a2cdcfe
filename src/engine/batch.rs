//! Sending a batch's rows (§3.4) on the simulator's clock: each row is what one `/send` from
//! the batch's agent number would do, at `rate` rows per second of simulator time. One timer
//! per batch fires the rows due and schedules itself for the next.

use serde_json::{Map, Value};

use super::lifecycle::{apply_effects, open, Opening, Overrides};
use crate::base::validation::{e164, Channel, MAX_TEXT_CHARS};
use crate::engine::app::{App, TimerKind};
use crate::scenario::template::{value_text, Vars};
use crate::state::model::{Batch, BatchGlobal, FileRow, RowResult, Sender};

/// Keeps the batch and schedules its first row; `false` when no more batches are kept.
pub(crate) fn start(app: &App, batch: Batch) -> bool {
    let (id, run, first) = (batch.id.clone(), batch.run, batch.due(0));
    if !app.batches.add(batch) {
        return false;
    }
    app.schedule(first, TimerKind::BatchRows { batch_id: id, run });
    true
}

/// What every row of one batch is sent with.
struct Sending {
    account: String,
    agent: String,
    channel: Channel,
    global: std::sync::Arc<BatchGlobal>,
}

/// Sends run `run` of batch `id`'s rows that are due; returns their deliveries. A batch
/// replaced by a later one of the same file (another run) is left alone.
pub(crate) fn fire(app: &App, id: &str, run: u64) -> Vec<u64> {
    let mut deliveries = Vec::new();
    let batch = app.batches.with(id, |b| {
        let s = Sending {
            account: b.account.clone(),
            agent: b.agent_number.clone(),
            channel: b.channel,
            global: b.global.clone(),
        };
        (b.run == run).then(|| (s, b.rows.clone()))
    });
    let Some(Some((s, rows))) = batch else {
        return deliveries;
    };
    loop {
        let now = app.now();
        // Claims the next row when it is due (the map's guard is not held while it is sent).
        let claimed = app.batches.with(id, |b| {
            if b.run != run || b.next >= b.rows.len() || b.due(b.next) > now {
                return None;
            }
            b.next += 1;
            Some(b.next - 1)
        });
        let Some(Some(i)) = claimed else {
            break;
        };
        let result = send_row(app, &s, &rows.row(i), &mut deliveries);
        app.batches.with(id, |b| {
            if b.run == run {
                b.record(i, result);
            }
        });
    }
    let next = app.batches.with(id, |b| {
        (b.run == run && b.next < b.rows.len()).then(|| b.due(b.next))
    });
    if let Some(Some(due)) = next {
        app.schedule(
            due,
            TimerKind::BatchRows {
                batch_id: id.to_string(),
                run,
            },
        );
    }
    deliveries
}

/// A row's columns as template variables (`{{column}}`), and its merged `request_data`
/// (`{{request_data.field}}`).
struct RowVars<'a> {
    row: &'a Map<String, Value>,
    request_data: &'a Map<String, Value>,
}

impl Vars for RowVars<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.row.get(name) {
            return value_text(v);
        }
        let field = name.strip_prefix("request_data.")?;
        self.request_data.get(field).and_then(value_text)
    }
}

fn failed(code: &'static str, message: impl Into<String>) -> RowResult {
    RowResult::Failed {
        code,
        message: message.into(),
    }
}

/// One row, as one `/send`.
fn send_row(app: &App, s: &Sending, row: &FileRow, deliveries: &mut Vec<u64>) -> RowResult {
    let Some(phone) = row.get("phone_number").and_then(value_text) else {
        return failed(
            "MISSING_PHONE_NUMBER",
            "the row has no phone_number: every row needs one",
        );
    };
    let phone = phone.trim();
    let user = if phone.starts_with('+') {
        phone.to_string()
    } else {
        format!("+{phone}")
    };
    if let Err(e) = e164("phone_number", &user) {
        return failed(e.code, e.message);
    }
    let number = match app.store.number(&s.agent) {
        Some(n) if n.owner == s.account => n,
        _ => {
            return failed(
                "AGENT_NUMBER_NOT_FOUND",
                "Agent number not found or not configured for SMS",
            )
        }
    };
    if let Some(refused) = app
        .store
        .plan_check(&s.account, s.channel, &user, app.now())
    {
        return failed(refused.code(), refused.message(&user));
    }
    if app.store.is_opted_out(&s.agent, &user) {
        return failed(
            "USER_OPTED_OUT",
            format!(
                "{user} texted STOP to {}; texts to them are refused",
                s.agent
            ),
        );
    }
    // Columns: `request_data.<f>` fold into request_data, mapped ones go there too, the rest
    // are variables; the recipient's values win over `global.request_data`.
    let mut variables = Map::new();
    let mut request_data = s.global.request_data.clone();
    for (k, v) in row {
        if k == "phone_number" {
            continue;
        }
        if let Some(field) = k.strip_prefix("request_data.") {
            request_data.insert(field.to_string(), v.clone());
            continue;
        }
        if s.global.to_request_data.iter().any(|c| c == k) {
            request_data.insert(k.clone(), v.clone());
        }
        variables.insert(k.clone(), v.clone());
    }
    let text = match &s.global.agent_message {
        Some(t) => {
            let t = t.render(&RowVars {
                row,
                request_data: &request_data,
            });
            if t.trim().is_empty() {
                return failed(
                    "MISSING_MESSAGE",
                    "the message rendered from this row's columns is empty",
                );
            }
            if t.chars().count() > MAX_TEXT_CHARS {
                return failed(
                    "MESSAGE_TOO_LONG",
                    format!("the row's message is longer than {MAX_TEXT_CHARS} characters"),
                );
            }
            Some(t)
        }
        None => None,
    };
    let id = open(
        app,
        &Opening {
            key: &s.account,
            number: &number,
            user: &user,
            channel: s.channel,
            new_conversation: false,
            reuse_inactive: false,
            pathway_id: s.global.pathway_id.clone(),
            pathway_version: None,
            start_node_id: None,
            persona_id: None,
            objective: None,
        },
    );
    let overrides = Overrides {
        request_data: Some(Value::Object(request_data)),
        metadata: s.global.metadata.clone(),
        webhook: s.global.webhook.clone(),
        disposition_ids: s.global.disposition_ids.clone(),
        citation_schema_ids: s.global.citation_schema_ids.clone(),
        ..Overrides::default()
    };
    let sent = apply_effects(app, Some(&s.account), &id, |ctx, c| {
        overrides.apply(c);
        if !variables.is_empty() {
            c.variables
                .get_or_insert_with(Default::default)
                .extend(variables);
        }
        match text {
            Some(t) => ctx.agent_message(c, Sender::Agent, t),
            None => ctx.speak_first(c),
        }
    });
    match sent {
        Ok((message_id, fx)) => {
            deliveries.extend(fx.deliveries);
            RowResult::Sent {
                conversation_id: id,
                message_id,
            }
        }
        Err(e) => failed(e.code, e.message),
    }
}
