//! Reading request bodies into typed structs: [`parse`] maps JSON and type errors onto Bland's
//! codes (`INVALID_JSON`, `INVALID_PARAMETER` naming the field), and the `de_*` helpers check
//! the field shapes serde alone does not (seconds, URLs, "object or array", versions).
//! Value checks that have codes of their own (E.164, channels) run after, in the handlers.

use std::collections::HashSet;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::base::error::ApiError;

/// Largest fixtures or scenario file read, in bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A regular file's text, at most [`MAX_FILE_BYTES`] (a FIFO or a device such as `/dev/zero`
/// would otherwise hang start-up or read until memory runs out).
///
/// # Errors
/// The path and why: not a regular file, too large, unreadable, not UTF-8.
pub(crate) fn read_file(path: &std::path::Path) -> Result<String, String> {
    read_file_within(path, MAX_FILE_BYTES)
}

/// [`read_file`] with another size limit.
///
/// # Errors
/// As [`read_file`].
pub(crate) fn read_file_within(path: &std::path::Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let at = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{at}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{at}: not a regular file"));
    }
    let too_big = || format!("{at}: larger than {limit} bytes");
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_string(&mut text))
        .map_err(|e| format!("{at}: {e}"))?;
    if text.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(text)
}

/// A JSON object body (`{}` when empty) as `T`. Unknown fields are ignored, as the real API
/// does; `null` reads as absent.
///
/// # Errors
/// 400 `INVALID_JSON` for malformed JSON or a non-object, 400 `INVALID_PARAMETER` naming the
/// field whose type or value is wrong.
#[cfg(test)]
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    typed(&object(bytes)?)
}

/// Levels of arrays and objects a request body may nest. Documents (state, fixtures,
/// scenarios, replay scripts) may nest [`MAX_DOCUMENT_DEPTH`]: a document the simulator writes
/// puts a body's values at most a dozen levels deeper than the body had them, so whatever a
/// request brings can be saved and loaded back.
pub(crate) const MAX_BODY_DEPTH: usize = 64;
/// Levels a document may nest (serde_json's own limit).
pub(crate) const MAX_DOCUMENT_DEPTH: usize = 128;

/// How deep JSON text nests arrays and objects, read without parsing it (strings skipped);
/// `Err(depth)` as soon as it passes `max`.
pub(crate) fn nesting(bytes: &[u8], max: usize) -> Result<usize, usize> {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(depth);
                }
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(deepest)
}

/// A document's text, checked to nest at most [`MAX_DOCUMENT_DEPTH`] levels.
///
/// # Errors
/// `source` and the depth allowed.
pub(crate) fn document_depth(source: &str, text: &str) -> Result<(), String> {
    nesting(text.as_bytes(), MAX_DOCUMENT_DEPTH)
        .map(drop)
        .map_err(|_| {
            format!("{source}: nests arrays and objects more than {MAX_DOCUMENT_DEPTH} levels deep")
        })
}

/// 400 `INVALID_JSON` for a body nested deeper than [`MAX_BODY_DEPTH`].
fn too_deep() -> ApiError {
    ApiError::bad_request(
        "INVALID_JSON",
        format!(
            "Request body nests arrays and objects more than {MAX_BODY_DEPTH} levels deep: \
             flatten it (the simulator keeps only what it can save and load back)"
        ),
    )
}

/// JSON text of a request (a body, or a file inside one) as a [`Value`], at most
/// [`MAX_BODY_DEPTH`] deep.
///
/// # Errors
/// serde_json's error, or one saying it nests too deep.
pub(crate) fn from_str(text: &str) -> Result<Value, String> {
    nesting(text.as_bytes(), MAX_BODY_DEPTH).map_err(|_| too_deep().message.clone())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A JSON object body (`{}` when empty), for reading into more than one struct with [`typed`].
///
/// # Errors
/// 400 `INVALID_JSON` for malformed JSON, a non-object, or one nested deeper than
/// [`MAX_BODY_DEPTH`].
pub(crate) fn object(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    nesting(bytes, MAX_BODY_DEPTH).map_err(|_| too_deep())?;
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(
            "INVALID_JSON",
            format!("Request body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "INVALID_JSON",
            "Request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// A JSON object as `T`.
///
/// # Errors
/// 400 `INVALID_PARAMETER` naming the field whose type or value is wrong.
pub(crate) fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(describe(&path, &e.into_inner().to_string()))
    })
}

/// [`typed`], and the paths of the fields `T` does not know (`a`, `a.b`).
///
/// # Errors
/// As [`typed`].
pub(crate) fn typed_noting<T: DeserializeOwned>(v: &Value) -> Result<(T, Vec<String>), ApiError> {
    let mut unknown = Vec::new();
    // `serde_ignored` writes an `Option`'s inside as a `?` segment: `a.?.b` is `a.b`.
    let mut note = |path: serde_ignored::Path| {
        let path = path.to_string();
        let segments: Vec<&str> = path.split('.').filter(|s| *s != "?").collect();
        unknown.push(segments.join("."));
    };
    let parsed: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(v, &mut note));
    let parsed = parsed.map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(describe(&path, &e.into_inner().to_string()))
    })?;
    Ok((parsed, unknown))
}

/// [`typed_noting`] straight from a body that is a JSON object, without building a
/// [`Value`] first; `None` on any error (then [`object`] and [`typed_noting`] say what it is).
/// On success it reads exactly what they would.
pub(crate) fn typed_noting_slice<T: DeserializeOwned>(bytes: &[u8]) -> Option<(T, Vec<String>)> {
    // Only an object: serde would read a struct from an array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    nesting(bytes, MAX_BODY_DEPTH).ok()?;
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path| {
        let path = path.to_string();
        let segments: Vec<&str> = path.split('.').filter(|s| *s != "?").collect();
        unknown.push(segments.join("."));
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = T::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note)).ok()?;
    de.end().ok()?;
    Some((parsed, unknown))
}

/// The fields no reader knew: those every reader's `ignored` list names (or names a parent
/// of), when several structs read one body.
pub(crate) fn unknown_to_all(ignored: &[Vec<String>]) -> Vec<String> {
    // Sets, so that a body of many unknown fields costs linear time, not quadratic.
    let sets: Vec<HashSet<&str>> = ignored
        .iter()
        .map(|l| l.iter().map(String::as_str).collect())
        .collect();
    // `p` or one of its parents (`a` of `a.b.c`, then `a.b`).
    let covers = |set: &HashSet<&str>, p: &str| {
        set.contains(p) || p.match_indices('.').any(|(i, _)| set.contains(&p[..i]))
    };
    let mut out: Vec<String> = ignored
        .iter()
        .flatten()
        .filter(|p| sets.iter().all(|set| covers(set, p)))
        .cloned()
        .collect();
    out.sort_unstable();
    out.dedup();
    // A parent another reader ignored wholesale says less than the child one reader saw.
    let parents: HashSet<&str> = out
        .iter()
        .flat_map(|p| p.match_indices('.').map(move |(i, _)| &p[..i]))
        .collect();
    let out: Vec<String> = out
        .iter()
        .filter(|p| !parents.contains(p.as_str()))
        .cloned()
        .collect();
    out
}

/// A field error in plain words: "`time_out` must be a number, got string \"soon\"".
fn describe(path: &str, serde_says: &str) -> String {
    if let Some((got, expected)) = serde_says
        .strip_prefix("invalid type: ")
        .and_then(|t| t.split_once(", expected "))
    {
        let expected = match expected {
            "f64" | "f32" | "u64" | "i64" | "u32" | "i32" | "u16" | "u8" | "usize" => "a number",
            "a map" => "an object",
            "a sequence" => "an array",
            e if e.starts_with("struct ") => "an object",
            e => e,
        };
        return format!("`{path}` must be {expected}, got {got}");
    }
    if serde_says.starts_with("must ") {
        return format!("`{path}` {serde_says}");
    }
    format!("`{path}`: {serde_says}")
}

/// A non-negative number of seconds, rounded up to a whole second.
pub(crate) fn de_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(f) if f >= 0.0 && f.is_finite() && f < 1e12 => Ok(Some(f.ceil() as u64)),
        Some(f) => Err(D::Error::custom(format!(
            "must be a non-negative number of seconds, got {f}"
        ))),
    }
}

/// An `http://` or `https://` URL; an empty string reads as absent.
pub(crate) fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if is_web_url(&s) => Ok(Some(s)),
        Some(s) => Err(D::Error::custom(format!(
            "must be an http:// or https:// URL, got {s:?}"
        ))),
    }
}

/// Whether `s` is an absolute `http://` or `https://` URL with a host (and, when it names a
/// port, one that exists).
pub(crate) fn is_web_url(s: &str) -> bool {
    s.parse::<hyper::Uri>().ok().is_some_and(|u| {
        let authority = u.authority().map_or("", |a| a.as_str());
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        // `uri.port()` is `None` for a port that does not fit in 16 bits: look at the text.
        let names_port = host_port
            .rsplit_once(':')
            .is_some_and(|(_, tail)| !tail.contains(']'));
        matches!(u.scheme_str(), Some("http" | "https"))
            && u.host().is_some_and(|h| !h.is_empty())
            && (!names_port || u.port_u16().is_some())
    })
}

/// An object or an array (Bland's `request_data` takes either).
pub(crate) fn de_object_or_array<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Value>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(Some(v)),
        Some(_) => Err(D::Error::custom("must be an object or an array")),
    }
}

/// A pathway version, a string or a number in Bland's docs, as the text conversations store.
pub(crate) fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(D::Error::custom("must be a string or a number")),
    }
}

/// A pathway version as given, a string or a number (a number config echoes it back as is).
pub(crate) fn de_version_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v)),
        Some(_) => Err(D::Error::custom("must be a string or a number")),
    }
}

/// A JSON object as `T`, refusing keys `T` does not know (for files, where a typo would
/// otherwise do nothing, silently).
///
/// # Errors
/// The first unknown key, or as serde.
pub(crate) fn strict<T: DeserializeOwned>(v: &Map<String, Value>) -> Result<T, ApiError> {
    let (parsed, unknown) = typed_noting::<T>(&Value::Object(v.clone()))?;
    match unknown.first() {
        Some(k) => Err(ApiError::invalid(format!(
            "unknown key {k:?} (the README's Fixtures section lists the keys)"
        ))),
        None => Ok(parsed),
    }
}

/// A nested object read as `T` (a derived struct alone would also take an array, by position).
pub(crate) fn de_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    // Read through the map access itself, not a copied `Value`, so that the fields `T` does
    // not know reach the caller's `serde_ignored` as `outer.inner`.
    struct Object<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_option(Object(std::marker::PhantomData))
}

/// A time in a document: an ISO 8601 string, as the API writes them.
pub(crate) fn de_iso_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => crate::base::clock::parse_iso(&s)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("must be an ISO 8601 time, got {s:?}"))),
    }
}

/// [`de_iso_opt`], required.
pub(crate) fn de_iso<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    de_iso_opt(d)?.ok_or_else(|| D::Error::custom("must be an ISO 8601 time"))
}

/// A time as the API writes it.
pub(crate) fn ser_iso<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::base::clock::iso(*t))
}

/// A seed: a number, or the same as a decimal string (JavaScript's `JSON.parse` loses the
/// digits of a number past 2^53, so seeds are written as strings).
pub(crate) fn de_seed_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    let seed = match &v {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    seed.map(Some).ok_or_else(|| {
        D::Error::custom(format!(
            "a seed is a whole number from 0 to {}, or the same as a string; got {}",
            u64::MAX,
            v.map_or_else(String::new, |v| v.to_string())
        ))
    })
}

/// [`de_seed_opt`], required.
pub(crate) fn de_seed<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_seed_opt(d)?.ok_or_else(|| D::Error::custom("a seed is required"))
}

/// A seed as it is written: a decimal string.
pub(crate) fn ser_seed<S: serde::Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(seed)
}

/// [`ser_seed`] for an optional seed.
pub(crate) fn ser_seed_opt<S: serde::Serializer>(
    seed: &Option<u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match seed {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// A string that, when present, must not be blank.
pub(crate) fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if s.trim().is_empty() => Err(D::Error::custom("must not be empty")),
        other => Ok(other),
    }
}

/// The first bytes of `s`, at most `max`, cut at a character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Largest compiled size of one regex (a scenario's, a replay script's), in bytes.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Largest cache of one regex's lazy DFA, per thread that runs it, in bytes.
pub(crate) const REGEX_CACHE_LIMIT: usize = 32 * 1024;

/// A regex compiled within [`REGEX_SIZE_LIMIT`], and what it holds in memory: its compiled
/// size and a lazy-DFA cache for each of two threads.
///
/// # Errors
/// Why it does not compile, or that it is too big, with how to make it smaller.
pub(crate) fn regex(
    pattern: &str,
    case_insensitive: bool,
) -> Result<(regex::Regex, usize), String> {
    let too_big = || {
        format!(
            "compiles to more than {} KiB: use fewer or smaller repetitions (`\\w{{200}}` \
             repeats a class of every Unicode letter 200 times; `(?-u:\\w)` is ASCII only)",
            REGEX_SIZE_LIMIT / 1024
        )
    };
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_CACHE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => too_big(),
            e => e.to_string(),
        })?;
    let meta = regex_automata::meta::Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().case_insensitive(case_insensitive))
        .configure(
            regex_automata::meta::Config::new()
                .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
                .hybrid_cache_capacity(REGEX_CACHE_LIMIT),
        )
        .build(pattern)
        .map_err(|_| too_big())?;
    Ok((
        re,
        meta.memory_usage() + 2 * REGEX_CACHE_LIMIT + pattern.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Probe {
        #[serde(default, deserialize_with = "de_seconds")]
        t: Option<u64>,
        #[serde(default, deserialize_with = "de_url")]
        u: Option<String>,
        #[serde(default, deserialize_with = "de_version")]
        v: Option<String>,
        #[serde(default)]
        s: Option<String>,
    }

    #[derive(Deserialize, Debug)]
    struct Old {
        a: Option<String>,
        b: Option<String>,
        #[serde(default, deserialize_with = "de_seconds")]
        t: Option<u64>,
        #[serde(default, deserialize_with = "de_url")]
        u: Option<String>,
        missing: Option<bool>,
    }

    /// What the field-by-field reader this replaced promised: the wrong field is named.
    #[test]
    fn fields_name_the_wrong_field() {
        let body = br#"{"a":1,"b":"x","t":-1,"u":"ftp://x"}"#;
        let e = parse::<Old>(body).unwrap_err();
        assert_eq!(e.message, "`a` must be a string, got integer `1`");
        let ok: Old = parse(br#"{"b":"x"}"#).unwrap();
        assert_eq!((ok.b, ok.missing), (Some("x".into()), None));
        let e = parse::<Old>(br#"{"t":-1}"#).unwrap_err();
        assert_eq!(
            e.message,
            "`t` must be a non-negative number of seconds, got -1"
        );
        assert!(parse::<Old>(br#"{"u":"ftp://x"}"#).is_err());
        let _ = (ok.a, ok.t, ok.u);
    }

    #[test]
    fn unknown_fields_are_those_no_reader_knows() {
        let sets = vec![
            vec![
                "time_out".to_string(),
                "typo".into(),
                "persona_settings".into(),
            ],
            vec![
                "user_number".to_string(),
                "typo".into(),
                "persona_settings.oops".into(),
            ],
        ];
        assert_eq!(unknown_to_all(&sets), ["persona_settings.oops", "typo"]);
    }

    #[test]
    fn fields_are_checked_and_named() {
        let p: Probe = parse(br#"{"t":1.2,"u":"","v":3,"s":null,"other":1}"#).unwrap();
        assert_eq!(
            (p.t, p.u, p.v, p.s),
            (Some(2), None, Some("3".into()), None)
        );
        let e = parse::<Probe>(br#"{"t":-1}"#).unwrap_err();
        assert_eq!(e.code, "INVALID_PARAMETER");
        assert!(e.message.contains("`t`"), "{}", e.message);
        assert!(parse::<Probe>(br#"{"u":"ftp://x"}"#).is_err());
        assert!(parse::<Probe>(br#"{"u":"http://x:99999/"}"#).is_err());
        assert!(is_web_url("http://[::1]/") && is_web_url("http://u:p@h:8080/x"));
        assert!(parse::<Probe>(br#"{"s":1}"#)
            .unwrap_err()
            .message
            .contains("`s`"));
        assert_eq!(parse::<Probe>(b"[1]").unwrap_err().code, "INVALID_JSON");
        assert!(parse::<Probe>(b"  ").is_ok());
    }
}
