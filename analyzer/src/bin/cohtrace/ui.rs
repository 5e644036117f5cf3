//! What `cohtrace` says on stderr besides errors, as cargo does: `-q` keeps only errors and the output
//! asked for (no progress, warnings or notes), `-v` adds detail (the QEMU command line `record` runs,
//! timings and rates). Progress is drawn only on a terminal and only after a run has lasted a second
//! (`COHTRACE_PROGRESS_AFTER_MS` changes the delay, for tests); on anything else stderr stays free of it.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicI8, Ordering};
use std::time::{Duration, Instant};

/// -1 quiet, 0 normal, 1 and more verbose.
static LEVEL: AtomicI8 = AtomicI8::new(0);

pub fn set(quiet: bool, verbose: u8) {
    LEVEL.store(if quiet { -1 } else { verbose.min(3) as i8 }, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) < 0
}

pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) > 0
}

/// A warning ("cohtrace: warning: ..."), unless quiet.
pub fn warn(msg: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("cohtrace: warning: {msg}");
    }
}

/// A note on what was done ("cohtrace: trace written to ..."), unless quiet.
pub fn note(msg: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("cohtrace: {msg}");
    }
}

/// Detail for -v.
pub fn info(msg: impl std::fmt::Display) {
    if verbose() {
        eprintln!("cohtrace: {msg}");
    }
}

/// Whether progress may be drawn: stderr is a terminal and -q was not given.
pub fn progress_allowed() -> bool {
    !quiet() && std::io::stderr().is_terminal()
}

/// How long a run goes before its progress appears.
pub fn progress_delay() -> Duration {
    let ms = std::env::var("COHTRACE_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    Duration::from_millis(ms)
}

/// A number with a decimal prefix (from K) and its unit: "812 B", "28.4 KB", "12.3 M events/s".
fn scaled(v: f64, unit: &str, sep: &str) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1} G{sep}{unit}", v / 1e9),
        v if v >= 1e6 => format!("{:.1} M{sep}{unit}", v / 1e6),
        v if v >= 1e3 => format!("{:.1} K{sep}{unit}", v / 1e3),
        v => format!("{v:.0} {unit}"),
    }
}

/// A byte count: "812 B", "28.4 KB", "12.3 MB", "1.2 GB".
pub fn bytes(bytes: u64) -> String {
    scaled(bytes as f64, "B", "")
}

/// A rate of events: "12.3 M events/s".
pub fn events_per_sec(n: u64, t: Duration) -> String {
    scaled(n as f64 / t.as_secs_f64().max(1e-9), "events/s", " ")
}

/// A rate of bytes: "45.6 MB/s".
pub fn mb_per_sec(bytes: u64, t: Duration) -> String {
    scaled(bytes as f64 / t.as_secs_f64().max(1e-9), "B/s", "")
}

/// The progress of an analysis on stderr: events done of the total, MB/s of trace and the time left.
/// Hidden unless `progress_allowed`, and drawn only once the analysis has run for `progress_delay`.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    start: Instant,
    delay: Duration,
}

impl Progress {
    /// For `total` events in `bytes` of trace.
    pub fn new(total: u64, bytes: u64) -> Progress {
        let bar = progress_allowed().then(|| {
            let b = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::hidden());
            let bytes_per_event = bytes as f64 / total.max(1) as f64;
            let mbps = move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} MB/s", s.per_sec() * bytes_per_event / 1e6);
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} analyzing {human_pos}/{human_len} events, {mbps} of trace, {eta} left [{wide_bar}]",
                )
                .map(|s| s.with_key("mbps", mbps).progress_chars("=> "))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Progress { bar, start: Instant::now(), delay: progress_delay() }
    }

    pub fn update(&self, n: u64) {
        if let Some(b) = &self.bar {
            if b.is_hidden() && self.start.elapsed() >= self.delay {
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            b.set_position(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// One status line at the bottom of a terminal that other output shares (`cohtrace record`: QEMU's
/// console). Whoever writes to the terminal goes through `write`, which takes the line away first; the
/// line is drawn again only when that output ends at the start of a line, so it never splits or
/// overwrites a line of someone else's (a console prompt waiting for input keeps it hidden).
pub struct StatusLine {
    state: std::sync::Mutex<StatusState>,
}

struct StatusState {
    shown: bool,
    /// The terminal's cursor is at the start of a line (the last byte others wrote was a newline).
    at_line_start: bool,
    text: String,
}

impl StatusLine {
    pub fn new() -> StatusLine {
        StatusLine { state: std::sync::Mutex::new(StatusState { shown: false, at_line_start: true, text: String::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` to `out` (stdout or stderr); `to_screen`: `out` is the terminal the line is on.
    pub fn write(&self, out: &mut dyn Write, bytes: &[u8], to_screen: bool) -> std::io::Result<()> {
        let mut s = self.lock();
        if to_screen && s.shown {
            clear_line();
            s.shown = false;
        }
        out.write_all(bytes)?;
        out.flush()?;
        if to_screen && let Some(&last) = bytes.last() {
            s.at_line_start = last == b'\n';
        }
        Ok(())
    }

    /// Sets the text and draws it if the terminal is at the start of a line.
    pub fn show(&self, text: String) {
        let mut s = self.lock();
        s.text = text;
        if s.at_line_start {
            let width = terminal_width().unwrap_or(80).saturating_sub(1).max(10);
            let shown: String = s.text.chars().take(width).collect();
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{shown}");
            let _ = e.flush();
            s.shown = true;
        }
    }

    /// Takes the line away for good.
    pub fn clear(&self) {
        let mut s = self.lock();
        if s.shown {
            clear_line();
            s.shown = false;
        }
    }
}

fn clear_line() {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(b"\r\x1b[2K");
    let _ = e.flush();
}

/// Columns of the terminal on stderr.
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize; nothing else is touched.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
    }
}
