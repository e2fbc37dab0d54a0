//! The `auditstore` command. All the work lives in the library so tests can
//! start the same server on port 0.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: ingest allocates many small buffers
/// across threads, where glibc's arenas cost a sixth of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = server::config::Cli::parse();
    match server::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // Its findings and verdict are printed already.
        Err(server::ServeError::NotVerified(verdict)) => ExitCode::from(verdict.code()),
        Err(error) => {
            // Logging may not be set up yet (bad configuration), so the
            // reason goes to stderr directly as well.
            tracing::error!(%error, "auditstore stopped");
            eprintln!("auditstore: {error}");
            ExitCode::FAILURE
        }
    }
}
