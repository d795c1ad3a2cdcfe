//! End-of-conversation outcomes (§4.2, §5): the summary, dispositions and citations the
//! conversation's scenario supplies, stored on the conversation and sent in its status webhook.

use serde_json::{json, Map, Value};

use super::Ctx;
use crate::model::Conversation;
use crate::scenario::template::{render_value, Template};

impl Ctx<'_> {
    /// Summary, dispositions and citations from the scenario, stored on the conversation;
    /// returns the fields the status webhook carries.
    pub(super) fn run_outcomes(&mut self, c: &mut Conversation) -> Map<String, Value> {
        let sc = self.scenario(c);
        let mut extra = Map::new();
        if self.cfg.summary_prompt.is_some() {
            let summary = {
                let vars = self.vars(c, &[], None);
                sc.outcomes.summary.as_ref().map(|t| t.render(&vars))
            }
            .unwrap_or_else(|| {
                format!(
                    "Conversation between agent {} and user {} with {} messages.",
                    c.agent_number,
                    c.user_number,
                    c.message_count()
                )
            });
            c.summary = Some(summary.clone());
            extra.insert("summary".into(), json!(summary));
        }
        let disposition_ids = c
            .disposition_ids
            .clone()
            .or(self.cfg.disposition_ids.clone());
        if let Some(ids) = disposition_ids.filter(|v| !v.is_empty()) {
            let mut logs = Vec::new();
            for id in ids {
                let log = {
                    let vars = self.vars(c, &[], None);
                    match sc.outcomes.dispositions.get(&id) {
                        Some(d) => {
                            let tag = d.tag.as_ref().map(|t| {
                                Template::parse(t)
                                    .map(|t| t.render(&vars))
                                    .unwrap_or(t.clone())
                            });
                            json!({
                                "disposition_id": id, "snippet_version": 1, "status": "COMPLETE",
                                "result": render_value(&d.result, &vars).unwrap_or(Value::Null),
                                "error": null, "exec_time": 0, "reference_type": "SMS",
                                "tag": tag.unwrap_or(id.clone()),
                            })
                        }
                        None => json!({
                            "disposition_id": id, "snippet_version": 1, "status": "ERROR",
                            "result": null, "exec_time": 0, "reference_type": "SMS", "tag": null,
                            "error": format!("scenario {:?} defines no outcome for disposition {id:?}", sc.name),
                        }),
                    }
                };
                if c.disposition_tag.is_none() && log["status"] == "COMPLETE" {
                    c.disposition_tag = log["tag"].as_str().map(String::from);
                }
                logs.push(log);
            }
            c.disposition_logs.extend(logs.iter().cloned());
            extra.insert("dispositions".into(), Value::Array(logs));
        }
        let schema_ids = c
            .citation_schema_ids
            .clone()
            .or(self.cfg.citation_schema_ids.clone());
        if let Some(ids) = schema_ids.filter(|v| !v.is_empty()) {
            let mut found = Map::new();
            for id in ids {
                if let Some(schema) = self.app.scenarios.citation_schema(&c.scenario, &id) {
                    found.extend(self.extract(c, &schema.variables));
                }
            }
            c.citation_variables = Some(found.clone());
            extra.insert("citations".into(), Value::Object(found));
        }
        extra
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
