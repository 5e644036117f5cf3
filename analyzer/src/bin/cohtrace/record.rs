//! `cohtrace record`: find the patched QEMU and the plugin, run the guest, say where the trace went. On a
//! terminal, a status line shows the trace growing while QEMU runs (`run_with_status_line`).

use super::ui;
use anyhow::{Context, Result, bail};
use cohtrace_analyzer::trace::reader::GrowingTrace;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The patched QEMU: --qemu, $COHTRACE_QEMU, else the newest complete build in scripts/setup-qemu's cache.
pub fn find_qemu(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit.or_else(|| std::env::var_os("COHTRACE_QEMU").map(PathBuf::from)) {
        if !p.is_file() {
            bail!("QEMU binary {} does not exist", p.display());
        }
        return Ok(p);
    }
    let cache = std::env::var_os("COHTRACE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/cohtrace")))
        .context("no HOME to find the QEMU cache in")?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(dir) = std::fs::read_dir(&cache) {
        for e in dir.flatten() {
            let d = e.path();
            let bin = d.join("bin/qemu-system-aarch64");
            if d.file_name().is_some_and(|n| n.to_string_lossy().starts_with("qemu-"))
                && d.join(".complete").exists()
                && bin.is_file()
            {
                let t = std::fs::metadata(d.join(".complete")).and_then(|m| m.modified()).ok();
                if let Some(t) = t
                    && best.as_ref().is_none_or(|(bt, _)| t > *bt)
                {
                    best = Some((t, bin));
                }
            }
        }
    }
    best.map(|(_, b)| b).with_context(|| {
        format!("no patched QEMU found in {}: run scripts/setup-qemu, or pass --qemu", cache.display())
    })
}

/// The plugin: --plugin, $COHTRACE_PLUGIN, else libcohtrace.so beside this executable (target/<profile>/).
pub fn find_plugin(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit.or_else(|| std::env::var_os("COHTRACE_PLUGIN").map(PathBuf::from)) {
        if !p.is_file() {
            bail!("plugin {} does not exist", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("locating the cohtrace executable")?;
    let dir = exe.parent().context("executable has no directory")?;
    for cand in [dir.join("libcohtrace.so"), dir.join("../libcohtrace.so")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    bail!("libcohtrace.so not found next to {}: build it with `cargo build --release -p cohtrace-plugin`, or pass --plugin", exe.display())
}

pub fn run(out: &Path, qemu: Option<PathBuf>, plugin: Option<PathBuf>, opts: &[String], args: &[String]) -> Result<u8> {
    let qemu = find_qemu(qemu)?;
    let plugin = find_plugin(plugin)?;
    let mut spec = format!("{},out={}", plugin.display(), out.display());
    for o in opts {
        if !o.contains('=') {
            bail!("--plugin-opt '{o}' is not KEY=VALUE");
        }
        spec.push(',');
        spec.push_str(o);
    }
    let mut cmd = Command::new(&qemu);
    cmd.arg("-plugin").arg(&spec).args(args);
    ui::info(format_args!("running {}", shell_line(&cmd)));
    // A trace left by an earlier run must not pass for this run's.
    let before = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    let start = Instant::now();
    // A curses display draws on the terminal itself: QEMU keeps it to itself, and there is no status line.
    let status = if ui::progress_allowed() && !args.iter().any(|a| a.contains("curses")) {
        run_with_status_line(cmd, out, start)
    } else {
        cmd.status()
    }
    .with_context(|| format!("running {}", qemu.display()))?;
    let after = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    let written = after.is_some() && after != before;
    if !written {
        // Not a note: nothing the user asked for exists, whatever -q says.
        eprintln!("cohtrace: {}", outcome(status, written, out));
    } else {
        ui::note(format_args!("{}", outcome(status, written, out)));
        if ui::verbose() {
            let mut t = GrowingTrace::new(out);
            t.poll();
            let took = start.elapsed();
            ui::info(format_args!(
                "{} records, {} in {:.1} s: {}, {}",
                t.records,
                ui::bytes(t.bytes),
                took.as_secs_f64(),
                ui::events_per_sec(t.records, took),
                ui::mb_per_sec(t.bytes, took)
            ));
        }
    }
    match status.code() {
        Some(c) => Ok(c.clamp(0, 255) as u8),
        None => Ok(2),
    }
}

/// What happened, in one line: where the trace is, or why there is none.
fn outcome(status: std::process::ExitStatus, written: bool, out: &Path) -> String {
    let how = match status.code() {
        Some(0) => "QEMU exited normally".to_string(),
        Some(c) => format!("QEMU exited with status {c}"),
        None => format!("QEMU was killed by a signal ({status})"),
    };
    match (written, status.success()) {
        (true, true) => format!("trace written to {}", out.display()),
        // The guest's own exit status (semihosting) or a crash: the trace holds what was captured.
        (true, false) => format!("trace written to {} ({how})", out.display()),
        (false, _) => format!("no trace written: {how} before the plugin wrote {} (QEMU's message is above)", out.display()),
    }
}

/// The command line as a shell would take it back (arguments quoted where needed).
fn shell_line(cmd: &Command) -> String {
    let quote = |a: &std::ffi::OsStr| {
        let a = a.to_string_lossy();
        if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c)) {
            a.into_owned()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(quote).collect::<Vec<_>>().join(" ")
}

/// Runs QEMU with a status line on the terminal (stderr): the trace's size, growth and records while
/// QEMU runs. QEMU's stderr, and its stdout when that is the terminal too (a -nographic console), come
/// through this process so that the line is taken away before their output and drawn again only at the
/// start of a line (`ui::StatusLine`). While QEMU runs, SIGINT is left to it: it exits and finishes the
/// trace, then this process reports.
fn run_with_status_line(mut cmd: Command, out: &Path, start: Instant) -> std::io::Result<ExitStatus> {
    let stdout_is_screen = std::io::stdout().is_terminal();
    if stdout_is_screen {
        cmd.stdout(Stdio::piped());
    }
    cmd.stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    // SAFETY: signal(2) with SIG_IGN, undone below; QEMU was spawned with the default disposition.
    let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let line = Arc::new(ui::StatusLine::new());
    let done = Arc::new(AtomicBool::new(false));
    let mut forwarders = Vec::new();
    if let Some(o) = child.stdout.take() {
        let line = line.clone();
        forwarders.push(std::thread::spawn(move || forward(o, &mut std::io::stdout(), &line, stdout_is_screen)));
    }
    if let Some(e) = child.stderr.take() {
        let line = line.clone();
        forwarders.push(std::thread::spawn(move || forward(e, &mut std::io::stderr(), &line, true)));
    }
    let ticker = {
        let (line, done, out) = (line.clone(), done.clone(), out.to_owned());
        std::thread::spawn(move || {
            let delay = ui::progress_delay();
            let mut trace = GrowingTrace::new(&out);
            let spinner = ['|', '/', '-', '\\'];
            let mut tick = 0usize;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let elapsed = start.elapsed();
                if elapsed < delay {
                    continue;
                }
                trace.poll();
                tick += 1;
                let secs = elapsed.as_secs();
                let events = if trace.records > 0 { format!("{} events, ", trace.records) } else { String::new() };
                line.show(format!(
                    "{} recording: {events}{} written ({}), {}:{:02}:{:02}",
                    spinner[tick % 4],
                    ui::bytes(trace.bytes),
                    ui::mb_per_sec(trace.bytes, elapsed),
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                ));
            }
        })
    };
    let status = child.wait();
    // The pipes end with QEMU, unless something it started still holds them: wait a little, not forever.
    let waited = Instant::now();
    while forwarders.iter().any(|f| !f.is_finished()) && waited.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    line.clear();
    // SAFETY: puts back what was there before.
    unsafe { libc::signal(libc::SIGINT, previous) };
    status
}

/// Copies QEMU's output to ours through the status line, as it comes (a prompt without a newline too).
fn forward(mut from: impl Read, to: &mut dyn Write, line: &ui::StatusLine, to_screen: bool) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if line.write(to, &buf[..n], to_screen).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
