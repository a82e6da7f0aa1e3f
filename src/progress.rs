//! Progress bars on stderr: shown only when stderr is a terminal and `--quiet` is off, so pipes, logs and
//! CI stay clean. Results never go to stderr.
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether bars should be drawn.
pub fn bars_enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar over `len` units, hidden when bars are off.
pub fn bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    pb
}

/// A bar over a download of `len` bytes, hidden when bars are off.
pub fn byte_bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    let name: String = what.chars().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    pb.set_prefix(name);
    pb
}
