//! The simulator against what Bland's docs say: `docs/bland-surface.json` (written by
//! `docs/surface/extract.py` from Bland's docs, each entry with its page and revision) against
//! `src/http/openapi.json`. Every difference must be explained: listed in
//! `docs/surface/explained.json` with the README table row ("Where the docs are silent") that
//! says why. A new difference (Bland's docs changed, or the simulator did) fails until it is
//! explained or fixed; an explanation whose difference is gone fails too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

fn read(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
}

/// `$ref`s followed, `allOf`s merged: an object schema's properties.
fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return properties(doc, &doc["components"]["schemas"][name], out);
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            properties(doc, s, out);
        }
    }
    if let Some(p) = schema["properties"].as_object() {
        out.extend(p.keys().cloned());
    }
}

/// Every error code an operation's responses name.
fn codes(doc: &Value, op: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in op["responses"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        let r = match r["$ref"].as_str() {
            Some(name) => &doc["components"]["responses"][name.rsplit('/').next().unwrap()],
            None => r,
        };
        for c in r["x-error-codes"].as_array().into_iter().flatten() {
            out.insert(c.as_str().unwrap().to_string());
        }
    }
    out
}

/// What differs between the docs' surface and the OpenAPI document, one line each.
fn differences(surface: &Value, doc: &Value) -> BTreeSet<String> {
    let mut ops: BTreeMap<String, &Value> = BTreeMap::new();
    let param = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let path = param.replace_all(path, "{id}");
        for (method, op) in item.as_object().unwrap() {
            ops.insert(format!("{} {path}", method.to_uppercase()), op);
        }
    }
    let mut out = BTreeSet::new();
    let mut documented = BTreeSet::new();
    for e in surface.as_array().unwrap() {
        let name = format!(
            "{} {}",
            e["method"].as_str().unwrap(),
            e["path"].as_str().unwrap()
        );
        documented.insert(name.clone());
        let Some(op) = ops.get(&name) else {
            out.insert(format!("{name}: documented, not served"));
            continue;
        };
        let mut fields = BTreeSet::new();
        properties(
            doc,
            &op["requestBody"]["content"]["application/json"]["schema"],
            &mut fields,
        );
        for f in e["body"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            if !fields.contains(f) {
                out.insert(format!("{name}: body field `{f}` is not taken"));
            }
        }
        let served = codes(doc, op);
        for c in e["error_codes"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            if !served.contains(c) {
                out.insert(format!("{name}: error code {c} is never answered"));
            }
        }
    }
    for name in ops.keys() {
        if !documented.contains(name) {
            out.insert(format!("{name}: served, documented by no page"));
        }
    }
    out
}

#[test]
fn every_difference_from_blands_docs_is_explained_in_the_readme() {
    let surface = read("docs/bland-surface.json");
    let doc = read("src/http/openapi.json");
    let explained = read("docs/surface/explained.json");
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let found = differences(&surface, &doc);
    let explained = explained.as_object().unwrap();
    let unexplained: Vec<&String> = found
        .iter()
        .filter(|d| !explained.contains_key(*d))
        .collect();
    assert!(
        unexplained.is_empty(),
        "differences from Bland's docs that docs/surface/explained.json does not explain (fix \
         them, or explain each with the README row that says why):\n{}",
        unexplained
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (difference, row) in explained {
        assert!(
            found.contains(difference),
            "docs/surface/explained.json explains a difference that is gone: {difference}"
        );
        let row = row.as_str().unwrap();
        assert!(
            readme.contains(&format!("| {row} |")),
            "{difference}: the README has no table row `| {row} |`"
        );
    }
}
