//! Reports of a replay run: text for people, JSON for tools, JUnit XML for CI.

use std::io::Write;

use serde_json::{json, Value};

use super::run::{Outcome, ScriptResult};

/// One script, step by step: `ok`, `FAIL` with what differed, or `skip`.
pub(crate) fn text(r: &ScriptResult, out: &mut dyn Write) -> std::io::Result<()> {
    let verdict = if r.passed() { "PASS" } else { "FAIL" };
    writeln!(out, "{verdict} {} ({})", r.name, r.file)?;
    if let Some(e) = &r.error {
        writeln!(out, "  error: {e}")?;
    }
    for s in &r.steps {
        match &s.outcome {
            Outcome::Passed => writeln!(out, "  ok   {}", s.label)?,
            Outcome::Skipped => writeln!(out, "  skip {}", s.label)?,
            Outcome::Failed(diffs) => {
                writeln!(out, "  FAIL {}", s.label)?;
                for d in diffs {
                    writeln!(out, "         {d}")?;
                }
            }
        }
    }
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

/// The closing line: how many passed and failed.
pub(crate) fn summary(results: &[ScriptResult], out: &mut dyn Write) -> std::io::Result<()> {
    let passed = results.iter().filter(|r| r.passed()).count();
    let scripts = if results.len() == 1 {
        "script"
    } else {
        "scripts"
    };
    writeln!(
        out,
        "\n{passed} passed, {} failed ({} {scripts})",
        results.len() - passed,
        results.len()
    )
}

/// The results as JSON: one object per script with its steps.
pub(crate) fn json(results: &[ScriptResult]) -> Value {
    let scripts: Vec<Value> = results
        .iter()
        .map(|r| {
            let steps: Vec<Value> = r
                .steps
                .iter()
                .map(|s| match &s.outcome {
                    Outcome::Passed => json!({"step": s.label, "outcome": "passed"}),
                    Outcome::Skipped => json!({"step": s.label, "outcome": "skipped"}),
                    Outcome::Failed(d) => {
                        json!({"step": s.label, "outcome": "failed", "diff": d})
                    }
                })
                .collect();
            json!({
                "file": r.file,
                "name": r.name,
                "passed": r.passed(),
                "error": r.error,
                "seconds": r.seconds,
                "notes": r.notes,
                "steps": steps,
            })
        })
        .collect();
    let passed = results.iter().filter(|r| r.passed()).count();
    json!({"passed": passed, "failed": results.len() - passed, "scripts": scripts})
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, nor U+FFFE and U+FFFF.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('?'),
            '\u{fffe}' | '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testcase per script; a failure names the step and carries the diff.
pub(crate) fn junit(results: &[ScriptResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n  <testsuite name=\"replay\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">\n",
        results.len(),
        results.len()
    ));
    let mut names: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in results {
        *names.entry(r.name.as_str()).or_default() += 1;
    }
    for r in results {
        // Two scripts of one name (two recordings of one conversation) are told apart by file.
        let shared = names[r.name.as_str()] > 1;
        let name = if shared {
            format!("{} [{}]", r.name, r.file)
        } else {
            r.name.clone()
        };
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            escape(&name),
            escape(&r.file),
            r.seconds
        ));
        let failed = r.steps.iter().find_map(|s| match &s.outcome {
            Outcome::Failed(d) => Some((s.label.clone(), d.join("\n"))),
            _ => None,
        });
        let failure = match (&r.error, failed) {
            (Some(e), _) => Some((e.clone(), e.clone())),
            (None, Some((label, diff))) => Some((label, diff)),
            (None, None) => None,
        };
        match failure {
            None => x.push_str("/>\n"),
            Some((message, body)) => x.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(&message),
                escape(&body)
            )),
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn what_xml_cannot_hold_is_replaced() {
        assert_eq!(escape("a\u{ffff}b\u{fffe}\u{1}<&>"), "a?b??&lt;&amp;&gt;");
        assert_eq!(escape("line\nnext\ttab"), "line\nnext\ttab");
    }
}
