//! End-of-conversation outcomes (§4.2, §5): the summary, dispositions and citations the
//! conversation's scenario supplies, stored on the conversation and sent in its status webhook.

use serde_json::{json, Map, Value};

use super::{config_for, Ctx};
use crate::engine::app::App;
use crate::scenario::template::{render_value, Template};
use crate::scenario::Scenario;
use crate::state::model::{Conversation, DispositionLog, DispositionStatus};

/// Renders citation `variables` over conversation `c` (for `/analyze`).
pub(crate) fn extract(
    app: &App,
    c: &Conversation,
    variables: &[(String, Template)],
) -> Map<String, Value> {
    Ctx::new(app, config_for(app, c)).extract(c, variables)
}

impl Ctx<'_> {
    /// Summary, dispositions and citations from the scenario, stored on the conversation;
    /// returns the fields the status webhook carries.
    pub(super) fn run_outcomes(&mut self, c: &mut Conversation) -> Map<String, Value> {
        let sc = self.scenario(c);
        let mut extra = Map::new();
        if self.cfg.summary_prompt.is_some() {
            // A summary template that renders empty gives no summary (null), like every value
            // a template fills.
            let summary = match &sc.outcomes.summary {
                Some(t) => Some(t.render(&self.vars(c, &[], None))).filter(|s| !s.is_empty()),
                None => Some(format!(
                    "Conversation between agent {} and user {} with {} messages.",
                    c.agent_number,
                    c.user_number,
                    c.message_count()
                )),
            };
            c.outcomes.summary = summary.clone();
            extra.insert("summary".into(), json!(summary));
        }
        let disposition_ids = c
            .details
            .disposition_ids
            .as_deref()
            .map(<[String]>::to_vec)
            .or(self.cfg.disposition_ids.clone());
        if let Some(ids) = disposition_ids.filter(|v| !v.is_empty()) {
            let logs: Vec<DispositionLog> = ids
                .into_iter()
                .map(|id| self.disposition(c, &sc, id))
                .collect();
            if c.outcomes.disposition_tag.is_none() {
                c.outcomes.disposition_tag = logs
                    .iter()
                    .find(|l| l.status == DispositionStatus::Complete)
                    .and_then(|l| l.tag.clone());
            }
            extra.insert("dispositions".into(), json!(logs));
            c.outcomes.disposition_logs.extend(logs);
        }
        let schema_ids = c
            .details
            .citation_schema_ids
            .as_deref()
            .map(<[String]>::to_vec)
            .or(self.cfg.citation_schema_ids.clone());
        if let Some(ids) = schema_ids.filter(|v| !v.is_empty()) {
            let mut found = Map::new();
            for id in ids {
                if let Some(schema) = self.app.scenarios.load().citation_schema(&c.scenario, &id) {
                    found.extend(self.extract(c, &schema.variables));
                }
            }
            c.details.citation_variables = Some(found.clone());
            extra.insert("citations".into(), Value::Object(found));
        }
        extra
    }

    /// Runs disposition `id` with the scenario's outcome for it; an `ERROR` log when it has none.
    fn disposition(&self, c: &Conversation, sc: &Scenario, id: String) -> DispositionLog {
        let vars = self.vars(c, &[], None);
        let (status, result, error, tag) = match sc.outcomes.dispositions.get(&id) {
            Some(d) => {
                let tag = match &d.tag {
                    Some(t) => Template::parse(t)
                        .map(|t| t.render(&vars))
                        .unwrap_or(t.clone()),
                    None => id.clone(),
                };
                (
                    DispositionStatus::Complete,
                    render_value(&d.result, &vars).unwrap_or(Value::Null),
                    None,
                    Some(tag).filter(|t| !t.is_empty()),
                )
            }
            None => (
                DispositionStatus::Error,
                Value::Null,
                Some(format!(
                    "scenario {:?} defines no outcome for disposition {id:?}",
                    sc.name
                )),
                None,
            ),
        };
        DispositionLog {
            disposition_id: id,
            snippet_version: 1,
            status,
            result,
            error,
            exec_time: 0,
            reference_type: "SMS",
            tag,
        }
    }

    /// Renders citation variables; an empty value is `null`.
    pub fn extract(
        &self,
        c: &Conversation,
        variables: &[(String, Template)],
    ) -> Map<String, Value> {
        let vars = self.vars(c, &[], None);
        variables
            .iter()
            .map(|(k, t)| {
                let v = t.render(&vars);
                (k.clone(), if v.is_empty() { Value::Null } else { json!(v) })
            })
            .collect()
    }
}
