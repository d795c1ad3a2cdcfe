//! Scenario turns: matching a user text against the current node's rules, delayed turns,
//! entering nodes (say, handoff, end), the agent's first word, and the template variables a turn
//! renders with.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::Ctx;
use crate::base::validation::MAX_TEXT_CHARS;
use crate::engine::app::TimerKind;
use crate::scenario::template::{dig_map, value_text, Vars};
use crate::scenario::{turn_rng, PendingTurn, Scenario};
use crate::state::model::{Conversation, EndKind, HandoffSource, Sender};

impl Ctx<'_> {
    // ---- scenario turns -------------------------------------------------------------------

    pub(super) fn vars<'c>(
        &self,
        c: &'c Conversation,
        captures: &'c [(String, String)],
        text: Option<&'c str>,
    ) -> TurnVars<'c> {
        let tz = c
            .details
            .request_data
            .get("timezone")
            .and_then(Value::as_str)
            .or(self.cfg.timezone.as_deref())
            .and_then(|s| s.parse::<chrono_tz::Tz>().ok());
        TurnVars {
            c,
            captures,
            text,
            now: self.now,
            tz,
        }
    }

    /// The agent's answer to a user text: the first matching rule of the current node (now or
    /// after its delay), else the scenario's fallback. A conversation parked on a
    /// Transfer-to-Human node hands off again instead.
    pub fn user_turn(&mut self, c: &mut Conversation, text: &str) {
        let sc = self.scenario(c);
        let (node_id, node) = sc.node(c.current_node_id.as_deref());
        if node.handoff.is_some() {
            self.enter_node(c, &sc, node_id.to_string(), text, false);
            return;
        }
        if let Some(p) = &node.pathway {
            self.pathway_turn(c, &sc, node_id, node, p, text);
            return;
        }
        if self.first_rule(c, &sc, node_id, node, 0..node.rules.len(), text) {
            return;
        }
        if let Some(fallback) = &sc.fallback {
            let reply = self.pick(c, fallback, &[], Some(text));
            self.agent_message(c, Sender::Agent, reply);
        }
    }

    /// A user text on a pathway node: its variables extracted, then the node's own edges, the
    /// pathway's global nodes, a Webhook node's request (again), and the node's way on or its
    /// text again.
    fn pathway_turn(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        node_id: &str,
        node: &crate::scenario::Node,
        p: &crate::scenario::PathwayNode,
        text: &str,
    ) {
        // A Webhook node's request is in flight: the agent answers once it is back.
        if c.details.pathway_call.is_some() {
            return;
        }
        let waiting = p.call.is_some() && !Self::has_vars(c, p);
        self.extract_vars(c, sc, p, text);
        if waiting && Self::has_vars(c, p) {
            // A Webhook node that waited for its variables makes its request now.
            self.after_entering(c, sc, node_id, p, None, text);
            return;
        }
        let edges = p.edge_rules.min(node.rules.len());
        if self.first_rule(c, sc, node_id, node, 0..edges, text) {
            return;
        }
        let global = sc.pathway.as_ref().and_then(|info| {
            info.globals
                .iter()
                .find(|(when, target)| target != node_id && when.matches(text).is_some())
        });
        if let Some((_, target)) = global {
            self.enter_node(c, sc, target.clone(), text, true);
            return;
        }
        if p.call.is_some() && !waiting {
            // A Webhook node the conversation stayed on (no answer led on): the request again.
            self.after_entering(c, sc, node_id, p, None, text);
            return;
        }
        self.first_rule(c, sc, node_id, node, edges..node.rules.len(), text);
    }

    /// Applies the first of rules `range` of the node that matches the text (now or after its
    /// delay); false when none does.
    fn first_rule(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        node_id: &str,
        node: &crate::scenario::Node,
        range: std::ops::Range<usize>,
        text: &str,
    ) -> bool {
        for i in range {
            let rule = &node.rules[i];
            let Some(captures) = rule.when.matches(text) else {
                continue;
            };
            let turn = PendingTurn {
                node: node_id.to_string(),
                rule: i,
                captures,
                text: text.to_string(),
            };
            if rule.delay_seconds > 0 {
                let due = self.now + rule.delay_seconds as i64 * 1000;
                self.app.schedule(
                    due,
                    TimerKind::AgentTurn {
                        conversation_id: c.id.to_string(),
                        turn,
                    },
                );
            } else {
                self.apply_rule(c, sc, &turn);
            }
            return true;
        }
        false
    }

    /// A delayed turn falls due: applied only if the agent may still speak.
    pub fn delayed_turn(&mut self, c: &mut Conversation, turn: &PendingTurn) {
        if c.is_active && c.handoff.is_none() {
            let sc = self.scenario(c);
            self.apply_rule(c, &sc, turn);
        }
    }

    fn pick(
        &self,
        c: &mut Conversation,
        reply: &crate::scenario::Reply,
        captures: &[(String, String)],
        text: Option<&str>,
    ) -> String {
        let mut rng = turn_rng(self.app.store.ids().seed(), &c.id, c.turns.into());
        c.turns = c.turns.wrapping_add(1);
        let t = reply.pick(&mut rng);
        let mut text = t.render(&self.vars(c, captures, text));
        // A reply is a text like any other: at most 1,600 characters.
        if let Some((at, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
            tracing::warn!(scenario = %c.scenario, "a scenario reply was cut to 1,600 characters");
            text.truncate(at);
        }
        text
    }

    fn apply_rule(&mut self, c: &mut Conversation, sc: &Scenario, turn: &PendingTurn) {
        let Some(rule) = sc
            .nodes
            .get(&turn.node)
            .and_then(|n| n.rules.get(turn.rule))
        else {
            return;
        };
        let text = Some(turn.text.as_str());
        for (k, t) in &rule.set {
            // Each rendered with the variables as the previous ones of the rule left them.
            let v = json!(t.render(&self.vars(c, &turn.captures, text)));
            self.set_variable(c, k, v);
        }
        if let Some(reply) = &rule.reply {
            let msg = self.pick(c, reply, &turn.captures, text);
            self.agent_message(c, Sender::Agent, msg);
        }
        if let Some(goto) = &rule.goto {
            self.enter_node(c, sc, goto.clone(), &turn.text, true);
        }
        c.updated_at = self.now;
    }

    /// Sets a conversation variable within the variables' byte bound; false (with a warning)
    /// when it would pass it.
    pub(super) fn set_variable(&mut self, c: &mut Conversation, k: &str, v: Value) -> bool {
        let mut one = Map::new();
        one.insert(k.to_string(), v);
        self.set_variables(c, &one) == 1
    }

    /// Sets each variable that keeps the conversation's variables within their byte bound
    /// (the others are not set, with a warning); how many were set.
    pub(super) fn set_variables(
        &mut self,
        c: &mut Conversation,
        vars: &Map<String, Value>,
    ) -> usize {
        let mut held: usize = c
            .variables
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| variable_bytes(k, v))
            .sum();
        let mut set = 0;
        for (k, v) in vars {
            let old = c
                .variables
                .as_ref()
                .and_then(|m| m.get(k))
                .map_or(0, |o| variable_bytes(k, o));
            let next = held - old + variable_bytes(k, v);
            if next > MAX_VARIABLE_BYTES {
                tracing::warn!(
                    scenario = %c.scenario,
                    variable = %k,
                    "setting it would take the conversation's variables past {} bytes: not set",
                    MAX_VARIABLE_BYTES
                );
                continue;
            }
            held = next;
            set += 1;
            c.variables
                .get_or_insert_with(Box::default)
                .insert(k.clone(), v.clone());
        }
        set
    }

    /// Moves to a node: says its `say` (when `speak`), then hands off or ends if it says so.
    pub(super) fn enter_node(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        id: String,
        text: &str,
        speak: bool,
    ) {
        let Some(node) = sc.nodes.get(&id) else {
            return;
        };
        if node.pathway.is_some() && !self.hop(c) {
            return;
        }
        let previous = c.current_node_id.as_deref().map(String::from);
        c.current_node_id = Some(id.as_str().into());
        if speak {
            if let Some(say) = &node.say {
                let msg = self.pick(c, say, &[], Some(text));
                self.agent_message(c, Sender::Agent, msg);
            }
        }
        if let Some(h) = &node.handoff {
            // As `/handoff` does with the same fields; the rendered reason cut to the length
            // `/handoff` takes (it refuses a longer one).
            let reason = h.reason.as_ref().map(|t| {
                let r = t.render(&self.vars(c, &[], Some(text)));
                r.chars().take(super::MAX_REASON_CHARS).collect::<String>()
            });
            // The conversation is active: entering a node never ends one first.
            let _ = self.hand_off(
                c,
                super::HandoffRequest {
                    reason,
                    metadata: Map::new(),
                    actor: None,
                    webhook: h.webhook.clone(),
                    notify_number: h.notify_number.clone(),
                    source: HandoffSource::Pathway,
                },
            );
        } else if node.end {
            c.ended_by_end_call_node = true;
            self.end(c, EndKind::Ended, None);
        } else if let Some(p) = &node.pathway {
            self.after_entering(c, sc, &id, p, previous, text);
        }
    }

    /// The agent's own next turn without a user text (an opening message, or `generate_reply`
    /// on resume): the current node's `say`. Returns the message id when it spoke.
    pub fn speak_first(&mut self, c: &mut Conversation) -> Option<String> {
        // Legacy human mode: the agent writes nothing.
        if self.app.store.human_mode(&c.agent_number) {
            return None;
        }
        let sc = self.scenario(c);
        let (node_id, node) = sc.node(c.current_node_id.as_deref());
        c.current_node_id = Some(node_id.into());
        let said = match node.say.clone() {
            Some(say) => {
                let msg = self.pick(c, &say, &[], None);
                self.agent_message(c, Sender::Agent, msg)
            }
            None => None,
        };
        // A pathway's start node may move on at once, or make its request.
        if let Some(p) = &node.pathway {
            self.hop(c);
            self.after_entering(c, &sc, node_id, p, None, "");
        }
        said
    }
}

/// Bytes a conversation's variables may hold through scenario rules' `set` and a pathway's
/// extracted and answered variables (a value that would pass it is not set, with a warning in
/// the log).
pub(crate) const MAX_VARIABLE_BYTES: usize = 256 * 1024;

/// What variable `k` holding `v` counts for against [`MAX_VARIABLE_BYTES`]: its name, its
/// text (every string and key in it), 16 bytes a value and 64 for the entry.
pub(crate) fn variable_bytes(k: &str, v: &Value) -> usize {
    let mut n = k.len() + 64;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 16;
        match v {
            Value::String(s) => n += s.len(),
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => {
                n += m.keys().map(String::len).sum::<usize>();
                stack.extend(m.values());
            }
            _ => {}
        }
    }
    n
}

/// Template variables during a turn: `match.*` captures, then conversation variables,
/// `request_data`, `metadata` (each also by explicit prefix), then built-ins.
pub(super) struct TurnVars<'c> {
    c: &'c Conversation,
    captures: &'c [(String, String)],
    text: Option<&'c str>,
    now: i64,
    tz: Option<chrono_tz::Tz>,
}

impl TurnVars<'_> {
    fn time(&self, fmt: &str) -> String {
        let t = DateTime::<Utc>::from_timestamp_millis(self.now).unwrap_or_default();
        match self.tz {
            Some(tz) => t.with_timezone(&tz).format(fmt).to_string(),
            None => t.format(fmt).to_string(),
        }
    }
}

impl Vars for TurnVars<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(k) = name.strip_prefix("match.") {
            return self
                .captures
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone());
        }
        let empty = Map::new();
        let sources = [
            ("variables.", self.c.variables.as_deref().unwrap_or(&empty)),
            ("request_data.", &self.c.details.request_data),
            ("metadata.", &self.c.details.metadata),
        ];
        for (prefix, src) in sources {
            if let Some(k) = name.strip_prefix(prefix) {
                return dig_map(src, k).and_then(value_text);
            }
        }
        for (_, src) in sources {
            if let Some(v) = dig_map(src, name).and_then(value_text) {
                return Some(v);
            }
        }
        Some(match name {
            "objective" => return self.c.details.objective.as_deref().map(String::from),
            "message" => self.text.map(String::from).or_else(|| {
                // The agent's context: what a legacy `clear` left.
                self.c
                    .context_messages()
                    .rfind(|m| m.sender() == Sender::User)
                    .map(|m| m.message.to_string())
            })?,
            "now" => self.time("%Y-%m-%dT%H:%M:%S%:z"),
            "time" => self.time("%-I:%M %p"),
            "date" => self.time("%Y-%m-%d"),
            "weekday" => self.time("%A"),
            "timezone" => self
                .tz
                .map(|t| t.name().to_string())
                .unwrap_or("UTC".into()),
            "user_number" | "phone_number" => self.c.user_number.to_string(),
            "agent_number" => self.c.agent_number.to_string(),
            "conversation_id" | "call_id" => self.c.id.to_string(),
            // Bland's pathway built-ins.
            "now_utc" => DateTime::<Utc>::from_timestamp_millis(self.now)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            "lastUserMessage" => return self.lookup("message"),
            // Bland reads variables in any case.
            _ => {
                let vars = self.c.variables.as_deref()?;
                return vars
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| value_text(v));
            }
        })
    }
}
