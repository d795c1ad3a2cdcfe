//! A Webhook node's request, checked: its templates parsed, its `responseData` JSON paths
//! compiled (RFC 9535, by `serde_json_path`), its `responsePathways` and its edges' variable
//! conditions as [`Cond`]s. The engine renders and sends it; [`Call::route`] picks where the
//! answer leads.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::scenario::template::{value_text, Template};

/// Longest a node's request may take, whatever its `timeoutValue` says.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
/// What a node waits when it sets no timeout (Bland's dashboard: 10 seconds).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// A comparison of a variable with a value, as `responsePathways` and edge labels write them.
#[derive(Clone, Debug)]
pub struct Cond {
    pub var: String,
    pub op: Op,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Contains,
    NotContains,
    IsNull,
    NotNull,
    /// Bland's "Default/Webhook Completion" row: true when the request got an answer.
    Completed,
}

impl Op {
    /// The operator written `op` with value `value` (`is` takes `null` or `not null`).
    pub fn parse(op: &str, value: &str) -> Option<Op> {
        let v = value.trim().to_lowercase();
        Some(match op.trim().to_lowercase().as_str() {
            "==" | "=" | "equals" | "is equal to" => Op::Eq,
            "!=" | "not equals" | "is not equal to" => Op::Ne,
            ">" | "greater than" => Op::Gt,
            "<" | "less than" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "contains" => Op::Contains,
            "does not contain" | "not contains" => Op::NotContains,
            "is" if v == "null" || v == "empty" => Op::IsNull,
            "is" if v == "not null" || v == "not empty" => Op::NotNull,
            "is not" if v == "null" => Op::NotNull,
            "is null" => Op::IsNull,
            "is not null" => Op::NotNull,
            _ => return None,
        })
    }
}

impl Cond {
    /// A condition written as an edge label: `code == 0000`, `netDue is not null`.
    pub fn from_label(label: &str) -> Option<Cond> {
        let label = label.trim();
        for op in [" is not null", " is null"] {
            if let Some(var) = label.strip_suffix(op).filter(|v| is_var(v)) {
                let op = Op::parse(op.trim(), "").expect("listed");
                return Some(Cond {
                    var: var.trim().into(),
                    op,
                    value: String::new(),
                });
            }
        }
        for op in ["==", "!=", ">=", "<=", ">", "<", " contains "] {
            if let Some((var, value)) = label.split_once(op) {
                if is_var(var) && !value.trim().is_empty() {
                    return Some(Cond {
                        var: var.trim().into(),
                        op: Op::parse(op, value).expect("listed"),
                        value: unquote(value.trim()).into(),
                    });
                }
            }
        }
        None
    }

    /// Whether the condition holds for `value` of its variable (`None`: unset or null), after a
    /// request that got an answer (`completed`).
    pub fn holds(&self, value: Option<&Value>, completed: bool) -> bool {
        let text = value.and_then(value_text);
        let want = self.value.trim();
        let num = |s: &str| s.trim().parse::<f64>().ok();
        let cmp = |f: fn(f64, f64) -> bool| match (text.as_deref().and_then(num), num(want)) {
            (Some(a), Some(b)) => f(a, b),
            _ => false,
        };
        match self.op {
            Op::Completed => completed,
            Op::IsNull => text.is_none(),
            Op::NotNull => text.is_some(),
            Op::Eq => equal(text.as_deref(), want),
            Op::Ne => !equal(text.as_deref(), want),
            Op::Gt => cmp(|a, b| a > b),
            Op::Lt => cmp(|a, b| a < b),
            Op::Ge => cmp(|a, b| a >= b),
            Op::Le => cmp(|a, b| a <= b),
            Op::Contains => text.is_some_and(|t| t.to_lowercase().contains(&want.to_lowercase())),
            Op::NotContains => {
                !text.is_some_and(|t| t.to_lowercase().contains(&want.to_lowercase()))
            }
        }
    }
}

/// Equal as text (either case), as numbers when both are, and `null` equal to unset.
fn equal(text: Option<&str>, want: &str) -> bool {
    let Some(t) = text else {
        return want.eq_ignore_ascii_case("null");
    };
    if t.eq_ignore_ascii_case(want) {
        return true;
    }
    match (t.trim().parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_var(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s)
}

/// Where an answer goes when a condition holds.
#[derive(Clone, Debug)]
pub struct Route {
    pub cond: Cond,
    pub target: String,
}

/// A Webhook node's request and routes.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: hyper::Method,
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub body: Option<Template>,
    pub response_data: Vec<(String, JsonPath)>,
    /// `responsePathways`, in order: the last that holds is taken (as Bland documents).
    pub routes: Vec<Route>,
    /// The node's edges whose label is a condition (`code == 0000`), in order: the first that
    /// holds is taken when no response pathway did.
    pub edge_routes: Vec<Route>,
    /// The node's `alwaysPick` edge, or its only edge that is not a condition.
    pub next: Option<String>,
    /// An edge labelled as the way on when the request fails (`error`, `failed`).
    pub on_error: Option<String>,
    pub timeout_ms: u64,
    /// The overlay's answer, given instead of making the request.
    pub canned: Option<Value>,
}

impl Call {
    /// The variables the answer `body` sets: each `responseData` path's first match (null when
    /// none matches or there is no body).
    pub fn extract(&self, body: Option<&Value>) -> Vec<(String, Value)> {
        self.response_data
            .iter()
            .map(|(name, path)| {
                let v = body
                    .and_then(|b| path.query(b).first().cloned())
                    .unwrap_or(Value::Null);
                (name.clone(), v)
            })
            .collect()
    }

    /// Where the answer leads, reading variables through `get`: with no answer at all, the
    /// error edge first; then a completion row, the last response pathway that holds (as
    /// Bland documents; with no answer the variables are null, as Bland's status 0), the
    /// first edge condition that holds, the error edge after a status of 400 or more, and
    /// the node's way on.
    pub fn route<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a Value>,
        status: Option<u16>,
    ) -> Option<(&str, String)> {
        let completed = status.is_some();
        if let (false, Some(t)) = (completed, &self.on_error) {
            return Some((t, "the error edge".into()));
        }
        if let Some(r) = self
            .routes
            .iter()
            .find(|r| r.cond.op == Op::Completed && completed)
        {
            return Some((&r.target, "the request completed".into()));
        }
        if let Some(r) = self
            .routes
            .iter()
            .rev()
            .find(|r| r.cond.holds(get(&r.cond.var), completed))
        {
            return Some((&r.target, describe(&r.cond, "response pathway")));
        }
        if let Some(r) = self
            .edge_routes
            .iter()
            .find(|r| r.cond.holds(get(&r.cond.var), completed))
        {
            return Some((&r.target, describe(&r.cond, "edge")));
        }
        if let (true, Some(t)) = (status.is_some_and(|s| s >= 400), &self.on_error) {
            return Some((t, "the error edge".into()));
        }
        self.next
            .as_deref()
            .map(|t| (t, "the node's edge".to_string()))
    }
}

fn describe(c: &Cond, what: &str) -> String {
    let op = match c.op {
        Op::Eq => "==",
        Op::Ne => "!=",
        Op::Gt => ">",
        Op::Lt => "<",
        Op::Ge => ">=",
        Op::Le => "<=",
        Op::Contains => "contains",
        Op::NotContains => "does not contain",
        Op::IsNull => "is null",
        Op::NotNull => "is not null",
        Op::Completed => "completed",
    };
    format!("{what} `{} {op} {}`", c.var, c.value).replace("  ", " ")
}

/// A node's `timeoutValue` in milliseconds: seconds as the dashboard writes them, and a value
/// of 1000 or more read as milliseconds; capped at [`MAX_TIMEOUT_MS`].
pub fn timeout_ms(v: Option<f64>) -> u64 {
    let ms = match v {
        Some(x) if x > 0.0 && x < 1000.0 => x * 1000.0,
        Some(x) if x >= 1000.0 => x,
        _ => DEFAULT_TIMEOUT_MS as f64,
    };
    (ms as u64).min(MAX_TIMEOUT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_operators() {
        let c = Cond::from_label("code == 0000").unwrap();
        assert_eq!(
            (c.var.as_str(), c.op, c.value.as_str()),
            ("code", Op::Eq, "0000")
        );
        assert!(c.holds(Some(&json!("0000")), true));
        assert!(!c.holds(Some(&json!("INVALID_RA_ID")), true));
        let c = Cond::from_label("netDue is not null").unwrap();
        assert!(c.holds(Some(&json!(12.5)), true) && !c.holds(None, true));
        let c = Cond::from_label("counterSystemError != Success").unwrap();
        assert!(c.holds(None, true) && !c.holds(Some(&json!("success")), true));
        assert!(Cond::from_label("The user wants to talk to an agent.").is_none());
        let gt = Cond {
            var: "n".into(),
            op: Op::parse(">", "3").unwrap(),
            value: "3".into(),
        };
        assert!(gt.holds(Some(&json!(4)), true) && !gt.holds(Some(&json!("x")), true));
        assert_eq!(Op::parse("is", "not null"), Some(Op::NotNull));
    }

    #[test]
    fn timeouts_are_seconds_unless_large() {
        assert_eq!(timeout_ms(Some(10.0)), 10_000);
        assert_eq!(timeout_ms(Some(20000.0)), 20_000);
        assert_eq!(timeout_ms(None), DEFAULT_TIMEOUT_MS);
        assert_eq!(timeout_ms(Some(600.0)), MAX_TIMEOUT_MS);
    }
}
