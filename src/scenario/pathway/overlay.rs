//! A pathway and its overlay, compiled into a [`Scenario`]. The pathway's deterministic parts
//! run as written (text, End Call, Transfer Call, Webhook requests and their routes,
//! `alwaysPick`, `skipUserResponse`, global nodes); the overlay decides what a language model
//! decides in production: which user texts take an edge, what a prompt node says, what a user
//! text holds for a variable, and where (or whether) a Webhook node's request goes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::call::{self, Call, Cond, Op, Route};
use super::{Doc, DocNode, Kind};
use crate::scenario::file::{self, MatchFile, OutcomesFile, ReplyFile, WhenFile};
use crate::scenario::template::Template;
use crate::scenario::{
    Extract, Matcher, Node, NodeHandoff, PathwayInfo, PathwayNode, Reply, Rule, Scenario, When,
};

/// A scenario file that wraps a pathway (the keys a test writes against).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverlayFile {
    #[serde(default)]
    pub version: Option<u32>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default, rename = "match")]
    pub matcher: MatchFile,
    /// A path relative to the file, or the pathway inline.
    pub pathway: Value,
    #[serde(default)]
    pub edges: BTreeMap<String, EdgeRule>,
    #[serde(default)]
    pub say: BTreeMap<String, ReplyFile>,
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookOverride>,
    #[serde(default)]
    pub outcomes: OutcomesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EdgeRule {
    pub when: WhenFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookOverride {
    /// Replaces the node's URL (a template, as the node's own).
    #[serde(default)]
    pub url: Option<String>,
    /// Answers for the node without a request: the JSON its `responseData` paths read.
    #[serde(default)]
    pub response: Option<Value>,
    /// Headers added to the node's own (replacing one of the same name): templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// What a name in the overlay stands for: the pathway's ids, names and labels, indexed once.
struct Index<'a> {
    source: &'a str,
    by_id: HashMap<&'a str, &'a DocNode>,
    by_name: HashMap<&'a str, Vec<&'a DocNode>>,
    by_global_label: HashMap<&'a str, Vec<&'a DocNode>>,
    edge_ids: std::collections::HashSet<&'a str>,
    by_label: HashMap<&'a str, Vec<&'a super::DocEdge>>,
    /// The names of the nodes with an edge into each node, to tell nodes of one name apart.
    before: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Index<'a> {
    fn new(doc: &'a Doc, source: &'a str) -> Self {
        let mut ix = Index {
            source,
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_global_label: HashMap::new(),
            edge_ids: Default::default(),
            by_label: HashMap::new(),
            before: HashMap::new(),
        };
        for n in &doc.nodes {
            ix.by_id.insert(&n.id, n);
            ix.by_name.entry(&n.name).or_default().push(n);
            if let Some(l) = &n.global_label {
                ix.by_global_label.entry(l).or_default().push(n);
            }
        }
        for e in &doc.edges {
            ix.edge_ids.insert(&e.id);
            if let Some(l) = &e.label {
                ix.by_label.entry(l).or_default().push(e);
            }
            if let Some(src) = ix.by_id.get(e.source.as_str()) {
                ix.before.entry(&e.target).or_default().push(&src.name);
            }
        }
        ix
    }

    /// A node's name, by id.
    fn name<'b>(&'b self, id: &'b str) -> &'b str {
        self.by_id.get(id).map_or(id, |n| n.name.as_str())
    }

    /// `"id" (after "A", "B")`: a node of a shared name, told apart by where it is reached from.
    fn told_apart(&self, n: &DocNode) -> String {
        match self.before.get(n.id.as_str()) {
            Some(from) => format!("{:?} (after {})", n.id, ids(from.iter().take(3).copied())),
            None => format!("{:?} (no edge leads to it)", n.id),
        }
    }

    /// The node a key names: its id, or a name only one node has.
    fn node(&self, key: &str, what: &str) -> Result<&'a DocNode, String> {
        if let Some(n) = self.by_id.get(key) {
            return Ok(n);
        }
        match self.by_name.get(key).map(Vec::as_slice).unwrap_or_default() {
            [n] => Ok(n),
            [] => Err(format!(
                "{}: {what} {key:?} names no node of the pathway (give a node id or name)",
                self.source
            )),
            many => Err(format!(
                "{}: {what} {key:?}: {} nodes have that name: {}; name one by its id",
                self.source,
                many.len(),
                many.iter()
                    .map(|n| self.told_apart(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// What an `edges` key names: edges by id or label, or a node (every edge into it, and the
    /// node itself when it is global) by name, id or global label.
    fn edge_key(&self, key: &str) -> Result<EdgeKey, String> {
        if self.edge_ids.contains(key) {
            return Ok(EdgeKey::Edges(vec![key.to_string()]));
        }
        match self
            .by_label
            .get(key.trim())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            [one] => return Ok(EdgeKey::Edges(vec![one.id.clone()])),
            [] => {}
            many => {
                let each: Vec<String> = many
                    .iter()
                    .map(|e| {
                        format!(
                            "{:?} (from {:?} to {:?})",
                            e.id,
                            self.name(&e.source),
                            self.name(&e.target)
                        )
                    })
                    .collect();
                return Err(format!(
                    "{}: edges {key:?}: {} edges have that label: {}; name one by its id",
                    self.source,
                    many.len(),
                    each.join(", ")
                ));
            }
        }
        if let Some([n]) = self.by_global_label.get(key.trim()).map(Vec::as_slice) {
            return Ok(EdgeKey::Node(n.id.clone()));
        }
        if !self.by_id.contains_key(key) && !self.by_name.contains_key(key) {
            return Err(format!(
                "{}: edges {key:?} names no edge or node of the pathway: an `edges` key is an \
                 edge id, an edge label, a node name or a global label",
                self.source
            ));
        }
        Ok(EdgeKey::Node(self.node(key, "edges")?.id.clone()))
    }
}

enum EdgeKey {
    Edges(Vec<String>),
    Node(String),
}

fn ids<'x>(it: impl Iterator<Item = &'x str>) -> String {
    it.map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ")
}

/// Compiles pathway `doc` under overlay `o` (`None` for a bare pathway named `name`).
/// `held` is what the source texts take.
///
/// # Errors
/// An overlay key that names nothing or more than one thing, a bad regex or template.
pub(crate) fn compile(
    source: &str,
    doc: Doc,
    o: Option<OverlayFile>,
    name: &str,
    held: usize,
) -> Result<Scenario, String> {
    file::start_counting();
    let bare = o.is_none();
    let o = o.unwrap_or_default();
    if let Some(v) = o.version.filter(|&v| v != 1) {
        return Err(format!(
            "{source}: unsupported version {v} (this simulator reads 1)"
        ));
    }
    let ix = Index::new(&doc, source);
    // Which user texts take which edge (by edge id), and which global nodes.
    let mut by_edge: HashMap<String, Arc<When>> = HashMap::new();
    let mut by_target: HashMap<String, Arc<When>> = HashMap::new();
    for (key, rule) in o.edges {
        let when = Arc::new(file::when(rule.when, &format!("{source}: edges {key:?}"))?);
        match ix.edge_key(&key)? {
            EdgeKey::Edges(ids) => {
                for id in ids {
                    by_edge.insert(id, when.clone());
                }
            }
            EdgeKey::Node(id) => {
                by_target.insert(id, when);
            }
        }
    }
    let mut say: HashMap<String, Reply> = HashMap::new();
    for (key, r) in o.say {
        let n = ix.node(&key, "say")?;
        say.insert(
            n.id.clone(),
            file::reply(r, &format!("{source}: say {key:?}"))?,
        );
    }
    let mut hooks: HashMap<String, WebhookOverride> = HashMap::new();
    for (key, w) in o.webhooks {
        let n = ix.node(&key, "webhooks")?;
        if n.kind != Kind::Webhook {
            return Err(format!(
                "{source}: webhooks {key:?}: node {:?} is a {:?} node, not a Webhook node",
                n.id, n.type_name
            ));
        }
        if let Some(u) = &w.url {
            file::template(&format!("{source}: webhooks {key:?}: url"), u)?;
        }
        hooks.insert(n.id.clone(), w);
    }
    let mut rules: HashMap<String, Regex> = HashMap::new();
    for (var, r) in o.extract {
        let (re, held) = crate::base::input::regex(&r, false)
            .map_err(|e| format!("{source}: extract {var:?}: bad regex {r:?}: {e}"))?;
        file::count_regex(held);
        rules.insert(var, re);
    }
    let declared: std::collections::HashSet<&str> = doc
        .nodes
        .iter()
        .flat_map(|n| n.extract.iter().map(|v| v.name.as_str()))
        .collect();
    let extract_anywhere = rules
        .iter()
        .filter(|(v, _)| !declared.contains(v.as_str()))
        .map(|(v, re)| Extract {
            var: v.clone(),
            ty: "string".into(),
            regex: Some(re.clone()),
        })
        .collect();

    // A Webhook node the simulator cannot reach (it speaks plain HTTP) and nothing answers for.
    let https: Vec<String> = doc
        .nodes
        .iter()
        .filter(|n| n.kind == Kind::Webhook)
        .filter(|n| {
            let hook = hooks.get(&n.id);
            let url = hook
                .and_then(|h| h.url.as_deref())
                .or(n.webhook.as_ref().map(|w| w.url.as_str()))
                .unwrap_or_default();
            hook.is_none_or(|h| h.response.is_none())
                && url.trim_start().to_lowercase().starts_with("https://")
        })
        .map(|n| format!("{:?}", n.name))
        .collect();
    let mut warnings = doc.warnings.clone();
    if !https.is_empty() {
        warnings.push(format!(
            "the Webhook nodes {} call https:// URLs, which the simulator cannot reach (it \
             speaks plain HTTP): give each an http:// `url` or a `response` in the overlay's \
             `webhooks`",
            https.join(", ")
        ));
    }
    let mut out: HashMap<&str, Vec<&super::DocEdge>> = HashMap::new();
    for e in &doc.edges {
        out.entry(e.source.as_str()).or_default().push(e);
    }
    let mut nodes = HashMap::new();
    for n in &doc.nodes {
        let at = format!("{source}: node {:?}", n.name);
        let edges = out
            .get(n.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let parts = &mut NodeParts {
            say: say.remove(&n.id),
            hook: hooks.remove(&n.id),
            by_edge: &by_edge,
            by_target: &by_target,
            rules: &rules,
        };
        nodes.insert(n.id.clone(), node(n, edges, &at, parts)?);
    }
    // Global nodes named by the overlay: reachable from every other node.
    let globals = doc
        .nodes
        .iter()
        .filter(|g| g.global_label.is_some())
        .filter_map(|g| Some((by_target.get(&g.id)?.clone(), g.id.clone())))
        .collect();
    let start = doc
        .nodes
        .iter()
        .find(|n| n.is_start)
        .expect("read() marks a start node")
        .id
        .clone();
    let mut matcher: Matcher = file::matcher(source, o.matcher)?;
    // A pathway with no `match` plays conversations whose `pathway_id` is its name.
    let unmatched = matcher.agent_numbers.is_empty()
        && matcher.pathway_ids.is_empty()
        && matcher.persona_ids.is_empty()
        && matcher.start_node_ids.is_empty()
        && matcher.objectives.is_empty();
    if unmatched && !o.default {
        matcher.pathway_ids.push(name.to_string());
    }
    let outcomes = file::outcomes(source, o.outcomes)?;
    Ok(Scenario {
        name: if bare { name.into() } else { o.name.into() },
        description: o
            .description
            .or_else(|| doc.name.clone().map(|n| format!("Bland pathway {n:?}"))),
        source: source.to_string(),
        default: o.default,
        matcher,
        start_node: start,
        nodes,
        fallback: None,
        outcomes,
        held: held + file::regex_bytes(),
        pathway: Some(Box::new(PathwayInfo {
            warnings,
            extract_anywhere,
            global_prompt: doc.global_prompt.clone(),
            globals,
        })),
    })
}

/// What the overlay gives one node.
struct NodeParts<'a> {
    say: Option<Reply>,
    hook: Option<WebhookOverride>,
    by_edge: &'a HashMap<String, Arc<When>>,
    by_target: &'a HashMap<String, Arc<When>>,
    rules: &'a HashMap<String, Regex>,
}

/// What a prompt node says when the overlay gives it nothing: its name in brackets.
pub(crate) fn stand_in(name: &str) -> String {
    format!("[{name}]")
}

fn node(n: &DocNode, out: &[&super::DocEdge], at: &str, p: &mut NodeParts) -> Result<Node, String> {
    let say = match p.say.take() {
        Some(r) => Some(r),
        None => match (&n.text, &n.prompt) {
            (Some(t), _) => Some(Reply(vec![file::template(at, t)?])),
            (None, Some(_)) => Some(Reply(vec![Template::parse(&stand_in(&n.name))
                .unwrap_or_else(|_| Template::parse("[prompt]").expect("plain text"))])),
            (None, None) => None,
        },
    };
    let mut rules = Vec::new();
    let goto = |when: Arc<When>, target: &str| Rule {
        when,
        reply: None,
        set: Vec::new(),
        goto: Some(target.to_string()),
        delay_seconds: 0,
    };
    let any = Arc::new(When::Any);
    for e in out.iter().filter(|e| e.always_pick) {
        rules.push(goto(any.clone(), &e.target));
    }
    let mut ruled = false;
    for e in out {
        if let Some(w) = p.by_edge.get(&e.id).or_else(|| p.by_target.get(&e.target)) {
            rules.push(goto(w.clone(), &e.target));
            ruled = true;
        }
    }
    // The pathway's global nodes come here (`edge_rules`), then the rest.
    let edge_rules = rules.len();
    // A node with one way on and no rule for it takes it on the user's next text.
    let plain: Vec<&&super::DocEdge> = out
        .iter()
        .filter(|e| !e.always_pick && e.label.as_deref().and_then(Cond::from_label).is_none())
        .collect();
    if !ruled && plain.len() == 1 && n.kind != Kind::Webhook {
        rules.push(goto(any.clone(), &plain[0].target));
    }
    // No match: the node says its text again.
    if let Some(s) = &say {
        rules.push(Rule {
            when: any,
            reply: Some(s.clone()),
            set: Vec::new(),
            goto: None,
            delay_seconds: 0,
        });
    }
    let call = match n.kind {
        Kind::Webhook => Some(Box::new(webhook(n, out, p.hook.take(), at)?)),
        _ => None,
    };
    let next = n.skip_user.then(|| {
        out.iter()
            .find(|e| e.always_pick)
            .or(if out.len() == 1 { out.first() } else { None })
            .map(|e| e.target.clone())
    });
    let handoff = (n.kind == Kind::Transfer).then(|| NodeHandoff {
        reason: Template::parse(&format!("Transfer Call node {:?}", n.name)).ok(),
        notify_number: n
            .transfer_number
            .clone()
            .filter(|t| crate::base::validation::is_e164(t)),
        webhook: None,
    });
    let returns = n.global_label.is_some()
        && out.is_empty()
        && matches!(
            n.kind,
            Kind::Default | Kind::Wait | Kind::Model | Kind::Other
        )
        && n.global_return != Some(false);
    Ok(Node {
        say,
        rules,
        handoff,
        end: n.kind == Kind::EndCall,
        pathway: Some(Box::new(PathwayNode {
            name: n.name.clone(),
            type_name: n.type_name.clone(),
            extract: n
                .extract
                .iter()
                .map(|v| Extract {
                    var: v.name.clone(),
                    ty: v.ty.clone(),
                    regex: p.rules.get(&v.name).cloned(),
                })
                .collect(),
            call,
            next: next.flatten(),
            returns,
            edge_rules,
        })),
    })
}

fn webhook(
    n: &DocNode,
    out: &[&super::DocEdge],
    hook: Option<WebhookOverride>,
    at: &str,
) -> Result<Call, String> {
    let mut w = n.webhook.clone().unwrap_or_default();
    let (url, canned) = match hook {
        Some(h) => {
            for (k, v) in h.headers {
                let v = env_expand(&format!("{at}: webhooks header {k:?}"), &v)?;
                w.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
                w.headers.push((k, v));
            }
            let url = match h.url {
                Some(u) => env_expand(&format!("{at}: webhooks url"), &u)?,
                None => w.url.clone(),
            };
            (url, h.response)
        }
        None => (w.url.clone(), None),
    };
    let method = hyper::Method::from_bytes(w.method.as_bytes())
        .map_err(|_| format!("{at}: method {:?} is not an HTTP method", w.method))?;
    let body = match &w.body {
        None => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(file::template(&format!("{at}: body"), s)?),
        Some(other) => Some(file::template(&format!("{at}: body"), &other.to_string())?),
    };
    let mut response_data = Vec::new();
    for (name, path) in &w.response_data {
        // Each `..` walks the whole answer again for every node the path has reached.
        if path.matches("..").count() > 1 {
            return Err(format!(
                "{at}: responseData {name:?}: {path:?} has more than one `..` (descendant) \
                 segment, each of which multiplies the work over the answer: keep one"
            ));
        }
        let p = serde_json_path::JsonPath::parse(path.trim()).map_err(|e| {
            format!("{at}: responseData {name:?}: {path:?} is not a JSON path ({e})")
        })?;
        response_data.push((name.clone(), p));
    }
    let mut routes = Vec::new();
    for (var, op, value, target) in &w.routes {
        let parsed = if var.trim().to_lowercase().starts_with("default") {
            Some(Op::Completed)
        } else {
            Op::parse(op, value)
        };
        let Some(parsed) = parsed else {
            return Err(format!(
                "{at}: the response pathway `{var} {op} {value}` has an operator this simulator \
                 does not know (==, !=, >, <, >=, <=, contains, does not contain, is null, is not \
                 null)"
            ));
        };
        routes.push(Route {
            cond: Cond {
                var: var.clone(),
                op: parsed,
                value: value.clone(),
            },
            target: target.clone(),
        });
    }
    let mut edge_routes = Vec::new();
    let mut on_error = None;
    let mut plain = Vec::new();
    for e in out {
        match e.label.as_deref().and_then(Cond::from_label) {
            Some(cond) => edge_routes.push(Route {
                cond,
                target: e.target.clone(),
            }),
            None if !e.always_pick
                && e.label.as_deref().is_some_and(|l| {
                    let l = l.to_lowercase();
                    l.contains("error") || l.contains("fail")
                }) =>
            {
                on_error.get_or_insert(e.target.clone());
            }
            None => plain.push(*e),
        }
    }
    let next = plain
        .iter()
        .find(|e| e.always_pick)
        .or(if plain.len() == 1 {
            plain.first()
        } else {
            None
        })
        .map(|e| e.target.clone());
    Ok(Call {
        method,
        url: file::template(&format!("{at}: url"), &url)?,
        headers: w
            .headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    file::template(&format!("{at}: header {k:?}"), v)?,
                ))
            })
            .collect::<Result<_, String>>()?,
        body,
        response_data,
        routes,
        edge_routes,
        next,
        on_error,
        timeout_ms: call::timeout_ms(w.timeout),
        canned,
    })
}

/// `{{env.NAME}}` in an overlay's URL or header, filled from the environment when the overlay
/// loads (so a CI job can say where its service listens).
///
/// # Errors
/// A variable that is not set, naming it.
fn env_expand(at: &str, text: &str) -> Result<String, String> {
    crate::scenario::template::fill_placeholders(text, |inner| {
        let Some(name) = inner.strip_prefix("env.") else {
            return Ok(None);
        };
        std::env::var(name).map(Some).map_err(|_| {
            format!(
                "{at}: the environment variable {name} is not set (the overlay reads it as \
                 {{{{env.{name}}}}})"
            )
        })
    })
}
