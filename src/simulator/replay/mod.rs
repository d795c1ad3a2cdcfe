//! Conversation tests: replay scripts, each run in its own in-process simulator (manual clock,
//! fixed seed, isolated) or against a running simulator and the app behind it (`url`), reported
//! step by step as text, JSON or JUnit XML.
//!
//! A script is a JSON file stating a whole conversation and what must happen in it; the
//! README's "Conversation tests" section documents the format. `bland-sms-sim replay PATH…`
//! runs scripts from the command line; [`run`] is the same from Rust.

mod app;
mod matcher;
mod report;
mod run;
mod setup;
mod target;

use std::path::{Path, PathBuf};

use run::ScriptResult;

/// How to run and report.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Also write JUnit XML here (one testcase per script).
    pub junit: Option<PathBuf>,
    /// Print the results as JSON instead of text.
    pub json: bool,
    /// Scenario files or directories added to every script's simulator.
    pub scenarios: Vec<PathBuf>,
    /// Run against the simulator at this base URL (`http://127.0.0.1:8790`) instead of one of
    /// each script's own: each script's setup replaces its state first.
    pub url: Option<String>,
    /// The running simulator's admin token, for its `/_sim` API.
    pub admin_token: Option<String>,
    /// What `within_ms` is when a step does not say (default 2000); steps that say are scaled
    /// by the same factor.
    pub timeout_ms: Option<u64>,
}

/// What a run of scripts came to, as an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every script passed (exit 0).
    Passed,
    /// A step failed, or a script's setup did (exit 1).
    Failed,
    /// A script did not parse, or a path held none (exit 2).
    Unreadable,
}

impl Verdict {
    /// The process exit status: 0, 1 or 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed => 1,
            Verdict::Unreadable => 2,
        }
    }
}

/// The `*.json` scripts under `paths` (files as given, directories in file-name order).
fn scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!("{}: no *.json replay scripts here", p.display()));
            }
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// Reads and runs one script file.
async fn run_file(path: &Path, options: &Options) -> ScriptResult {
    let file = path.display().to_string();
    let parsed = crate::base::input::read_file(path).and_then(|text| {
        crate::recording::script::parse(&text).map_err(|e| format!("{file}: {e}"))
    });
    match parsed {
        Ok(s) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            run::run(&s, &file, dir, options).await
        }
        Err(e) => ScriptResult {
            file: file.clone(),
            name: file,
            error: Some(e),
            unparseable: true,
            steps: Vec::new(),
            seconds: 0.0,
            notes: Vec::new(),
        },
    }
}

/// Runs every script under `paths`, one after another, writing the report to `out`.
///
/// # Errors
/// Only when the report cannot be written (the JUnit file, or `out`).
pub async fn run(
    paths: &[PathBuf],
    options: &Options,
    out: &mut dyn std::io::Write,
) -> std::io::Result<Verdict> {
    let files = match scripts(paths) {
        Ok(f) => f,
        Err(e) => {
            writeln!(out, "{e}")?;
            return Ok(Verdict::Unreadable);
        }
    };
    let mut results = Vec::new();
    for f in &files {
        let r = run_file(f, options).await;
        if !options.json {
            report::text(&r, out)?;
        }
        results.push(r);
    }
    if options.json {
        serde_json::to_writer_pretty(&mut *out, &report::json(&results))?;
        writeln!(out)?;
    } else {
        report::summary(&results, out)?;
    }
    if let Some(path) = &options.junit {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("--junit {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(named)?;
        }
        std::fs::write(path, report::junit(&results)).map_err(named)?;
    }
    Ok(if results.iter().any(|r| r.unparseable) {
        Verdict::Unreadable
    } else if results.iter().all(ScriptResult::passed) {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}
