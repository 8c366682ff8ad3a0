//! `tickets-mcp --issuer URL --resource URL --listen ADDR`

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;

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
    /// Address to listen on.
    #[arg(long, env = "TICKETS_MCP_LISTEN", default_value = app::DEFAULT_LISTEN)]
    listen: SocketAddr,
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
    app::serve(Config {
        issuer: cli.issuer,
        resource: cli.resource,
        listen: cli.listen,
        allowed_origins: cli.allowed_origins,
    })
    .await
}
