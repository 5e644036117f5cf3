//! System instructions, before they execute (QEMU calls instruction callbacks first): writes of the
//! tracked registers, cache and TLB maintenance, guest markers. One function each.

use crate::decode::{self, Decoded};
use crate::options::ModelMode;
use crate::qemu::{RegBuf, RegHandles};
use crate::sink::Msg;
use crate::state::{InsnInfo, Plugin, invalidate_translations, plugin};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::event::{CacheOp, MARKER_NAME_LEN, Marker, MarkerKind, SysReg};
use cohtrace_analyzer::memtype::MemType;
use cohtrace_analyzer::trace::codes::NO_PA;
use cohtrace_analyzer::trace::record::marker_records;
use cohtrace_analyzer::trace::{Record, RecordKind};
use std::ffi::{c_uint, c_void};

pub unsafe extern "C" fn on_system_insn(vcpu_index: c_uint, udata: *mut c_void) {
    crate::state::guard("system instruction callback", (), || {
        let Some(p) = plugin() else { return };
        let Some(Ok(regs)) = p.regs.get() else { return };
        // SAFETY: udata is the interned InsnInfo.
        let insn = unsafe { &*(udata as *const InsnInfo) };
        p.enter(vcpu_index, |v| {
            if p.ext.is_none() {
                crate::stock::learn_el(v, regs);
            }
            let mut rb = v.regbuf.take()?;
            let mut cpu = Cpu { regs, rb: &mut rb };
            match insn.decoded {
                Some(Decoded::Msr { reg, el12, rt }) => msr(p, v, insn, &mut cpu, reg, el12, rt),
                Some(Decoded::Maintenance { op, rt }) => maintenance(p, v, insn, &mut cpu, op, rt),
                Some(Decoded::Marker(kind)) => marker(p, v, insn, &mut cpu, kind),
                Some(Decoded::ContextSync) => {
                    if insn.eret && p.ext.is_none() {
                        crate::stock::eret(v, regs, &mut rb);
                    }
                    v.context_synchronized()
                }
                _ => {}
            }
            v.regbuf = Some(rb);
            Some(())
        });
    })
}

/// Register reads of the vCPU running the callback (through QEMU's gdbstub path: not cheap).
struct Cpu<'a> {
    regs: &'a RegHandles,
    rb: &'a mut RegBuf,
}

impl Cpu<'_> {
    fn x(&mut self, n: u8) -> Option<u64> {
        if n >= 31 { Some(0) } else { self.rb.read(self.regs.x[n as usize]) }
    }

    /// The current EL: only MSR and markers need it.
    fn el(&mut self) -> u8 {
        self.rb.read(self.regs.cpsr).map(|c| ((c >> 2) & 3) as u8).unwrap_or(1)
    }
}

fn msr(p: &Plugin, v: &mut Vcpu, insn: &InsnInfo, cpu: &mut Cpu, reg: SysReg, el12: bool, rt: u8) {
    let el = cpu.el();
    let (Some(target), Some(val)) = (decode::msr_target(reg, el12, el, v.tracked.ctl.hcr_el2), cpu.x(rt)) else {
        return;
    };
    let regime = v.tracked.regime_at_el(el).pack();
    p.ensure_regime(v, regime);
    v.note_type_write(target, val, el, insn.pc);
    v.set_reg(target, val);
    invalidate_translations();
    let rec = Record { kind: RecordKind::SysReg as u8, a: val, pc: insn.pc, insn: insn.id, info: target.code(), ..Default::default() };
    p.push(v, rec);
}

fn maintenance(p: &Plugin, v: &mut Vcpu, insn: &InsnInfo, cpu: &mut Cpu, op: CacheOp, rt: u8) {
    let operand = cpu.x(rt).unwrap_or(0);
    // The regime: the translation's for operations by VA (below), else the vCPU's current one.
    let (a, mem) = match op {
        CacheOp::Tlbi(code) => {
            invalidate_translations();
            crate::vcpu::TLBI_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (code as u64, MemType::UNKNOWN)
        }
        op if op.is_by_va() => {
            let fetch = op == CacheOp::IcIvau;
            let found = match p.ext {
                Some(_) => crate::stock::probe_va(p, operand).map(|(pa, raw)| {
                    let (mem, regime) = v.classify(raw, fetch);
                    (pa, mem, regime)
                }),
                // Stock mode: the own walk's PA (probe_va's debug walk would cost a QEMU walk each).
                None => match crate::stock::lookup(v, operand, fetch) {
                    (Some(pa), mem, regime) => Some((pa, mem, regime)),
                    (None, ..) => None,
                },
            };
            match found {
                Some((pa, mem, regime)) => {
                    p.ensure_regime(v, regime);
                    (pa, mem)
                }
                None => (NO_PA, MemType::UNKNOWN),
            }
        }
        _ => (0, MemType::UNKNOWN),
    };
    if a != NO_PA && op.is_by_va() && p.filtered_out(a) {
        return;
    }
    let rec = Record {
        kind: RecordKind::Maintenance as u8,
        a,
        b: operand,
        pc: insn.pc,
        insn: insn.id,
        info: op.code(),
        mem: mem.to_bits(),
        ..Default::default()
    };
    p.push(v, rec);
}

fn marker(p: &Plugin, v: &mut Vcpu, insn: &InsnInfo, cpu: &mut Cpu, kind: MarkerKind) {
    let el = cpu.el();
    let mut args = [cpu.x(0).unwrap_or(0), cpu.x(1).unwrap_or(0), cpu.x(2).unwrap_or(0)];
    let mut name = [0u8; MARKER_NAME_LEN];
    if matches!(kind, MarkerKind::NameRange | MarkerKind::Suppress) {
        // Ranges are given by VA; the model works on physical lines.
        if let Some((pa, _)) = crate::stock::probe_va(p, args[1]) {
            args[1] = pa;
        }
    }
    if kind == MarkerKind::NameRange {
        name = read_name(args[0]);
    }
    let regime = v.tracked.regime_at_el(el).pack();
    p.ensure_regime(v, regime);
    let m = Marker { vcpu: v.index, pc: insn.pc, kind, args, name };
    // A marker and its argument records go in one chunk (readers take the arguments from it).
    if v.len + 5 > v.buf.len() {
        p.flush(v);
    }
    for r in marker_records(&m, insn.id) {
        p.push(v, r);
    }
    if matches!(kind, MarkerKind::End | MarkerKind::Check) && p.opts.model == ModelMode::Online {
        // The verdict must come before the guest moves on to its next test case.
        p.flush(v);
        let (tx, rx) = crossbeam_channel::bounded(1);
        if p.sink.tx.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// Reads a marker's NUL-terminated range name from guest memory (at most MARKER_NAME_LEN bytes).
fn read_name(va: u64) -> [u8; MARKER_NAME_LEN] {
    let mut name = [0u8; MARKER_NAME_LEN];
    // Do not read across the page end: the next page may be unmapped.
    let len = (MARKER_NAME_LEN as u64).min(0x1000 - (va & 0xfff)) as usize;
    if let Some(bytes) = crate::qemu::read_guest(va, len) {
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        name[..end].copy_from_slice(&bytes[..end]);
    }
    name
}
