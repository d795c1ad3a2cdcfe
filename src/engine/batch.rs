//! Sending a batch's rows (§3.4) on the simulator's clock: each row is what one `/send` from
//! the batch's agent number would do, at `rate` rows per second of simulator time. One timer
//! per batch fires the rows due and schedules itself for the next.

use serde_json::{Map, Value};

use std::sync::Arc;

use super::lifecycle::{Opening, Overrides};
use super::rules;
use super::send::Outbound;
use super::Effects;
use crate::base::error::ApiError;
use crate::base::validation::{e164, Channel};
use crate::engine::app::{App, TimerKind};
use crate::scenario::template::{value_text, Vars};
use crate::state::model::{Batch, BatchGlobal, FileRow, NumberRecord, RowResult};

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

/// Sends run `run` of batch `id`'s rows that are due; returns what they left to send. A batch
/// replaced by a later one of the same file (another run) is left alone.
pub(crate) fn fire(app: &App, id: &str, run: u64) -> Effects {
    let mut deliveries = Effects::default();
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

/// One row, as one `/send` from the batch's number: the same rules (`engine::rules`), the same
/// codes and messages, the same way in (`engine::send`).
fn send_row(app: &App, s: &Sending, row: &FileRow, deliveries: &mut Effects) -> RowResult {
    match checked_row(app, s, row).and_then(|r| {
        let opening = Opening {
            key: &s.account,
            number: &r.number,
            user: &r.user,
            channel: s.channel,
            rcs_requested: false,
            new_conversation: false,
            reuse_inactive: false,
            pathway_id: s.global.pathway_id.clone(),
            pathway_version: None,
            start_node_id: None,
            persona_id: None,
            objective: None,
        };
        let (overrides, variables, text) = (r.overrides, r.variables, r.text);
        super::send::prepare(
            app,
            Outbound {
                opening,
                overrides,
                variables,
                text,
            },
        )
    }) {
        Ok((conversation_id, message_id, fx)) => {
            deliveries.merge(fx);
            RowResult::Sent {
                conversation_id,
                message_id,
            }
        }
        Err(e) => failed(e.code, e.message),
    }
}

/// What a checked row sends.
struct CheckedRow {
    number: Arc<NumberRecord>,
    user: String,
    overrides: Overrides,
    variables: Map<String, Value>,
    text: Option<String>,
}

/// A row checked as `/send` checks its request: the user's number, the agent number (still
/// the account's), the plan, opt-outs and the text rendered from the row.
fn checked_row(app: &App, s: &Sending, row: &FileRow) -> Result<CheckedRow, ApiError> {
    let Some(phone) = row.get("phone_number").and_then(value_text) else {
        return Err(ApiError::bad_request(
            "MISSING_PHONE_NUMBER",
            "the row has no phone_number: every row needs one",
        ));
    };
    let phone = phone.trim();
    let user = if phone.starts_with('+') {
        phone.to_string()
    } else {
        format!("+{phone}")
    };
    e164("phone_number", &user)?;
    let number = rules::owned_number(app, &s.account, &s.agent)?;
    rules::check_plan(app, &s.account, s.channel, &user)?;
    rules::check_opt_out(app, &s.agent, &user)?;
    let (request_data, variables) = row_data(s, row);
    let text = match &s.global.agent_message {
        Some(t) => Some(rules::agent_text(t.render(&RowVars {
            row,
            request_data: &request_data,
        }))?),
        None => None,
    };
    let overrides = Overrides {
        request_data: Some(Value::Object(request_data)),
        metadata: s.global.metadata.clone(),
        webhook: s.global.webhook.clone(),
        disposition_ids: s.global.disposition_ids.clone(),
        citation_schema_ids: s.global.citation_schema_ids.clone(),
        ..Overrides::default()
    };
    Ok(CheckedRow {
        number,
        user,
        overrides,
        variables,
        text,
    })
}

/// A row's columns: `request_data.<f>` fold into `request_data`, mapped ones go there too, the
/// rest are variables; the recipient's values win over `global.request_data`.
fn row_data(s: &Sending, row: &FileRow) -> (Map<String, Value>, Map<String, Value>) {
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
    (request_data, variables)
}
