//! `GET /v1/sms/conversations` (§3.6). Two parameter sets are accepted:
//! - live docs: `page`, `pageSize`, `sortBy`, `sortDir` → `extra.pagination`
//!   `{totalItems,totalPages,currentPage,pageSize}`;
//! - detailed revision: `limit`, `from`, `sort_by`, `ascending`, `mode` → top-level
//!   `pagination` `{totalItems,limit,from,hasMore}`.
//!
//! `filters` is a JSON array of `{field, operator, value}` (or repeated `filters[]=<json>`);
//! both operator vocabularies work, and unknown fields or operators are ignored, as Bland does.

use std::cmp::Ordering;

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::app::App;
use crate::body::Reply;
use crate::clock::parse_iso;
use crate::error::{ApiError, ApiResult};
use crate::model::Conversation;
use crate::routes::Req;

/// Largest page.
pub const MAX_PAGE: usize = 1000;

const DATE_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "last_message_at",
    "timed_out_at",
];

/// A conversation field as a JSON value; dates as milliseconds. `None` for unknown fields.
fn field(c: &Conversation, name: &str) -> Option<Value> {
    let opt = |t: Option<i64>| t.map(Value::from).unwrap_or(Value::Null);
    Some(match name {
        "id" | "conversation_id" => json!(c.id),
        "created_at" => json!(c.created_at),
        "updated_at" => json!(c.updated_at),
        "last_message_at" => opt(c.last_message_at),
        "timed_out_at" => opt(c.timed_out_at),
        "user_number" => json!(c.user_number),
        "agent_number" => json!(c.agent_number),
        "is_active" => json!(c.is_active),
        "message_count" => json!(c.message_count()),
        "variables" => json!(c.variables),
        "current_node_id" => json!(c.current_node_id),
        "curr_pathway_id" => json!(c.curr_pathway_id),
        "curr_pathway_version" => json!(c.curr_pathway_version),
        "citation_variables" => json!(c.citation_variables),
        "disposition_logs" => Value::Array(c.disposition_logs.clone()),
        "status" => json!(c.status()),
        "channel" => json!(c.channel.as_str()),
        "pathway_tags" => json!([]),
        _ => return None,
    })
}

/// A filter value in the field's terms: dates to ms, numeric strings to numbers, "true" to true.
fn coerce(name: &str, v: &Value) -> Value {
    match v {
        Value::String(s) if DATE_FIELDS.contains(&name) => {
            parse_iso(s).map(Value::from).unwrap_or(v.clone())
        }
        Value::String(s) if name == "message_count" => {
            s.parse::<f64>().map(Value::from).unwrap_or(v.clone())
        }
        Value::String(s) if name == "is_active" => match s.as_str() {
            "true" => json!(true),
            "false" => json!(false),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

fn cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equals(name: &str, actual: &Value, want: &Value) -> bool {
    if DATE_FIELDS.contains(&name) {
        // Dates compare by whole (UTC) day.
        let day = |v: &Value| v.as_i64().map(|ms| ms.div_euclid(86_400_000));
        return day(actual).is_some() && day(actual) == day(want);
    }
    match (actual, want) {
        (Value::String(a), Value::String(w)) if name == "channel" || name == "status" => {
            a.eq_ignore_ascii_case(w)
        }
        _ => cmp(actual, want) == Some(Ordering::Equal) || actual == want,
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

/// `Some(result)` for a known field and operator; `None` means "ignore this filter".
fn test(c: &Conversation, f: &Value) -> Option<bool> {
    let name = f.get("field")?.as_str()?;
    let op = f.get("operator")?.as_str()?;
    let actual = field(c, name)?;
    let raw = f.get("value").cloned().unwrap_or(Value::Null);
    let want = coerce(name, &raw);
    let text = |g: fn(&str, &str) -> bool| match (&actual, &raw) {
        (Value::String(a), Value::String(w)) => g(a, w),
        _ => false,
    };
    let list = || match &raw {
        Value::Array(a) => a.iter().map(|x| coerce(name, x)).collect::<Vec<_>>(),
        other => vec![coerce(name, other)],
    };
    let order = || cmp(&actual, &want);
    Some(match op {
        "eq" | "equals" => equals(name, &actual, &want),
        "not" | "neq" => !equals(name, &actual, &want),
        "in" => list().iter().any(|w| equals(name, &actual, w)),
        "notIn" => !list().iter().any(|w| equals(name, &actual, w)),
        "contains" => text(|a, w| a.contains(w)),
        "startsWith" => text(|a, w| a.starts_with(w)),
        "endsWith" => text(|a, w| a.ends_with(w)),
        "gt" => order() == Some(Ordering::Greater),
        "gte" => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        "lt" => order() == Some(Ordering::Less),
        "lte" => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        "isEmpty" => is_empty(&actual),
        "isNotEmpty" => !is_empty(&actual),
        "hasSome" => items(&raw).iter().any(|(k, v)| holds(&actual, (k, v))),
        "hasEvery" => items(&raw).iter().all(|(k, v)| holds(&actual, (k, v))),
        "none" => !items(&raw).iter().any(|(k, v)| holds(&actual, (k, v))),
        _ => return None,
    })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_PARAMETER", msg)
}

fn parse_filters(pairs: &[(String, String)]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        if k != "filters" && k != "filters[]" {
            continue;
        }
        if v.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(v) {
            Ok(Value::Array(a)) => out.extend(a),
            Ok(o @ Value::Object(_)) => out.push(o),
            _ => {
                return Err(bad(
                    "filters must be a JSON array of {field, operator, value} objects",
                ))
            }
        }
    }
    for f in &out {
        if !f.is_object() {
            return Err(bad("each filter must be a {field, operator, value} object"));
        }
    }
    Ok(out)
}

fn number(pairs: &[(String, String)], name: &str) -> Result<Option<usize>, ApiError> {
    match pairs.iter().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, v)) => v
            .parse::<usize>()
            .map(Some)
            .map_err(|_| bad(format!("{name} must be a non-negative integer, got {v:?}"))),
    }
}

pub fn list(app: &App, req: &Req, key: &str) -> ApiResult {
    let q = req.query_pairs();
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let offset_style = ["limit", "from", "sort_by", "ascending", "mode"]
        .iter()
        .any(|k| get(k).is_some());
    let filters = parse_filters(&q)?;
    let any_mode = match get("mode") {
        None => false,
        Some(m) if m.eq_ignore_ascii_case("and") => false,
        Some(m) if m.eq_ignore_ascii_case("or") => true,
        Some(m) => return Err(bad(format!("mode must be AND or OR, got {m:?}"))),
    };
    let sort_key = get("sort_by").or(get("sortBy")).unwrap_or("created_at");
    let sortable = [
        "created_at",
        "updated_at",
        "last_message_at",
        "user_number",
        "agent_number",
        "is_active",
        "message_count",
        "curr_pathway_id",
        "curr_pathway_version",
        "timed_out_at",
    ];
    if !sortable.contains(&sort_key) {
        return Err(bad(format!(
            "cannot sort by {sort_key:?}; use one of {}",
            sortable.join(", ")
        )));
    }
    let ascending = match (get("ascending"), get("sortDir")) {
        (Some("true"), _) => true,
        (Some("false"), _) | (None, None) => false,
        (Some(v), _) => return Err(bad(format!("ascending must be true or false, got {v:?}"))),
        (None, Some(d)) if d.eq_ignore_ascii_case("asc") => true,
        (None, Some(d)) if d.eq_ignore_ascii_case("desc") => false,
        (None, Some(d)) => return Err(bad(format!("sortDir must be asc or desc, got {d:?}"))),
    };

    // The window, in either parameter style.
    let (skip, take, pagination) = if offset_style {
        let limit = number(&q, "limit")?.unwrap_or(MAX_PAGE);
        if limit > MAX_PAGE {
            return Err(bad(format!("limit must be at most {MAX_PAGE}")));
        }
        let from = number(&q, "from")?.unwrap_or(0);
        (from, limit, Window::Offset { limit, from })
    } else {
        let page = number(&q, "page")?.unwrap_or(1);
        let size = number(&q, "pageSize")?.unwrap_or(25);
        if page == 0 {
            return Err(bad("page starts at 1"));
        }
        if size == 0 || size > MAX_PAGE {
            return Err(bad(format!("pageSize must be between 1 and {MAX_PAGE}")));
        }
        (
            (page - 1).saturating_mul(size),
            size,
            Window::Page { page, size },
        )
    };

    let (total, page_ids) = if filters.is_empty() && sort_key == "created_at" {
        // Creation order is created_at order (the clock never runs backwards): no scan, no sort.
        app.store.conversation_ids_page(key, skip, take, !ascending)
    } else {
        // (sort key, creation sequence, id); ties keep creation order.
        let mut rows: Vec<(Value, usize, String)> = Vec::new();
        for (seq, id) in app.store.conversation_ids(key).into_iter().enumerate() {
            let row = app.store.with_conversation(Some(key), &id, |c| {
                let results: Vec<bool> = filters.iter().filter_map(|f| test(c, f)).collect();
                let keep = results.is_empty()
                    || if any_mode {
                        results.iter().any(|b| *b)
                    } else {
                        results.iter().all(|b| *b)
                    };
                keep.then(|| field(c, sort_key).unwrap_or(Value::Null))
            });
            if let Some(Some(k)) = row {
                rows.push((k, seq, id));
            }
        }
        rows.sort_by(|a, b| {
            let o = match (a.0.is_null(), b.0.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => cmp(&a.0, &b.0).unwrap_or(Ordering::Equal),
            };
            let o = o.then(a.1.cmp(&b.1));
            if ascending {
                o
            } else {
                o.reverse()
            }
        });
        let total = rows.len();
        (
            total,
            rows.into_iter()
                .skip(skip)
                .take(take)
                .map(|r| r.2)
                .collect(),
        )
    };
    // Only the rows of the page are rendered.
    let data: Vec<Value> = page_ids
        .iter()
        .filter_map(|id| app.store.conversation(key, id).map(|c| c.list_json()))
        .collect();
    let body = match pagination {
        Window::Offset { limit, from } => json!({
            "data": data,
            "errors": null,
            "pagination": {"totalItems": total, "limit": limit, "from": from, "hasMore": from.saturating_add(limit) < total},
        }),
        Window::Page { page, size } => json!({
            "data": data,
            "errors": null,
            "extra": {"pagination": {
                "totalItems": total,
                "totalPages": total.div_ceil(size),
                "currentPage": page,
                "pageSize": size,
            }},
        }),
    };
    Ok(Reply::new(StatusCode::OK, body))
}

/// Which pagination the request asked for.
enum Window {
    Offset { limit: usize, from: usize },
    Page { page: usize, size: usize },
}
