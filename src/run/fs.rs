//! Output files: every write goes through a temp file in the same folder and a rename, so a reader (or a
//! re-run) never sees half a file; temp files of a killed run are recognised and removed.
use std::path::Path;

/// Write via a temp file in the same folder and rename: a reader (or a re-run) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Temp files of a killed run (`.<name>.tmp-<pid>`) are garbage: their finished twins were never renamed.
pub fn remove_stale_temp_files(out: &Path) {
    for dir in [out.to_path_buf(), out.join("articles")] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
