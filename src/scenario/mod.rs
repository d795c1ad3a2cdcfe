//! Scenarios play the agent's side. A scenario is a small state machine over pathway nodes:
//! the conversation sits on a node; a user text is matched against the node's rules in order;
//! the first match may set variables, reply (after an optional virtual delay) and move to another
//! node. Entering a node says its `say` text; a node may hand the thread to a human or end it.
//! On end the scenario's `outcomes` give the summary, dispositions and citations.
//!
//! This module holds the checked runtime form and the [`Scenarios`] registry; `file` reads the
//! JSON format; the engine (`engine/turns.rs`) applies turns to conversations.

pub mod file;
pub mod load;
pub mod pathway;
pub mod template;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use regex::Regex;
use serde_json::{json, Value};

use template::{Template, Vars};

/// Scenario files built into the binary (the `scenarios/` folder).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "scenarios/default.json",
        include_str!("../../scenarios/default.json"),
    ),
    (
        "scenarios/appointment-booking.json",
        include_str!("../../scenarios/appointment-booking.json"),
    ),
    (
        "scenarios/support-escalation.json",
        include_str!("../../scenarios/support-escalation.json"),
    ),
    (
        "scenarios/order-status.json",
        include_str!("../../scenarios/order-status.json"),
    ),
];

/// How a rule matches the user's text (trimmed; lower-cased unless case-sensitive).
#[derive(Clone, Debug)]
pub enum When {
    /// The whole text equals one of these.
    Exact(Vec<String>, bool),
    /// The text contains one of these.
    Contains(Vec<String>, bool),
    /// The regex matches; its capture groups become `{{match.N}}` / `{{match.name}}`.
    Regex(Regex),
    Any,
}

impl When {
    /// The captures when the text matches (empty for non-regex matches).
    pub fn matches(&self, text: &str) -> Option<Vec<(String, String)>> {
        let text = text.trim();
        match self {
            When::Any => Some(Vec::new()),
            When::Exact(opts, cs) => {
                let t = if *cs {
                    text.to_string()
                } else {
                    text.to_lowercase()
                };
                opts.contains(&t).then(Vec::new)
            }
            When::Contains(opts, cs) => {
                let t = if *cs {
                    text.to_string()
                } else {
                    text.to_lowercase()
                };
                opts.iter().any(|o| t.contains(o.as_str())).then(Vec::new)
            }
            When::Regex(re) => {
                let caps = re.captures(text)?;
                let mut out = Vec::new();
                for (i, name) in re.capture_names().enumerate() {
                    if let Some(m) = caps.get(i) {
                        out.push((i.to_string(), m.as_str().to_string()));
                        if let Some(n) = name {
                            out.push((n.to_string(), m.as_str().to_string()));
                        }
                    }
                }
                Some(out)
            }
        }
    }
}

/// One or more reply templates; with more than one, a seeded random choice picks one.
#[derive(Clone, Debug)]
pub struct Reply(pub Vec<Template>);

impl Reply {
    pub fn pick(&self, rng: &mut StdRng) -> &Template {
        &self.0[rng.random_range(0..self.0.len())]
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Shared: a pathway overlay's rule may stand on many edges.
    pub when: Arc<When>,
    pub reply: Option<Reply>,
    pub set: Vec<(String, Template)>,
    pub goto: Option<String>,
    pub delay_seconds: u64,
}

/// A Transfer-to-Human node's settings, as `/handoff` takes them.
#[derive(Clone, Debug, Default)]
pub struct NodeHandoff {
    /// The reason (a template).
    pub reason: Option<Template>,
    /// A rep's number to text a notice to (E.164).
    pub notify_number: Option<String>,
    /// The conversation's webhook URL from the handoff on.
    pub webhook: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub say: Option<Reply>,
    pub rules: Vec<Rule>,
    /// `Some` makes this a Transfer-to-Human node.
    pub handoff: Option<NodeHandoff>,
    /// An End Call node.
    pub end: bool,
    /// A Bland pathway node's own parts (`None` in a scenario file).
    pub pathway: Option<Box<PathwayNode>>,
}

/// A variable a pathway node extracts from each user text it gets.
#[derive(Clone, Debug)]
pub struct Extract {
    pub var: String,
    /// The declared type (`string`, `integer`, `number`, `boolean`…).
    pub ty: String,
    /// The overlay's rule (its first group is the value); without one, the type's heuristic.
    pub regex: Option<Regex>,
}

/// What a pathway node does beyond a scenario node's say, rules, handoff and end.
#[derive(Clone, Debug)]
pub struct PathwayNode {
    pub name: String,
    /// The node's type as the pathway writes it.
    pub type_name: String,
    pub extract: Vec<Extract>,
    /// A Webhook node's request and routes.
    pub call: Option<Box<pathway::call::Call>>,
    /// `skipUserResponse`: the node moved to at once after this one speaks.
    pub next: Option<String>,
    /// A global node that gives the conversation back to the node the user left.
    pub returns: bool,
    /// `rules[..edge_rules]` are the node's own edges; the pathway's global nodes are tried
    /// after them, then the rest (a Webhook node's request again, the only way on, the node's
    /// text again).
    pub edge_rules: usize,
}

/// What a scenario made from a pathway adds.
#[derive(Clone, Debug, Default)]
pub struct PathwayInfo {
    /// What of the pathway is not run, one line each (also logged at load).
    pub warnings: Vec<String>,
    /// The overlay's `extract` rules for variables no node declares: tried on every user text.
    pub extract_anywhere: Vec<Extract>,
    /// The global prompt (shown, not run).
    pub global_prompt: Option<String>,
    /// The global nodes the overlay names: which texts reach them from any other node.
    pub globals: Vec<(Arc<When>, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct Matcher {
    pub agent_numbers: Vec<String>,
    pub pathway_ids: Vec<String>,
    pub persona_ids: Vec<String>,
    pub start_node_ids: Vec<String>,
    pub objectives: Vec<regex::Regex>,
}

#[derive(Clone, Debug)]
pub struct Disposition {
    pub tag: Option<String>,
    /// JSON whose strings are templates.
    pub result: Value,
}

#[derive(Clone, Debug)]
pub struct CitationSchema {
    pub name: String,
    pub variables: Vec<(String, Template)>,
}

#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    pub summary: Option<Template>,
    pub dispositions: BTreeMap<String, Disposition>,
    pub citations: BTreeMap<String, CitationSchema>,
}

/// A checked scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Shared with the conversations it plays.
    pub name: Arc<str>,
    pub description: Option<String>,
    pub source: String,
    pub default: bool,
    pub matcher: Matcher,
    pub start_node: String,
    pub nodes: HashMap<String, Node>,
    pub fallback: Option<Reply>,
    pub outcomes: Outcomes,
    /// About what it holds in memory: its parsed text and its compiled regexes.
    pub held: usize,
    /// `Some` for a scenario made from a Bland pathway.
    pub pathway: Option<Box<PathwayInfo>>,
}

impl Scenario {
    /// The node `id`, or the start node when `id` is unknown to this scenario.
    pub fn node<'a>(&'a self, id: Option<&str>) -> (&'a str, &'a Node) {
        if let Some((k, n)) = id.and_then(|i| self.nodes.get_key_value(i)) {
            return (k.as_str(), n);
        }
        let n = self
            .nodes
            .get(&self.start_node)
            .expect("start_node is checked at load");
        (self.start_node.as_str(), n)
    }

    /// Logs what of its pathway is not run (once each time it is put in force).
    pub fn log_warnings(&self) {
        for w in self.pathway.iter().flat_map(|p| p.warnings.iter()) {
            tracing::warn!("{}: {w}", self.source);
        }
    }

    /// A node's name: a pathway node's own, else its id.
    pub fn node_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.nodes
            .get(id)
            .and_then(|n| n.pathway.as_ref())
            .map_or(id, |p| p.name.as_str())
    }

    pub fn to_json(&self) -> Value {
        let mut nodes: Vec<&String> = self.nodes.keys().collect();
        nodes.sort();
        let mut v = json!({
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "default": self.default,
            "match": {
                "agent_numbers": self.matcher.agent_numbers,
                "pathway_ids": self.matcher.pathway_ids,
                "persona_ids": self.matcher.persona_ids,
                "start_node_ids": self.matcher.start_node_ids,
                "objectives": self.matcher.objectives.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            },
            "start_node": self.start_node,
            "nodes": nodes,
            "dispositions": self.outcomes.dispositions.keys().collect::<Vec<_>>(),
            "citation_schemas": self.outcomes.citations.keys().collect::<Vec<_>>(),
        });
        if let Some(p) = &self.pathway {
            v["kind"] = json!("pathway");
            // In the order of `nodes` (sorted ids).
            v["node_names"] = nodes
                .iter()
                .filter_map(|id| {
                    Some((
                        id.to_string(),
                        json!(self.nodes[*id].pathway.as_ref()?.name),
                    ))
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
            v["warnings"] = json!(p.warnings);
            v["global_prompt"] = json!(p.global_prompt);
        }
        v
    }
}

/// A scenario turn waiting for its rule's `delay_seconds`: which rule of which node, with the
/// captures and the text it matched.
#[derive(Clone, Debug)]
pub(crate) struct PendingTurn {
    pub node: String,
    pub rule: usize,
    pub captures: Vec<(String, String)>,
    pub text: String,
}

/// What a conversation is selected by.
#[derive(Default, Debug)]
pub struct Selector<'a> {
    pub pathway_id: Option<&'a str>,
    pub persona_id: Option<&'a str>,
    pub start_node_id: Option<&'a str>,
    /// The conversation's `objective`.
    pub objective: Option<&'a str>,
    pub agent_number: &'a str,
}

/// The loaded scenarios. A set is immutable: a change at run time (`POST /_sim/scenarios`)
/// makes a new set, and conversations keep the scenario they started with.
#[derive(Clone)]
pub struct Scenarios {
    by_name: HashMap<String, Arc<Scenario>>,
    order: Vec<String>,
    default: String,
}

impl Scenarios {
    /// The embedded scenarios, then `extra` (from files or documents, in order): an extra one
    /// replaces an embedded one of the same name.
    ///
    /// # Errors
    /// Two extra scenarios with one name, or more than one default among them.
    pub fn build(extra: Vec<Scenario>) -> Result<Scenarios, String> {
        let mut list = Vec::new();
        for (path, text) in EMBEDDED {
            let s = load::compile(path, text, false, None, load::Folder::Embedded)?;
            list.push((s, true));
        }
        for s in &extra {
            s.log_warnings();
        }
        list.extend(extra.into_iter().map(|s| (s, false)));
        Self::from_list(list)
    }

    /// Every scenario file of `dir`, compiled, in file-name order: `*.json` scenario files,
    /// pathway overlays, and bare Bland pathways (`*.json`, or Bland's CLI `*.yaml`/`*.yml`)
    /// that no overlay of the folder wraps.
    ///
    /// # Errors
    /// An unreadable directory, or the first bad file with its path and the reason.
    pub fn read_dir(dir: &Path) -> Result<Vec<Scenario>, String> {
        let files = load::files(dir)?;
        if files.is_empty() {
            tracing::warn!("{} holds no *.json scenario files", dir.display());
        }
        files
            .iter()
            .map(|(p, text)| {
                load::compile(
                    &p.display().to_string(),
                    text,
                    load::is_yaml(p),
                    p.file_name().and_then(|f| f.to_str()),
                    load::Folder::Dir(dir),
                )
            })
            .collect()
    }

    fn from_list(list: Vec<(Scenario, bool)>) -> Result<Scenarios, String> {
        let mut by_name: HashMap<String, (Arc<Scenario>, bool)> = HashMap::new();
        let mut order = Vec::new();
        for (s, embedded) in list {
            if let Some((prev, prev_embedded)) = by_name.get(&*s.name) {
                if !*prev_embedded && !embedded {
                    return Err(format!(
                        "{}: scenario name {:?} is already used by {}",
                        s.source, s.name, prev.source
                    ));
                }
                tracing::warn!(
                    "scenario {:?} from {} replaces the embedded one from {}",
                    s.name,
                    s.source,
                    prev.source
                );
            } else {
                order.push(s.name.to_string());
            }
            by_name.insert(s.name.to_string(), (Arc::new(s), embedded));
        }
        let user_defaults: Vec<&Arc<Scenario>> = by_name
            .values()
            .filter(|(s, e)| s.default && !e)
            .map(|(s, _)| s)
            .collect();
        if user_defaults.len() > 1 {
            return Err(format!(
                "{}: more than one default scenario ({} and {})",
                user_defaults[1].source, user_defaults[0].name, user_defaults[1].name
            ));
        }
        let default = match user_defaults.first() {
            Some(s) => s.name.to_string(),
            None => order
                .iter()
                .find(|n| by_name[*n].0.default)
                .cloned()
                .ok_or("no default scenario: mark one with \"default\": true")?,
        };
        Ok(Scenarios {
            by_name: by_name.into_iter().map(|(k, (s, _))| (k, s)).collect(),
            order,
            default,
        })
    }

    pub fn get(&self, name: &str) -> Arc<Scenario> {
        self.by_name
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.by_name[&self.default].clone())
    }

    /// Picks the scenario for a new conversation: pathway, then persona, then start node, then
    /// agent number, then the default.
    pub fn choose(&self, sel: &Selector) -> Arc<Scenario> {
        let find = |pred: &dyn Fn(&Matcher) -> bool| {
            self.order
                .iter()
                .map(|n| &self.by_name[n])
                .find(|s| pred(&s.matcher))
                .cloned()
        };
        let has = |list: &[String], v: Option<&str>| v.is_some_and(|v| list.iter().any(|x| x == v));
        find(&|m| has(&m.pathway_ids, sel.pathway_id))
            .or_else(|| find(&|m| has(&m.persona_ids, sel.persona_id)))
            .or_else(|| find(&|m| has(&m.start_node_ids, sel.start_node_id)))
            .or_else(|| {
                let objective = sel.objective?;
                find(&|m| m.objectives.iter().any(|r| r.is_match(objective)))
            })
            .or_else(|| find(&|m| has(&m.agent_numbers, Some(sel.agent_number))))
            .unwrap_or_else(|| self.by_name[&self.default].clone())
    }

    /// This set with `s` added, or replacing the scenario of its name; a default `s` becomes
    /// the default.
    pub fn with(&self, s: Scenario) -> Scenarios {
        s.log_warnings();
        let mut next = self.clone();
        if !next.by_name.contains_key(&*s.name) {
            next.order.push(s.name.to_string());
        }
        if s.default {
            next.default = s.name.to_string();
        }
        next.by_name.insert(s.name.to_string(), Arc::new(s));
        next
    }

    /// This set without scenario `name`; `None` when it has no such scenario.
    ///
    /// # Errors
    /// The default scenario cannot go (another must become the default first).
    pub fn without(&self, name: &str) -> Result<Option<Scenarios>, String> {
        if !self.by_name.contains_key(name) {
            return Ok(None);
        }
        if self.default == name {
            return Err(format!(
                "{name:?} is the default scenario; add another with \"default\": true first"
            ));
        }
        let mut next = self.clone();
        next.by_name.remove(name);
        next.order.retain(|n| n != name);
        Ok(Some(next))
    }

    /// What the scenarios hold, added up.
    pub fn held(&self) -> usize {
        self.by_name.values().map(|s| s.held).sum()
    }

    /// The held bytes of scenario `name`, if there is one.
    pub fn held_by(&self, name: &str) -> usize {
        self.by_name.get(name).map_or(0, |s| s.held)
    }

    /// The scenarios' names, in load order.
    pub fn names(&self) -> Vec<&str> {
        self.order.iter().map(String::as_str).collect()
    }

    pub fn to_json(&self) -> Value {
        Value::Array(
            self.order
                .iter()
                .map(|n| {
                    let mut v = self.by_name[n].to_json();
                    v["default"] = json!(*n == self.default);
                    v
                })
                .collect(),
        )
    }

    /// A citation schema by id, from the given scenario first, then any other.
    pub fn citation_schema(&self, first: &str, id: &str) -> Option<CitationSchema> {
        std::iter::once(first.to_string())
            .chain(self.order.iter().cloned())
            .filter_map(|n| self.by_name.get(&n))
            .find_map(|s| s.outcomes.citations.get(id).cloned())
    }
}

/// A template context with no variables (used to check templates at load).
pub struct NoVars;
impl Vars for NoVars {
    fn lookup(&self, _: &str) -> Option<String> {
        None
    }
}

/// The RNG for turn `turn` of a conversation: reproducible under `--seed`, and independent of
/// what other conversations do meanwhile.
pub fn turn_rng(seed: u64, conversation_id: &str, turn: u64) -> StdRng {
    use std::hash::{Hash, Hasher};
    // DefaultHasher with fixed keys is stable within a build, which is what --seed promises.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    conversation_id.hash(&mut h);
    turn.hash(&mut h);
    StdRng::seed_from_u64(seed ^ h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_scenarios_load() {
        let s = Scenarios::build(Vec::new()).unwrap();
        assert_eq!(s.default, "default");
        let chosen = s.choose(&Selector {
            pathway_id: Some("pathway_booking"),
            agent_number: "+19999999999",
            ..Default::default()
        });
        assert_eq!(&*chosen.name, "appointment-booking");
        let fallback = s.choose(&Selector {
            agent_number: "+19999999999",
            ..Default::default()
        });
        assert_eq!(&*fallback.name, "default");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let e = file::compile("x.json", r#"{"name":"a","start_node":"s","nodes":{}}"#).unwrap_err();
        assert!(e.contains("x.json") && e.contains("start_node"), "{e}");
        let e = file::compile(
            "y.json",
            r#"{"name":"a","start_node":"s","nodes":{"s":{"rules":[{"when":"any","goto":"nope"}]}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("goto \"nope\""), "{e}");
        let e = file::compile(
            "z.json",
            r#"{"name":"a","start_node":"s","nodes":{"s":{"sya":"hi"}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = file::compile(
            "r.json",
            r#"{"name":"a","start_node":"s","nodes":{"s":{"rules":[{"when":{"regex":"("}}]}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("bad regex"), "{e}");
        let e = file::compile(
            "d.json",
            r#"{"name":"a","start_node":"s","nodes":{"s":{"rules":[{"when":"any","delay_seconds":99999999999999}]}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("delay_seconds"), "{e}");
    }

    #[test]
    fn when_matching() {
        let w = When::Contains(vec!["book".into()], false);
        assert!(w.matches("I want to BOOK").is_some());
        let w = When::Exact(vec!["yes".into()], false);
        assert!(w.matches(" Yes ").is_some());
        assert!(w.matches("yes please").is_none());
        let w = When::Regex(Regex::new(r"(?i)at (?P<hour>\d+)").unwrap());
        let caps = w.matches("at 3pm").unwrap();
        assert!(caps.contains(&("hour".to_string(), "3".to_string())));
    }
}
