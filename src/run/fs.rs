//! Output files: every write goes through a temp file in the same folder and a rename, so a reader (or a
//! re-run) never sees half a file; a failed write (disk full) removes its temp file; temp files of a
//! killed run are recognised and removed; one run at a time writes an output folder ([`OutputLock`]).
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Write via a temp file in the same folder and rename: a reader (or a re-run) never sees half a file.
/// When any step fails (disk full, a file size limit), the temp file is removed and the target is left
/// as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// True when a process with this id exists (signal 0 checks without sending anything).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks for the process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Temp files of a killed run (`.<name>.tmp-<pid>`) are garbage: their finished twins were never renamed.
/// Only those whose process is gone are removed (another process's write in flight is left alone).
pub fn remove_stale_temp_files(out: &Path) {
    for dir in [out.to_path_buf(), out.join("articles")] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((_, pid)) = name.rsplit_once(".tmp-") else { continue };
            if !name.starts_with('.') {
                continue;
            }
            let alive = pid.parse::<u32>().map(|p| p != std::process::id() && process_alive(p)).unwrap_or(false);
            if !alive {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The lock on an output folder: `<out>/.vertolk.lock`, `flock`ed for as long as this value lives and
/// holding the owner's pid (for the message another run gets). The kernel drops a `flock` when its
/// process dies, however it dies, so a lock file left by a killed run is simply taken over: no stale
/// lock ever needs cleaning by hand, and a pid that was reused cannot keep a lock alive.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    /// Held open for the lock's lifetime: closing it releases the `flock`.
    _file: std::fs::File,
}

impl OutputLock {
    pub const FILE: &'static str = ".vertolk.lock";

    /// Take the lock on `out` (which must exist), or fail at once with who holds it.
    pub fn acquire(out: &Path) -> Result<Self> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::MetadataExt;
        let path = out.join(Self::FILE);
        loop {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(Error::io(&path, err));
                }
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let owner = owner.trim();
                let who = if owner.is_empty() { "another vertolk process".to_string() } else { format!("vertolk process {owner}") };
                return Err(Error::Locked(format!(
                    "{} is in use by {who} (lock {}); wait for it to finish or give another --out",
                    out.display(),
                    path.display()
                )));
            }
            // A holder that finished removed the file after we opened it: our lock is on a file nobody
            // else will open, so start again on the one now there.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            // the pid is only for the message another run gets; the flock is the lock, so a full disk
            // that cannot take these few bytes does not stop the run
            let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id()));
            return Ok(Self { path, _file: file });
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // removed while still locked: a run waiting on this file sees it is gone and takes a new one
        let _ = std::fs::remove_file(&self.path);
        // `file` closes after this, which releases the flock
    }
}
