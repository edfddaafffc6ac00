use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc spent ~30% of a core under load (measured with perf on the
/// invoice-page benchmark); mimalloc is built for many small, short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = tenantql::cli::Cli::parse();
    tenantql::telemetry::init(&cli.log);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(runtime_workers());
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tenantql::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One worker more than the CPUs this process may run on. The fair share lets at most
/// one operation per CPU compute, so the extra worker is the one free to sit in the
/// I/O driver and read a quiet tenant's request while the others compute a flooding
/// tenant's operations; with one worker per CPU that request waited for a worker to
/// look at its sockets (a one-page tenant's p95 beside a 64-connection flood ×25 of its
/// p95 alone with one worker on one core, ×8 with two; `{ me }` within the run-to-run
/// noise: `docs/BENCHMARKS.md`). `TOKIO_WORKER_THREADS` still sets the count itself.
fn runtime_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}
