//! The trace log `bpf_trace_printk` writes to (the kernel's `trace_pipe`).

use std::fmt;
use std::io::Write;

/// One message written by `bpf_trace_printk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// CPU id of the run that wrote it.
    pub cpu: u32,
    /// `CLOCK_MONOTONIC` time of the write in nanoseconds.
    pub timestamp_ns: u64,
    /// The formatted message, exactly as the program produced it (usually ending in `\n`).
    pub text: String,
}

impl TraceLine {
    /// The line as `trace_pipe` shows it:
    /// `<comm>-<pid> [cpu] ..... <secs>.<usecs>: bpf_trace_printk: <msg>`.
    pub fn pipe_format(&self, comm: &str, pid: u32) -> String {
        let secs = self.timestamp_ns / 1_000_000_000;
        let usecs = (self.timestamp_ns % 1_000_000_000) / 1_000;
        format!(
            "{comm:>16}-{pid:<7} [{:03}] ..... {secs:5}.{usecs:06}: bpf_trace_printk: {}",
            self.cpu,
            self.text.trim_end_matches('\n')
        )
    }
}

impl fmt::Display for TraceLine {
    /// The message text without its trailing newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end_matches('\n'))
    }
}

/// Messages written during runs, oldest first. The CLI drains and prints it.
#[derive(Clone, Debug, Default)]
pub struct TraceLog {
    lines: Vec<TraceLine>,
    echo: bool,
}

impl TraceLog {
    /// An empty log.
    pub fn new() -> TraceLog {
        TraceLog::default()
    }

    /// Also print each message to stderr as it is written (like `cat trace_pipe`).
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Appends a message.
    pub fn push(&mut self, line: TraceLine) {
        if self.echo {
            // Helpers run inside `extern "C"` calls where a panic would abort; a failed
            // write to stderr is not worth that.
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        self.lines.push(line);
    }

    /// The messages written so far.
    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    /// Removes and returns every message.
    pub fn take(&mut self) -> Vec<TraceLine> {
        std::mem::take(&mut self.lines)
    }
}
