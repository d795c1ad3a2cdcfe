//! Expected against actual JSON, and `{{name}}` variables in a script's values.
//!
//! An expected object matches an actual object that has at least its keys, each matching; an
//! expected array matches an array of the same length, item by item; anything else must be
//! equal. An object with one `$` key is a matcher instead: `{"$contains": "text"}`,
//! `{"$regex": "pattern"}`, `{"$any": true}` (present, any value) or `{"$len": n}` (an array
//! or string of that length).

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Where a mismatch is (`root.data.messages[2].message`), what was expected and what was
/// there.
pub(crate) fn check(root: &str, expected: &Value, actual: &Value) -> Result<(), Vec<String>> {
    let mut diffs = Vec::new();
    walk(expected, actual, root, &mut diffs);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "(the whole value)"
    } else {
        path
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn walk(expected: &Value, actual: &Value, path: &str, diffs: &mut Vec<String>) {
    if let Some((op, arg)) = matcher(expected) {
        if let Err(why) = apply(op, arg, actual) {
            diffs.push(format!("{}: {why}", at(path)));
        }
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => walk(ev, av, &p, diffs),
                    None if ev.is_null() => {}
                    None => diffs.push(format!("{p}: expected {}, but it is missing", short(ev))),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                diffs.push(format!(
                    "{}: expected {} items, got {}: {}",
                    at(path),
                    e.len(),
                    a.len(),
                    short(actual)
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                walk(ev, av, &format!("{path}[{i}]"), diffs);
            }
        }
        (e, a) if numbers_equal(e, a) || e == a => {}
        (e, a) => diffs.push(format!(
            "{}: expected {}, got {}",
            at(path),
            short(e),
            short(a)
        )),
    }
}

/// `1` and `1.0` are the same number.
fn numbers_equal(e: &Value, a: &Value) -> bool {
    matches!((e.as_f64(), a.as_f64()), (Some(x), Some(y)) if x == y)
}

fn matcher(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, arg) = m.iter().next()?;
    k.starts_with('$').then_some((k.as_str(), arg))
}

fn apply(op: &str, arg: &Value, actual: &Value) -> Result<(), String> {
    let text = || {
        actual
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| actual.to_string())
    };
    match op {
        "$contains" => {
            let want = arg.as_str().unwrap_or_default();
            if text().contains(want) {
                Ok(())
            } else {
                Err(format!(
                    "expected text containing {want:?}, got {}",
                    short(actual)
                ))
            }
        }
        "$regex" => {
            let pattern = arg.as_str().unwrap_or_default();
            match crate::base::input::regex(pattern, false) {
                Ok((re, _)) if re.is_match(&text()) => Ok(()),
                Ok(_) => Err(format!(
                    "expected text matching /{pattern}/, got {}",
                    short(actual)
                )),
                Err(e) => Err(format!("the pattern /{pattern}/ is not a regex: {e}")),
            }
        }
        "$any" => Ok(()),
        "$len" => {
            let len = match actual {
                Value::Array(a) => Some(a.len()),
                Value::String(s) => Some(s.chars().count()),
                _ => None,
            };
            match (len, arg.as_u64()) {
                (Some(n), Some(want)) if n as u64 == want => Ok(()),
                _ => Err(format!("expected length {arg}, got {}", short(actual))),
            }
        }
        other => Err(format!(
            "unknown matcher {other:?}; use $contains, $regex, $any or $len"
        )),
    }
}

/// The script's value with every `{{name}}` in its strings replaced by the variable's value.
/// A string that is only `{{name}}` takes the variable's JSON value as it is.
pub(crate) fn substitute(v: &Value, vars: &HashMap<String, Value>) -> Value {
    match v {
        Value::String(s) => substitute_str(s, vars),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, vars: &HashMap<String, Value>) -> Value {
    if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        if let Some(v) = vars.get(name.trim()) {
            return v.clone();
        }
    }
    let filled = crate::scenario::template::fill_placeholders(s, |name| {
        Ok(vars.get(name).map(|v| match v {
            Value::String(v) => v.clone(),
            v => v.to_string(),
        }))
    });
    Value::String(filled.unwrap_or_else(|_| s.to_string()))
}

/// The value at a dotted path (`data.conversation_id`, `data.replies[0].message`).
pub(crate) fn pick<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = idx.trim_end_matches(']').parse().ok()?;
            cur = cur.get(n)?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_objects_exact_arrays_and_matchers() {
        let actual = json!({"a": 1, "b": {"c": "hello world", "d": [1, 2]}, "e": null});
        assert!(check("", &json!({"b": {"c": {"$contains": "world"}}}), &actual).is_ok());
        assert!(check(
            "",
            &json!({"b": {"d": {"$len": 2}}, "e": null, "z": null}),
            &actual
        )
        .is_ok());
        let diffs = check("", &json!({"a": 2, "b": {"d": [1]}, "q": 1}), &actual).unwrap_err();
        assert_eq!(
            diffs,
            [
                "a: expected 2, got 1",
                "b.d: expected 1 items, got 2: [1,2]",
                "q: expected 1, but it is missing"
            ]
        );
        assert!(check("", &json!({"$regex": "^hel+o"}), &json!("hello")).is_ok());
        assert_eq!(
            check("replies", &json!(["a"]), &json!(["b"])).unwrap_err(),
            ["replies[0]: expected \"a\", got \"b\""]
        );
    }

    #[test]
    fn variables_and_paths() {
        let vars = HashMap::from([("id".to_string(), json!("c1")), ("n".to_string(), json!(3))]);
        assert_eq!(
            substitute(
                &json!({"p": "/x/{{id}}/y", "n": "{{n}}", "k": "{{nope}}"}),
                &vars
            ),
            json!({"p": "/x/c1/y", "n": 3, "k": "{{nope}}"})
        );
        let v = json!({"data": {"replies": [{"message": "hi"}]}});
        assert_eq!(pick(&v, "data.replies[0].message"), Some(&json!("hi")));
        assert_eq!(pick(&v, "data.replies[1]"), None);
    }
}
