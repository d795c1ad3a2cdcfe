//! `{{variable}}` templates for scenario replies, variables and outcomes. Parsed once at load
//! (an unclosed `{{` is a load error); rendered against a [`Vars`] lookup. One rule for unset
//! variables everywhere: in text an unset variable is empty text, and a value a template fills
//! (a citation, the summary, a disposition's tag or result field) is null when it renders empty.

use serde_json::Value;

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template(Vec<Part>);

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// An unclosed `{{` or an empty `{{}}`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in template {text:?}"))?;
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(format!("empty '{{{{}}}}' in template {text:?}"));
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// Fills in the variables. The result is cut at [`MAX_RENDERED_BYTES`] (on a character
    /// boundary), so a template that feeds on itself (`set {"a": "{{a}}{{a}}"}`) stops
    /// growing.
    pub fn render(&self, vars: &dyn Vars) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => {
                    if let Some(v) = vars.lookup(name) {
                        out.push_str(&v);
                    }
                }
            }
            if out.len() > MAX_RENDERED_BYTES {
                tracing::warn!(
                    limit = MAX_RENDERED_BYTES,
                    "a rendered template was cut to its size limit"
                );
                cut(&mut out, MAX_RENDERED_BYTES);
                break;
            }
        }
        out
    }
}

/// `text` with each `{{name}}` that `fill` gives a value for replaced by it (`name` trimmed),
/// and every other kept as written: for placeholders filled before a template is read (a
/// script's or an overlay's `{{env.NAME}}`, a replay's saved values). The first error `fill`
/// gives stops it.
///
/// # Errors
/// What `fill` says.
pub fn fill_placeholders(
    text: &str,
    mut fill: impl FnMut(&str) -> Result<Option<String>, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        match fill(rest[start + 2..start + len].trim())? {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Longest text a template renders to, in bytes (a variable set by a rule is one too).
pub(crate) const MAX_RENDERED_BYTES: usize = 16 * 1024;

/// Cuts `s` to at most `max` bytes, on a character boundary.
pub(crate) fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Where template variables come from.
pub trait Vars {
    /// The text of variable `name`, if it is known.
    fn lookup(&self, name: &str) -> Option<String>;
}

/// A JSON value as template text: strings bare, `null` as nothing, the rest as JSON.
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Follows a dotted path (`a.b.0`) into a JSON value.
pub fn dig<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, key| match cur {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// [`dig`] starting from an object.
pub fn dig_map<'a>(m: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (first, rest) = match path.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    let v = m.get(first)?;
    match rest {
        Some(r) => dig(v, r),
        None => Some(v),
    }
}

/// Renders every string inside a JSON value as a template (for disposition results).
///
/// # Errors
/// A string that is not a valid template.
pub fn render_value(v: &Value, vars: &dyn Vars) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            let text = Template::parse(s)?.render(vars);
            // A value that renders empty is null, like every value a template fills.
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_value(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl Vars for HashMap<&str, &str> {
        fn lookup(&self, name: &str) -> Option<String> {
            self.get(name).map(|s| s.to_string())
        }
    }

    #[test]
    fn renders_known_and_blanks_unknown() {
        let t = Template::parse("Hi {{ name }}, {{missing}}bye").unwrap();
        let vars = HashMap::from([("name", "Ada")]);
        assert_eq!(t.render(&vars), "Hi Ada, bye");
    }

    #[test]
    fn a_self_feeding_template_stops_at_the_limit() {
        struct Grow(std::cell::RefCell<String>);
        impl Vars for Grow {
            fn lookup(&self, _: &str) -> Option<String> {
                Some(self.0.borrow().clone())
            }
        }
        let t = Template::parse("{{a}}{{a}}é").unwrap();
        let vars = Grow(std::cell::RefCell::new("x".into()));
        for _ in 0..40 {
            let next = t.render(&vars);
            *vars.0.borrow_mut() = next;
        }
        let v = vars.0.borrow();
        assert!(v.len() <= MAX_RENDERED_BYTES && v.len() > MAX_RENDERED_BYTES - 4);
    }

    #[test]
    fn rejects_unclosed() {
        assert!(Template::parse("Hi {{name").is_err());
        assert!(Template::parse("Hi {{ }}").is_err());
    }

    #[test]
    fn digs_paths() {
        let v = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(dig(&v, "a.b.1.c"), Some(&serde_json::json!("x")));
        assert_eq!(dig(&v, "a.z"), None);
    }
}
