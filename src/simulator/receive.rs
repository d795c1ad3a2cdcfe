//! `bland-sms-sim receive`: a webhook receiver for trying the simulator by hand. It answers
//! every POST 200, prints each delivery on one line (what happened, in which conversation) and
//! whether its `X-Webhook-Signature` matches the webhook secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The largest body read; a bigger one is answered 413 and printed as such.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Serves on `listener` until `stop`, printing each delivery to `out` and checking its
/// signature with `secret`.
pub async fn serve(
    listener: TcpListener,
    secret: String,
    out: Arc<Mutex<dyn Write + Send>>,
    stop: CancellationToken,
) {
    let secret: Arc<str> = secret.into();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (secret, out, stop) = (secret.clone(), out.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (secret, out) = (secret.clone(), out.clone());
                async move { Ok::<_, std::convert::Infallible>(answer(req, &secret, &out).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    secret: &str,
    out: &Mutex<dyn Write + Send>,
) -> Response<Full<Bytes>> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    // A web page may not post here (it runs next to the browser, like the simulator), and
    // only a POST is a delivery.
    if req.headers().contains_key(hyper::header::ORIGIN) {
        return refuse(
            StatusCode::FORBIDDEN,
            "a browser's request: not a webhook delivery",
        );
    }
    if method != hyper::Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "webhook deliveries are POSTs",
        );
    }
    let signature = req
        .headers()
        .get("x-webhook-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let line = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Err(e) => Err(format!("{method} {path}: the body was not read: {e}")),
        Ok(body) => Ok(describe(
            &method,
            &path,
            &body.to_bytes(),
            signature,
            secret,
        )),
    };
    let (status, text) = match line {
        Ok(text) => (StatusCode::OK, text),
        Err(text) => (StatusCode::PAYLOAD_TOO_LARGE, text),
    };
    if let Ok(mut out) = out.lock() {
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    }
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"received\":true}")))
        .expect("constant parts are valid")
}

fn refuse(status: StatusCode, why: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(why.as_bytes())))
        .expect("constant parts are valid")
}

/// A value from the payload, printed with its control characters escaped (a payload could
/// otherwise drive the terminal).
fn shown(v: &Value) -> String {
    let s = v.as_str().unwrap_or("?");
    crate::base::input::prefix(s, 120)
        .escape_debug()
        .to_string()
}

/// One line for a delivery: `POST /hook message USER "hi" (conversation …) signature ok`.
fn describe(
    method: &hyper::Method,
    path: &str,
    body: &[u8],
    signature: Option<String>,
    secret: &str,
) -> String {
    let expected = crate::webhook::sign_bytes(secret, body);
    let signed = match signature {
        None => "no X-Webhook-Signature".to_string(),
        Some(s) if s == expected => "signature ok".to_string(),
        Some(_) => "signature MISMATCH: not signed with this --webhook-secret".to_string(),
    };
    let what = match serde_json::from_slice::<Value>(body) {
        Err(_) => format!("{} bytes, not JSON", body.len()),
        Ok(v) => {
            let conversation = shown(&v["conversation_id"]);
            match v["type"].as_str() {
                Some("message") => format!(
                    "message {} {:?} (conversation {conversation})",
                    shown(&v["sender"]),
                    crate::base::input::prefix(v["message"].as_str().unwrap_or(""), 120)
                ),
                Some("status") => format!(
                    "status {} (conversation {conversation})",
                    shown(&v["status"])
                ),
                _ => format!("{} (conversation {conversation})", short(&v)),
            }
        }
    };
    format!("{method} {} {what} {signed}", path.escape_debug())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    let kept = crate::base::input::prefix(&s, 120);
    if kept.len() < s.len() {
        format!("{kept}…")
    } else {
        s
    }
}
