//! What the binary prints at start-up after its `listening on` line: a key that works and its
//! numbers, the accepted keys, the webhook secret, the clock, the seed, the scenarios and the
//! browser UI's address.

use std::fmt::Write;

use crate::engine::app::App;
use crate::scenario::Selector;

/// Every fixtures account with its numbers and the scenario each number plays.
fn accounts(app: &App, out: &mut String) {
    let _ = writeln!(out, "accounts:");
    for key in app.fixtures.keys() {
        let refused =
            !app.config.api_keys.is_empty() && !app.config.api_keys.iter().any(|k| k == key);
        let numbers: Vec<String> = app
            .store
            .numbers_of(key)
            .iter()
            .map(|n| {
                let cfg = n.effective_config(n.default_channel());
                let plays = app.scenarios.load().choose(&Selector {
                    pathway_id: cfg.pathway_id.as_deref(),
                    persona_id: None,
                    start_node_id: cfg.start_node_id.as_deref(),
                    objective: None,
                    agent_number: &n.phone_number,
                });
                format!("{} ({})", n.phone_number, plays.name)
            })
            .collect();
        let note = if refused {
            " [not an accepted key]"
        } else {
            ""
        };
        let _ = writeln!(out, "  {key}{note}: {}", numbers.join(", "));
    }
}

/// The banner, for the key `key` (the one that works; see `Simulator::api_key`), of a simulator
/// at `base`.
pub(crate) fn banner(app: &App, key: &str, base: &str) -> String {
    let mut out = String::new();
    let numbers: Vec<String> = app
        .store
        .numbers_of(key)
        .into_iter()
        .map(|n| n.phone_number.clone())
        .collect();
    let _ = writeln!(out, "api key: {key}");
    if numbers.is_empty() && app.config.auto_provision {
        let _ = writeln!(
            out,
            "agent numbers: none yet (the first unowned number this key uses becomes its own)"
        );
    } else if numbers.is_empty() {
        let _ = writeln!(
            out,
            "agent numbers: none yet (POST /_sim/numbers, or start with --auto-provision)"
        );
    } else {
        let _ = writeln!(out, "agent numbers: {}", numbers.join(", "));
    }
    if !app.config.api_keys.is_empty() {
        let _ = writeln!(out, "accepted keys: {}", app.config.api_keys.join(", "));
    }
    accounts(app, &mut out);
    let _ = writeln!(out, "webhook secret: {}", app.config.webhook_secret);
    let _ = writeln!(
        out,
        "clock: {}, seed: {}",
        app.clock.mode().as_str(),
        app.store.ids().seed()
    );
    let _ = writeln!(
        out,
        "scenarios: {}",
        app.scenarios.load().names().join(", ")
    );
    match &app.config.admin_token {
        Some(t) => {
            let _ = writeln!(out, "browser ui: {base}/_sim/ui?admin_token={t}");
        }
        None => {
            let _ = writeln!(out, "browser ui: {base}/_sim/ui");
        }
    }
    out
}
