//! `gatehouse`: parse the command line, load settings, run. Every failure ends as one line
//! on stderr and a non-zero exit status.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use gatehouse::{
    Application, Settings,
    cli::{Cli, Command, MigrateAction},
    database::connect_database,
    telemetry,
};
use migration::{Migrator, MigratorTrait};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_environment() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.log_format, settings.debug);
    let result = actix_web::rt::System::new().block_on(run(cli.command, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", gatehouse_web::error::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(settings)
            .await?
            .run_until_stopped()
            .await
            .context("server failed"),
        Command::Migrate { action } => migrate(action, &settings).await,
        Command::Users { action } => gatehouse::users_cli::run(action, &settings).await,
        Command::Clients { action } => gatehouse::clients_cli::run(action, &settings).await,
        Command::Roles { action } => gatehouse::roles_cli::run(action, &settings).await,
        Command::Keys { action } => gatehouse::keys_cli::run(action, &settings).await,
        Command::Audit {
            action: gatehouse::cli::AuditAction::Export { since, until },
        } => gatehouse::audit_export::run(since, until, &settings).await,
        Command::Sessions {
            action: gatehouse::cli::SessionsAction::Purge,
        } => purge_sessions(&settings).await,
        Command::ImportStarter { from, batch_size } => {
            gatehouse::import_starter::run(&from, batch_size, &settings).await
        }
        // A blocking check with short timeouts: the process does nothing else meanwhile.
        Command::Healthcheck => gatehouse::healthcheck::check(&settings),
    }
}

async fn purge_sessions(settings: &Settings) -> anyhow::Result<()> {
    let db = gatehouse::database::prepare_database(settings).await?;
    let report = gatehouse_persistence::SessionRepository::new(db)
        .purge_in_batches(
            chrono::Utc::now() - settings.session_retention,
            gatehouse_persistence::PURGE_BATCH,
        )
        .await
        .context("cannot purge sessions")?;
    #[allow(clippy::print_stdout, reason = "the command's result")]
    {
        println!(
            "purged {} session(s) that ended more than {} day(s) ago, in {} batch(es); longest delete {} ms, average {:.1} ms",
            report.deleted,
            settings.session_retention.num_days(),
            report.batches,
            report.longest_delete.as_millis(),
            report.deleting.as_secs_f64() * 1000.0 / report.batches.max(1) as f64
        );
    }
    Ok(())
}

async fn migrate(action: MigrateAction, settings: &Settings) -> anyhow::Result<()> {
    // One connection: migrations run one statement at a time anyway, and `fresh` turns
    // SQLite's foreign keys off on the connection it drops the tables through — with a
    // pool, a drop could go out on another connection, where they are on, and fail.
    let mut single = settings.clone();
    single.database.max_connections = 1;
    let db = connect_database(&single).await?;
    match action {
        MigrateAction::Up { steps } => migration::up_exclusively(&db, steps)
            .await
            .context("migrate up failed")?,
        MigrateAction::Down { steps } => Migrator::down(&db, Some(steps))
            .await
            .context("migrate down failed")?,
        MigrateAction::Fresh => Migrator::fresh(&db).await.context("migrate fresh failed")?,
        MigrateAction::Status => {
            let migrations = Migrator::get_migration_with_status(&db)
                .await
                .context("cannot read migration status")?;
            for migration in migrations {
                #[allow(clippy::print_stdout, reason = "status is the command's output")]
                {
                    println!(
                        "{:<10} {}",
                        migration.status().to_string(),
                        migration.name()
                    );
                }
            }
        }
    }
    Ok(())
}
