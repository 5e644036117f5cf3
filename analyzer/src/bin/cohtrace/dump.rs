//! `cohtrace dump`: a trace's records as text, one a line, in global order. Filters (`--line`, `--pc`,
//! `--vcpu`, `--kind`, `--from`/`--to`) combine with AND and are judged on the record, before any text is
//! built: a filtered dump of a big trace costs the decoding, not the formatting. `--vcpu` leaves the other
//! streams undecoded, `--from` skips whole chunks without decoding them and `--to` stops at the first
//! record past it.

use super::{open, parse_address, ui};
use anyhow::{Result, bail};
use clap::ValueEnum;
use cohtrace_analyzer::event::{AccessKind, Event};
use cohtrace_analyzer::explain::touches;
use cohtrace_analyzer::trace::codes::{DEVICE_STREAM, INFO_MMIO, INFO_STORE};
use cohtrace_analyzer::trace::record::record_to_event;
use cohtrace_analyzer::trace::{Record, RecordKind};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct DumpArgs {
    trace: PathBuf,
    /// Stop after printing this many events.
    #[arg(long)]
    limit: Option<u64>,
    /// Only events that touch this physical line (hex with 0x, or decimal; any address in the line): RAM
    /// accesses, fetches, table walks, bulk ranges and DMA transfers overlapping it, maintenance by PA on it,
    /// and set/way and whole-I-cache maintenance, which touch every line. Repeatable: any of them.
    #[arg(long, value_name = "PA", value_parser = parse_address)]
    line: Vec<u64>,
    /// Only events of the instruction at this PC (a pending type's is its register write's; devices and
    /// regime changes have none). Repeatable: any of them.
    #[arg(long, value_name = "PC", value_parser = parse_address)]
    pc: Vec<u64>,
    /// Only records of this vCPU's stream (DMA a device did on that vCPU's thread included), or `dev`
    /// for the device stream (DMA no vCPU performed). Repeatable: any of them.
    #[arg(long, value_name = "N|dev", value_parser = parse_vcpu)]
    vcpu: Vec<u16>,
    /// Only events of this kind. Repeatable: any of them.
    #[arg(long, value_enum, value_name = "KIND")]
    kind: Vec<Kind>,
    /// Only events with this sequence number or a later one.
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Only events with this sequence number or an earlier one.
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
}

/// What `--kind` selects (the categories of `cohtrace stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A data load that reached RAM.
    Load,
    /// A data store that reached RAM (an atomic is a load and a store).
    Store,
    /// An access that did not reach RAM (MMIO).
    Mmio,
    /// An instruction fetch (per line, at translation).
    Fetch,
    /// A table walker's descriptor read or hardware update.
    Walk,
    /// Cache maintenance (DC, IC) and TLBI.
    Maintenance,
    /// A write of a tracked system register (and CTR_EL0 / CLIDR_EL1 as recorded at start).
    Sysreg,
    /// A change of translation regime (EL, VMID, ASID).
    Regime,
    /// A guest marker, with its argument records.
    Marker,
    /// A range accessed as a whole: a FEAT_MOPS step, a DC ZVA block.
    Bulk,
    /// The other memory type the next access may have (an unsynchronized register write).
    PendingType,
    /// A device's transfer to or from guest RAM.
    Dma,
    /// Part of a device's name.
    DeviceName,
}

impl Kind {
    /// The kind of a record (`None` for a record this reader does not know).
    fn of(r: &Record) -> Option<Kind> {
        Some(match RecordKind::from_u8(r.kind)? {
            RecordKind::Access if r.info & INFO_MMIO != 0 => Kind::Mmio,
            RecordKind::Access if r.info & INFO_STORE != 0 => Kind::Store,
            RecordKind::Access => Kind::Load,
            RecordKind::Fetch => Kind::Fetch,
            RecordKind::Walk => Kind::Walk,
            RecordKind::Maintenance => Kind::Maintenance,
            RecordKind::SysReg => Kind::Sysreg,
            RecordKind::Regime => Kind::Regime,
            RecordKind::Marker | RecordKind::MarkerArg => Kind::Marker,
            RecordKind::Bulk => Kind::Bulk,
            RecordKind::PendingType => Kind::PendingType,
            RecordKind::Dma => Kind::Dma,
            RecordKind::DeviceName => Kind::DeviceName,
        })
    }
}

fn parse_vcpu(s: &str) -> std::result::Result<u16, String> {
    match s {
        "dev" | "device" => Ok(DEVICE_STREAM),
        _ => s
            .parse::<u16>()
            .ok()
            .filter(|&v| v != DEVICE_STREAM)
            .ok_or_else(|| format!("'{s}' is not a vCPU number (0-65534) or 'dev' (the device stream)")),
    }
}

/// The filters of one dump, on records.
struct Filter {
    lines: Vec<u64>,
    line_size: u64,
    pcs: Vec<u64>,
    vcpus: Vec<u16>,
    /// Bit `Kind as u32` per kind asked for; 0: every kind.
    kinds: u32,
    from: u64,
    to: u64,
}

impl Filter {
    /// Whether a record passes the filters its fields alone decide (`--vcpu`, `--kind`).
    #[inline]
    fn record_passes(&self, vcpu: u16, r: &Record) -> bool {
        (self.vcpus.is_empty() || self.vcpus.contains(&vcpu))
            && (self.kinds == 0 || Kind::of(r).is_some_and(|k| self.kinds & (1 << k as u32) != 0))
    }

    /// Whether it passes `--pc` and `--line`, judged on the event it stands for (a conversion without
    /// allocation; no text is built here).
    #[inline]
    fn event_passes(&self, r: &Record, ev: Option<&Event>) -> bool {
        if !self.pcs.is_empty() {
            let pc = match ev {
                Some(ev) => ev.pc(),
                // A marker's argument records carry the marker's PC.
                None if r.kind == RecordKind::MarkerArg as u8 => Some(r.pc),
                None => None,
            };
            if !pc.is_some_and(|pc| self.pcs.contains(&pc)) {
                return false;
            }
        }
        self.lines.is_empty() || ev.is_some_and(|ev| self.lines.iter().any(|&l| touches(ev, l, self.line_size)))
    }
}

pub fn run(args: &DumpArgs) -> Result<()> {
    let (from, to) = (args.from.unwrap_or(0), args.to.unwrap_or(u64::MAX));
    if from > to {
        bail!("--from {from} is after --to {to}: no sequence number is in the range");
    }
    let trace = open(&args.trace)?;
    let line_size = trace.geometry().line_size.max(16) as u64;
    let filter = Filter {
        lines: args.line.iter().map(|pa| pa & !(line_size - 1)).collect(),
        line_size,
        pcs: args.pc.clone(),
        vcpus: args.vcpu.clone(),
        kinds: args.kind.iter().fold(0, |m, k| m | 1 << *k as u32),
        from,
        to,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Streams --vcpu leaves out are not even decoded.
    let mut events = trace.events_of(|v| filter.vcpus.is_empty() || filter.vcpus.contains(&v));
    if filter.from > 0 {
        events.skip_to(filter.from);
    }
    let geometry = trace.geometry();
    let (mut n, mut read, start) = (0u64, 0u64, std::time::Instant::now());
    while let Some((vcpu, seq, r)) = events.next_record() {
        if limit_reached(args.limit, n) || seq > filter.to {
            break;
        }
        read += 1;
        if seq < filter.from {
            continue;
        }
        if !filter.record_passes(vcpu, &r) {
            continue;
        }
        let marker_arg = r.kind == RecordKind::MarkerArg as u8;
        let ev = if marker_arg { None } else { record_to_event(&r, &[], vcpu, geometry) };
        if !filter.event_passes(&r, ev.as_ref()) {
            continue;
        }
        n += 1;
        let line = match ev {
            _ if marker_arg => format!("{seq:>10} cpu{vcpu} marker-arg {:#x} pc={:#x}", r.a, r.pc),
            // A device's record in a vCPU's stream: QEMU did the transfer on that vCPU's thread.
            Some(ev @ (Event::Dma(_) | Event::DeviceName(_))) if vcpu != DEVICE_STREAM => {
                format!("{seq:>10} {} (on cpu{vcpu}'s thread)", describe(&ev))
            }
            Some(ev) => format!("{seq:>10} {}", describe(&ev)),
            None => format!("{seq:>10} cpu{vcpu} (malformed record {r:?})"),
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(()); // stdout closed (e.g. piped to head)
        }
    }
    if out.flush().is_err() {
        return Ok(());
    }
    ui::info(format_args!("printed {n} of the {read} records read in {:.2} s", start.elapsed().as_secs_f64()));
    if let Some(d) = events.error() {
        bail!("trace does not decode at {d}");
    }
    Ok(())
}

fn limit_reached(limit: Option<u64>, printed: u64) -> bool {
    limit.is_some_and(|l| printed >= l)
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::Access(a) => format!(
            "cpu{} {} pc={:#x} va={:#x} pa={:#x} size={} {}{}",
            a.vcpu,
            match a.kind {
                AccessKind::Load => "load ",
                AccessKind::Store => "store",
            },
            a.pc,
            a.va,
            a.pa,
            a.size,
            a.mem,
            if a.mmio { " mmio" } else { "" }
        ),
        // Fetch::pa bit 0 set: the rest is the PA of the block's last instruction in the line.
        Event::Fetch(f) if f.pa & 1 != 0 => {
            format!("cpu{} fetch pc={:#x} last-pa={:#x} {}", f.vcpu, f.pc, f.pa & !3, f.mem)
        }
        Event::Fetch(f) => format!("cpu{} fetch pc={:#x} line={:#x} {}", f.vcpu, f.pc, f.pa, f.mem),
        Event::Maintenance(m) => format!(
            "cpu{} {} pc={:#x} xt={:#x} pa={} {}",
            m.vcpu,
            m.op.mnemonic(),
            m.pc,
            m.operand,
            m.pa.map(|p| format!("{p:#x}")).unwrap_or_else(|| "-".into()),
            m.mem
        ),
        Event::SysReg(s) => format!("cpu{} msr {} <- {:#x} pc={:#x}", s.vcpu, s.reg.name(), s.value, s.pc),
        Event::Regime { vcpu, regime } => format!(
            "cpu{vcpu} regime EL{} {:?} vmid={:?} asid={:?}",
            regime.el, regime.kind, regime.vmid, regime.asid
        ),
        Event::Marker(m) => {
            let [a0, a1, a2] = m.args;
            format!("cpu{} marker {:?} args=[{a0:#x}, {a1:#x}, {a2:#x}] pc={:#x}", m.vcpu, m.kind, m.pc)
        }
        Event::PendingType(t) => format!(
            "cpu{} pending-type {} (unsynchronized {} at pc={:#x}{}) for the next access",
            t.vcpu,
            t.mem,
            t.reg.name(),
            t.write_pc,
            if t.tlbi { ", needs TLBI" } else { "" }
        ),
        Event::Bulk(b) => format!(
            "cpu{} bulk-{} {} pc={:#x} va={:#x} pa={:#x} len={} {}",
            b.vcpu,
            if b.store { "store" } else { "load " },
            b.op.name(),
            b.pc,
            b.va,
            b.pa,
            b.len,
            b.mem
        ),
        Event::Dma(d) => format!(
            "dev{} dma-{} pa={:#x} len={} path={}",
            d.device,
            if d.write { "write" } else { "read " },
            d.pa,
            d.len,
            d.path.name()
        ),
        Event::DeviceName(n) => {
            let end = n.bytes.iter().position(|b| *b == 0).unwrap_or(n.bytes.len());
            format!("dev{} name part {} {:?}", n.id, n.part, String::from_utf8_lossy(&n.bytes[..end]))
        }
        Event::Walk(w) => format!(
            "cpu{} {} s{} L{} pc={:#x} va={:#x} pa={:#x} size={} for-{} {}",
            w.vcpu,
            if w.update { "walk-update" } else { "walk" },
            w.stage,
            w.level,
            w.pc,
            w.va,
            w.pa,
            w.size,
            w.cause.name(),
            w.mem
        ),
    }
}
