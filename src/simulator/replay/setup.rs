//! A script's setup put into a running simulator (`--url`): it is reset (its conversations,
//! logs, fault rules and scenarios back to how it started), the script's scenarios are added,
//! and its state is replaced with the script's fixtures (or its own), clock and seed, so no
//! script sees another's conversations.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Value};

use super::target::Target;
use crate::recording::script::Script;
use crate::scenario::load;

/// Puts `script`'s setup into the running simulator `target`: the key its calls use (the
/// fixtures' first account's unless the setup names one) and whether its clock is real.
pub(super) async fn running(
    target: &Target,
    client: &Client<HttpConnector, Full<Bytes>>,
    script: &Script,
    dir: &Path,
    extra_scenarios: &[PathBuf],
) -> Result<(String, bool), String> {
    let setup = &script.setup;
    let fail = |e: String| format!("setup: {e}");
    target
        .control_ok(client, "POST", "/_sim/reset", Some(&json!({})))
        .await
        .map_err(fail)?;
    let mut documents = Vec::new();
    for (i, sc) in setup.scenarios.iter().enumerate() {
        match sc {
            Value::Object(_) => documents.push((format!("setup.scenarios[{i}]"), sc.clone())),
            Value::String(p) => documents
                .extend(files(&dir.join(p)).map_err(|e| format!("setup.scenarios[{i}]: {e}"))?),
            _ => return Err(format!("setup.scenarios[{i}] must be an object or a path")),
        }
    }
    for p in extra_scenarios {
        documents.extend(files(p).map_err(|e| format!("--scenarios: {e}"))?);
    }
    for (from, doc) in &documents {
        target
            .control_ok(client, "POST", "/_sim/scenarios", Some(doc))
            .await
            .map_err(|e| format!("{from}: {e}"))?;
    }
    let mut state = match &setup.fixtures {
        Some(Value::Object(_)) => setup.fixtures.clone().unwrap_or_default(),
        Some(Value::String(p)) => {
            read_json(&dir.join(p)).map_err(|e| format!("setup.fixtures: {e}"))?
        }
        Some(_) => return Err("setup.fixtures must be an object or a path".into()),
        None => target
            .control_ok(client, "GET", "/_sim/state", None)
            .await
            .map_err(fail)?,
    };
    let start = setup
        .start_time
        .as_deref()
        .unwrap_or(super::run::START_TIME);
    state["simulator"] = json!({
        "now": start,
        "seed": setup.seed.unwrap_or(super::run::SEED).to_string(),
        "ids_issued": 0,
        "next_inbound_id": 0,
    });
    target
        .control_ok(client, "PUT", "/_sim/state", Some(&state))
        .await
        .map_err(fail)?;
    let key = state["accounts"][0]["api_key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let clock = target
        .control_ok(client, "GET", "/_sim/clock", None)
        .await
        .map_err(fail)?;
    Ok((key, clock["data"]["mode"] == "real"))
}

/// The scenario documents of a file, or of every scenario file of a directory (`*.json`, and
/// Bland pathways in `*.yaml`; in file-name order), each with where it came from. A pathway an
/// overlay names is read into it (and not sent on its own).
fn files(path: &Path) -> Result<Vec<(String, Value)>, String> {
    let files = if path.is_dir() {
        load::files(path)?
    } else {
        vec![(path.to_path_buf(), crate::base::input::read_file(path)?)]
    };
    files
        .iter()
        .map(|(p, text)| Ok((p.display().to_string(), load::document(p, text)?)))
        .collect()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = crate::base::input::read_file(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
