//! The binary: parse flags, build the simulator, bind, print where it listens, serve until
//! SIGINT or SIGTERM.

use std::io::Write;

use bland_sms_sim::{banner, server, App, Cli};
use clap::Parser;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // Plain text, not Debug: a bad scenario or fixtures file names its path and the reason.
        eprintln!("bland-sms-sim: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLAND_SIM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let addr = format!("{}:{}", cli.host, cli.port);
    let config = cli.into_config()?;
    let app = App::new(config)?;
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    {
        // The first line is exactly `listening on http://HOST:PORT`, for scripts to read.
        // Best effort: a script that reads that line and closes the pipe must not stop the
        // server, so write errors are ignored.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}")
            .and_then(|_| write!(out, "{}", banner(&app)))
            .and_then(|_| out.flush());
    }
    server::run(listener, app, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
