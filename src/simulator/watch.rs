//! Where scenarios come from, and `--watch`: the scenario files and directories given are
//! looked at every 250 ms and reloaded when they change.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::engine::app::App;
use crate::scenario::{load, Scenario, Scenarios};

/// Where scenarios come from, kept so `watch_scenarios` can load them again.
pub(super) enum Source {
    Doc(Box<Scenario>),
    File(PathBuf),
    Dir(PathBuf),
}

impl Source {
    pub(super) fn load(&self) -> Result<Vec<Scenario>, String> {
        match self {
            Source::Doc(s) => Ok(vec![(**s).clone()]),
            Source::File(p) => {
                let text = crate::base::input::read_file(p)?;
                let dir = p.parent().unwrap_or(std::path::Path::new("."));
                Ok(vec![load::compile(
                    &p.display().to_string(),
                    &text,
                    load::is_yaml(p),
                    p.file_name().and_then(|f| f.to_str()),
                    load::Folder::Dir(dir),
                )?])
            }
            Source::Dir(d) => Scenarios::read_dir(d),
        }
    }

    /// The pathway file a file source wraps, if it is an overlay that names one (read when
    /// the file changes, not at every look).
    fn wrapped(&self) -> Option<PathBuf> {
        let Source::File(p) = self else {
            return None;
        };
        let text = crate::base::input::read_file(p).ok()?;
        let rel = load::wrapped_path(&text, load::is_yaml(p))?;
        Some(p.parent().unwrap_or(std::path::Path::new(".")).join(rel))
    }

    /// What changes when a file changes: each file's path, length and modification time (a
    /// file source's and the pathway's it wraps).
    fn fingerprint(
        &self,
        wrapped: Option<&PathBuf>,
    ) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let files = match self {
            Source::Doc(_) => Vec::new(),
            Source::File(p) => std::iter::once(p.clone()).chain(wrapped.cloned()).collect(),
            Source::Dir(d) => std::fs::read_dir(d)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default(),
        };
        let mut out: Vec<_> = files
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                (p, len, meta.and_then(|m| m.modified().ok()))
            })
            .collect();
        out.sort();
        out
    }
}

/// The embedded scenarios and those of `sources`, in order.
pub(super) fn load_all(sources: &[Source]) -> Result<Scenarios, String> {
    let mut all = Vec::new();
    for s in sources {
        all.extend(s.load()?);
    }
    Scenarios::build(all)
}

/// How often watched scenario files are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Reloads the scenarios when a watched file changes, until `stop`.
pub(super) async fn watch(app: App, sources: Vec<Source>, stop: CancellationToken) {
    let wraps = || sources.iter().map(Source::wrapped).collect::<Vec<_>>();
    let look = |wraps: &[Option<PathBuf>]| {
        sources
            .iter()
            .zip(wraps)
            .map(|(s, w)| s.fingerprint(w.as_ref()))
            .collect::<Vec<_>>()
    };
    let mut wrapped = wraps();
    let mut seen = look(&wrapped);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        if look(&wrapped) == seen {
            continue;
        }
        // An overlay may now name another pathway file.
        wrapped = wraps();
        seen = look(&wrapped);
        match load_all(&sources) {
            Ok(scenarios) => {
                tracing::info!("scenario files changed: reloaded");
                app.replace_scenarios(scenarios);
            }
            Err(e) => tracing::warn!("{e}; keeping the scenarios in force"),
        }
    }
}
