//! The conversation list's filters (§3.6), parsed once per request into typed [`Filter`]s:
//! `{field, operator, value}` objects in either of Bland's operator vocabularies. A filter with
//! an unknown field or operator is dropped, as Bland ignores it.

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::base::clock::parse_iso;
use crate::base::error::ApiError;
use crate::state::model::{Conversation, ConversationStatus, Row};

/// A conversation field the list can filter or sort on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Id,
    CreatedAt,
    UpdatedAt,
    LastMessageAt,
    TimedOutAt,
    UserNumber,
    AgentNumber,
    IsActive,
    MessageCount,
    Variables,
    CurrentNodeId,
    CurrPathwayId,
    CurrPathwayVersion,
    CitationVariables,
    DispositionLogs,
    Status,
    Channel,
    PathwayTags,
}

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        if name == "conversation_id" {
            return Some(Field::Id);
        }
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Every field.
    const ALL: [Field; 18] = {
        use Field::*;
        [
            Id,
            CreatedAt,
            UpdatedAt,
            LastMessageAt,
            TimedOutAt,
            UserNumber,
            AgentNumber,
            IsActive,
            MessageCount,
            Variables,
            CurrentNodeId,
            CurrPathwayId,
            CurrPathwayVersion,
            CitationVariables,
            DispositionLogs,
            Status,
            Channel,
            PathwayTags,
        ]
    };

    /// The fields a list may be sorted by.
    pub const SORTABLE: [Field; 10] = [
        Field::CreatedAt,
        Field::UpdatedAt,
        Field::LastMessageAt,
        Field::UserNumber,
        Field::AgentNumber,
        Field::IsActive,
        Field::MessageCount,
        Field::CurrPathwayId,
        Field::CurrPathwayVersion,
        Field::TimedOutAt,
    ];

    /// The name the API uses (`id` also answers to `conversation_id`).
    pub fn name(self) -> &'static str {
        use Field::*;
        match self {
            Id => "id",
            CreatedAt => "created_at",
            UpdatedAt => "updated_at",
            LastMessageAt => "last_message_at",
            TimedOutAt => "timed_out_at",
            UserNumber => "user_number",
            AgentNumber => "agent_number",
            IsActive => "is_active",
            MessageCount => "message_count",
            Variables => "variables",
            CurrentNodeId => "current_node_id",
            CurrPathwayId => "curr_pathway_id",
            CurrPathwayVersion => "curr_pathway_version",
            CitationVariables => "citation_variables",
            DispositionLogs => "disposition_logs",
            Status => "status",
            Channel => "channel",
            PathwayTags => "pathway_tags",
        }
    }

    fn is_date(self) -> bool {
        use Field::*;
        matches!(self, CreatedAt | UpdatedAt | LastMessageAt | TimedOutAt)
    }

    /// A text field's value in place; `None` for the other fields, for `null`, and for a field
    /// the source does not hold.
    fn text<S: Source>(self, s: &S) -> Option<&str> {
        use Field::*;
        match self {
            Id => Some(s.id()),
            UserNumber => Some(s.user_number()),
            Status => Some(s.status().as_str()),
            _ => {
                let c = s.record()?;
                match self {
                    AgentNumber => Some(&c.agent_number),
                    CurrentNodeId => c.current_node_id.as_deref(),
                    CurrPathwayId => c.details.curr_pathway_id.as_deref(),
                    CurrPathwayVersion => c.details.curr_pathway_version.as_deref(),
                    Channel => Some(c.channel_name()),
                    _ => None,
                }
            }
        }
    }

    /// A sortable field's value, compared as [`Field::get`]'s value would be by [`cmp`];
    /// `None` for `null`.
    pub fn sort_key<S: Source>(self, s: &S) -> Option<SortKey> {
        use Field::*;
        Some(match self {
            CreatedAt => SortKey::Int(s.created_at()),
            UpdatedAt => SortKey::Int(s.updated_at()),
            LastMessageAt => SortKey::Int(s.last_message_at()?),
            TimedOutAt => SortKey::Int(s.timed_out_at()?),
            IsActive => SortKey::Bool(s.is_active()),
            MessageCount => SortKey::Int(s.message_count() as i64),
            _ => SortKey::Text(self.text(s)?.to_string()),
        })
    }

    /// Whether a conversation's list row holds the field.
    pub fn on_row(self) -> bool {
        use Field::*;
        matches!(
            self,
            Id | CreatedAt
                | UpdatedAt
                | LastMessageAt
                | TimedOutAt
                | UserNumber
                | IsActive
                | MessageCount
                | Status
        )
    }

    /// The field's value; dates as milliseconds. `None` for a field the source does not hold.
    pub fn get<S: Source>(self, s: &S) -> Option<Value> {
        use Field::*;
        let opt = |t: Option<i64>| t.map(Value::from).unwrap_or(Value::Null);
        Some(match self {
            Id => json!(s.id()),
            CreatedAt => json!(s.created_at()),
            UpdatedAt => json!(s.updated_at()),
            LastMessageAt => opt(s.last_message_at()),
            TimedOutAt => opt(s.timed_out_at()),
            UserNumber => json!(s.user_number()),
            IsActive => json!(s.is_active()),
            MessageCount => json!(s.message_count()),
            Status => json!(s.status().as_str()),
            _ => {
                let c = s.record()?;
                match self {
                    AgentNumber => json!(c.agent_number),
                    Variables => json!(c.variables),
                    CurrentNodeId => json!(c.current_node_id),
                    CurrPathwayId => json!(c.details.curr_pathway_id),
                    CurrPathwayVersion => json!(c.details.curr_pathway_version),
                    CitationVariables => json!(c.details.citation_variables),
                    DispositionLogs => json!(c.outcomes.disposition_logs),
                    Channel => json!(c.channel_name()),
                    _ => json!([]), // PathwayTags
                }
            }
        })
    }

    /// A filter value in the field's terms: dates to ms, numeric strings to numbers, "true" to
    /// true.
    fn coerce(self, v: &Value) -> Value {
        match v {
            Value::String(s) if self.is_date() => {
                parse_iso(s).map(Value::from).unwrap_or(v.clone())
            }
            Value::String(s) if self == Field::MessageCount => {
                s.parse::<f64>().map(Value::from).unwrap_or(v.clone())
            }
            Value::String(s) if self == Field::IsActive => match s.as_str() {
                "true" => json!(true),
                "false" => json!(false),
                _ => v.clone(),
            },
            _ => v.clone(),
        }
    }

    fn equals(self, actual: &Value, want: &Value) -> bool {
        if self.is_date() {
            // Dates compare by whole (UTC) day.
            let day = |v: &Value| v.as_i64().map(|ms| ms.div_euclid(86_400_000));
            return day(actual).is_some() && day(actual) == day(want);
        }
        match (actual, want) {
            (Value::String(a), Value::String(w))
                if matches!(self, Field::Channel | Field::Status) =>
            {
                a.eq_ignore_ascii_case(w)
            }
            _ => cmp(actual, want) == Some(Ordering::Equal) || actual == want,
        }
    }
}

/// Orders two values of one field; `None` when they do not compare.
pub(crate) fn cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// What a field is read from: a conversation's record, or its list row, which holds only the
/// fields [`Field::on_row`] names (`record()` is `None` for a row).
pub(crate) trait Source {
    fn id(&self) -> &str;
    fn user_number(&self) -> &str;
    fn created_at(&self) -> i64;
    fn updated_at(&self) -> i64;
    fn last_message_at(&self) -> Option<i64>;
    fn timed_out_at(&self) -> Option<i64>;
    fn is_active(&self) -> bool;
    fn message_count(&self) -> usize;
    fn status(&self) -> ConversationStatus;
    fn record(&self) -> Option<&Conversation>;
}

impl Source for Conversation {
    fn id(&self) -> &str {
        &self.id
    }
    fn user_number(&self) -> &str {
        &self.user_number
    }
    fn created_at(&self) -> i64 {
        self.created_at
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
    fn last_message_at(&self) -> Option<i64> {
        self.last_message_at
    }
    fn timed_out_at(&self) -> Option<i64> {
        self.timed_out_at
    }
    fn is_active(&self) -> bool {
        self.is_active
    }
    fn message_count(&self) -> usize {
        Conversation::message_count(self)
    }
    fn status(&self) -> ConversationStatus {
        Conversation::status(self)
    }
    fn record(&self) -> Option<&Conversation> {
        Some(self)
    }
}

impl Source for Row {
    fn id(&self) -> &str {
        &self.id
    }
    fn user_number(&self) -> &str {
        Row::user_number(self)
    }
    fn created_at(&self) -> i64 {
        Row::created_at(self)
    }
    fn updated_at(&self) -> i64 {
        Row::updated_at(self)
    }
    fn last_message_at(&self) -> Option<i64> {
        Row::last_message_at(self)
    }
    fn timed_out_at(&self) -> Option<i64> {
        Row::timed_out_at(self)
    }
    fn is_active(&self) -> bool {
        Row::is_active(self)
    }
    fn message_count(&self) -> usize {
        Row::message_count(self)
    }
    fn status(&self) -> ConversationStatus {
        Row::status(self)
    }
    fn record(&self) -> Option<&Conversation> {
        None
    }
}

/// A sortable field's value (all of one field's keys are of one kind).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortKey {
    Int(i64),
    Bool(bool),
    Text(String),
}

/// A filter operator, in both of Bland's vocabularies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Not,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    IsEmpty,
    IsNotEmpty,
    HasSome,
    HasEvery,
    None,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        use Op::*;
        Some(match s {
            "eq" | "equals" => Eq,
            "not" | "neq" => Not,
            "in" => In,
            "notIn" => NotIn,
            "contains" => Contains,
            "startsWith" => StartsWith,
            "endsWith" => EndsWith,
            "gt" => Gt,
            "gte" => Gte,
            "lt" => Lt,
            "lte" => Lte,
            "isEmpty" => IsEmpty,
            "isNotEmpty" => IsNotEmpty,
            "hasSome" => HasSome,
            "hasEvery" => HasEvery,
            "none" => None,
            _ => return Option::None,
        })
    }
}

/// One parsed filter, its value coerced once into the field's terms.
pub(crate) struct Filter {
    field: Field,
    op: Op,
    raw: Value,
    want: Value,
    /// `in`/`notIn`: the values, coerced.
    list: Vec<Value>,
    /// `hasSome`/`hasEvery`/`none`: the items the value names.
    items: Vec<(String, Value)>,
}

impl Filter {
    /// A filter object; `Err` says what makes Bland ignore it (an unknown field or operator).
    fn parse(f: &Value) -> Result<Filter, String> {
        let name = f.get("field").and_then(Value::as_str).unwrap_or_default();
        let op_name = f
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let field = Field::parse(name).ok_or_else(|| format!("{name:?} (no such field)"))?;
        let op = Op::parse(op_name)
            .ok_or_else(|| format!("{op_name:?} on {name:?} (no such operator)"))?;
        let raw = f.get("value").cloned().unwrap_or(Value::Null);
        let list = match &raw {
            Value::Array(a) => a.iter().map(|x| field.coerce(x)).collect(),
            other => vec![field.coerce(other)],
        };
        Ok(Filter {
            field,
            op,
            want: field.coerce(&raw),
            items: items(&raw),
            list,
            raw,
        })
    }

    /// Whether conversation `c` passes.
    pub fn test<S: Source>(&self, s: &S) -> bool {
        self.test_value(self.field.text(s), || {
            self.field.get(s).unwrap_or(Value::Null)
        })
    }

    /// Whether the row can judge this filter.
    pub fn on_row(&self) -> bool {
        self.field.on_row()
    }

    /// The test over a field's value: `text` when it is text (read in place), else `get`.
    fn test_value(&self, text: Option<&str>, get: impl FnOnce() -> Value) -> bool {
        // Text operators on a text field read it in place (no copy per row).
        if let (Op::Contains | Op::StartsWith | Op::EndsWith, Some(a), Value::String(w)) =
            (self.op, text, &self.raw)
        {
            return match self.op {
                Op::Contains => a.contains(w.as_str()),
                Op::StartsWith => a.starts_with(w.as_str()),
                _ => a.ends_with(w.as_str()),
            };
        }
        let actual = get();
        let text = |g: fn(&str, &str) -> bool| match (&actual, &self.raw) {
            (Value::String(a), Value::String(w)) => g(a, w),
            _ => false,
        };
        let order = || cmp(&actual, &self.want);
        let eq = |w: &Value| self.field.equals(&actual, w);
        let held = |(k, v): &(String, Value)| holds(&actual, (k, v));
        match self.op {
            Op::Eq => eq(&self.want),
            Op::Not => !eq(&self.want),
            Op::In => self.list.iter().any(eq),
            Op::NotIn => !self.list.iter().any(eq),
            Op::Contains => text(|a, w| a.contains(w)),
            Op::StartsWith => text(|a, w| a.starts_with(w)),
            Op::EndsWith => text(|a, w| a.ends_with(w)),
            Op::Gt => order() == Some(Ordering::Greater),
            Op::Gte => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt => order() == Some(Ordering::Less),
            Op::Lte => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
            Op::IsEmpty => is_empty(&actual),
            Op::IsNotEmpty => !is_empty(&actual),
            Op::HasSome => self.items.iter().any(held),
            Op::HasEvery => self.items.iter().all(held),
            Op::None => !self.items.iter().any(held),
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Whether `actual` (an object or array field) holds the item `(k, v)` or the plain value.
fn holds(actual: &Value, item: (&str, &Value)) -> bool {
    let (k, v) = item;
    match actual {
        Value::Object(m) => m.get(k).is_some_and(|x| v.is_null() || x == v),
        Value::Array(a) => a.iter().any(|e| holds(e, item) || (k.is_empty() && e == v)),
        _ => false,
    }
}

/// The items a `hasSome`/`hasEvery`/`none` value names: object pairs, or plain array values.
fn items(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(m) => m.iter().map(|(k, x)| (k.clone(), x.clone())).collect(),
        Value::Array(a) => a.iter().flat_map(items_of_one).collect(),
        other => vec![(String::new(), other.clone())],
    }
}

fn items_of_one(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(_) => items(v),
        other => vec![(String::new(), other.clone())],
    }
}

/// The `filters` (or repeated `filters[]`) query parameters: each a JSON array of filter
/// objects, or one object.
///
/// Returns the filters and what was ignored in them (an unknown field or operator).
///
/// # Errors
/// 400 `INVALID_PARAMETER` for a value that is not such JSON.
pub(crate) fn parse_filters(
    pairs: &[(String, String)],
) -> Result<(Vec<Filter>, Vec<String>), ApiError> {
    let mut raw = Vec::new();
    for (k, v) in pairs {
        if (k != "filters" && k != "filters[]") || v.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(v) {
            Ok(Value::Array(a)) => raw.extend(a),
            Ok(o @ Value::Object(_)) => raw.push(o),
            _ => {
                return Err(ApiError::invalid(
                    "filters must be a JSON array of {field, operator, value} objects",
                ))
            }
        }
    }
    if raw.iter().any(|f| !f.is_object()) {
        return Err(ApiError::invalid(
            "each filter must be a {field, operator, value} object",
        ));
    }
    let (mut filters, mut ignored) = (Vec::new(), Vec::new());
    for f in &raw {
        match Filter::parse(f) {
            Ok(f) => filters.push(f),
            Err(why) => ignored.push(why),
        }
    }
    Ok((filters, ignored))
}
