//! The source tree's layers (docs/ARCHITECTURE.md): a module imports only from its own folder
//! and the folders below it. Read from the source, so a `use` against the layering fails here.

use std::path::Path;

/// The folders of `src/`, top first. `api` and `admin` stand side by side: neither imports
/// the other.
const LAYERS: &[&[&str]] = &[
    &["simulator"],
    &["http"],
    &["api", "admin"],
    &["request"],
    &["recording"],
    &["engine"],
    &["webhook"],
    &["observe"],
    &["state"],
    &["scenario"],
    &["base"],
];

fn layer(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&folder))
}

/// The top-level folders a source text names as `crate::folder` (comments left out; a group
/// `crate::{a, b::c}` names each of its items).
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let first = item.trim().split("::").next().unwrap_or("");
                    out.push(
                        first
                            .trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                            .to_string(),
                    );
                }
            } else {
                let first: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(first);
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_its_folder_and_the_folders_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut against = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(folder) = rel.iter().next().and_then(|f| f.to_str()) else {
            continue;
        };
        if rel.components().count() == 1 {
            continue; // lib.rs and main.rs sit above every folder
        }
        let own = layer(folder).unwrap_or_else(|| panic!("src/{folder} is in no layer"));
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for name in named(text) {
            if name == folder {
                continue;
            }
            // Items re-exported at the crate root (`crate::Simulator`) belong to the top.
            let Some(theirs) = layer(&name) else {
                if name.chars().next().is_some_and(char::is_uppercase) {
                    if own != 0 {
                        against.push(format!("{}: crate::{name}", rel.display()));
                    }
                    continue;
                }
                panic!("{}: crate::{name} is in no layer", rel.display());
            };
            if theirs <= own {
                against.push(format!("{} imports crate::{name}", rel.display()));
            }
        }
    }
    assert!(
        against.is_empty(),
        "against the layering:\n{}",
        against.join("\n")
    );
}

#[test]
fn the_top_level_has_at_most_a_dozen_entries_besides_lib_main_and_ui() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let entries: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["lib.rs", "main.rs", "ui"].contains(&n.as_str()))
        .collect();
    assert!(entries.len() <= 12, "{entries:?}");
    let layered: usize = LAYERS.iter().map(|l| l.len()).sum();
    assert_eq!(
        entries.len(),
        layered,
        "every folder has its layer: {entries:?}"
    );
}
