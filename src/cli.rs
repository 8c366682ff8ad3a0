//! The command line (docs/getting-started.md "Command line"): `serve`, `migrate`, `seed`,
//! `keys rotate`, `admin create`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::audit::AuditEvent;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::{SqlStore, Store};
use crate::{keys, seed, server, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "OAuth 2.1 authorization server for MCP servers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// TOML configuration file (PORTCULLIS_* environment variables override it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed file applied at start (idempotent).
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Local development: built-in dev seed, IdP simulator, loopback only.
        #[arg(long)]
        dev: bool,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dev: bool,
    },
    /// Apply a seed file and exit.
    Seed {
        file: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dev: bool,
    },
    /// Upstream connections.
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin (or set a new password): the password comes from standard input
    /// with --password-stdin, else from PORTCULLIS_ADMIN_PASSWORD.
    Create {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dev: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Check a connection: discovery, issuer, endpoints; and what its last login carried.
    Test {
        id: String,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dev: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a next signing key now; it signs after the rotation delay (default 10 min).
    Rotate {
        /// Sign with the new key at once (emergencies: caches may not know it yet).
        #[arg(long)]
        now: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dev: bool,
    },
}

fn load(config: Option<&PathBuf>, dev: bool) -> anyhow::Result<Config> {
    let env: HashMap<String, String> = std::env::vars().collect();
    Ok(Config::load(config.map(PathBuf::as_path), &env, dev)?)
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqlStore::open(&config.database_url)
        .await
        .with_context(|| "cannot open the database (PORTCULLIS_DATABASE_URL)")?;
    Ok(Arc::new(store))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, seed, dev } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            server::serve(config, seed.as_deref()).await
        }
        Command::Migrate { config, dev } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed { file, config, dev } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            let store = open_store(&config).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read seed file {}", file.display()))?;
            let env = |name: &str| std::env::var(name).ok();
            let summary =
                seed::apply(&store, &config.secret, &env, &text, SystemClock.now()).await?;
            let (audit, writer) =
                crate::audit::AuditLog::start(store.clone(), Arc::new(SystemClock));
            audit
                .record(AuditEvent::SeedApplied {
                    source: file.display().to_string(),
                    counts: summary.to_json(),
                })
                .await;
            audit.flush().await;
            drop(audit);
            let _ = writer.await;
            println!("seed applied: {}", summary.to_json());
            Ok(())
        }
        Command::Connections {
            command: ConnectionsCommand::Test { id, config, dev },
        } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            let store = open_store(&config).await?;
            crate::federation::check::run(store.as_ref(), &config, &id).await
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    username,
                    password_stdin,
                    config,
                    dev,
                },
        } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                line.trim_end_matches(['\n', '\r']).to_string()
            } else {
                config
                    .admin_password
                    .as_ref()
                    .map(|p| secrecy::ExposeSecret::expose_secret(p).to_string())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "give the password with --password-stdin or PORTCULLIS_ADMIN_PASSWORD"
                        )
                    })?
            };
            let store = open_store(&config).await?;
            crate::admin::bootstrap::upsert_admin(&store, &username, &password, SystemClock.now())
                .await?;
            println!("admin `{username}` can sign in at /admin/login");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { now, config, dev },
        } => {
            let config = load(config.as_ref(), dev)?;
            telemetry::init(config.log_format);
            let store = open_store(&config).await?;
            let delay = if now { 0 } else { config.key_rotation_delay };
            let at = SystemClock.now();
            let kid = keys::create_key(
                store.as_ref(),
                &config.secret,
                config.signing_alg,
                at,
                delay,
            )
            .await?;
            let (audit, writer) =
                crate::audit::AuditLog::start(store.clone(), Arc::new(SystemClock));
            audit
                .record(AuditEvent::SigningKeyCreated {
                    kid: kid.clone(),
                    alg: config.signing_alg.as_str().into(),
                    activate_at: at + delay,
                })
                .await;
            audit.flush().await;
            drop(audit);
            let _ = writer.await;
            println!(
                "new signing key {kid} ({}) published now; it signs {}",
                config.signing_alg.as_str(),
                if now {
                    "now".to_string()
                } else {
                    format!("in {delay} seconds")
                }
            );
            Ok(())
        }
    }
}
