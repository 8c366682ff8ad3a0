//! `portcullis`: CLI → configuration → server.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = portcullis::cli::Cli::parse();
    match portcullis::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
