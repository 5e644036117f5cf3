//! `cohtrace record`: find the patched QEMU and the plugin, run the guest, say where the trace went.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

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
    // A trace left by an earlier run must not pass for this run's.
    let before = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    let status = Command::new(&qemu)
        .arg("-plugin")
        .arg(&spec)
        .args(args)
        .status()
        .with_context(|| format!("running {}", qemu.display()))?;
    let after = std::fs::metadata(out).and_then(|m| m.modified()).ok();
    let written = after.is_some() && after != before;
    eprintln!("cohtrace: {}", outcome(status, written, out));
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
