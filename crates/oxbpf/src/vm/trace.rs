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

/// Messages a [`TraceLog`] holds at most before it drops the oldest half: like the
/// kernel's trace ring buffer (overwrite mode, about 1.4 MB per CPU), a log nobody drains
/// keeps the recent messages in bounded memory, e.g. over a million-repeat test run of a
/// program that prints each time.
pub const TRACE_LOG_CAPACITY: usize = 1 << 16;

/// Messages written during runs, oldest first. The CLI drains and prints it.
#[derive(Clone, Debug, Default)]
pub struct TraceLog {
    lines: Vec<TraceLine>,
    echo: bool,
    dropped: u64,
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
        if self.lines.len() >= TRACE_LOG_CAPACITY {
            // Half at a time keeps dropping amortised O(1) and the lines contiguous.
            let half = TRACE_LOG_CAPACITY / 2;
            self.lines.drain(..half);
            self.dropped += half as u64;
        }
        self.lines.push(line);
    }

    /// Messages dropped (oldest first) because the log was full, since it was created.
    pub fn dropped(&self) -> u64 {
        self.dropped
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> TraceLine {
        TraceLine {
            cpu: 0,
            timestamp_ns: n as u64,
            text: format!("{n}\n"),
        }
    }

    #[test]
    fn a_full_log_drops_the_oldest_messages() {
        let mut log = TraceLog::new();
        let total = TRACE_LOG_CAPACITY * 2 + 10;
        for n in 0..total {
            log.push(line(n));
        }
        let lines = log.lines();
        assert!(lines.len() <= TRACE_LOG_CAPACITY);
        assert_eq!(log.dropped() as usize + lines.len(), total);
        // The newest survive, in order.
        assert_eq!(lines.last().unwrap().timestamp_ns as usize, total - 1);
        assert!(lines
            .windows(2)
            .all(|w| w[0].timestamp_ns + 1 == w[1].timestamp_ns));
        assert_eq!(log.take().len(), lines_len_after(total));
        assert!(log.lines().is_empty());
    }

    /// Lines left after `total` pushes: drops happen half a capacity at a time.
    fn lines_len_after(total: usize) -> usize {
        let half = TRACE_LOG_CAPACITY / 2;
        if total <= TRACE_LOG_CAPACITY {
            total
        } else {
            TRACE_LOG_CAPACITY - half + (total - TRACE_LOG_CAPACITY - 1) % half + 1
        }
    }
}
