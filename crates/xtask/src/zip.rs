//! A minimal zip writer: just what a release archive needs (a few files, deflated, with Unix
//! permissions), reproducible byte for byte.
//!
//! Why our own: a release zip holds one executable, so the container is a few dozen lines of
//! headers around `flate2`'s raw deflate; the `zip` crate's current releases need a newer Rust
//! than the crate's rust-version. No zip64: archives over 4 GiB are refused, not mis-written.
//!
//! Every entry gets the same timestamp, chosen by the caller (the release uses
//! `SOURCE_DATE_EPOCH` or the commit's date), and entries keep the order given, so the same
//! files always give the same archive and the same checksum. Entries record "made by Unix" and
//! their mode, so Terraform (Go's archive/zip) extracts the provider as an executable.

use std::io::{self, Write};

use flate2::Compression;
use flate2::Crc;
use flate2::write::DeflateEncoder;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Zip 2.0: deflate.
const VERSION_NEEDED: u16 = 20;
/// High byte 3 = Unix, so the external attributes carry a Unix mode.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// General purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
/// Unix time of 1980-01-01 00:00:00 UTC, the earliest time a zip entry can carry.
pub const DOS_EPOCH: i64 = 315_532_800;
/// Unix file type bits for a regular file (S_IFREG).
const S_IFREG: u32 = 0o100_000;

/// An entry's modification time in MS-DOS format (local time in the format; we write UTC, as
/// reproducible-build tools do), to two seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DosTime {
    pub date: u16,
    pub time: u16,
}

impl DosTime {
    /// From Unix seconds, clamped to what the format can hold (1980 to 2107).
    pub fn from_unix(secs: i64) -> DosTime {
        let max = time::macros::datetime!(2107-12-31 23:59:58 UTC).unix_timestamp();
        let t = time::OffsetDateTime::from_unix_timestamp(secs.clamp(DOS_EPOCH, max))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let years = u16::try_from(t.year() - 1980).unwrap_or(0);
        DosTime {
            date: (years << 9) | (u16::from(u8::from(t.month())) << 5) | u16::from(t.day()),
            time: (u16::from(t.hour()) << 11)
                | (u16::from(t.minute()) << 5)
                | u16::from(t.second() / 2),
        }
    }
}

/// One file of an archive.
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    /// Unix permission bits, e.g. 0o755 for an executable.
    pub mode: u32,
}

fn too_big(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} exceeds what a zip without zip64 can hold"),
    )
}

fn u32_of(n: usize, what: &str) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| too_big(what))
}

fn u16_of(n: usize, what: &str) -> io::Result<u16> {
    u16::try_from(n).map_err(|_| too_big(what))
}

/// Writes a complete archive of `entries`, in the order given, all dated `mtime`.
pub fn write(entries: &[Entry<'_>], mtime: DosTime, mut out: impl Write) -> io::Result<()> {
    let mut central = Vec::new();
    let mut offset: usize = 0;
    for e in entries {
        let mut crc = Crc::new();
        crc.update(e.data);
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        enc.write_all(e.data)?;
        let deflated = enc.finish()?;
        // Incompressible data is stored: deflate would only make it larger.
        let (method, body) = if deflated.len() < e.data.len() {
            (METHOD_DEFLATED, deflated.as_slice())
        } else {
            (METHOD_STORED, e.data)
        };
        let name = e.name.as_bytes();
        let name_len = u16_of(name.len(), "an entry name")?;
        let size = u32_of(e.data.len(), e.name)?;
        let compressed = u32_of(body.len(), e.name)?;
        let header_offset = u32_of(offset, "the archive")?;

        let mut local = Vec::with_capacity(30 + name.len());
        local.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        local.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
        local.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        local.extend_from_slice(&method.to_le_bytes());
        local.extend_from_slice(&mtime.time.to_le_bytes());
        local.extend_from_slice(&mtime.date.to_le_bytes());
        local.extend_from_slice(&crc.sum().to_le_bytes());
        local.extend_from_slice(&compressed.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&name_len.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        local.extend_from_slice(name);
        out.write_all(&local)?;
        out.write_all(body)?;
        offset += local.len() + body.len();

        central.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
        central.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
        central.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
        central.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&mtime.time.to_le_bytes());
        central.extend_from_slice(&mtime.date.to_le_bytes());
        central.extend_from_slice(&crc.sum().to_le_bytes());
        central.extend_from_slice(&compressed.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&((S_IFREG | (e.mode & 0o7777)) << 16).to_le_bytes());
        central.extend_from_slice(&header_offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let count = u16_of(entries.len(), "the number of entries")?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&END_OF_CENTRAL_DIRECTORY.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // this disk
    end.extend_from_slice(&0u16.to_le_bytes()); // disk with the central directory
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&u32_of(central.len(), "the central directory")?.to_le_bytes());
    end.extend_from_slice(&u32_of(offset, "the archive")?.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out.write_all(&central)?;
    out.write_all(&end)?;
    out.flush()
}

/// A file read back from an archive.
#[derive(Debug, PartialEq)]
pub struct ReadEntry {
    pub name: String,
    pub mode: u32,
    pub mtime: DosTime,
    pub data: Vec<u8>,
}

/// Reads an archive through its central directory, checking each entry's size and CRC.
/// Independent of the writer's bookkeeping: it starts from the end record, as unzip tools do.
/// Reads what our writer produces (no zip64, no archive comment, stored or deflated entries) and
/// refuses anything else, or anything truncated, with a reason instead of a panic: release
/// assembly reads zips that were built on other machines.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<ReadEntry>, String> {
    use std::io::Read;
    let slice = |at: usize, len: usize| -> Result<&[u8], String> {
        at.checked_add(len)
            .and_then(|end| bytes.get(at..end))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    let u16_at = |at: usize| -> Result<u16, String> {
        let b = slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        let b = slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let usize_at = |at: usize| -> Result<usize, String> {
        usize::try_from(u32_at(at)?).map_err(|_| "an offset too large".to_string())
    };
    let end = bytes
        .len()
        .checked_sub(22)
        .ok_or("too short to be a zip archive")?;
    if u32_at(end)? != END_OF_CENTRAL_DIRECTORY {
        return Err("no end-of-central-directory record (not a zip, or it has a comment)".into());
    }
    let count = usize::from(u16_at(end + 10)?);
    let mut at = usize_at(end + 16)?;
    let mut out = Vec::new();
    for _ in 0..count {
        if u32_at(at)? != CENTRAL_HEADER {
            return Err(format!("no central directory header at byte {at}"));
        }
        let method = u16_at(at + 10)?;
        let mtime = DosTime {
            time: u16_at(at + 12)?,
            date: u16_at(at + 14)?,
        };
        let crc = u32_at(at + 16)?;
        let csize = usize_at(at + 20)?;
        let size = usize_at(at + 24)?;
        let name_len = usize::from(u16_at(at + 28)?);
        let extra_len = usize::from(u16_at(at + 30)?);
        let comment_len = usize::from(u16_at(at + 32)?);
        let external = u32_at(at + 38)?;
        let local = usize_at(at + 42)?;
        let name = String::from_utf8(slice(at + 46, name_len)?.to_vec())
            .map_err(|_| format!("an entry name at byte {at} is not UTF-8"))?;
        if u32_at(local)? != LOCAL_HEADER {
            return Err(format!("no local header for {name}"));
        }
        let start =
            local + 30 + usize::from(u16_at(local + 26)?) + usize::from(u16_at(local + 28)?);
        let body = slice(start, csize)?;
        let data = match method {
            METHOD_STORED => body.to_vec(),
            METHOD_DEFLATED => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(body)
                    .take(u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1))
                    .read_to_end(&mut v)
                    .map_err(|e| format!("{name} does not inflate: {e}"))?;
                v
            }
            m => return Err(format!("{name} uses compression method {m}")),
        };
        if data.len() != size {
            return Err(format!(
                "{name} is {} bytes, its header says {size}",
                data.len()
            ));
        }
        let mut c = Crc::new();
        c.update(&data);
        if c.sum() != crc {
            return Err(format!("{name} fails its CRC check"));
        }
        out.push(ReadEntry {
            name,
            mode: external >> 16,
            mtime,
            data,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// [`read_entries`] for tests, which want the archive or a panic.
#[cfg(test)]
pub fn read(bytes: &[u8]) -> Vec<ReadEntry> {
    read_entries(bytes).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut v = Vec::new();
        write(entries, DosTime::from_unix(DOS_EPOCH), &mut v).unwrap();
        v
    }

    #[test]
    fn round_trips_compressible_and_incompressible_files() {
        let text = b"terraform ".repeat(1000);
        // A byte sequence deflate cannot shrink (xorshift noise).
        let mut x: u32 = 2_463_534_242;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let bytes = archive(&[
            Entry {
                name: "terraform-provider-x_v1.0.0",
                data: &text,
                mode: 0o755,
            },
            Entry {
                name: "noise.bin",
                data: &noise,
                mode: 0o644,
            },
            Entry {
                name: "empty",
                data: b"",
                mode: 0o600,
            },
        ]);
        assert!(bytes.len() < text.len(), "text was deflated");
        let read = read(&bytes);
        assert_eq!(
            read,
            vec![
                ReadEntry {
                    name: "terraform-provider-x_v1.0.0".into(),
                    mode: S_IFREG | 0o755,
                    mtime: DosTime::from_unix(0),
                    data: text.clone()
                },
                ReadEntry {
                    name: "noise.bin".into(),
                    mode: S_IFREG | 0o644,
                    mtime: DosTime::from_unix(0),
                    data: noise.clone()
                },
                ReadEntry {
                    name: "empty".into(),
                    mode: S_IFREG | 0o600,
                    mtime: DosTime::from_unix(0),
                    data: Vec::new()
                },
            ]
        );
    }

    #[test]
    fn dos_times_round_to_two_seconds_and_clamp() {
        // 2025-06-30 13:45:17 UTC.
        let t = DosTime::from_unix(1_751_291_117);
        assert_eq!(t.date, (45 << 9) | (6 << 5) | 30);
        assert_eq!(t.time, (13 << 11) | (45 << 5) | 8);
        assert_eq!(
            DosTime::from_unix(0),
            DosTime {
                date: (1 << 5) | 1,
                time: 0
            }
        );
        assert_eq!(DosTime::from_unix(i64::MAX).date >> 9, 127);
        let mut a = Vec::new();
        write(
            &[Entry {
                name: "x",
                data: b"x",
                mode: 0o644,
            }],
            t,
            &mut a,
        )
        .unwrap();
        assert_eq!(read(&a)[0].mtime, t);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let e = [Entry {
            name: "a",
            data: b"same",
            mode: 0o755,
        }];
        assert_eq!(archive(&e), archive(&e));
    }

    #[test]
    fn unzip_accepts_the_archive_when_installed() {
        // A second, independent reader when the machine has one; the round trip above always runs.
        let Ok(status) = std::process::Command::new("unzip")
            .arg("-v")
            .stdout(std::process::Stdio::null())
            .status()
        else {
            eprintln!("unzip not on PATH: independent check skipped");
            return;
        };
        assert!(status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.zip");
        let text = b"hello zip\n".repeat(100);
        std::fs::write(
            &path,
            archive(&[Entry {
                name: "bin_v1",
                data: &text,
                mode: 0o755,
            }]),
        )
        .unwrap();
        let out = std::process::Command::new("unzip")
            .arg("-o")
            .arg(&path)
            .arg("-d")
            .arg(dir.path().join("x"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let extracted = dir.path().join("x/bin_v1");
        assert_eq!(std::fs::read(&extracted).unwrap(), text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&extracted).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
    }
}
