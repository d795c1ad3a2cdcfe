//! Bland conversational pathways as the agent. `read` takes a pathway as Bland's API gives it
//! (bare `{nodes, edges}`, the `GET /v1/pathway/{id}` answer, or `POST`'s `pathway_data`) or
//! as Bland's CLI keeps it in YAML (`nodes` a map keyed by name, edges under their node), and
//! gives one [`Doc`]: the nodes and edges the simulator runs, and a warning for each part it
//! does not. `overlay` compiles a `Doc` (with an overlay's choices, or none) into a
//! [`Scenario`](super::Scenario); `call` holds a Webhook node's request and routes.

pub mod call;
pub mod overlay;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// What a node does when the conversation reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Says its text (or its prompt's stand-in) and waits for the user.
    Default,
    /// Says its text, then ends the conversation.
    EndCall,
    /// Says its text, then hands the conversation to a human.
    Transfer,
    /// Says its text, then makes its HTTP request and routes by the answer.
    Webhook,
    /// Waits for the user (as `Default`).
    Wait,
    /// A node whose work a language model does (Knowledge Base): as `Default`, the overlay's
    /// `say` standing in for the answer.
    Model,
    /// A type the simulator does not run: as `Default`, with a warning.
    Other,
}

/// A node's type as written (the dashboard's `End Call` or the CLI's `end_call`).
fn kind(type_name: &str) -> Kind {
    let t = type_name.trim().to_lowercase().replace(['_', '-'], " ");
    match t.as_str() {
        "" | "default" => Kind::Default,
        "end call" | "end" => Kind::EndCall,
        "transfer call" | "transfer" | "transfer number" | "transfer node"
        | "transfer to human" => Kind::Transfer,
        "webhook" => Kind::Webhook,
        "wait for response" => Kind::Wait,
        "knowledge base" => Kind::Model,
        _ => Kind::Other,
    }
}

/// A variable a node extracts from the user's text, with the type it is declared as.
#[derive(Clone, Debug)]
pub struct Var {
    pub name: String,
    pub ty: String,
}

/// A Webhook node's request as the pathway writes it (templates not yet parsed).
#[derive(Clone, Debug, Default)]
pub struct WebhookDoc {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// A body as text (Bland's dashboard writes JSON text with `{{vars}}`), or JSON.
    pub body: Option<Value>,
    /// `responseData`: `(variable, JSON path)`.
    pub response_data: Vec<(String, String)>,
    /// `responsePathways`: `(variable, operator, value, target node id)`.
    pub routes: Vec<(String, String, String, String)>,
    /// `timeoutValue` (or a tool's `timeout`), as written.
    pub timeout: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct DocNode {
    pub id: String,
    pub type_name: String,
    pub kind: Kind,
    pub name: String,
    pub text: Option<String>,
    pub prompt: Option<String>,
    pub is_start: bool,
    /// `Some(label)` for a global node.
    pub global_label: Option<String>,
    /// `enableGlobalAutoReturn` when written: `Some(false)` keeps a global node from giving
    /// the conversation back to the node the user left.
    pub global_return: Option<bool>,
    pub extract: Vec<Var>,
    pub webhook: Option<WebhookDoc>,
    pub transfer_number: Option<String>,
    /// `modelOptions.skipUserResponse`: move on without waiting for the user.
    pub skip_user: bool,
}

#[derive(Clone, Debug)]
pub struct DocEdge {
    pub id: String,
    pub source: String,
    pub target: String,
    pub label: Option<String>,
    pub always_pick: bool,
}

/// A pathway, read.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    pub name: Option<String>,
    pub global_prompt: Option<String>,
    pub nodes: Vec<DocNode>,
    pub edges: Vec<DocEdge>,
    /// What was read and is not run, one line each.
    pub warnings: Vec<String>,
}

/// A variable's value in a user's text (trimmed): the first group of the overlay's `rule`
/// (or its whole match), else by the declared type: `integer` the first whole number,
/// `number` the first number, `boolean` the first yes or no word, anything else the whole
/// text. Typed as declared: an `integer` or `number` that does not parse stays text.
pub fn extract_value(ty: &str, text: &str, rule: Option<&regex::Regex>) -> Option<Value> {
    let text = text.trim();
    let raw: String = match rule {
        Some(re) => {
            let caps = re.captures(text)?;
            caps.get(1).or_else(|| caps.get(0))?.as_str().to_string()
        }
        None => match ty {
            "integer" | "int" => first_match(text, false)?,
            "number" | "float" | "decimal" => first_match(text, true)?,
            "boolean" | "bool" => {
                let yes = [
                    "yes", "yeah", "yep", "yup", "sure", "correct", "right", "true", "ok", "okay",
                    "y",
                ];
                let no = ["no", "nope", "nah", "false", "incorrect", "wrong", "n"];
                let word = text
                    .split(|c: char| !c.is_alphanumeric())
                    .map(str::to_lowercase)
                    .find(|w| yes.contains(&w.as_str()) || no.contains(&w.as_str()))?;
                return Some(Value::Bool(yes.contains(&word.as_str())));
            }
            _ if text.is_empty() => return None,
            _ => text.to_string(),
        },
    };
    Some(typed(ty, raw))
}

/// `raw` as the declared type, when it reads as one.
fn typed(ty: &str, raw: String) -> Value {
    let t = raw.trim();
    match ty {
        "integer" | "int" => t
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(raw)),
        "number" | "float" | "decimal" => t
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(raw)),
        "boolean" | "bool" => match t.to_lowercase().as_str() {
            "true" | "yes" | "y" => Value::Bool(true),
            "false" | "no" | "n" => Value::Bool(false),
            _ => Value::String(raw),
        },
        _ => Value::String(raw),
    }
}

/// The first whole number (or, with `decimal`, number) in `text`.
fn first_match(text: &str, decimal: bool) -> Option<String> {
    static WHOLE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"-?\d+").expect("a valid regex"));
    static DECIMAL: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"-?\d+(?:\.\d+)?").expect("a valid regex"));
    let re = if decimal { &DECIMAL } else { &WHOLE };
    re.find(text).map(|m| m.as_str().to_string())
}

/// Node fields a language model reads in production (or the dashboard draws with): known, and
/// stood in for by the overlay, so they load without a warning.
const MODEL_FIELDS: &[&str] = &[
    "condition",
    "conditionExamples",
    "dialogueExamples",
    "pathwayExamples",
    "modelOptions",
    "tag",
    "globalDescription",
    "extractVarSettings",
    "description",
    "kb",
    "kbTool",
    "speechDuringKBPrompt",
    "globalPrompt",
    "context",
    "isHighlighted",
    "active",
];

/// Node fields the simulator runs.
const RUN_FIELDS: &[&str] = &[
    "name",
    "type",
    "text",
    "prompt",
    "isStart",
    "isGlobal",
    "globalLabel",
    "enableGlobalAutoReturn",
    "extractVars",
    "url",
    "method",
    "headers",
    "body",
    "responseData",
    "responsePathways",
    "timeoutValue",
    "transferNumber",
    "tools",
];

/// Reads a pathway document. `yaml` reads YAML (Bland's CLI files); otherwise JSON.
///
/// # Errors
/// Text that does not parse, or a document with no nodes.
pub fn read(source: &str, text: &str, yaml: bool) -> Result<Doc, String> {
    from_value(source, super::load::parse(source, text, yaml)?)
}

/// The pathway inside a document: bare, or under `data` (`GET /v1/pathway/{id}`) or
/// `pathway_data` (`POST /v1/pathway/{id}`'s answer).
fn unwrap(v: Value) -> Value {
    match v {
        Value::Object(mut m) if !m.contains_key("nodes") => {
            for k in ["data", "pathway_data", "pathway"] {
                if m.get(k).is_some_and(|d| d.get("nodes").is_some()) {
                    return m.remove(k).unwrap_or_default();
                }
            }
            Value::Object(m)
        }
        v => v,
    }
}

/// Reads a pathway from a JSON value (an API document or a CLI file, parsed).
///
/// # Errors
/// No `nodes`, or nodes that are neither a list nor a map.
pub fn from_value(source: &str, v: Value) -> Result<Doc, String> {
    let v = unwrap(v);
    let Value::Object(top) = v else {
        return Err(format!(
            "{source}: a pathway is an object with `nodes` and `edges`"
        ));
    };
    let name = top.get("name").and_then(Value::as_str).map(String::from);
    let mut doc = match top.get("nodes") {
        Some(Value::Array(nodes)) => api_doc(source, nodes, top.get("edges"))?,
        Some(Value::Object(nodes)) => cli_doc(source, nodes, &top)?,
        _ => {
            return Err(format!(
                "{source}: a pathway needs `nodes`: a list (Bland's API) or a map by node name \
                 (Bland's CLI)"
            ))
        }
    };
    doc.name = name;
    if doc.nodes.is_empty() {
        return Err(format!("{source}: the pathway has no nodes"));
    }
    check(&mut doc);
    Ok(doc)
}

/// Collects warnings by kind, so a field on many nodes is named once: the first five nodes and
/// how many more.
#[derive(Default)]
struct Unknown(BTreeMap<String, (Vec<String>, usize)>);

impl Unknown {
    fn add(&mut self, what: String, node: &str) {
        let (names, count) = self.0.entry(what).or_default();
        if names.len() < 5 {
            names.push(node.to_string());
        }
        *count += 1;
    }

    fn into_warnings(self, out: &mut Vec<String>) {
        for (what, (names, count)) in self.0 {
            let shown: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            let more = count - names.len();
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            out.push(format!("{what} (on {}{tail})", shown.join(", ")));
        }
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str) == Some("true")
}

/// A node of Bland's API form: `{id, type, data: {...}}` (or a `{globalConfig}` entry).
fn api_doc(source: &str, nodes: &[Value], edges: Option<&Value>) -> Result<Doc, String> {
    let mut doc = Doc::default();
    let mut unknown = Unknown::default();
    for (i, n) in nodes.iter().enumerate() {
        let Some(obj) = n.as_object() else {
            return Err(format!("{source}: nodes[{i}] is not an object"));
        };
        if let Some(g) = obj.get("globalConfig") {
            doc.global_prompt = text_of(g.get("globalPrompt"));
            continue;
        }
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => return Err(format!("{source}: nodes[{i}] has no `id`")),
        };
        let empty = Map::new();
        let data = obj.get("data").and_then(Value::as_object).unwrap_or(&empty);
        let type_name = obj
            .get("type")
            .or_else(|| data.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("Default")
            .to_string();
        let name = text_of(data.get("name")).unwrap_or_else(|| id.clone());
        for k in obj.keys() {
            if ![
                "id", "type", "data", "position", "width", "height", "selected", "dragging",
            ]
            .contains(&k.as_str())
                && !k.starts_with("position")
            {
                unknown.add(
                    format!("node field `{k}` is not simulated and is ignored"),
                    &name,
                );
            }
        }
        doc.nodes
            .push(node(data, id, type_name, name, &mut unknown));
    }
    if let Some(Value::Array(edges)) = edges {
        for (i, e) in edges.iter().enumerate() {
            let Some(obj) = e.as_object() else {
                return Err(format!("{source}: edges[{i}] is not an object"));
            };
            let field = |k: &str| text_of(obj.get(k));
            let (Some(s), Some(t)) = (field("source"), field("target")) else {
                return Err(format!("{source}: edges[{i}] needs `source` and `target`"));
            };
            let data = obj.get("data");
            let label = text_of(data.and_then(|d| d.get("label"))).or_else(|| field("label"));
            doc.edges.push(DocEdge {
                id: field("id").unwrap_or_else(|| format!("edge-{i}")),
                source: s,
                target: t,
                label: label.map(|l| l.trim().to_string()),
                always_pick: truthy(data.and_then(|d| d.get("alwaysPick")))
                    || truthy(obj.get("alwaysPick")),
            });
        }
    }
    unknown.into_warnings(&mut doc.warnings);
    Ok(doc)
}

/// A node's `data` (API form; the CLI form is put in this form first).
fn node(
    data: &Map<String, Value>,
    id: String,
    type_name: String,
    name: String,
    unknown: &mut Unknown,
) -> DocNode {
    let kind = kind(&type_name);
    if kind == Kind::Other {
        unknown.add(
            format!("node type {type_name:?} is not simulated: it behaves as a Default node"),
            &name,
        );
    }
    for k in data.keys() {
        if !RUN_FIELDS.contains(&k.as_str()) && !MODEL_FIELDS.contains(&k.as_str()) {
            unknown.add(
                format!("node field `{k}` is not simulated and is ignored"),
                &name,
            );
        }
    }
    let extract = match data.get("extractVars") {
        Some(Value::Array(vars)) => vars
            .iter()
            .filter_map(|v| {
                let (name, ty) = match v {
                    Value::Array(a) => (text_of(a.first())?, text_of(a.get(1))),
                    Value::Object(o) => (text_of(o.get("name"))?, text_of(o.get("type"))),
                    _ => return None,
                };
                // An instruction to the extracting model, not a variable.
                (name != "bland-prompt").then(|| Var {
                    name,
                    ty: ty.unwrap_or_else(|| "string".into()).to_lowercase(),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut webhook = None;
    if kind == Kind::Webhook {
        webhook = Some(webhook_doc(data, &name, unknown));
    } else if let Some(Value::Array(tools)) = data.get("tools") {
        if !tools.is_empty() {
            unknown.add(
                "a node's `tools` are called when a language model decides: not simulated \
                 (a Webhook node's request is)"
                    .into(),
                &name,
            );
        }
    }
    let model = data.get("modelOptions");
    DocNode {
        id,
        kind,
        type_name,
        text: text_of(data.get("text")),
        prompt: text_of(data.get("prompt")),
        is_start: truthy(data.get("isStart")),
        global_label: truthy(data.get("isGlobal"))
            .then(|| text_of(data.get("globalLabel")).unwrap_or_else(|| name.clone())),
        global_return: data.get("enableGlobalAutoReturn").and_then(Value::as_bool),
        extract,
        webhook,
        transfer_number: text_of(data.get("transferNumber")),
        skip_user: truthy(model.and_then(|m| m.get("skipUserResponse")))
            || truthy(model.and_then(|m| m.get("skip_user_response"))),
        name,
    }
}

/// A Webhook node's request: its own `url`, `method`, `headers`, `body`, `responseData` and
/// `responsePathways`, or else its first webhook tool's (the CLI's snake_case form).
fn webhook_doc(data: &Map<String, Value>, name: &str, unknown: &mut Unknown) -> WebhookDoc {
    let tool = data
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(Value::as_object);
    let own = data.contains_key("url") || tool.is_none();
    let src: &Map<String, Value> = if own { data } else { tool.expect("checked") };
    let get = |camel: &str, snake: &str| src.get(camel).or_else(|| src.get(snake));
    let headers = match src.get("headers") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), text_of(Some(v))?)))
            .collect(),
        // The dashboard writes `[[name, value], …]`.
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| {
                let p = p.as_array()?;
                Some((text_of(p.first())?, text_of(p.get(1)).unwrap_or_default()))
            })
            .collect(),
        _ => Vec::new(),
    };
    let response_data = match get("responseData", "response_data") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|r| Some((text_of(r.get("name"))?, text_of(r.get("data"))?)))
            .collect(),
        _ => Vec::new(),
    };
    let routes = match get("responsePathways", "response_pathways") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|r| match r {
                Value::Array(p) => Some((
                    text_of(p.first())?,
                    text_of(p.get(1))?,
                    value_text(p.get(2)),
                    text_of(p.get(3).and_then(|t| t.get("id")))?,
                )),
                Value::Object(o) => Some((
                    text_of(o.get("variable"))?,
                    text_of(o.get("condition").or_else(|| o.get("operator")))?,
                    value_text(o.get("value")),
                    text_of(o.get("target_id")).or_else(|| text_of(o.get("target_name")))?,
                )),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !own {
        unknown.add(
            "a Webhook node without its own `url` runs its first tool's request".into(),
            name,
        );
    }
    WebhookDoc {
        method: text_of(src.get("method"))
            .unwrap_or_else(|| "POST".into())
            .to_uppercase(),
        url: text_of(src.get("url")).unwrap_or_default(),
        headers,
        body: src.get("body").filter(|b| !b.is_null()).cloned(),
        response_data,
        routes,
        timeout: get("timeoutValue", "timeout").and_then(Value::as_f64),
    }
}

/// A route's value as text (`"0000"`, `true`, `3`): how it is compared.
fn value_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Bland's CLI form: `nodes` a map by name (the first is the start), edges under each node.
fn cli_doc(
    source: &str,
    nodes: &Map<String, Value>,
    top: &Map<String, Value>,
) -> Result<Doc, String> {
    let mut api_nodes = Vec::new();
    let mut edges = Vec::new();
    let mut doc_warnings = Vec::new();
    for (i, (name, n)) in nodes.iter().enumerate() {
        let Some(obj) = n.as_object() else {
            return Err(format!("{source}: node {name:?} is not a map"));
        };
        let mut data = Map::new();
        for (k, v) in obj {
            let camel = match k.as_str() {
                "is_global" => "isGlobal",
                "global_label" => "globalLabel",
                "global_description" => "globalDescription",
                "enable_global_auto_return" => "enableGlobalAutoReturn",
                "number" => "transferNumber",
                "knowledge_base_id" => "kb",
                "kb_tool" => "kbTool",
                "speech_during_kb" => "speechDuringKBPrompt",
                "extract_variables" => "extractVars",
                "extract_var_settings" => "extractVarSettings",
                "model_options" => "modelOptions",
                "dialogue_examples" => "dialogueExamples",
                "condition_examples" => "conditionExamples",
                "pathway_examples" => "pathwayExamples",
                "is_start" => "isStart",
                "edges" => {
                    let Value::Array(list) = v else {
                        return Err(format!("{source}: node {name:?}: `edges` is a list"));
                    };
                    for (j, e) in list.iter().enumerate() {
                        let target = text_of(e.get("target")).ok_or_else(|| {
                            format!("{source}: node {name:?} edges[{j}] needs a `target`")
                        })?;
                        let label = text_of(e.get("label")).or_else(|| text_of(e.get("condition")));
                        edges.push(serde_json::json!({
                            "id": format!("{name}->{target}"),
                            "source": name,
                            "target": target,
                            "data": {"label": label, "alwaysPick": e.get("always_pick").or(e.get("alwaysPick"))},
                        }));
                    }
                    continue;
                }
                other => other,
            };
            data.insert(camel.to_string(), v.clone());
        }
        data.insert("name".into(), Value::String(name.clone()));
        if i == 0
            && !nodes
                .values()
                .any(|n| truthy(n.get("isStart")) || truthy(n.get("is_start")))
        {
            data.insert("isStart".into(), Value::Bool(true));
        }
        let type_name = data
            .remove("type")
            .and_then(|t| t.as_str().map(String::from))
            .unwrap_or_else(|| "Default".into());
        api_nodes.push(serde_json::json!({"id": name, "type": type_name, "data": data}));
    }
    let global = top.get("global");
    if let Some(Value::Object(g)) = global {
        for k in g.keys() {
            if k != "prompt" {
                doc_warnings.push(format!(
                    "`global.{k}` is a voice or model setting: not simulated and ignored"
                ));
            }
        }
    }
    let mut doc = api_doc(source, &api_nodes, Some(&Value::Array(edges)))?;
    doc.global_prompt = global.and_then(|g| text_of(g.get("prompt")));
    doc.warnings.extend(doc_warnings);
    Ok(doc)
}

/// Checks what the runner relies on and warns about the rest: one start node (else the
/// first), edges between nodes that exist (others dropped), route targets that exist.
fn check(doc: &mut Doc) {
    let starts: Vec<usize> = (0..doc.nodes.len())
        .filter(|&i| doc.nodes[i].is_start)
        .collect();
    match starts.as_slice() {
        [] => {
            doc.warnings.push(format!(
                "no node has `isStart`: the first, {:?}, starts",
                doc.nodes[0].name
            ));
            doc.nodes[0].is_start = true;
        }
        [_] => {}
        [first, rest @ ..] => {
            doc.warnings.push(format!(
                "more than one node has `isStart`: {:?} starts",
                doc.nodes[*first].name
            ));
            for &i in rest {
                doc.nodes[i].is_start = false;
            }
        }
    }
    let ids: std::collections::HashSet<String> = doc.nodes.iter().map(|n| n.id.clone()).collect();
    let mut kept = Vec::new();
    for e in std::mem::take(&mut doc.edges) {
        for (end, id) in [("source", &e.source), ("target", &e.target)] {
            if !ids.contains(id) {
                doc.warnings.push(format!(
                    "edge {:?} ({}) has a {end} node {id:?} that is not in the pathway: the edge \
                     is ignored",
                    e.id,
                    e.label.as_deref().unwrap_or("no label"),
                ));
            }
        }
        if ids.contains(&e.source) && ids.contains(&e.target) {
            kept.push(e);
        }
    }
    doc.edges = kept;
    let mut warnings = Vec::new();
    for n in &mut doc.nodes {
        if let Some(w) = &mut n.webhook {
            w.routes.retain(|(var, op, value, target)| {
                let ok = ids.contains(target);
                if !ok {
                    warnings.push(format!(
                        "node {:?}: the response pathway `{var} {op} {value}` goes to node \
                         {target:?}, which is not in the pathway: it is ignored",
                        n.name
                    ));
                }
                ok
            });
        }
    }
    doc.warnings.extend(warnings);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_by_type_and_by_rule() {
        assert_eq!(
            extract_value("integer", "It's 12345678, thanks", None),
            Some(json!(12345678))
        );
        assert_eq!(
            extract_value("number", "about 4.5 hours", None),
            Some(json!(4.5))
        );
        assert_eq!(
            extract_value("boolean", "Yeah, that's right", None),
            Some(json!(true))
        );
        assert_eq!(extract_value("boolean", "nope", None), Some(json!(false)));
        assert_eq!(extract_value("boolean", "maybe later", None), None);
        assert_eq!(extract_value("integer", "no digits", None), None);
        assert_eq!(
            extract_value("string", "  Downie ", None),
            Some(json!("Downie"))
        );
        let re = regex::Regex::new(r"(?i)order (\w+)").unwrap();
        assert_eq!(
            extract_value("string", "ORDER ab12", Some(&re)),
            Some(json!("ab12"))
        );
        // A rule's value typed as declared; one that does not read as the type stays text.
        let digits = regex::Regex::new(r"#(\S+)").unwrap();
        assert_eq!(
            extract_value("integer", "#0042", Some(&digits)),
            Some(json!(42))
        );
        assert_eq!(
            extract_value("integer", "#A42", Some(&digits)),
            Some(json!("A42"))
        );
        // Larger than an i64: kept as the digits.
        assert_eq!(
            extract_value("integer", "99999999999999999999", None),
            Some(json!("99999999999999999999"))
        );
    }

    #[test]
    fn the_cli_form_reads_as_the_api_form() {
        let yaml = "name: Demo\nglobal:\n  prompt: Be brief.\n  voice: nat\nnodes:\n  Hello:\n    type: default\n    prompt: Greet.\n    edges:\n      - target: Bye\n        condition: done\n  Human:\n    type: Transfer Number\n    is_global: true\n    global_label: wants a human\n    number: \"+15550009999\"\n  Bye:\n    type: end_call\n    text: Bye!\n";
        let doc = read("demo.yaml", yaml, true).unwrap();
        assert_eq!(doc.name.as_deref(), Some("Demo"));
        assert_eq!(doc.global_prompt.as_deref(), Some("Be brief."));
        let ids: Vec<&str> = doc.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["Hello", "Human", "Bye"]);
        assert!(doc.nodes[0].is_start && !doc.nodes[2].is_start);
        assert_eq!(doc.nodes[1].kind, Kind::Transfer);
        assert_eq!(doc.nodes[1].global_label.as_deref(), Some("wants a human"));
        assert_eq!(
            doc.nodes[1].transfer_number.as_deref(),
            Some("+15550009999")
        );
        assert_eq!(doc.nodes[2].kind, Kind::EndCall);
        assert_eq!(doc.edges.len(), 1);
        assert_eq!(
            (doc.edges[0].source.as_str(), doc.edges[0].target.as_str()),
            ("Hello", "Bye")
        );
        assert_eq!(doc.edges[0].label.as_deref(), Some("done"));
        assert_eq!(
            doc.warnings,
            ["`global.voice` is a voice or model setting: not simulated and ignored"]
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_not_expanded() {
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\nnodes: *f\n";
        let e = read("bomb.yaml", bomb, true).unwrap_err();
        assert!(e.starts_with("bomb.yaml: "), "{e}");
    }
}
