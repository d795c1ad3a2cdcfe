//! The scenario file format (serde types, version 1) and its compilation into the checked
//! runtime form in `scenario::mod`. Unknown keys are errors here, so a typo stops start-up with
//! the file's path and the reason instead of silently doing nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::template::{render_value, Template};
use super::{CitationSchema, Disposition, Matcher, Node, Outcomes, Reply, Rule, Scenario, When};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    version: Option<u32>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default, rename = "match")]
    matcher: MatchFile,
    start_node: String,
    nodes: BTreeMap<String, NodeFile>,
    #[serde(default)]
    fallback: Option<ReplyFile>,
    #[serde(default)]
    outcomes: OutcomesFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchFile {
    #[serde(default)]
    agent_numbers: Vec<String>,
    #[serde(default)]
    pathway_ids: Vec<String>,
    #[serde(default)]
    persona_ids: Vec<String>,
    #[serde(default)]
    start_node_ids: Vec<String>,
    /// Regexes over the conversation's `objective` (`/send`).
    #[serde(default)]
    objectives: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ReplyFile {
    One(String),
    OneOf(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    #[serde(default)]
    say: Option<ReplyFile>,
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    handoff: Option<HandoffFile>,
    #[serde(default)]
    end: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HandoffFile {
    #[serde(default)]
    reason: Option<String>,
    /// A rep's number to text a notice to, as `/handoff`'s `notify_number`.
    #[serde(default)]
    notify_number: Option<String>,
    /// The conversation's webhook from the handoff on, as `/handoff`'s `webhook`.
    #[serde(default)]
    webhook: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    when: WhenFile,
    #[serde(default)]
    reply: Option<ReplyFile>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    goto: Option<String>,
    #[serde(default)]
    delay_seconds: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum WhenFile {
    Word(String),
    Spec(WhenSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhenSpec {
    #[serde(default)]
    exact: Option<OneOrMany>,
    #[serde(default)]
    contains: Option<OneOrMany>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    any: Option<bool>,
    #[serde(default)]
    case_sensitive: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self, case_sensitive: bool) -> Vec<String> {
        let v = match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        v.into_iter()
            .map(|s| {
                let s = s.trim().to_string();
                if case_sensitive {
                    s
                } else {
                    s.to_lowercase()
                }
            })
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutcomesFile {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    dispositions: BTreeMap<String, DispositionFile>,
    #[serde(default)]
    citations: BTreeMap<String, CitationFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DispositionFile {
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    result: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitationFile {
    name: String,
    variables: BTreeMap<String, String>,
}

/// Longest scenario delay: a year.
pub const MAX_DELAY_SECS: u64 = 365 * 86_400;

pub(crate) fn reply(r: ReplyFile, at: &str) -> Result<Reply, String> {
    let texts = match r {
        ReplyFile::One(s) => vec![s],
        ReplyFile::OneOf(v) if v.is_empty() => return Err(format!("{at}: empty reply list")),
        ReplyFile::OneOf(v) => v,
    };
    texts
        .iter()
        .map(|t| Template::parse(t).map_err(|e| format!("{at}: {e}")))
        .collect::<Result<_, _>>()
        .map(Reply)
}

pub(crate) fn when(w: WhenFile, at: &str) -> Result<When, String> {
    let spec = match w {
        WhenFile::Word(s) if s == "any" => return Ok(When::Any),
        WhenFile::Word(s) => {
            return Err(format!(
                "{at}: `when` is \"any\" or an object with exact, contains, regex or any, got {s:?}"
            ))
        }
        WhenFile::Spec(s) => s,
    };
    let cs = spec.case_sensitive;
    let given = [
        spec.exact.is_some(),
        spec.contains.is_some(),
        spec.regex.is_some(),
        spec.any.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(format!(
            "{at}: `when` needs exactly one of exact, contains, regex, any"
        ));
    }
    Ok(if let Some(e) = spec.exact {
        When::Exact(e.into_vec(cs), cs)
    } else if let Some(c) = spec.contains {
        When::Contains(c.into_vec(cs), cs)
    } else if let Some(r) = spec.regex {
        let (re, held) = crate::base::input::regex(&r, !cs)
            .map_err(|e| format!("{at}: bad regex {r:?}: {e}"))?;
        count_regex(held);
        When::Regex(re)
    } else {
        When::Any
    })
}

thread_local! {
    /// What the regexes of the scenario being compiled hold, added up as `when` and the
    /// matcher compile them (`compile` reads it into the scenario's `held`).
    static REGEX_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The `name` of a scenario document, when it has one (to name it in errors).
fn peek_name(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    v.get("name")?.as_str().map(String::from)
}

/// Compiles a scenario document that has no file: errors name it `scenario "NAME"`.
///
/// # Errors
/// As [`compile`].
pub(crate) fn compile_document(text: &str) -> Result<Scenario, String> {
    let name = peek_name(text).unwrap_or_else(|| "scenario".into());
    super::load::compile(
        &format!("scenario {name:?}"),
        text,
        false,
        None,
        super::load::Folder::None,
    )
}

/// Parses and checks one scenario file. `source` names it in errors.
///
/// # Errors
/// Bad JSON, unknown keys, a `goto` or `start_node` naming no node, a bad regex or template.
pub(crate) fn compile(source: &str, text: &str) -> Result<Scenario, String> {
    crate::base::input::document_depth(source, text)?;
    REGEX_BYTES.set(0);
    let f: ScenarioFile = serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))?;
    check_header(source, &f)?;
    let mut nodes = HashMap::new();
    for (id, n) in f.nodes {
        let node = node(&format!("{source}: node {id:?}"), n)?;
        nodes.insert(id, node);
    }
    check_gotos(source, &nodes)?;
    let mut scenario = Scenario {
        name: f.name.into(),
        description: f.description,
        source: source.to_string(),
        default: f.default,
        matcher: matcher(source, f.matcher)?,
        start_node: f.start_node,
        nodes,
        fallback: f.fallback.map(|x| reply(x, source)).transpose()?,
        outcomes: outcomes(source, f.outcomes)?,
        held: 0,
        pathway: None,
    };
    // The parsed nodes take about twice the text; the regexes what they measured.
    scenario.held = 2 * text.len() + REGEX_BYTES.get();
    Ok(scenario)
}

/// The version, the name, the start node and the matcher's numbers.
fn check_header(source: &str, f: &ScenarioFile) -> Result<(), String> {
    if let Some(v) = f.version.filter(|&v| v != 1) {
        return Err(format!(
            "{source}: unsupported version {v} (this simulator reads 1)"
        ));
    }
    if f.name.trim().is_empty() {
        return Err(format!("{source}: `name` must not be empty"));
    }
    if !f.nodes.contains_key(&f.start_node) {
        return Err(format!(
            "{source}: start_node {:?} is not one of the nodes",
            f.start_node
        ));
    }
    Ok(())
}

/// The `match` block, checked: agent numbers in E.164, objectives as regexes.
pub(crate) fn matcher(source: &str, m: MatchFile) -> Result<Matcher, String> {
    if let Some(n) = m
        .agent_numbers
        .iter()
        .find(|n| !crate::base::validation::is_e164(n))
    {
        return Err(format!("{source}: match.agent_numbers: {n:?} is not E.164"));
    }
    Ok(Matcher {
        agent_numbers: m.agent_numbers,
        pathway_ids: m.pathway_ids,
        persona_ids: m.persona_ids,
        start_node_ids: m.start_node_ids,
        objectives: m
            .objectives
            .iter()
            .map(|r| {
                let (re, held) = crate::base::input::regex(r, false)
                    .map_err(|e| format!("{source}: match.objectives: bad regex {r:?}: {e}"))?;
                count_regex(held);
                Ok::<_, String>(re)
            })
            .collect::<Result<_, _>>()?,
    })
}

/// Counts a compiled regex's bytes toward the scenario being compiled.
pub(crate) fn count_regex(held: usize) {
    REGEX_BYTES.set(REGEX_BYTES.get() + held);
}

/// Starts counting the regexes of a scenario being compiled; [`regex_bytes`] reads the sum.
pub(crate) fn start_counting() {
    REGEX_BYTES.set(0);
}

pub(crate) fn regex_bytes() -> usize {
    REGEX_BYTES.get()
}

pub(crate) fn template(at: &str, text: &str) -> Result<Template, String> {
    Template::parse(text).map_err(|e| format!("{at}: {e}"))
}

/// One rule; `at` names the node and the rule.
fn rule(at: &str, r: RuleFile) -> Result<Rule, String> {
    if r.delay_seconds > MAX_DELAY_SECS {
        return Err(format!(
            "{at}: delay_seconds {} is more than {MAX_DELAY_SECS} (a year)",
            r.delay_seconds
        ));
    }
    Ok(Rule {
        when: Arc::new(when(r.when, at)?),
        reply: r.reply.map(|x| reply(x, at)).transpose()?,
        set: r
            .set
            .into_iter()
            .map(|(k, v)| Ok((k, template(at, &v)?)))
            .collect::<Result<_, String>>()?,
        goto: r.goto,
        delay_seconds: r.delay_seconds,
    })
}

/// A Transfer-to-Human node's settings, checked as `/handoff` checks them.
fn node_handoff(at: &str, h: HandoffFile) -> Result<super::NodeHandoff, String> {
    if let Some(n) = &h.notify_number {
        crate::base::validation::e164("notify_number", n)
            .map_err(|e| format!("{at}: handoff: {}", e.message))?;
    }
    if let Some(w) = &h.webhook {
        if !crate::base::input::is_web_url(w) {
            return Err(format!(
                "{at}: handoff: webhook must be an http:// or https:// URL, got {w:?}"
            ));
        }
    }
    Ok(super::NodeHandoff {
        reason: h.reason.map(|r| template(at, &r)).transpose()?,
        notify_number: h.notify_number,
        webhook: h.webhook,
    })
}

/// One node; `at` names it.
fn node(at: &str, n: NodeFile) -> Result<Node, String> {
    let rules = n
        .rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(&format!("{at} rule {}", i + 1), r))
        .collect::<Result<Vec<_>, _>>()?;
    let handoff = match n.handoff {
        Some(h) => Some(node_handoff(at, h)?),
        None => None,
    };
    if n.end && handoff.is_some() {
        return Err(format!("{at}: a node cannot both end and hand off"));
    }
    Ok(Node {
        say: n.say.map(|x| reply(x, at)).transpose()?,
        rules,
        handoff,
        end: n.end,
        pathway: None,
    })
}

/// Every `goto` names a node.
fn check_gotos(source: &str, nodes: &HashMap<String, Node>) -> Result<(), String> {
    for (id, n) in nodes {
        for (i, r) in n.rules.iter().enumerate() {
            if let Some(g) = r.goto.as_ref().filter(|g| !nodes.contains_key(*g)) {
                return Err(format!(
                    "{source}: node {id:?} rule {}: goto {g:?} is not one of the nodes",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// The summary, dispositions and citation schemas.
pub(crate) fn outcomes(source: &str, o: OutcomesFile) -> Result<Outcomes, String> {
    let mut dispositions = BTreeMap::new();
    for (id, d) in o.dispositions {
        render_value(&d.result, &super::NoVars)
            .map_err(|e| format!("{source}: disposition {id:?}: {e}"))?;
        let (tag, result) = (d.tag, d.result);
        dispositions.insert(id, Disposition { tag, result });
    }
    let mut citations = BTreeMap::new();
    for (id, c) in o.citations {
        let at = format!("{source}: citation schema {id:?}");
        let variables = c
            .variables
            .into_iter()
            .map(|(k, v)| Ok((k, template(&at, &v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let name = c.name;
        citations.insert(id, CitationSchema { name, variables });
    }
    Ok(Outcomes {
        summary: o
            .summary
            .map(|s| template(&format!("{source}: summary"), &s))
            .transpose()?,
        dispositions,
        citations,
    })
}
