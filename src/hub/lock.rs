//! The download lock of one blob, shared with Python's `huggingface_hub`: an exclusive `flock` on
//! `<cache>/.locks/models--org--name/<etag>.lock` (the path and the lock kind its `filelock` uses), so a
//! second process, vertolk or Python, waits for the first one's download instead of fetching the
//! same bytes or writing into the same partial file.
//!
//! Unlike Python, the lock file is removed when released, while still held, so no zero-byte `.lock`
//! files pile up. A waiter may have opened the file just before it went away and then lock a file
//! nobody else can see: after locking, a waiter checks that the path still names the file it locked
//! (same device and inode) and starts over if not. A Python waiter does not check; then it and a later
//! vertolk may both download, which is safe: Python writes a file of its own and renames it into place,
//! and vertolk renames only a verified blob, so the worst case is a second download, never a torn blob.
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(200);
/// How often a waiter says that it still waits.
const NOTE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum LockError {
    /// Another process held the lock and its download made no progress for this long.
    Timeout { waited: Duration },
    Io(std::io::Error),
}

/// A held lock; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct CacheLock {
    file: Option<File>,
    path: PathBuf,
}

/// One thing a waiter reports: how long it has waited, and the other download's progress (bytes).
pub struct Waiting {
    pub waited: Duration,
    pub progress: u64,
    pub first: bool,
}

impl CacheLock {
    /// Take the lock at `path`, waiting while another process holds it. `progress` measures the other
    /// download (bytes of its partial file); the wait ends with [`LockError::Timeout`] once that stays
    /// the same for `patience`. `note` is called when the wait starts and every 10 s.
    pub fn acquire(path: &Path, patience: Duration, progress: impl Fn() -> u64, mut note: impl FnMut(Waiting)) -> Result<Self, LockError> {
        let t0 = Instant::now();
        let mut last = (progress(), Instant::now());
        let mut next_note = Duration::ZERO;
        let mut vanished = 0;
        loop {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(LockError::Io)?;
            }
            let file = match open(path) {
                Ok(f) => f,
                // the folder went away between the two calls (a cache being cleaned): again, a few times
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && vanished < 10 => {
                    vanished += 1;
                    continue;
                }
                Err(e) => return Err(LockError::Io(e)),
            };
            match file.try_lock() {
                Ok(()) if names_this_file(path, &file) => return Ok(Self { file: Some(file), path: path.to_path_buf() }),
                // locked a file its holder had just removed: take the path's new file
                Ok(()) => continue,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported || is_no_locks(&e) => {
                    tracing::warn!(path = %path.display(), "the file system does not lock files; downloading without the cache lock");
                    return Ok(Self { file: None, path: path.to_path_buf() });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
            }
            drop(file);
            let p = progress();
            if p != last.0 {
                last = (p, Instant::now());
            }
            if last.1.elapsed() >= patience {
                return Err(LockError::Timeout { waited: t0.elapsed() });
            }
            if t0.elapsed() >= next_note {
                note(Waiting { waited: t0.elapsed(), progress: p, first: next_note.is_zero() });
                next_note += NOTE_EVERY;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the lock is really held (false on file systems without locks).
    pub fn is_held(&self) -> bool {
        self.file.is_some()
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // removed while held, so that no waiter can lock the removed file unnoticed
            if names_this_file(&self.path, &file) {
                let _ = std::fs::remove_file(&self.path);
            }
            let _ = file.unlock();
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        // group-writable, as huggingface_hub creates them: users sharing a cache can wait for each other
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o664);
    }
    o.open(path)
}

#[cfg(unix)]
fn names_this_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn names_this_file(path: &Path, _file: &File) -> bool {
    path.exists()
}

fn is_no_locks(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_then_gets_the_lock_and_no_file_is_left() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".locks/models--a--b/e.lock");
        let first = CacheLock::acquire(&path, Duration::from_secs(5), || 0, |_| {}).unwrap();
        assert!(first.is_held() && path.exists());
        let p2 = path.clone();
        let waiter = std::thread::spawn(move || {
            let mut notes = 0;
            let l = CacheLock::acquire(&p2, Duration::from_secs(5), || 0, |_| notes += 1);
            (l.map(|l| l.is_held()).ok(), notes)
        });
        std::thread::sleep(Duration::from_millis(500));
        drop(first);
        let (held, notes) = waiter.join().unwrap();
        assert_eq!(held, Some(true));
        assert!(notes >= 1, "the waiter said that it waits");
        assert!(!path.exists(), "no lock file is left behind");
    }

    #[test]
    fn waiting_ends_when_the_holder_makes_no_progress() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.lock");
        let _held = CacheLock::acquire(&path, Duration::from_secs(5), || 0, |_| {}).unwrap();
        let t0 = Instant::now();
        let r = CacheLock::acquire(&path, Duration::from_millis(600), || 0, |_| {});
        assert!(matches!(r, Err(LockError::Timeout { .. })));
        assert!(t0.elapsed() < Duration::from_secs(3));
        // progress keeps the waiter waiting past its patience
        let start = Instant::now();
        let moving = move || start.elapsed().as_millis() as u64 / 100;
        let p = path.clone();
        let h = std::thread::spawn(move || CacheLock::acquire(&p, Duration::from_millis(400), moving, |_| {}).is_ok());
        std::thread::sleep(Duration::from_millis(1200));
        drop(_held);
        assert!(h.join().unwrap(), "a moving download is waited for");
    }
}
