use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc spent ~30% of a core under load (measured with perf on the
/// invoice-page benchmark); mimalloc is built for many small, short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = tenantql::cli::Cli::parse();
    tenantql::telemetry::init(&cli.log);
    let workers = match runtime_workers() {
        Ok(workers) => workers,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(workers)
        .on_thread_start(tenantql::time_slice::ask_for_short_slices)
        .build()
    {
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
/// noise: `docs/BENCHMARKS.md`). `TOKIO_WORKER_THREADS` sets the count instead; read
/// here, so that a bad value is an error message rather than tokio's panic.
fn runtime_workers() -> Result<usize, String> {
    match std::env::var("TOKIO_WORKER_THREADS") {
        Err(std::env::VarError::NotPresent) => {
            Ok(std::thread::available_parallelism().map_or(1, |n| n.get()) + 1)
        }
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(workers) if workers > 0 => Ok(workers),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS must be a whole number of threads above 0, not {text:?}"
            )),
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            Err("TOKIO_WORKER_THREADS must be a whole number of threads above 0".into())
        }
    }
}
