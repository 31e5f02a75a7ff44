//! Serves the Graph emulator for the local demo.
//!
//! `graph-emulator [--port N] [--tenant-id GUID] [--client-id GUID] [--client-secret S]`
//! binds 127.0.0.1:N (0, the default, lets the OS pick), prints exactly one line,
//! `GRAPH_EMULATOR_READY http://127.0.0.1:PORT`, and serves until stdin reaches EOF or it
//! gets Ctrl-C / SIGTERM. Configure it further through `/_emulator/…` (see the crate docs).

use std::net::SocketAddr;

use graph_emulator::{GraphEmulator, Options};
use tokio::io::AsyncReadExt;

fn usage() -> ! {
    eprintln!(
        "usage: graph-emulator [--port N] [--tenant-id GUID] [--client-id GUID] [--client-secret SECRET]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut options = Options::default();
    let mut port = 0u16;
    let mut secret = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--tenant-id" => options.tenant_id = value().to_ascii_lowercase(),
            "--client-id" => options.factory_client_id = value().to_ascii_lowercase(),
            "--client-secret" => secret = Some(value()),
            _ => usage(),
        }
    }
    let emulator =
        match GraphEmulator::bind(SocketAddr::from(([127, 0, 0, 1], port)), options).await {
            Ok(emulator) => emulator,
            Err(error) => {
                eprintln!("graph-emulator: cannot listen on 127.0.0.1:{port}: {error}");
                std::process::exit(1);
            }
        };
    if let Some(secret) = secret {
        emulator.set_client_secret(&secret);
    }
    println!("GRAPH_EMULATOR_READY {}", emulator.url());
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 1024];
        while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    let terminated = async {
        #[cfg(unix)]
        {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
    drop(emulator);
}
