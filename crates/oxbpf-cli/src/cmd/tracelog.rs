//! `oxbpf tracelog`: the `bpf_trace_printk` output of past runs.
//!
//! There is no kernel and no daemon behind oxbpf: each `oxbpf prog run` prints its own
//! trace lines, and also appends them, in `trace_pipe` format, to `trace_pipe` in the state
//! directory (`$OXBPF_STATE_DIR`, else `$XDG_STATE_HOME/oxbpf`, else
//! `~/.local/state/oxbpf`). `oxbpf tracelog` prints that file (as `bpftool prog tracelog`
//! prints the kernel's), `--follow` keeps printing what later runs append, `--clear`
//! empties it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use clap::Args;
use oxbpf::vm::TraceLine;

use crate::CliError;

/// Arguments of `oxbpf tracelog`.
#[derive(Args)]
pub struct TracelogArgs {
    /// Keep printing lines that later runs append (stop with Ctrl-C).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Empty the log instead of printing it.
    #[arg(long, conflicts_with = "follow")]
    clear: bool,
}

/// The state directory.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("OXBPF_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("oxbpf"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/oxbpf"))
}

fn pipe_path() -> Option<PathBuf> {
    state_dir().map(|d| d.join("trace_pipe"))
}

/// One trace line as `trace_pipe` shows it, with its newline.
pub fn line(t: &TraceLine) -> String {
    format!("{}\n", t.pipe_format("oxbpf", std::process::id()))
}

/// Appends a run's trace lines to the persistent log. Best effort: a run is not failed
/// because its trace could not be saved (a warning says so).
pub fn persist(lines: &[TraceLine]) {
    if lines.is_empty() {
        return;
    }
    let Some(path) = pipe_path() else { return };
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let text: String = lines.iter().map(line).collect();
        f.write_all(text.as_bytes())
    })();
    if let Err(e) = result {
        eprintln!(
            "oxbpf: warning: cannot save trace lines to {}: {e}",
            path.display()
        );
    }
}

/// `oxbpf tracelog`.
pub fn tracelog(a: TracelogArgs) -> Result<(), CliError> {
    let path = pipe_path()
        .ok_or_else(|| CliError::Usage("no state directory: set OXBPF_STATE_DIR or HOME".into()))?;
    if a.clear {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CliError::Failed(format!("{}: {e}", path.display()))),
        };
    }
    let mut pos = 0u64;
    loop {
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                let len = f
                    .metadata()
                    .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?
                    .len();
                if len < pos {
                    pos = 0; // cleared meanwhile
                }
                f.seek(SeekFrom::Start(pos))
                    .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)
                    .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
                pos += buf.len() as u64;
                std::io::stdout()
                    .write_all(&buf)
                    .and_then(|()| std::io::stdout().flush())
                    .map_err(|e| CliError::Failed(format!("stdout: {e}")))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::Failed(format!("{}: {e}", path.display()))),
        }
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
