//! What a scenario source is: a scenario file, an overlay that wraps a Bland pathway (by a path
//! relative to it, or inline), or a bare pathway named by its file. Each is compiled into a
//! [`Scenario`].

use std::path::Path;

use serde_json::Value;

use super::pathway;
use super::Scenario;

/// Pathway files the embedded overlays wrap (not loaded on their own).
pub const EMBEDDED_PATHWAYS: &[(&str, &str)] = &[(
    "scenarios/order-status.pathway.json",
    include_str!("../../scenarios/order-status.pathway.json"),
)];

/// Where an overlay's `pathway` path is read from.
pub enum Folder<'a> {
    /// The overlay's own folder.
    Dir(&'a Path),
    /// The embedded `scenarios/` folder.
    Embedded,
    /// Nowhere: the overlay came as a document (`POST /_sim/scenarios`).
    None,
}

/// Whether a file is read as YAML (Bland's CLI keeps pathways in YAML).
pub fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "yaml" || x == "yml")
}

/// A document's text as JSON, read as YAML or JSON (JSON's nesting checked first; YAML's by
/// the reader's own budgets); errors name `source`.
pub(crate) fn parse(source: &str, text: &str, yaml: bool) -> Result<Value, String> {
    if yaml {
        serde_saphyr::from_str(text).map_err(|e| {
            format!(
                "{source}: {}",
                e.to_string().lines().next().unwrap_or_default()
            )
        })
    } else {
        crate::base::input::document_depth(source, text)?;
        serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))
    }
}

/// The path an overlay's `pathway` names, if the text is such an overlay.
pub fn wrapped_path(text: &str, yaml: bool) -> Option<String> {
    let v = parse("", text, yaml).ok()?;
    v.get("pathway")?.as_str().map(String::from)
}

/// Whether a document is a Bland pathway (not a scenario file): its `nodes` a list (Bland's
/// API) or a map without a `start_node` (Bland's CLI), or under `data` or `pathway_data`.
fn is_pathway(v: &Value) -> bool {
    match v.get("nodes") {
        Some(Value::Array(_)) => true,
        Some(Value::Object(_)) => v.get("start_node").is_none(),
        _ => ["data", "pathway_data"]
            .iter()
            .any(|k| v.get(*k).is_some_and(|d| d.get("nodes").is_some())),
    }
}

/// A bare pathway's name from its file name: without `.json`, `.yaml` or `.yml`, and without
/// a `.pathway` before it.
pub fn stem(file_name: &str) -> &str {
    let s = [".json", ".yaml", ".yml"]
        .iter()
        .find_map(|x| file_name.strip_suffix(x))
        .unwrap_or(file_name);
    s.strip_suffix(".pathway").unwrap_or(s)
}

/// Compiles one scenario source. `file_name` names a bare pathway; `folder` is where an
/// overlay's relative `pathway` path is read.
///
/// # Errors
/// What is wrong with the source (or the pathway it wraps), naming the file.
pub fn compile(
    source: &str,
    text: &str,
    yaml: bool,
    file_name: Option<&str>,
    folder: Folder,
) -> Result<Scenario, String> {
    let v = parse(source, text, yaml)?;
    if v.get("pathway").is_some() {
        let overlay: pathway::overlay::OverlayFile =
            serde_path_to_error::deserialize(v).map_err(|e| format!("{source}: {e}"))?;
        if overlay.name.trim().is_empty() {
            return Err(format!("{source}: `name` must not be empty"));
        }
        let (doc, held) = match &overlay.pathway {
            Value::String(rel) => {
                let (psource, ptext) = read_wrapped(source, rel, &folder)?;
                let yaml = rel.ends_with(".yaml") || rel.ends_with(".yml");
                let doc = pathway::read(&psource, &ptext, yaml)?;
                (doc, 2 * (text.len() + ptext.len()))
            }
            Value::Object(_) => {
                let doc = pathway::from_value(source, overlay.pathway.clone())?;
                (doc, 2 * text.len())
            }
            _ => {
                return Err(format!(
                    "{source}: `pathway` is a path relative to this file or the pathway itself"
                ))
            }
        };
        let name = overlay.name.clone();
        let mut overlay = overlay;
        overlay.pathway = Value::Null;
        return pathway::overlay::compile(source, doc, Some(overlay), &name, held);
    }
    if is_pathway(&v) {
        let Some(name) = file_name.map(stem).filter(|s| !s.is_empty()) else {
            return Err(format!(
                "{source}: a bare pathway is named by its file; send it inside an overlay \
                 ({{\"name\": …, \"pathway\": {{…}}}})"
            ));
        };
        let doc = pathway::from_value(source, v)?;
        return pathway::overlay::compile(source, doc, None, name, 2 * text.len());
    }
    if yaml {
        return Err(format!(
            "{source}: a YAML file here is a Bland pathway (Bland's CLI form, with `nodes`) or an \
             overlay with `pathway`"
        ));
    }
    super::file::compile(source, text)
}

/// The text of the pathway an overlay names by a relative path.
fn read_wrapped(source: &str, rel: &str, folder: &Folder) -> Result<(String, String), String> {
    match folder {
        Folder::Dir(dir) => {
            let p = dir.join(rel);
            let text = crate::base::input::read_file(&p)
                .map_err(|e| format!("{source}: pathway {rel:?}: {e}"))?;
            Ok((p.display().to_string(), text))
        }
        Folder::Embedded => {
            let want = format!("scenarios/{rel}");
            EMBEDDED_PATHWAYS
                .iter()
                .find(|(p, _)| *p == want)
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .ok_or_else(|| format!("{source}: pathway {rel:?} is not an embedded file"))
        }
        Folder::None => Err(format!(
            "{source}: pathway {rel:?}: a scenario sent as a document has no folder to read a \
             file from; put the pathway itself under `pathway`"
        )),
    }
}

/// The scenario files of folder `dir` with their texts, in file-name order: `*.json`,
/// `*.yaml` and `*.yml`, but for the pathway files an overlay of the folder names (they are
/// read through it).
///
/// # Errors
/// An unreadable folder or file.
pub fn files(dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Not only regular files: `read_file` refuses anything else by name.
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut wrapped = std::collections::HashSet::new();
    for p in paths {
        let text = crate::base::input::read_file(&p)?;
        if let Some(rel) = wrapped_path(&text, is_yaml(&p)) {
            wrapped.insert(dir.join(rel));
        }
        files.push((p, text));
    }
    files.retain(|(p, _)| !wrapped.contains(p));
    Ok(files)
}

/// A scenario file (`path`, read as `text`) as one document that needs no folder (what
/// `POST /_sim/scenarios` takes): an overlay with the pathway it names read in, a bare pathway
/// wrapped in an overlay named by its file, a scenario file as it is.
///
/// # Errors
/// An unparseable file, or an overlay whose pathway file is unreadable or unparseable.
pub fn document(path: &Path, text: &str) -> Result<Value, String> {
    let source = path.display().to_string();
    let mut v = parse(&source, text, is_yaml(path))?;
    if let Some(rel) = v.get("pathway").and_then(Value::as_str).map(String::from) {
        let p = path.parent().unwrap_or(Path::new(".")).join(&rel);
        let ptext = crate::base::input::read_file(&p)
            .map_err(|e| format!("{source}: pathway {rel:?}: {e}"))?;
        v["pathway"] = parse(&p.display().to_string(), &ptext, is_yaml(&p))?;
        return Ok(v);
    }
    if is_pathway(&v) {
        let name = path
            .file_name()
            .and_then(|f| f.to_str())
            .map(stem)
            .unwrap_or("pathway");
        return Ok(serde_json::json!({
            "version": 1,
            "name": name,
            "match": {"pathway_ids": [name]},
            "pathway": v,
        }));
    }
    Ok(v)
}
