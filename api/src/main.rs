//! `em-api`: configuration, telemetry, then the library does the work.

use std::process::ExitCode;

use em_api::cli::{Command, ImportOutcome};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match em_api::cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Some(Command::Schema) => {
            print!("{}", em_api::graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Import(args)) => {
            em_api::telemetry::init(false);
            match em_api::cli::import(args).await {
                Ok(ImportOutcome::Imported(counts)) => {
                    println!(
                        "imported {} users, {} groups, {} memberships, {} applications, {} sites, {} directory roles",
                        counts.users,
                        counts.groups,
                        counts.memberships,
                        counts.applications,
                        counts.sites,
                        counts.directory_roles
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Ok(ImportOutcome::Rejected(e)) => {
                    eprintln!("error[{}]: {}", e.code, e.message);
                    for problem in &e.details {
                        eprintln!("  {problem}");
                    }
                    eprintln!("nothing was imported");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e),
            }
        }
        Some(Command::Rule(command)) => {
            let outcome = em_api::cli::rule::run(&command);
            print!("{}", outcome.stdout);
            eprint!("{}", outcome.stderr);
            Ok(ExitCode::from(outcome.code))
        }
        Some(Command::Reconcile(args)) => {
            em_api::telemetry::init(false);
            em_api::cli::reconcile(args).await.map(|summary| {
                println!("{summary}");
                ExitCode::SUCCESS
            })
        }
        Some(Command::Token(args)) => em_api::cli::token(&args).map(|token| {
            println!("{token}");
            ExitCode::SUCCESS
        }),
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: em_api::cli::ServeArgs) -> anyhow::Result<ExitCode> {
    em_api::telemetry::init(args.log_format == "json");
    em_api::cli::serve(args).await?;
    Ok(ExitCode::SUCCESS)
}
