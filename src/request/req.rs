//! [`Req`]: a request read once (method, path, query, headers, body under the size cap), with
//! the few ways handlers look at it.

use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use crate::base::error::ApiError;
use crate::base::input;

/// Fields a warning or a refusal names; past them it says how many more there were.
pub(crate) const MAX_NAMED: usize = 20;

/// The first [`MAX_NAMED`] names (each cut to 100 bytes), then "and N more".
pub(crate) fn named(names: &[String]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(MAX_NAMED)
        .map(|n| crate::base::input::prefix(n, 100))
        .collect();
    let mut list = shown.join(", ");
    if names.len() > MAX_NAMED {
        list.push_str(&format!(" and {} more", names.len() - MAX_NAMED));
    }
    list
}

/// A request, read once.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `--strict`: what would be a warning is refused instead.
    pub strict: bool,
    /// What the request did that Bland ignores silently (`x-bland-sim-warning`).
    pub warnings: Mutex<Vec<String>>,
    /// What to send instead, for unknown fields that belong to another endpoint
    /// (`hints`): added to the warning, and to a 400 the request gets.
    pub hints: Mutex<Vec<String>>,
    /// The conversation a request that names none in its path found or opened (`/send`,
    /// `/create`, `/_sim/inbound`), for the journal.
    pub conversation: OnceLock<String>,
}

impl Req {
    /// Notes the conversation the request found or opened (once per request), and gives its
    /// id back.
    pub fn resolved(&self, id: String) -> &str {
        debug_assert!(self.conversation.get().is_none(), "resolved twice");
        self.conversation.get_or_init(|| id)
    }

    /// A header as text.
    pub fn header<K: hyper::header::AsHeaderName>(&self, name: K) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `idempotency-key` header, when non-empty.
    pub fn idempotency_key(&self) -> Option<&str> {
        const IDEMPOTENCY_KEY: hyper::header::HeaderName =
            hyper::header::HeaderName::from_static("idempotency-key");
        self.header(IDEMPOTENCY_KEY)
            .filter(|k| !k.trim().is_empty())
    }

    /// The key the request presents in `authorization`, raw or as `Bearer KEY`; `None` when
    /// empty.
    pub fn presented_key(&self) -> Option<&str> {
        let raw = self
            .header(hyper::header::AUTHORIZATION)
            .unwrap_or("")
            .trim();
        let key = match raw.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if raw.eq_ignore_ascii_case("bearer") => "",
            _ => raw,
        };
        (!key.is_empty()).then_some(key)
    }

    /// Decoded query pairs (`+` and percent escapes undone).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let q = self.query.as_deref().unwrap_or("");
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    /// The JSON body as an object, to read into more than one struct with [`input::typed`].
    ///
    /// # Errors
    /// As [`input::object`].
    pub fn json_object(&self) -> Result<serde_json::Value, ApiError> {
        input::object(&self.body)
    }

    /// The JSON body as `T`. Fields `T` does not know are ignored, as Bland does, with a
    /// warning on `/v1` (refused under `--strict`).
    ///
    /// # Errors
    /// As [`input::parse`]; under `--strict`, 400 `INVALID_PARAMETER` for an unknown field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if let Some((t, ignored)) = input::typed_noting_slice(&self.body) {
            self.ignored("body field", input::unknown_to_all(&[ignored]))?;
            return Ok(t);
        }
        let body = self.json_object()?;
        let (t, ignored) = input::typed_noting(&body)?;
        self.ignored("body field", input::unknown_to_all(&[ignored]))?;
        Ok(t)
    }

    /// The JSON body read as two structs that share it (each knows some of its fields).
    ///
    /// # Errors
    /// As [`Req::json`].
    pub fn json2<A: DeserializeOwned, B: DeserializeOwned>(&self) -> Result<(A, B), ApiError> {
        self.json2_knowing(&[])
    }

    /// [`Req::json2`], with `also` fields known though neither struct reads them (a legacy
    /// body's documented fields the simulator has no use for).
    ///
    /// # Errors
    /// As [`Req::json`].
    pub fn json2_knowing<A: DeserializeOwned, B: DeserializeOwned>(
        &self,
        also: &[&str],
    ) -> Result<(A, B), ApiError> {
        let unknown = |ia, ib| {
            let mut names = input::unknown_to_all(&[ia, ib]);
            names.retain(|n| !also.contains(&n.as_str()));
            names
        };
        let fast = input::typed_noting_slice(&self.body)
            .and_then(|a| Some((a, input::typed_noting_slice(&self.body)?)));
        if let Some(((a, ia), (b, ib))) = fast {
            self.ignored("body field", unknown(ia, ib))?;
            return Ok((a, b));
        }
        let body = self.json_object()?;
        let (a, ia) = input::typed_noting(&body)?;
        let (b, ib) = input::typed_noting(&body)?;
        self.ignored("body field", unknown(ia, ib))?;
        Ok((a, b))
    }

    /// Notes a field sent under an undocumented alias the simulator accepts (`phone_number` for
    /// `user_number`, as Bland's CLI sends it): a warning, or under `--strict` a refusal.
    ///
    /// # Errors
    /// Under `--strict`, 400 `INVALID_PARAMETER` naming the documented field.
    pub fn alias(&self, given: &str, documented: &str) -> Result<(), ApiError> {
        let what = format!(
            "`{given}` is accepted as `{documented}` (Bland's CLI and cookbook send it), but no \
             revision of Bland's docs names it: send `{documented}`"
        );
        if self.strict {
            return Err(ApiError::invalid(format!(
                "{what} (refused under --strict)"
            )));
        }
        let mut w = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        w.push(what);
        Ok(())
    }

    /// Notes what Bland would ignore: a warning on `/v1`, or under `--strict` a refusal.
    ///
    /// # Errors
    /// Under `--strict`, 400 `INVALID_PARAMETER` naming what was not understood.
    pub fn ignored(&self, what: &str, names: Vec<String>) -> Result<(), ApiError> {
        if names.is_empty() || !self.path.starts_with("/v1/") {
            return Ok(());
        }
        let hints: Vec<String> = names
            .iter()
            .filter_map(|n| {
                Some(format!(
                    "`{n}`: {}",
                    crate::request::hints::for_field(&self.path, n)?
                ))
            })
            .take(MAX_NAMED)
            .collect();
        let mut list = named(&names);
        if !hints.is_empty() {
            list = format!("{list} ({})", hints.join("; "));
            let mut h = self.hints.lock().unwrap_or_else(|p| p.into_inner());
            h.extend(hints);
        }
        if self.strict {
            return Err(ApiError::invalid(format!(
                "unknown {what}: {list} (refused under --strict; Bland ignores it)"
            )));
        }
        let mut w = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        w.push(format!("ignored {what}: {list}"));
        Ok(())
    }

    /// The request's compatibility hints that name one of `fields` (a field sent under
    /// another endpoint's name is the likely cause of its absence).
    pub fn hints_naming(&self, fields: &[&str]) -> Vec<String> {
        let h = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        h.iter()
            .filter(|hint| fields.iter().any(|f| hint.contains(&format!("`{f}`"))))
            .cloned()
            .collect()
    }

    /// The warnings noted so far.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
