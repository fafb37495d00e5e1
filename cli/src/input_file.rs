//! Every file the CLI reads from an argument goes through here: only regular files, and only up
//! to a size cap, so `/dev/zero` cannot exhaust memory and a FIFO with no writer cannot block the
//! command for ever. A refusal is an error (exit 2) naming the file and the limit; it never
//! quotes the file's content (it may be a secret).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Secrets (webhook secrets, one line each).
pub const SECRET_LIMIT: u64 = 64 * 1024;
/// Small JSON/YAML settings: credentials, a generic scheme's configuration.
pub const CONFIG_LIMIT: u64 = 256 * 1024;
/// jq mappings and connector definitions.
pub const SOURCE_LIMIT: u64 = 1024 * 1024;
/// Webhook bodies to verify or sign (the receiver itself takes 256 KB by default).
pub const BODY_LIMIT: u64 = 10 * 1024 * 1024;

/// Why a file argument was refused.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    #[error("cannot read {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{what} {path} is not a regular file (it is {kind}); give a regular file")]
    NotRegular {
        what: &'static str,
        path: String,
        kind: &'static str,
    },
    #[error("{what} {path} is larger than the limit of {limit}")]
    TooLarge {
        what: &'static str,
        path: String,
        limit: Size,
    },
    #[error("{what} {path} is not UTF-8 text")]
    NotUtf8 { what: &'static str, path: String },
}

/// A byte count for messages: `65536 bytes (64 KiB)`.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.0;
        for (unit, name) in [(1024 * 1024, "MiB"), (1024, "KiB")] {
            let (whole, rest) = (bytes / unit, bytes % unit);
            if whole > 0 && rest == 0 {
                return write!(f, "{bytes} bytes ({whole} {name})");
            }
        }
        write!(f, "{bytes} bytes")
    }
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match () {
        _ if file_type.is_dir() => "a directory",
        _ if file_type.is_fifo() => "a FIFO",
        _ if file_type.is_char_device() => "a character device",
        _ if file_type.is_block_device() => "a block device",
        _ if file_type.is_socket() => "a socket",
        _ => "not a regular file",
    }
}

/// Reads at most `limit` bytes of the regular file `path`; `what` names the argument in
/// messages (`body file`, `secret file`, ...).
pub fn read(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, InputFileError> {
    let shown = || path.display().to_string();
    let io = |source| InputFileError::Io {
        what,
        path: shown(),
        source,
    };
    // Before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(InputFileError::NotRegular {
            what,
            path: shown(),
            kind: kind_of(meta.file_type()),
        });
    }
    let file = File::open(path).map_err(io)?;
    // Again on what was opened: the path may have been replaced in between.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputFileError::NotRegular {
            what,
            path: shown(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = || InputFileError::TooLarge {
        what,
        path: shown(),
        limit: Size(limit),
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    // The size may change while reading (a growing log): never read past the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, what: &'static str, limit: u64) -> Result<String, InputFileError> {
    String::from_utf8(read(path, what, limit)?).map_err(|_| InputFileError::NotUtf8 {
        what,
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("switchyard-input-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_a_regular_file_up_to_the_limit_inclusive() {
        let path = temp("exact", b"12345");
        assert_eq!(read(&path, "body file", 5).unwrap(), b"12345");
        let err = read(&path, "body file", 4).unwrap_err().to_string();
        assert!(err.contains("larger than the limit of 4 bytes"), "{err}");
        assert!(err.contains("body file"), "{err}");
    }

    #[test]
    fn refuses_directories_and_devices_before_reading() {
        let err = read(Path::new("/dev/zero"), "mapping file", 1024)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/dev/zero") && err.contains("character device"), "{err}");
        let err = read(&std::env::temp_dir(), "mapping file", 1024)
            .unwrap_err()
            .to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn text_must_be_utf8_and_messages_never_quote_content() {
        let path = temp("latin1", b"caf\xe9 sk_live_secret");
        let err = read_to_string(&path, "secret file", 1024).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
        assert!(!err.contains("sk_live"), "{err}");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(Size(64 * 1024).to_string(), "65536 bytes (64 KiB)");
        assert_eq!(Size(10 * 1024 * 1024).to_string(), "10485760 bytes (10 MiB)");
        assert_eq!(Size(1000).to_string(), "1000 bytes");
    }
}
