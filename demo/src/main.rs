//! `tickets-mcp --issuer URL --resource URL (--listen ADDR | --listen-stdin)`

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use clap::Parser;
use tickets_mcp::app::{self, Config};
use tracing_subscriber::EnvFilter;

/// A Jira-like tickets MCP server protected by portcullis.
#[derive(Debug, Parser)]
#[command(name = "tickets-mcp", version)]
struct Cli {
    /// The issuer its access tokens carry, byte for byte.
    #[arg(long, env = "TICKETS_MCP_ISSUER", default_value = app::DEFAULT_ISSUER)]
    issuer: String,
    /// This server's canonical URL (the audience its tokens must name).
    #[arg(long, env = "TICKETS_MCP_RESOURCE", default_value = app::DEFAULT_RESOURCE)]
    resource: String,
    /// Address to listen on (port 0: any free port; the address is printed on stdout).
    #[arg(long, env = "TICKETS_MCP_LISTEN", default_value = app::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve on the listening TCP socket given as standard input instead of `--listen`
    /// (inetd's "wait" style: whoever started it bound the address, e.g. a test harness that
    /// must know the port before the server starts).
    #[arg(long, conflicts_with = "listen")]
    listen_stdin: bool,
    /// Extra browser origins allowed to call it (loopback origins always are).
    #[arg(
        long = "allow-origin",
        env = "TICKETS_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if cli.json_logs {
        logs.json().init();
    } else {
        logs.init();
    }
    let config = Config {
        issuer: cli.issuer,
        resource: cli.resource,
        listen: cli.listen,
        allowed_origins: cli.allowed_origins,
    };
    if cli.listen_stdin {
        let socket = std::io::stdin().as_fd().try_clone_to_owned()?;
        let listener = std::net::TcpListener::from(socket);
        listener.set_nonblocking(true)?;
        app::serve_on(config, tokio::net::TcpListener::from_std(listener)?).await
    } else {
        app::serve(config).await
    }
}
