//! `cohtrace`: record a guest under the patched QEMU with the plugin, analyze traces, show what is in them.

mod diff;
mod export;
mod dump;
mod record;
mod symbols;
mod ui;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cohtrace_analyzer::analysis::analyze_with_policy;
use cohtrace_analyzer::model::{Devices, DmaPolicy, Mode, ModelConfig, ResetState};
use cohtrace_analyzer::report;
use cohtrace_analyzer::report::Hazard;
use cohtrace_analyzer::trace::codes::{DMA_WRITE, INFO_MMIO, INFO_STORE};
use cohtrace_analyzer::trace::record::{device_name_of, dma_of};
use cohtrace_analyzer::trace::{RecordKind, TraceFile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cohtrace", version, about = "Find ARM64 cache-coherency hazards in QEMU guest traces")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// No progress, warnings or notes: only errors and the output asked for.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: the QEMU command line `record` runs, timings and rates (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
    /// One self-contained page: the hazards, and an SVG timeline of each hazard's line.
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Speculative,
    Precise,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResetArg {
    Invalid,
    Unknown,
}

/// How a trace is judged: the model's options, the DMA policy, and the symbols that name PCs (shared by
/// `analyze` and `diff`).
#[derive(clap::Args)]
struct JudgeOpts {
    #[arg(long, value_enum, default_value = "speculative")]
    model: ModeArg,
    /// Guest ELF files to name PCs with, by their symbols and, when they have DWARF line information,
    /// source lines (repeatable). FILE@BIAS: the image ran BIAS bytes above its link address (hex with
    /// 0x, or decimal), e.g. linked at 0 and loaded at 0x40080000. An ELF linked at 0 (ET_DYN, or code
    /// at address 0) given without a bias is placed where the trace fetched its code: at the page-aligned
    /// bias that puts the most of its symbols on the first instruction of a fetch.
    #[arg(long, value_name = "FILE[@BIAS]", value_parser = symbols::parse_elf_arg)]
    elf: Vec<symbols::ElfArg>,
    /// Symbol maps in System.map format (address type name), e.g. a kernel's.
    #[arg(long = "symbols")]
    symbol_maps: Vec<PathBuf>,
    /// A process's memory map, as `cat /proc/PID/maps` printed it inside the guest (repeatable): each ELF
    /// it mapped is loaded at the address the map shows (from --sysroot), and code no symbol covers is
    /// named file+offset. For a user-space VMM, a stripped distribution binary names what its dynamic
    /// symbols allow.
    #[arg(long = "maps", value_name = "FILE")]
    process_maps: Vec<PathBuf>,
    /// The directory the --maps paths are found under (the guest's root file system, or just the files
    /// the process mapped); default: the paths as they are.
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// Model a system cache between PoU and PoC that outer-cacheable accesses allocate into.
    #[arg(long)]
    system_cache: bool,
    /// What the caches may hold when the trace starts.
    #[arg(long, value_enum, default_value = "invalid")]
    reset_state: ResetArg,
    /// Analysis threads (lines are sharded across them; the report is the same). Default: CPUs.
    #[arg(long)]
    threads: Option<u32>,
    /// The CPU's effective CTR_EL0.IDC is 1 (also when CLIDR_EL1.LoC = 0 or LoUIS = LoUU = 0): instruction
    /// fetches see the data cache, so code needs no clean to PoU (Linux: "Data cache clean to the PoU not
    /// required for I/D coherence").
    #[arg(long)]
    idc: bool,
    /// The CPU's CTR_EL0.DIC is 1: the instruction cache is coherent, so code needs no IC invalidation
    /// (Linux: "Instruction cache invalidation not required for I/D coherence").
    #[arg(long)]
    dic: bool,
    /// Judge instruction fetches by the instruction-data coherence of the CPU the trace ran on (its
    /// CTR_EL0 and CLIDR_EL1, recorded by the plugin) instead of the portable rule (IDC = DIC = 0).
    #[arg(long)]
    cpu_coherence: bool,
    /// How devices reach memory: coherent (they snoop the PE caches, as QEMU's virt board declares
    /// with dma-coherent) or noncoherent (every device reads and writes at PoC without snooping).
    #[arg(long, value_name = "MODE", default_value = "coherent", value_parser = ["coherent", "noncoherent"])]
    dma: String,
    /// This device (by the name the trace gives it, e.g. virtio-blk@a003e00, or device#ID) does not
    /// snoop the PE caches (repeatable).
    #[arg(long = "dma-noncoherent", value_name = "NAME")]
    dma_noncoherent: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run qemu-system-aarch64 with the cohtrace plugin and write a trace.
    Record {
        /// Trace file to write.
        #[arg(long, short, default_value = "cohtrace.ctrace")]
        out: PathBuf,
        /// The patched qemu-system-aarch64 (default: $COHTRACE_QEMU, then the one scripts/setup-qemu built).
        #[arg(long)]
        qemu: Option<PathBuf>,
        /// The plugin (default: $COHTRACE_PLUGIN, then libcohtrace.so next to this executable).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// Extra plugin option KEY=VALUE (repeatable), e.g. model=online.
        #[arg(long = "plugin-opt", value_name = "K=V")]
        plugin_opt: Vec<String>,
        /// Arguments for QEMU.
        #[arg(last = true, required = true)]
        qemu_args: Vec<String>,
    },
    /// Replay a trace through the shadow cache model and report hazards. Exit status: 0 none, 1 hazards, 2 error.
    Analyze {
        trace: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write the report here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// SARIF and HTML: source files under this directory are named relative to it (in SARIF with
        /// uriBaseId %SRCROOT%, as code scanning wants); default: the current directory.
        #[arg(long, value_name = "DIR")]
        source_root: Option<PathBuf>,
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// Compare two reports (JSON, from `analyze --format json`) or two traces (analyzed with the options
    /// given): hazards new in NEW, fixed since BASE, and unchanged, matched by class, observer and cause
    /// (function, else device, else PC). Exit status: 0 nothing new, 1 new hazards, 2 error.
    Diff {
        base: PathBuf,
        new: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// One line's history: every event that touched it, with the model's state of the line after each.
    /// For each hazard (or `--hazard N`, numbered as `analyze` reports them) the window from the copy's
    /// allocation or the cause to the observer; with `--line PA`, the whole history of that line.
    Explain {
        trace: PathBuf,
        /// Explain only this hazard (1 = the report's first).
        #[arg(long)]
        hazard: Option<usize>,
        /// Explain this physical line instead of the hazards (hex with 0x, or decimal).
        #[arg(long, value_parser = parse_address)]
        line: Option<u64>,
        /// With --line: only its last N events.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// The hazards' line histories (as `explain` tells them) as a Perfetto trace, for ui.perfetto.dev.
    /// Exit status: 0 written, 2 error.
    ///
    /// A track per hazard line with slices while a copy is stale or dirty, a track per vCPU and device
    /// with their events, a flow from each hazard's cause to its observer (docs/report-format.md).
    Export {
        /// The Perfetto trace file to write.
        #[arg(long, value_name = "OUT")]
        perfetto: PathBuf,
        trace: PathBuf,
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// Event counts by kind and memory type, and bytes per event.
    Stats { trace: PathBuf },
    /// Print events as text, one a line in global order; filters (--line, --pc, --vcpu, --kind, --from,
    /// --to) combine with AND.
    Dump(dump::DumpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ui::set(cli.quiet, cli.verbose);
    let r = match cli.cmd {
        Cmd::Record { out, qemu, plugin, plugin_opt, qemu_args } => record::run(&out, qemu, plugin, &plugin_opt, &qemu_args),
        Cmd::Analyze { trace, format, output, source_root, judge } => run_analyze(trace, format, output, source_root, &judge),
        Cmd::Diff { base, new, format, judge } => diff::run(&base, &new, format == DiffFormat::Json, &judge),
        Cmd::Explain { trace, hazard, line, limit, judge } => run_explain(&trace, hazard, line, limit, &judge),
        Cmd::Export { perfetto, trace, judge } => export::run(&perfetto, &trace, &judge),
        Cmd::Stats { trace } => run_stats(trace).map(|_| 0),
        Cmd::Dump(args) => dump::run(&args).map(|_| 0),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cohtrace: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn open(path: &PathBuf) -> Result<TraceFile> {
    let t = TraceFile::open(path).with_context(|| format!("{}", path.display()))?;
    if let Some(d) = &t.damage {
        ui::warn(format_args!("{} is damaged at {d}; using the {} whole chunks before it", path.display(), t.chunks.len()));
    } else if t.end.is_none() {
        ui::warn(format_args!(
            "{} has no end chunk (the capture did not exit cleanly); using its {} whole chunks",
            path.display(),
            t.chunks.len()
        ));
    }
    Ok(t)
}

/// The symbol files `opts` names, loaded (an ELF linked at 0 without a bias placed by `trace`'s fetches).
fn load_symbols(opts: &JudgeOpts, trace: &TraceFile) -> Result<symbols::Symbols> {
    let mut syms = symbols::Symbols::default();
    syms.load_elfs(&opts.elf, || symbols::fetch_pcs(trace))?;
    for m in &opts.symbol_maps {
        syms.load_system_map(m)?;
    }
    for m in &opts.process_maps {
        syms.load_process_maps(m, opts.sysroot.as_deref())?;
    }
    Ok(syms)
}

/// The model configuration and the DMA policy `opts` give.
fn model_config(opts: &JudgeOpts) -> (ModelConfig, DmaPolicy) {
    let cfg = ModelConfig {
        mode: match opts.model {
            ModeArg::Speculative => Mode::Speculative,
            ModeArg::Precise => Mode::Precise,
        },
        system_cache: opts.system_cache,
        reset: match opts.reset_state {
            ResetArg::Invalid => ResetState::Invalid,
            ResetArg::Unknown => ResetState::Unknown,
        },
        idc: opts.idc,
        dic: opts.dic,
        cpu_coherence: opts.cpu_coherence,
        ..Default::default()
    };
    // clap allows only the two modes.
    let mut dma = DmaPolicy::parse_mode(&opts.dma).unwrap_or_default();
    dma.noncoherent = opts.dma_noncoherent.clone();
    (cfg, dma)
}

/// The hazards of a trace, judged with `opts`, their PCs named from the symbol files.
fn judge(path: &PathBuf, opts: &JudgeOpts) -> Result<Vec<Hazard>> {
    let trace = open(path)?;
    let mut syms = load_symbols(opts, &trace)?;
    judge_trace(&trace, path, opts, &mut syms)
}

/// As `judge`, for a trace already open and its symbols loaded (`load_symbols`, once per command: an ELF
/// linked at 0 has its bias inferred from the trace's fetches).
fn judge_trace(trace: &TraceFile, path: &Path, opts: &JudgeOpts, syms: &mut symbols::Symbols) -> Result<Vec<Hazard>> {
    let (cfg, dma) = model_config(opts);
    let threads = opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let total = trace.record_count();
    let progress = ui::Progress::new(total, trace.payload_bytes());
    // Small traces are not worth a thread.
    let threads = if trace.record_count() < 1_000_000 { 1 } else { threads };
    let start = std::time::Instant::now();
    let mut analysis = analyze_with_policy(trace, cfg, &dma, threads, |n| progress.update(n));
    progress.finish();
    let took = start.elapsed();
    ui::info(format_args!(
        "analyzed {} events ({} of trace) in {:.2} s on {threads} thread{}: {}, {}; {} hazard{}",
        total,
        ui::bytes(trace.payload_bytes()),
        took.as_secs_f64(),
        if threads == 1 { "" } else { "s" },
        ui::events_per_sec(total, took),
        ui::mb_per_sec(trace.payload_bytes(), took),
        analysis.log.hazards().len(),
        if analysis.log.hazards().len() == 1 { "" } else { "s" },
    ));
    let st = analysis.stats;
    ui::info(format_args!(
        "model: {} accesses ({} MMIO, {} of unknown type), {} fetches, {} walks, {} maintenance, {} bulk, {} DMA",
        st.accesses, st.mmio, st.unknown_type, st.fetches, st.walks, st.maintenance, st.bulk, st.dma
    ));
    // A misspelt device would make the analysis silently judge it coherent: refuse, before any report.
    let unknown = dma.unknown_names(&analysis.devices);
    if !unknown.is_empty() {
        let seen: Vec<&str> = analysis.devices.iter().map(|d| d.name.as_str()).collect();
        bail!(
            "--dma-noncoherent {}: no such device in {} (the devices it shows: {})",
            unknown.join(", "),
            path.display(),
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        );
    }
    if let Some(d) = &analysis.damage
        && trace.damage.is_none()
    {
        ui::warn(format_args!("{} does not decode at {d}; analysed the events before it", path.display()));
    }
    for h in analysis.log.hazards_mut() {
        for side in [&mut h.observer, &mut h.cause] {
            // A device's side has no PC to name.
            if !side.is_device() {
                side.symbol = syms.lookup(side.pc);
                side.source = syms.source_line(side.pc);
            }
        }
    }
    Ok(analysis.log.hazards().to_vec())
}

fn run_analyze(path: PathBuf, format: Format, output: Option<PathBuf>, source_root: Option<PathBuf>, opts: &JudgeOpts) -> Result<u8> {
    let trace = open(&path)?;
    let mut syms = load_symbols(opts, &trace)?;
    let hazards = judge_trace(&trace, &path, opts, &mut syms)?;
    let body = match format {
        Format::Text => report::text::render(&hazards),
        Format::Json => report::json::render(&hazards),
        Format::Sarif => report::sarif::render_with_root(&hazards, Some(&source_root_or_cwd(source_root)?)),
        Format::Html => {
            // Source files under the root are shown relative to it.
            let root = source_root_or_cwd(source_root)?;
            let mut shown = hazards.clone();
            for side in shown.iter_mut().flat_map(|h| [&mut h.observer, &mut h.cause]) {
                if let Some(src) = &mut side.source
                    && let Ok(rel) = Path::new(&src.file).strip_prefix(&root)
                {
                    src.file = rel.display().to_string();
                }
            }
            render_html(&trace, &path, &shown, opts, &mut syms)
        }
    };
    match output {
        Some(p) => std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(body.as_bytes())?;
        }
    }
    Ok(if hazards.is_empty() { 0 } else { 1 })
}

/// `--source-root`, absolute, or the current directory.
fn source_root_or_cwd(source_root: Option<PathBuf>) -> Result<PathBuf> {
    match source_root {
        Some(r) => std::path::absolute(&r).with_context(|| format!("--source-root {}", r.display())),
        None => std::env::current_dir().context("the current directory (the source root)"),
    }
}

/// The HTML page: the hazards and their lines' histories (one more replay, of those lines only).
fn render_html(trace: &TraceFile, path: &Path, hazards: &[Hazard], opts: &JudgeOpts, syms: &mut symbols::Symbols) -> String {
    let (cfg, dma) = model_config(opts);
    let lines: Vec<(u64, u64)> = hazards.iter().map(|h| (h.line_pa, h.observer.seq)).collect();
    let (histories, model, _) = cohtrace_analyzer::explain::line_histories(trace, cfg, &dma, &lines);
    let devices = model.devices();
    let device = |id: u32| {
        let name = devices.iter().find(|d| d.id == id).map_or(format!("device#{id}"), |d| d.name.clone());
        let coherent = dma.is_coherent(&name);
        (name, coherent)
    };
    let mut symbol = |pc: u64| syms.lookup(pc);
    let dma_text = if dma.noncoherent_all {
        "every device non-coherent".to_string()
    } else if dma.noncoherent.is_empty() {
        "devices coherent".to_string()
    } else {
        format!("non-coherent devices: {}", dma.noncoherent.join(", "))
    };
    let mut ctx = report::html::Context {
        title: path.display().to_string(),
        judged: format!("{} model, {dma_text}{}", cfg.mode.name(), if cfg.system_cache { ", system cache" } else { "" }),
        symbol: &mut symbol,
        device: &device,
    };
    report::html::render(hazards, &histories, &mut ctx)
}

fn parse_address(s: &str) -> std::result::Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("'{s}' is not an address: {e}"))
}

/// Lines of a line's history: each event (with its symbol, and `marks` for the cause and the observer)
/// and the line's state after it.
fn history(
    out: &mut String,
    syms: &mut symbols::Symbols,
    steps: &[cohtrace_analyzer::explain::Step],
    model: &cohtrace_analyzer::model::Model,
    marks: &dyn Fn(u64) -> &'static str,
) {
    use cohtrace_analyzer::explain::{describe_event, describe_state};
    let devices = model.devices();
    let name = |id: u32| devices.iter().find(|d| d.id == id).map_or(format!("device#{id}"), |d| d.name.clone());
    for s in steps {
        let sym = s.event.pc().and_then(|pc| syms.lookup(pc)).map(|s| format!(" ({s})")).unwrap_or_default();
        out.push_str(&format!("  {:>12}{} {}{sym}\n", s.seq, marks(s.seq), describe_event(&s.event, &name)));
        out.push_str(&format!("  {:>12}   -> {}\n", "", describe_state(&s.after)));
    }
}

fn run_explain(path: &PathBuf, only: Option<usize>, line: Option<u64>, limit: Option<usize>, opts: &JudgeOpts) -> Result<u8> {
    use cohtrace_analyzer::explain::{hazard_window, line_history};
    let trace = open(path)?;
    let mut syms = load_symbols(opts, &trace)?;
    let (cfg, dma) = model_config(opts);
    let mut out = String::new();
    if let Some(pa) = line {
        let (mut all, model, _) = line_history(&trace, cfg, &dma, &[pa], u64::MAX);
        let steps = all.swap_remove(0);
        let from = limit.map_or(0, |n| steps.len().saturating_sub(n));
        out.push_str(&format!("==cohtrace== line {:#x}: {} events touched it{}\n", pa & !63, steps.len(),
            if from > 0 { format!(", the last {} shown", steps.len() - from) } else { String::new() }));
        history(&mut out, &mut syms, &steps[from..], &model, &|_| " ");
    } else {
        let hazards = judge_trace(&trace, path, opts, &mut syms)?;
        if only.is_some_and(|n| n == 0 || n > hazards.len()) {
            bail!("--hazard {}: the report has {} hazard(s), numbered from 1", only.unwrap_or(0), hazards.len());
        }
        let chosen: Vec<(usize, &Hazard)> = hazards.iter().enumerate().filter(|(i, _)| only.is_none_or(|n| n == i + 1)).collect();
        // One replay for every hazard's line, up to the last observer.
        let lines: Vec<u64> = chosen.iter().map(|(_, h)| h.line_pa).collect();
        let to = chosen.iter().map(|(_, h)| h.observer.seq).max().unwrap_or(0);
        let (all, model, _) = line_history(&trace, cfg, &dma, &lines, to);
        for ((i, h), steps) in chosen.into_iter().zip(&all) {
            let (start, end) = hazard_window(steps, h);
            out.push_str(&format!("==cohtrace== hazard {}: {} on line {:#x}\n", i + 1, h.class.name(), h.line_pa));
            let who = |side: &cohtrace_analyzer::report::Side| {
                if side.is_device() {
                    side.describe()
                } else {
                    let sym = side.symbol_and_source().map(|s| format!(" ({s})")).unwrap_or_default();
                    format!("{} at pc {:#x}{sym}, vCPU {}, {}", side.describe(), side.pc, side.vcpu, side.mem)
                }
            };
            out.push_str(&format!("  observer {}\n  cause    {}\n  missing  {}\n", who(&h.observer), who(&h.cause), h.missing));
            out.push_str(&format!("  the line's history, events {} to {} of the window (> cause, < observer):\n", start + 1, end + 1));
            let (cause, observer) = (h.cause.seq, h.observer.seq);
            history(&mut out, &mut syms, &steps[start.min(steps.len())..(end + 1).min(steps.len())], &model, &move |seq| {
                if seq == observer { "<" } else if seq == cause { ">" } else { " " }
            });
        }
        if hazards.is_empty() {
            out.push_str("==cohtrace== no hazards to explain\n");
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(0)
}

fn run_stats(path: PathBuf) -> Result<()> {
    let trace = open(&path)?;
    // Counted straight from the records on the analysis's fast path: no Event per access, and memory
    // bounded by the number of distinct kinds and memory types, not by the trace.
    let mut kinds = [0u64; 256];
    let mut walk_updates = 0u64;
    let (mut bulk, mut bulk_bytes) = ([0u64; 2], [0u64; 2]);
    let mut ops = [0u64; 256];
    let mut types = vec![0u64; 1 << 16]; // by the 16 memory-type bits
    let (mut mmio, mut stores) = (0u64, 0u64);
    let mut dma_writes = 0u64;
    // Bytes per device, path and direction (the coverage check of the DMA tier reads the map path's).
    let mut by_path = std::collections::BTreeMap::<u32, [[u64; 2]; 4]>::new();
    // Names and bytes per device (the policy is irrelevant here: only counts are read).
    let (mut devices, policy) = (Devices::default(), DmaPolicy::default());
    let mut events = trace.events();
    events.replay(|_, _, r, _| {
        kinds[r.kind as usize] += 1;
        if r.kind == RecordKind::Access as u8 {
            if r.info & INFO_MMIO != 0 {
                mmio += 1;
            } else if r.info & INFO_STORE != 0 {
                stores += 1;
            }
            types[r.mem as usize] += 1;
        } else if r.kind == RecordKind::Maintenance as u8 {
            ops[r.info as usize] += 1;
        } else if r.kind == RecordKind::Walk as u8 && r.info & cohtrace_analyzer::trace::codes::WALK_UPDATE != 0 {
            walk_updates += 1;
        } else if r.kind == RecordKind::Bulk as u8 {
            let store = (r.info & cohtrace_analyzer::trace::codes::BULK_STORE != 0) as usize;
            bulk[store] += 1;
            bulk_bytes[store] += r.insn as u64;
        } else if r.kind == RecordKind::Dma as u8 {
            dma_writes += (r.info & DMA_WRITE != 0) as u64;
            if let Some(d) = dma_of(r) {
                devices.transfer(&d, &policy);
                by_path.entry(d.device).or_default()[d.path.code() as usize & 3][d.write as usize] += d.len as u64;
            }
        } else if r.kind == RecordKind::DeviceName as u8
            && let Some(n) = device_name_of(r)
        {
            devices.name_part(&n, &policy);
        }
    });
    let mut by_kind = std::collections::BTreeMap::<&str, u64>::new();
    let mut add = |k: &'static str, v: u64| {
        if v > 0 {
            *by_kind.entry(k).or_default() += v;
        }
    };
    for kind in RecordKind::ALL {
        let count = kinds[kind as usize];
        match kind {
            RecordKind::Access => {
                add("load", count - mmio - stores);
                add("store", stores);
                add("mmio access", mmio);
            }
            RecordKind::Fetch => add("fetch", count),
            RecordKind::SysReg => add("system register write", count),
            RecordKind::Regime => add("regime change", count),
            RecordKind::Marker => add("marker", count),
            RecordKind::Walk => {
                add("table walk", count - walk_updates);
                add("table walk update", walk_updates);
            }
            RecordKind::Bulk => {
                add("bulk load (MOPS source)", bulk[0]);
                add("bulk store (MOPS, DC ZVA)", bulk[1]);
            }
            RecordKind::PendingType => add("pending memory type", count),
            RecordKind::Dma => {
                add("DMA read", count - dma_writes);
                add("DMA write", dma_writes);
            }
            RecordKind::DeviceName => add("device name part", count),
            RecordKind::Maintenance | RecordKind::MarkerArg => {}
        }
    }
    for (code, count) in ops.iter().enumerate() {
        if let Some(op) = cohtrace_analyzer::event::CacheOp::from_code(code as u8, 0) {
            add(op.mnemonic(), *count);
        }
    }
    let n: u64 = by_kind.values().sum();
    let mut by_type = std::collections::BTreeMap::<String, u64>::new();
    for (bits, &count) in types.iter().enumerate().filter(|(_, c)| **c > 0) {
        *by_type.entry(cohtrace_analyzer::memtype::MemType::from_bits(bits as u16).to_string()).or_default() += count;
    }
    let mut out = String::new();
    out.push_str(&format!("trace       {}\n", path.display()));
    out.push_str(&format!("size        {} bytes ({} in chunks)\n", trace.len_bytes(), trace.payload_bytes()));
    out.push_str(&format!("chunks      {}\n", trace.chunks.len()));
    out.push_str(&format!("vcpus       {:?}\n", trace.vcpus()));
    if trace.has_device_stream() {
        out.push_str(&format!("device stream {} bytes (DMA no vCPU performed)\n", trace.device_stream_bytes()));
    }
    out.push_str(&format!("events      {n}\n"));
    if n > 0 {
        out.push_str(&format!("bytes/event {:.3}\n", trace.payload_bytes() as f64 / n as f64));
    }
    if let Some(e) = trace.end {
        out.push_str(&format!("complete    yes ({} records, {} dropped)\n", e.records, e.dropped));
    } else {
        out.push_str("complete    no (no end chunk)\n");
    }
    for (k, v) in &trace.header.meta {
        out.push_str(&format!("meta        {k}={v}\n"));
    }
    out.push_str("\nevents by kind\n");
    for (k, v) in by_kind {
        out.push_str(&format!("  {k:<24} {v}\n"));
    }
    if bulk_bytes != [0, 0] {
        out.push_str(&format!("bulk bytes  {} read, {} written\n", bulk_bytes[0], bulk_bytes[1]));
    }
    let devices = devices.all();
    if !devices.is_empty() {
        let (r, w): (u64, u64) = (devices.iter().map(|d| d.read_bytes).sum(), devices.iter().map(|d| d.write_bytes).sum());
        out.push_str(&format!("DMA bytes   {r} read, {w} written (by devices)\n"));
        out.push_str("\ndevices\n");
        for d in &devices {
            out.push_str(&format!(
                "  {:<24} id {}, {} reads ({} bytes), {} writes ({} bytes)\n",
                d.name, d.id, d.reads, d.read_bytes, d.writes, d.write_bytes
            ));
            for path in cohtrace_analyzer::event::DmaPath::ALL {
                let [read, written] = by_path.get(&d.id).map_or([0, 0], |p| p[path.code() as usize & 3]);
                if read + written > 0 {
                    out.push_str(&format!("    {:<22} {read} bytes read, {written} bytes written\n", format!("{} path", path.name())));
                }
            }
        }
    }
    out.push_str("\naccesses by memory type\n");
    for (k, v) in by_type {
        out.push_str(&format!("  {k:<24} {v}\n"));
    }
    print!("{out}");
    if let Some(d) = events.error() {
        bail!("trace does not decode at {d}");
    }
    Ok(())
}
