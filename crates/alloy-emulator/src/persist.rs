//! Durable `--state` files with group commit.
//!
//! The contract is strict: a write the API answered with 200 is on disk before the response
//! leaves, and a crash (even `kill -9` in the middle of a write) never leaves a half-written
//! file. So every snapshot is written to a temporary file in the same directory, fsynced, then
//! renamed over the state file, and the directory is fsynced so the rename itself is durable.
//!
//! The cost of that is two fsyncs per snapshot, a few milliseconds whatever the size. Instead
//! of paying it once per request, handlers commit their change in memory, wake the single
//! writer task and wait until the generation they produced is durable. While the writer is busy
//! further writes pile up, and the next snapshot covers all of them at once (group commit): under
//! concurrent load the number of fsyncs stays bounded by the disk, not by the request rate.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::App;

#[derive(Clone, Default)]
struct Status {
    /// Every generation up to this one is on disk.
    durable: u64,
    /// The last failed attempt: the generation it tried to write and why it failed.
    failed: Option<(u64, String)>,
}

pub(crate) struct Persister {
    path: PathBuf,
    wake: Notify,
    status: watch::Sender<Status>,
}

impl Persister {
    pub(crate) fn new(path: PathBuf) -> Persister {
        Persister {
            path,
            wake: Notify::new(),
            status: watch::Sender::new(Status::default()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Wait until the store generation `generation` (or a later one) is on disk.
    pub(crate) async fn wait_durable(&self, generation: u64) -> Result<(), String> {
        let mut rx = self.status.subscribe();
        // notify_one keeps a permit when the writer is busy, so a wake-up is never lost and any
        // number of concurrent waiters costs one extra snapshot at most.
        self.wake.notify_one();
        let status = rx
            .wait_for(|s| {
                s.durable >= generation || s.failed.as_ref().is_some_and(|(g, _)| *g >= generation)
            })
            .await
            .map_err(|_| "the state file writer has stopped".to_owned())?;
        if status.durable >= generation {
            Ok(())
        } else {
            Err(status
                .failed
                .as_ref()
                .map(|(_, e)| e.clone())
                .unwrap_or_default())
        }
    }

    /// The writer task: one snapshot per wake-up, plus a last one at shutdown.
    pub(crate) async fn run(self: Arc<Self>, app: Arc<App>, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => self.flush(&app).await,
                _ = cancel.cancelled() => {
                    self.flush(&app).await;
                    return;
                }
            }
        }
    }

    async fn flush(&self, app: &App) {
        let durable = self.status.borrow().durable;
        let snapshot = {
            let store = app.lock_store();
            if store.generation() <= durable {
                return;
            }
            store.snapshot_json().map(|b| (store.generation(), b))
        };
        let (generation, bytes) = match snapshot {
            Ok(s) => s,
            Err(e) => {
                let generation = app.lock_store().generation();
                self.fail(generation, format!("could not serialise the state: {e}"));
                return;
            }
        };
        let path = self.path.clone();
        let result = tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await;
        match result {
            Ok(Ok(())) => self
                .status
                .send_modify(|s| s.durable = s.durable.max(generation)),
            Ok(Err(e)) => self.fail(
                generation,
                format!("could not write {}: {e}", self.path.display()),
            ),
            Err(e) => self.fail(generation, format!("the state writer failed: {e}")),
        }
    }

    fn fail(&self, generation: u64, message: String) {
        eprintln!("alloy-emulator: {message}");
        self.status
            .send_modify(|s| s.failed = Some((generation, message)));
    }
}

/// Replace `path` with `bytes` so that a reader (or a restart after a crash) sees either the old
/// file or the new one, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name")
    })?;
    // A fixed temporary name: a crash leaves at most one stale temp file, which the next write
    // overwrites. (Two emulators sharing one state file are not supported.)
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = create_private(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Creates (or truncates) a file only its owner can read: the state lists tenants and their
/// credentials (names, properties, digests of the data), nothing another local user needs. On Unix, mode 0600 from the start (no window with wider permissions); on
/// Windows a new file inherits its directory's access list, which for a user's own directories
/// already admits only that user, the administrators and the system.
#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A temporary file left by an older version may have wider permissions.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    File::create(path)
}

/// Makes a rename in `dir` durable. On Unix that is an fsync of the directory; Windows cannot
/// open a directory as a file (and NTFS journals the rename itself), so there is nothing to do.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn the_state_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // A temporary file left world-readable by an earlier crash is tightened too.
        let tmp = dir.path().join(".state.json.tmp");
        fs::write(&tmp, b"old").unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"secret").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        assert!(write_atomically(&path, b"x").is_err());
    }
}
