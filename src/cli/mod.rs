//! The command line: flags in [`args`], one driver per command in [`commands`] (args → library options
//! → library call → output), and here the process-wide setup and the one map from errors to exit codes.
//! Errors get their context here (`anyhow`); the library's errors stay typed.
pub mod args;
pub mod commands;

use clap::Parser;

use crate::error::{exit_code, Error};
use crate::hub::{Catalog, ModelStore};
pub use args::Cli;
use args::Command;

/// Process-wide settings for the CPU kernels; called before any tensor work.
fn tune_runtime(threads: Option<u16>) {
    // candle sizes its pools from RAYON_NUM_THREADS; when it is unset, candle works out the number of
    // physical cores again on every matmul (parsing /proc/cpuinfo), so settle it once here, with
    // candle's own default.
    let n = match threads {
        Some(n) => Some(usize::from(n.max(1))),
        None if std::env::var_os("RAYON_NUM_THREADS").is_none() => Some(num_cpus::get_physical().max(1)),
        None => None,
    };
    if let Some(n) = n {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // candle's element-wise ops hand work to a pool whose workers spin 25,000 times before parking; on
    // a 2-core machine that spinning took the core the rayon pool (GEMMs, attention, token choice)
    // needed next. Parking at once: greedy 653 → 750 tok/s and beam 4 208 → 242 tok/s on the bench
    // model (interleaved runs); the GGUF summarizer within noise. An explicit setting wins.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1");
    }
    // Decoding frees and re-allocates the same multi-megabyte buffers (logits, activations) at every
    // step. glibc's default gives large blocks back to the kernel (mmap, heap trimming), so each step
    // paid page faults and page zeroing again (8 % of a decoding profile); keep them for reuse.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit_code::USAGE } else { exit_code::OK };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    if let Some(n) = cli.global.threads.map(usize::from).filter(|&n| n > 4 * num_cpus::get()) {
        if !cli.global.quiet {
            // measured: one article took 100 s with --threads 1024 on 2 CPUs, 1 s with 2
            eprintln!("note: --threads {n} is far more than this machine's {} CPUs; expect it to be slower, not faster", num_cpus::get());
        }
    }
    tune_runtime(cli.global.threads);
    // SIGINT/SIGTERM stop the work at the next step boundary (a second one kills at once)
    crate::interrupt::install();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code_of(&e)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) | (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERTOLK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("vertolk={level}")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// Run a parsed command line; the exit code of a command that ran, or its error.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    let mut store = ModelStore::from_env(g.cache_dir.clone(), g.offline, crate::progress::bars_enabled(g.quiet));
    store.notices = !g.quiet;
    // the flags (or their variables, which clap reads and checks) over the library's own reading;
    // 0 s means the default
    use crate::hub::net::{DEFAULT_DOWNLOAD_TIMEOUT, DEFAULT_ETAG_TIMEOUT, DEFAULT_LOCK_TIMEOUT};
    let or = |t: std::time::Duration, d| if t.is_zero() { d } else { t };
    let net = &mut store.net;
    if let Some(t) = g.download_timeout {
        net.download_timeout = or(t, DEFAULT_DOWNLOAD_TIMEOUT);
    }
    if let Some(t) = g.etag_timeout {
        net.etag_timeout = or(t, DEFAULT_ETAG_TIMEOUT);
    }
    if let Some(n) = g.retries {
        net.retries = n;
    }
    if let Some(t) = g.lock_timeout {
        net.lock_timeout = or(t, DEFAULT_LOCK_TIMEOUT);
    }
    let catalog = Catalog::builtin();
    match cli.command {
        Command::Translate(a) => commands::translate::run(&a, g, &store, &catalog),
        Command::Models(m) => commands::models::run(m, &store, &catalog),
        Command::Tokenize(a) => commands::tokenize::run(&a, &store, &catalog),
        Command::Summarize(a) => commands::summarize::run(&a, g, &store, &catalog),
        Command::Brief(a) => commands::brief::run(&a, g, &store, &catalog),
        Command::Detect(a) => commands::detect::run(&a),
        Command::Bench(b) => commands::bench::run(b, g),
        Command::Eval(e) => commands::eval::run(e, g),
    }
}

/// The exit code of a failed command: the library error's own code, else 1.
fn exit_code_of(e: &anyhow::Error) -> i32 {
    e.chain().find_map(|c| c.downcast_ref::<Error>()).map(Error::exit_code).unwrap_or(exit_code::FAILURE)
}

/// Per-file errors on stderr: the same long message (a missing model, with what to do about it) is
/// printed in full once, then only referred to.
#[derive(Default)]
pub(crate) struct ErrorLog {
    seen: std::collections::HashSet<String>,
}

impl ErrorLog {
    pub(crate) fn report(&mut self, file: &str, message: &str) {
        if self.seen.insert(message.to_string()) {
            eprintln!("error: {file}: {message}");
        } else {
            let head: String = message.split(" is not available").next().unwrap_or(message).chars().take(160).collect();
            eprintln!("error: {file}: {head} (as above)");
        }
    }
}
