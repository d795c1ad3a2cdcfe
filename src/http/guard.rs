//! [`Guard`]: who may talk to the simulator at all. It runs on a developer's machine next to
//! their browser, so, as careful local dev servers do, it refuses
//! - a `Host` that is not a loopback name or address, the `--host` it was given, or a name
//!   admitted with `--allowed-host` (a page on a rebound DNS name would otherwise reach it);
//! - a browser's cross-origin request: an `Origin` that is not its own or one admitted with
//!   `--allowed-origin` (`null` included), or, without `Origin`, `Sec-Fetch-Site: cross-site` or
//!   `same-site`. It grants no CORS.
//!
//! Requests that carry neither header (curl, SDKs, server-side code) pass whatever their
//! content type. The check runs before the body is read.

use std::net::IpAddr;

use hyper::header::{HeaderName, HOST, ORIGIN};
use hyper::{HeaderMap, Method, StatusCode, Uri};

use crate::base::error::ApiError;
use crate::webhook::DELIVERY_HEADER;

/// The allow-lists, normalized once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Guard {
    /// Names admitted besides the loopback ones: exact, or `.example.com` for the name and
    /// every name under it; lowercase.
    hosts: Vec<String>,
    any_host: bool,
    /// Full origins (`http://tool.example:3000`), lowercase, no trailing slash.
    origins: Vec<String>,
    any_origin: bool,
}

impl Guard {
    /// The guard `config` describes.
    pub fn for_config(config: &crate::engine::config::Config) -> Self {
        Guard::new(
            &config.bind_host,
            &config.allowed_hosts,
            &config.allowed_origins,
        )
    }

    /// `bound` is the host the simulator was told to listen on (`--host`); `hosts` and
    /// `origins` are `--allowed-host` and `--allowed-origin` (`*` admits all).
    pub fn new(bound: &str, hosts: &[String], origins: &[String]) -> Self {
        let mut g = Guard::default();
        let bound = bare_host(bound).to_ascii_lowercase();
        if !bound.is_empty() {
            g.hosts.push(bound);
        }
        for h in hosts {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            if h == "*" {
                g.any_host = true;
            } else if !h.is_empty() {
                g.hosts.push(bare_host(&h).to_string());
            }
        }
        for o in origins {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            if o == "*" {
                g.any_origin = true;
            } else if !o.is_empty() {
                g.origins.push(o);
            }
        }
        g
    }

    /// Passes a request, or says why it is refused and which flag would admit it.
    ///
    /// # Errors
    /// 403 `HOST_NOT_ALLOWED` or 403 `ORIGIN_NOT_ALLOWED`.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        // One of each: a second copy (which no browser sends) could say something else than
        // the first, which is the one read here.
        for name in [HOST, ORIGIN, SEC_FETCH_SITE, SEC_FETCH_MODE, SEC_FETCH_DEST] {
            if headers.get_all(&name).iter().nth(1).is_some() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_HEADER",
                    format!("The request has more than one `{name}` header: send one"),
                ));
            }
        }
        let text = |name: HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let host = text(HOST);
        if let Some(host) = host {
            if !self.host_allowed(host) {
                return Err(refused_host(host));
            }
        }
        if uri.path().starts_with("/_sim") && headers.contains_key(DELIVERY_HEADER) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "WEBHOOK_NOT_ALLOWED",
                "A simulator's webhook delivery may not drive the /_sim control API: point the \
                 webhook at your own receiver",
            ));
        }
        // An absolute-form target (`POST http://name/…`) names its host too.
        if let Some(authority) = uri.authority() {
            if !self.host_allowed(authority.as_str()) {
                return Err(refused_host(authority.as_str()));
            }
        }
        match text(ORIGIN) {
            Some(origin) if !self.origin_allowed(origin, host) => Err(refused_origin(origin)),
            Some(_) => Ok(()),
            None => {
                let site = text(SEC_FETCH_SITE).unwrap_or("");
                let cross = site.eq_ignore_ascii_case("cross-site")
                    || site.eq_ignore_ascii_case("same-site");
                // Following a link to a page, in a window of its own, is not a request a page
                // can read or use to change anything (a frame could be: clickjacking); every
                // other request a browser sends from another site is refused.
                let navigation = (method == Method::GET || method == Method::HEAD)
                    && text(SEC_FETCH_MODE).is_some_and(|m| m.eq_ignore_ascii_case("navigate"))
                    && text(SEC_FETCH_DEST).is_none_or(|d| d.eq_ignore_ascii_case("document"));
                if cross && !navigation {
                    Err(refused_site(site))
                } else {
                    Ok(())
                }
            }
        }
    }

    fn host_allowed(&self, header: &str) -> bool {
        if self.any_host {
            return true;
        }
        let host = bare_host(header.trim())
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        if host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
        {
            return true;
        }
        self.hosts.iter().any(|h| {
            *h == host
                || h.strip_prefix('.')
                    .is_some_and(|domain| host == domain || host.ends_with(h.as_str()))
        })
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if origin == "null" {
            return false;
        }
        if self.any_origin || self.origins.contains(&origin) {
            return true;
        }
        // Its own origin: the page was served by the simulator at the address the request uses.
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        match (authority, host) {
            (Some(a), Some(h)) => {
                // `http://host` and `Host: host:80` are the same origin.
                let bare = |s: &str| s.strip_suffix(":80").unwrap_or(s).to_string();
                bare(a) == bare(&h.trim().to_ascii_lowercase())
            }
            _ => false,
        }
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// The host of `host[:port]`, `[v6]:port` or a bare name or address.
fn bare_host(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        // `[addr]` or `[addr]:port`; anything else after the bracket is not a host at all.
        return match rest.split_once(']') {
            Some((addr, "")) => addr,
            Some((addr, port))
                if port.len() > 1
                    && port.starts_with(':')
                    && port[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                addr
            }
            _ => s,
        };
    }
    match s.rsplit_once(':') {
        // One colon with a port after it; several colons is a bare IPv6 address.
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => s,
    }
}

/// A header value as it may be quoted in a message: printable and short.
fn quoted(v: &str) -> String {
    let v: String = v.chars().filter(|c| !c.is_control()).take(100).collect();
    format!("{v:?}")
}

fn refused_host(host: &str) -> ApiError {
    let name = bare_host(host.trim());
    ApiError::new(
        StatusCode::FORBIDDEN,
        "HOST_NOT_ALLOWED",
        format!(
            "Host {} is not allowed: the simulator answers only loopback names (localhost, \
             127.0.0.1, [::1]) and its --host, so that a web page on another name cannot reach \
             it. Start it with --allowed-host {} to admit this name (a container's or a \
             tunnel's), or --allowed-host '*' to admit any",
            quoted(host),
            quoted(name).trim_matches('"'),
        ),
    )
}

fn refused_origin(origin: &str) -> ApiError {
    let hint = if origin.trim() == "null" {
        "a sandboxed frame or a file:// page cannot be admitted".to_string()
    } else {
        format!(
            "start the simulator with --allowed-origin {} to admit that page",
            quoted(origin.trim().trim_end_matches('/')).trim_matches('"')
        )
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ORIGIN_NOT_ALLOWED",
        format!(
            "Origin {} is not allowed: a web page on another origin may not drive the \
             simulator (it grants no CORS); {hint}. Clients that send no Origin (curl, SDKs, \
             server-side code) are not affected",
            quoted(origin)
        ),
    )
}

fn refused_site(site: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ORIGIN_NOT_ALLOWED",
        format!(
            "A browser request from another site (Sec-Fetch-Site: {}) is not allowed: a web \
             page on another origin may not drive the simulator. Send it from a page the \
             simulator serves, or admit the page's origin with --allowed-origin",
            quoted(site).trim_matches('"')
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn code(g: &Guard, method: Method, pairs: &[(&'static str, &str)]) -> Option<&'static str> {
        let uri = Uri::from_static("/_sim/health");
        g.check(&method, &uri, &headers(pairs))
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn loopback_names_and_the_bound_host_pass_others_do_not() {
        let g = Guard::new("127.0.0.1", &[], &[]);
        for ok in [
            "localhost:8790",
            "LOCALHOST",
            "app.localhost:1",
            "127.0.0.1:8790",
            "127.9.9.9",
            "[::1]:8790",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(code(&g, Method::GET, &[("host", ok)]), None, "{ok}");
        }
        for bad in [
            "rebind.attacker.example:8790",
            "localhost.attacker.example",
            "10.0.0.1:8790",
            "[::2]:1",
            "[::1]evil.example",
            "[::1]:80evil",
        ] {
            assert_eq!(
                code(&g, Method::GET, &[("host", bad)]),
                Some("HOST_NOT_ALLOWED"),
                "{bad}"
            );
        }
        let bound = Guard::new("0.0.0.0", &["sim".into(), ".corp.example".into()], &[]);
        for ok in ["0.0.0.0:1", "sim:8790", "corp.example", "a.corp.example:1"] {
            assert_eq!(code(&bound, Method::GET, &[("host", ok)]), None, "{ok}");
        }
        assert_eq!(
            code(&bound, Method::GET, &[("host", "xcorp.example")]),
            Some("HOST_NOT_ALLOWED")
        );
        let any = Guard::new("127.0.0.1", &["*".into()], &[]);
        assert_eq!(code(&any, Method::GET, &[("host", "anything:1")]), None);
    }

    #[test]
    fn only_its_own_or_an_admitted_origin_passes() {
        let g = Guard::new("127.0.0.1", &[], &["http://Tool.example/".into()]);
        let host = ("host", "localhost:8790");
        assert_eq!(code(&g, Method::POST, &[host]), None);
        assert_eq!(
            code(
                &g,
                Method::POST,
                &[host, ("origin", "http://localhost:8790")]
            ),
            None
        );
        assert_eq!(
            code(&g, Method::POST, &[host, ("origin", "http://tool.example")]),
            None
        );
        for bad in [
            "http://evil.example",
            "null",
            "http://localhost:3000",
            "http://127.0.0.1:8790",
        ] {
            assert_eq!(
                code(&g, Method::POST, &[host, ("origin", bad)]),
                Some("ORIGIN_NOT_ALLOWED"),
                "{bad}"
            );
        }
        for site in ["cross-site", "same-site"] {
            assert_eq!(
                code(&g, Method::POST, &[host, ("sec-fetch-site", site)]),
                Some("ORIGIN_NOT_ALLOWED")
            );
        }
        assert_eq!(
            code(&g, Method::GET, &[host, ("sec-fetch-site", "same-origin")]),
            None
        );
        // Following a link from another site opens a page; nothing else from there passes.
        let nav = [
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ];
        assert_eq!(code(&g, Method::GET, &nav), None);
        assert_eq!(code(&g, Method::POST, &nav), Some("ORIGIN_NOT_ALLOWED"));
        // ... but not into a frame of a page on another site.
        let framed = [
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "iframe"),
        ];
        assert_eq!(code(&g, Method::GET, &framed), Some("ORIGIN_NOT_ALLOWED"));
    }

    #[test]
    fn a_second_copy_of_a_header_it_reads_and_a_foreign_absolute_target_are_refused() {
        let g = Guard::new("127.0.0.1", &[], &[]);
        let mut h = headers(&[("host", "localhost"), ("origin", "http://localhost")]);
        h.append("origin", HeaderValue::from_static("http://evil.example"));
        let uri = Uri::from_static("/_sim/reset");
        let got = g.check(&Method::POST, &uri, &h).err().map(|e| e.code);
        assert_eq!(got, Some("INVALID_HEADER"));
        let h = headers(&[("host", "localhost")]);
        let uri = Uri::from_static("http://evil.example/_sim/reset");
        let got = g.check(&Method::POST, &uri, &h).err().map(|e| e.code);
        assert_eq!(got, Some("HOST_NOT_ALLOWED"));
        let uri = Uri::from_static("http://localhost:8790/_sim/reset");
        assert!(g.check(&Method::POST, &uri, &h).is_ok());
    }
}
