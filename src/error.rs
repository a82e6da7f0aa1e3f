//! Typed errors of the library, and the one map from outcomes to the exit codes the CLI returns.
use std::path::PathBuf;
use std::sync::Arc;

/// Process exit codes that scripts can rely on (documented in `--help` and the README).
pub mod exit_code {
    /// Everything asked for was done.
    pub const OK: i32 = 0;
    /// Nothing usable was produced (a fatal error).
    pub const FAILURE: i32 = 1;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: i32 = 2;
    /// Some inputs failed, the others were done.
    pub const PARTIAL: i32 = 3;
    /// A model is not available: not in the cache while offline, hub unreachable, a download that
    /// failed (stalled, dropped, refused, corrupt, another process's lock), or files missing/corrupt.
    pub const MODEL_UNAVAILABLE: i32 = 4;
    /// Stopped by a signal (SIGINT, SIGTERM, ...): 128 + its number, as shells report a signalled process;
    /// `brief` writes `report.json` for what was finished first.
    pub fn interrupted(signal: i32) -> i32 {
        128 + signal
    }
}

/// The exit code of a batch: all done 0; a missing model 4 (not the inputs' fault); nothing done 1;
/// some inputs failed 3.
pub fn batch_exit_code(done: usize, failed: usize, model_missing: bool) -> i32 {
    match (done, failed) {
        (_, 0) => exit_code::OK,
        _ if model_missing => exit_code::MODEL_UNAVAILABLE,
        (0, _) => exit_code::FAILURE,
        _ => exit_code::PARTIAL,
    }
}

/// Errors are `Clone` (their sources shared) so that one failure, such as a translator that would not
/// load, can be reported for every article it affects with its kind intact.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("unknown model '{name}': not in the catalogue ({known}), not a hub repo id (`org/name[@revision]`), not a local folder and not a .gguf file")]
    UnknownModel { name: String, known: String },

    /// The model cannot be had: offline with a cold cache, hub unreachable, or a file missing upstream.
    #[error("{0}")]
    ModelUnavailable(String),

    /// A download from a reachable hub failed part-way; `cause` says how, the message what to do.
    /// Unlike [`Error::ModelUnavailable`] (offline, hub unreachable) this is never a reason to quietly
    /// use another model: a re-run, a token or a mirror fixes it.
    #[error("{message}")]
    Download { cause: DownloadCause, message: String },

    /// The translator for a language could not be loaded (`source` says why).
    #[error("no translator for {lang}: {source}")]
    TranslatorUnavailable { lang: String, source: Box<Error> },

    #[error("model file {path} is invalid: {reason}")]
    InvalidModelFile { path: PathBuf, reason: String },

    #[error("invalid {what} in {path}: {reason}")]
    InvalidConfig { what: &'static str, path: PathBuf, reason: String },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("input {path}: {reason}")]
    Input { path: String, reason: String },

    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: Arc<std::io::Error> },

    #[error(transparent)]
    Candle(Arc<candle_core::Error>),

    /// SIGINT or SIGTERM arrived (the signal's number): work stopped between two steps, nothing half-written.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),

    /// Another process holds the lock on an output folder.
    #[error("{0}")]
    Locked(String),

    /// A broken invariant of vertolk itself (a bug), never the user's input.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

/// Why a download failed, one kind per message (see [`Error::Download`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadCause {
    /// The server went silent for longer than the timeout, every try.
    Stalled,
    /// The connection closed or reset before the file was complete, every try.
    Dropped,
    /// The host the hub sends the file from (its CDN) cannot be reached.
    Unreachable,
    /// HTTP 5xx, every try.
    ServerError,
    /// HTTP 429, every try.
    RateLimited,
    /// HTTP 404: no such repo, revision or file.
    NotFound,
    /// HTTP 401/403: gated or private, no token or a refused one.
    Unauthorized,
    /// Another process holds the file's download lock and made no progress for the lock timeout.
    LockTimeout,
    /// The content did not match the hub's size or sha256, twice.
    Corrupt,
    /// The answers did not follow the hub's protocol (missing commit or etag), or a proxy failed.
    Protocol,
    /// Writing the cache failed (disk full, permissions).
    LocalIo,
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(Arc::new(e))
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source: Arc::new(source) }
    }

    /// The exit code this error maps to when it ends the process.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::UnknownModel { .. } => exit_code::USAGE,
            // a config that cannot describe a working model is a corrupt model file, not bad input
            Error::ModelUnavailable(_)
            | Error::Download { .. }
            | Error::InvalidModelFile { .. }
            | Error::InvalidConfig { .. }
            | Error::TranslatorUnavailable { .. } => exit_code::MODEL_UNAVAILABLE,
            Error::Interrupted(sig) => exit_code::interrupted(*sig),
            _ => exit_code::FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
