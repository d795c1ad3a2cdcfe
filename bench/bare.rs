//! The ceiling: a bare hyper 1.x server on 127.0.0.1 that reads each request's body and
//! answers a fixed JSON document, served the way the simulator serves (tokio's multi-thread
//! runtime, HTTP/1.1 keep-alive, `TCP_NODELAY`). `bench/ratio.sh` runs it and the simulator
//! under the same load and prints each figure as a ratio of this one.
//!
//!   cargo run --release --example bare   # prints `listening on http://127.0.0.1:PORT`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// About the size of the simulator's answer to `/v1/sms/send`.
const ANSWER: &[u8] = br#"{"data":{"conversation_id":"00000000-0000-4000-8000-000000000000","message_id":"00000000-0000-4000-8000-000000000001","status":"sent"},"errors":null}"#;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole body, as any server that looks at it must.
    let _ = req.into_body().collect().await;
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(ANSWER)))
        .expect("a fixed answer"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0u16);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
