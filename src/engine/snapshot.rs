//! The whole state as one document, and back: [`load`] puts checked [`Fixtures`] into a
//! simulator (at start-up, on reset, and for `PUT /_sim/state`), [`export`] writes the state as
//! a fixtures document (`GET /_sim/state`), and [`save`] writes that to the state file without
//! ever leaving a half-written one.
//!
//! The document holds accounts, numbers and configs, conversations with their messages and
//! pending timers, opt-outs, remembered idempotent answers, the clock and the id sequences.
//! Logs (the request journal, webhook deliveries and their retries), fault rules and scenarios
//! added at run time are not state: they are not saved.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::base::clock::MAX_TIME_MS;
use crate::base::reply::Reply;
use crate::base::validation::Channel;
use crate::engine::app::{App, TimerKind};
use crate::engine::Ctx;
use crate::scenario::Selector;
use crate::state::fixtures::{
    to_doc, Fixtures, IdempotencyRecord, SavedState, Seed, TimerDoc, TurnDoc,
};
use crate::state::model::{Conversation, MessageStatus, NumberRecord};

use crate::state::fixtures::MAX_STATE_FILE;

/// Removes what a save killed mid-way left next to the state file (`NAME.PID.tmp`, whose
/// process is gone), so it does not stay for good.
pub(crate) fn clean_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A save in progress in another live process (where that can be told) is left alone.
        let alive = cfg!(target_os = "linux") && Path::new("/proc").join(pid).exists();
        if !alive {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), cause = %e, "could not remove a save's leftover");
            }
        }
    }
}

/// Whether the state file's folder takes a new file (a save writes a temporary file beside the
/// state file, then renames it): a probe file is made and removed.
///
/// # Errors
/// The folder and the reason.
pub(crate) fn check_writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".bland-sms-sim-probe.{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// Puts checked fixtures into the simulator, which the caller has cleared (or just made).
pub(crate) fn load(app: &App, f: &Fixtures) {
    let store = &app.store;
    if let Some(s) = &f.saved {
        app.clock.restore(s.now);
        store.ids().restore(s.seed, s.ids_issued);
    }
    // Numbers the document gives no `inbound_id` get theirs after every given one.
    let numbers = || f.accounts.iter().flat_map(|a| &a.numbers);
    let given = numbers().filter_map(|n| n.inbound_id).max();
    store.raise_next_inbound_id(given.map_or(0, |m| m.saturating_add(1)));
    for r in &f.carrier_rules {
        app.carrier.add_rule(r.clone());
    }
    for a in &f.accounts {
        store.set_enterprise(&a.api_key, a.enterprise);
        if let Some((hourly, daily)) = a.plan {
            store.set_agent_phone_plan(&a.api_key, hourly, daily);
        }
        if let Some(realistic) = a.carrier {
            app.carrier.set_account(&a.api_key, realistic);
        }
        for n in &a.numbers {
            store
                .provision(
                    &a.api_key,
                    &n.phone_number,
                    n.label.clone(),
                    n.imessage,
                    n.configs.clone(),
                    n.inbound_id,
                )
                .expect("parse lists each number once, and load runs on an empty store");
            if n.rcs_first {
                store.with_number_mut(&a.api_key, &n.phone_number, |r| r.rcs_first = true);
            }
            if n.human_mode {
                store.with_number_mut(&a.api_key, &n.phone_number, |r| r.human_mode = true);
            }
        }
    }
    if let Some(s) = &f.saved {
        store.raise_next_inbound_id(s.next_inbound_id);
    }
    for a in &f.accounts {
        for o in &a.opt_outs {
            store.set_opted_out(&o.agent_number, &o.user_number, true);
        }
        for r in &a.idempotency {
            let reply = Reply {
                status: StatusCode::from_u16(r.status).expect("checked when parsed"),
                ..Reply::document(r.body.clone())
            };
            app.idempotency.restore(&a.api_key, &r.scope, &r.key, reply);
        }
        for seed in &a.conversations {
            load_conversation(app, seed.clone());
        }
    }
}

/// Stores one conversation with its scenario bound and its timers scheduled: those the
/// document lists, or (for a pasted conversation) a fresh inactivity timer from now.
fn load_conversation(app: &App, seed: Seed) {
    let seed = seed.complete(app.now(), app.store.ids());
    let mut c = seed.conversation;
    if let Some(n) = app.store.number(&c.agent_number) {
        c.inbound_id = n.inbound_id;
    }
    let scenarios = app.scenarios.load();
    let script = if scenarios.names().contains(&&*c.scenario) {
        scenarios.get(&c.scenario)
    } else {
        scenarios.choose(&Selector {
            pathway_id: c.details.curr_pathway_id.as_deref(),
            persona_id: None,
            start_node_id: c.current_node_id.as_deref(),
            objective: c.details.objective.as_deref(),
            agent_number: &c.agent_number,
        })
    };
    c.scenario = script.name.clone();
    c.script = Some(script);
    let id = c.id.clone();
    let in_flight = c.messages.iter().any(|m| {
        matches!(
            m.status(),
            Some(MessageStatus::Queued | MessageStatus::Sent)
        )
    });
    app.store.insert_conversation(c);
    if in_flight {
        Ctx::run(app, &id, |ctx, c| ctx.resume_carrier(c));
    }
    if !seed.exact {
        Ctx::run(app, &id, |ctx, c| ctx.arm_timer(c));
        return;
    }
    if let Some(t) = seed.timer {
        let key = app.schedule(
            t.due,
            TimerKind::Inactivity {
                conversation_id: id.to_string(),
                stage: t.stage,
            },
        );
        app.store.with_conversation(None, &id, |c| {
            c.timer_id = Some(key);
            c.timer_anchor = Some(t.anchor);
        });
    }
    for t in seed.agent_turns {
        app.schedule(
            t.due,
            TimerKind::AgentTurn {
                conversation_id: id.to_string(),
                turn: t.turn(),
            },
        );
    }
}

/// A number as a fixtures entry, with every config it has.
pub(crate) fn number_doc(n: &NumberRecord) -> Value {
    let mut v = json!({"phone_number": n.phone_number});
    if let Some(l) = &n.label {
        v["label"] = json!(l);
    }
    v["imessage"] = json!(n.imessage);
    v["inbound_id"] = json!(n.inbound_id);
    if n.human_mode {
        v["human_mode"] = json!(true);
    }
    if n.rcs_first {
        v["channel_priority"] = json!(["rcs", "sms"]);
    }
    for ch in [Channel::Sms, Channel::Whatsapp, Channel::Imessage] {
        if let Some(c) = n.config(ch) {
            v[ch.config_key()] = serde_json::to_value(c).expect("a config serializes");
        }
    }
    v
}

/// The whole state as a fixtures document, written as it is read: each conversation is
/// serialized and written before the next is read, so the cost is the document's bytes, not a
/// tree of the whole state. One conversation per line keeps large files readable and diffable.
pub(crate) fn export(app: &App) -> Vec<u8> {
    let store = &app.store;
    let mut turns = agent_turns(app);
    let opt_outs = store.opt_outs();
    let mut out: Vec<u8> = b"{\"accounts\": [".to_vec();
    for (n, (key, enterprise, numbers, conversation_ids)) in
        store.accounts().into_iter().enumerate()
    {
        out.extend_from_slice(if n == 0 { b"\n  " } else { b",\n  " });
        // The account's fields, then its conversations one per line.
        let head = compact(&account_head(app, &key, enterprise, &numbers, &opt_outs));
        out.extend_from_slice(&head[..head.len() - 1]);
        out.extend_from_slice(b",\"conversations\": [");
        write_conversations(app, &mut out, &conversation_ids, &mut turns);
    }
    write_tail(app, &mut out);
    out
}

/// One part of the state as compact JSON.
fn compact<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("a state part serializes")
}

/// The pending agent turns, by conversation id.
fn agent_turns(app: &App) -> HashMap<String, Vec<TurnDoc>> {
    let mut turns: HashMap<String, Vec<TurnDoc>> = HashMap::new();
    for (due, (id, turn)) in app.timers.collect(|k| match k {
        TimerKind::AgentTurn {
            conversation_id,
            turn,
        } => Some((conversation_id.clone(), turn.clone())),
        _ => None,
    }) {
        // A timer due after the last time the clock can show never fires: it is not saved
        // (the document could not say its time).
        if due <= MAX_TIME_MS {
            turns.entry(id).or_default().push(TurnDoc::of(due, &turn));
        }
    }
    turns
}

/// An account's fields but its conversations: plan, carrier mode, numbers, the opt-outs of
/// those numbers (from `opt_outs`, every account's) and its remembered idempotent answers.
fn account_head(
    app: &App,
    key: &str,
    enterprise: bool,
    numbers: &[String],
    opt_outs: &[(String, String)],
) -> Value {
    let numbers: Vec<_> = numbers.iter().filter_map(|p| app.store.number(p)).collect();
    let owned = |p: &str| numbers.iter().any(|n| n.phone_number == p);
    let opt_outs: Vec<Value> = opt_outs
        .iter()
        .filter(|(agent, _)| owned(agent))
        .map(|(agent, user)| json!({"agent_number": agent, "user_number": user}))
        .collect();
    let idempotency = idempotency_records(app, key);
    let mut head = json!({
        "api_key": key,
        "enterprise": enterprise,
    });
    if let Some((hourly, daily)) = app.store.plan(key) {
        head["plan"] = json!("agent_phone");
        head["plan_limits"] = json!({"hourly": hourly, "daily": daily});
    }
    if let Some(realistic) = app.carrier.account_mode(key) {
        head["carrier"] = json!(if realistic { "realistic" } else { "instant" });
    }
    head["numbers"] = json!(numbers.iter().map(|n| number_doc(n)).collect::<Vec<_>>());
    head["opt_outs"] = json!(opt_outs);
    head["idempotency"] = json!(idempotency);
    head
}

/// The idempotent answers account `account` has remembered.
fn idempotency_records(app: &App, account: &str) -> Vec<IdempotencyRecord> {
    app.idempotency
        .records(account)
        .into_iter()
        .map(|(scope, key, reply)| IdempotencyRecord {
            scope,
            key,
            status: reply.status.as_u16(),
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        })
        .collect()
}

/// Writes an account's conversations, one per line, and closes the account; each takes its
/// agent turns out of `turns`. A conversation deleted meanwhile is left out.
fn write_conversations(
    app: &App,
    out: &mut Vec<u8>,
    ids: &[Arc<str>],
    turns: &mut HashMap<String, Vec<TurnDoc>>,
) {
    let mut first = true;
    for id in ids {
        let line = app.store.read_conversation(None, id, |c| {
            let timer = inactivity_timer(app, c);
            compact(&to_doc(c, timer, turns.remove(&**id).unwrap_or_default()))
        });
        if let Some(line) = line {
            out.extend_from_slice(if first { b"\n    " } else { b",\n    " });
            out.extend_from_slice(&line);
            first = false;
        }
    }
    out.extend_from_slice(if first { b"]}" } else { b"\n  ]}" });
}

/// The conversation's pending inactivity timer as the document holds it, unless it is due
/// after the last time the clock can show.
fn inactivity_timer(app: &App, c: &Conversation) -> Option<TimerDoc> {
    let timer = c.timer_id.filter(|k| k.due <= MAX_TIME_MS);
    timer.and_then(|k| match app.timers.get(k)? {
        TimerKind::Inactivity { stage, .. } => Some(TimerDoc {
            stage,
            due: k.due,
            anchor: c.timer_anchor.unwrap_or(k.due),
        }),
        _ => None,
    })
}

/// Closes the accounts and writes what follows them: carrier rules (when there are any) and
/// the clock and id sequences.
fn write_tail(app: &App, out: &mut Vec<u8>) {
    let store = &app.store;
    let saved = SavedState {
        now: app.now(),
        seed: store.ids().seed(),
        ids_issued: store.ids().issued(),
        next_inbound_id: store.next_inbound_id(),
    };
    out.extend_from_slice(b"\n],\n");
    let rules = app.carrier.rules();
    if !rules.is_empty() {
        out.extend_from_slice(b"\"carrier_rules\": ");
        out.extend_from_slice(&compact(&*rules));
        out.extend_from_slice(b",\n");
    }
    out.extend_from_slice(b"\"simulator\": ");
    out.extend_from_slice(&compact(&saved));
    out.extend_from_slice(b"}\n");
}

/// Writes the state to `path`: into a temporary file beside it, flushed to disk, then renamed
/// over it, so the file is always either the old state or the new one.
///
/// # Errors
/// The file system's, naming the path.
pub(crate) fn save(app: &App, path: &Path) -> Result<(), String> {
    use std::io::Write;
    let bytes = export(app);
    if bytes.len() as u64 > MAX_STATE_FILE {
        return Err(format!(
            "{}: the state is {} bytes, more than the {MAX_STATE_FILE} a state file may hold \
             (and be read back); nothing was written: DELETE conversations or POST /_sim/reset \
             to make it smaller",
            path.display(),
            bytes.len()
        ));
    }
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}
