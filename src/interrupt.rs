//! SIGINT and SIGTERM as a request to stop, not a kill: the handler only records the signal, and long
//! loops (between articles, between translation batches, between generated tokens) ask [`requested`]
//! and stop at the next step boundary, so what is finished is saved and `report.json` says what is not.
//! A second signal of the same kind kills at once (the handler is reset after the first), so a user who
//! presses Ctrl-C twice is never stuck waiting.
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked us to stop (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // async-signal-safe: one atomic store
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to [`requested`]; called once by the CLI before any work starts.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic; SA_RESETHAND restores the default action
        // after the first delivery, so a second signal ends the process as usual.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The signal that asked us to stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `Err(Interrupted)` once a stop was requested: `?` it between steps.
pub fn check() -> crate::error::Result<()> {
    match requested() {
        Some(s) => Err(crate::error::Error::Interrupted(s)),
        None => Ok(()),
    }
}
