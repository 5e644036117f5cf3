//! The fixed-size capture record: what the plugin's hot path writes into its per-vCPU buffer and what the
//! trace encoder consumes. 40 bytes, no pointers, `Copy`, so buffers are plain arrays that can be recycled.

use super::codes::{
    BULK_STORE, DEVICE_NAME_PARTS, DMA_PATH_MASK, DMA_WRITE, INFO_MMIO, PENDING_NEEDS_TLBI, INFO_SIZE_MASK, INFO_STORE, NO_PA, RecordKind, WALK_CAUSE_SHIFT, WALK_LEVEL_MASK, WALK_SIZE8, WALK_STAGE2,
    WALK_UPDATE,
};
use crate::event::{
    Access, Bulk, BulkOp, DEVICE_NAME_PART_LEN, DeviceName, Dma, DmaPath, PendingType, AccessKind, CacheOp, Event, Fetch, Maintenance, Marker, MarkerKind, Regime, SysReg, SysRegWrite, Walk, WalkCause,
};
use crate::memtype::MemType;

/// One captured event. Field use by kind:
///
/// Kind 0 (`codes::RECORD_SKIPPED`) is a record that stands for nothing (an unknown extension record).
///
/// | kind        | a                 | b        | info                        | mem  |
/// |-------------|-------------------|----------|-----------------------------|------|
/// | Access      | PA                | VA       | log2(size) | mmio << 6 | store << 7 | type |
/// | Fetch       | PA in the line (Fetch::pa: bit 0 = last instruction given) | 0 | 0       | type |
/// | Maintenance | PA / NO_PA / TLBI operand | Xt | CacheOp code            | type |
/// | SysReg      | value             | 0        | SysReg code                 | 0    |
/// | Regime      | Regime::pack      | 0        | 0                           | 0    |
/// | Marker      | X1                | X0       | MarkerKind code             | 0    |
/// | MarkerArg   | X2                | 0        | 0                           | 0    |
/// | Walk        | descriptor PA     | VA       | level, stage, update, cause, size (`WALK_*`) | type |
/// | Bulk        | PA                | VA       | `BulkOp` code, store (`BULK_*`) | type |
/// | PendingType | PC of the register write | 0 | `SysReg` code, `PENDING_NEEDS_TLBI` | the other type |
/// | Dma         | bus (physical) address | device id | `DmaPath` code, `DMA_WRITE` | 0 |
/// | DeviceName  | name bytes 0..8   | bytes 8..16 | part index (0..=3)        | 0    |
///
/// A Bulk record's `insn` is its length in bytes (it has no interned instruction), as is a Dma record's;
/// a DeviceName record's `insn` is the device id and its `pc` the name bytes 16..24.
///
/// `insn` is the plugin's dense id of the instruction (0 when there is none); `seq` is the record's
/// position in the global event order relative to its buffer's base sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    pub a: u64,
    pub b: u64,
    pub pc: u64,
    pub insn: u32,
    pub seq: u32,
    pub kind: u8,
    pub info: u8,
    pub mem: u16,
}

impl Record {
    #[inline(always)]
    pub fn access(insn: u32, pc: u64, va: u64, pa: u64, size_log2: u8, store: bool, mem: MemType) -> Record {
        Record {
            a: pa,
            b: va,
            pc,
            insn,
            seq: 0,
            kind: RecordKind::Access as u8,
            info: (size_log2 & INFO_SIZE_MASK) | if store { INFO_STORE } else { 0 },
            mem: mem.to_bits(),
        }
    }

    /// A table-walk descriptor access.
    #[inline]
    pub fn walk(w: &Walk) -> Record {
        Record {
            a: w.pa,
            b: w.va,
            pc: w.pc,
            insn: 0,
            seq: 0,
            kind: RecordKind::Walk as u8,
            info: walk_info(w.stage, w.level, w.update, w.cause, w.size),
            mem: w.mem.to_bits(),
        }
    }

    /// A bulk access (a MOPS step, a DC ZVA block).
    #[inline]
    pub fn bulk(b: &Bulk) -> Record {
        Record {
            a: b.pa,
            b: b.va,
            pc: b.pc,
            insn: b.len,
            seq: 0,
            kind: RecordKind::Bulk as u8,
            info: b.op.code() | if b.store { BULK_STORE } else { 0 },
            mem: b.mem.to_bits(),
        }
    }

    /// The other memory type the next access may have (an unsynchronized register write).
    pub fn pending_type(t: &PendingType) -> Record {
        Record {
            a: t.write_pc,
            kind: RecordKind::PendingType as u8,
            info: t.reg.code() | if t.tlbi { PENDING_NEEDS_TLBI } else { 0 },
            mem: t.mem.to_bits(),
            ..Default::default()
        }
    }

    /// A device transfer (`pc`, `mem` 0: a device has neither).
    #[inline]
    pub fn dma(d: &Dma) -> Record {
        Record {
            a: d.pa,
            b: d.device as u64,
            insn: d.len,
            kind: RecordKind::Dma as u8,
            info: d.path.code() | if d.write { DMA_WRITE } else { 0 },
            ..Default::default()
        }
    }

    /// A device's name as DeviceName records, part 0 first: 24 bytes each, at most four (longer names are
    /// cut at 96 bytes); an empty name is one empty part.
    pub fn device_name_parts(id: u32, name: &str) -> Vec<Record> {
        let bytes = &name.as_bytes()[..name.len().min(DEVICE_NAME_PARTS as usize * DEVICE_NAME_PART_LEN)];
        let parts = bytes.len().div_ceil(DEVICE_NAME_PART_LEN).max(1);
        (0..parts)
            .map(|p| {
                let mut part = [0u8; DEVICE_NAME_PART_LEN];
                let chunk = &bytes[(p * DEVICE_NAME_PART_LEN).min(bytes.len())..((p + 1) * DEVICE_NAME_PART_LEN).min(bytes.len())];
                part[..chunk.len()].copy_from_slice(chunk);
                Record::device_name(&DeviceName { id, part: p as u8, bytes: part })
            })
            .collect()
    }

    /// One part of a device's name.
    pub fn device_name(n: &DeviceName) -> Record {
        let word = |i: usize| u64::from_le_bytes(n.bytes[i * 8..i * 8 + 8].try_into().unwrap());
        Record {
            a: word(0),
            b: word(1),
            pc: word(2),
            insn: n.id,
            kind: RecordKind::DeviceName as u8,
            info: n.part,
            ..Default::default()
        }
    }

    /// Converts an event into a record (for tests, tools and the library API); `insn` may be 0.
    pub fn from_event(ev: &Event, insn: u32) -> Vec<Record> {
        let mut r = Record { insn, ..Default::default() };
        match *ev {
            Event::Access(a) => {
                let mut r = Record::access(
                    insn,
                    a.pc,
                    a.va,
                    a.pa,
                    a.size.max(1).trailing_zeros() as u8,
                    a.kind == AccessKind::Store,
                    a.mem,
                );
                if a.mmio {
                    r.info |= INFO_MMIO;
                }
                return vec![r];
            }
            Event::Fetch(f) => {
                r.kind = RecordKind::Fetch as u8;
                r.a = f.pa;
                r.pc = f.pc;
                r.mem = f.mem.to_bits();
            }
            Event::Maintenance(m) => {
                r.kind = RecordKind::Maintenance as u8;
                r.a = match m.op {
                    CacheOp::Tlbi(code) => code as u64,
                    _ => m.pa.unwrap_or(NO_PA),
                };
                r.b = m.operand;
                r.pc = m.pc;
                r.info = m.op.code();
                r.mem = m.mem.to_bits();
            }
            Event::SysReg(s) => {
                r.kind = RecordKind::SysReg as u8;
                r.a = s.value;
                r.pc = s.pc;
                r.info = s.reg.code();
            }
            Event::Regime { regime, .. } => {
                r.kind = RecordKind::Regime as u8;
                r.a = regime.pack();
            }
            Event::Marker(m) => return marker_records(&m, insn),
            Event::Walk(w) => return vec![Record { insn, ..Record::walk(&w) }],
            Event::Bulk(b) => return vec![Record::bulk(&b)],
            Event::PendingType(t) => return vec![Record::pending_type(&t)],
            Event::Dma(d) => return vec![Record::dma(&d)],
            Event::DeviceName(n) => return vec![Record::device_name(&n)],
        }
        vec![r]
    }
}

/// How a range record (Bulk, Dma) covers `len` bytes: (offset, length) pieces of at most `MAX_RANGE_LEN`
/// each, in order (one piece for any range a single record may hold).
pub fn range_pieces(len: u64) -> impl Iterator<Item = (u64, u32)> {
    let max = super::codes::MAX_RANGE_LEN as u64;
    (0..len.div_ceil(max)).map(move |i| (i * max, (len - i * max).min(max) as u32))
}

/// The info byte of a walk record (docs/trace-format.md, "Table walk").
#[inline(always)]
pub fn walk_info(stage: u8, level: i8, update: bool, cause: WalkCause, size: u32) -> u8 {
    ((level.clamp(-1, 3) + 1) as u8 & WALK_LEVEL_MASK)
        | if stage == 2 { WALK_STAGE2 } else { 0 }
        | if update { WALK_UPDATE } else { 0 }
        | cause.code() << WALK_CAUSE_SHIFT
        | if size >= 8 { WALK_SIZE8 } else { 0 }
}

/// What a walk info byte says, the inverse of `walk_info`: (stage, level, update, cause, size).
#[inline(always)]
pub fn walk_info_fields(info: u8) -> (u8, i8, bool, WalkCause, u32) {
    (
        if info & WALK_STAGE2 != 0 { 2 } else { 1 },
        (info & WALK_LEVEL_MASK).min(4) as i8 - 1,
        info & WALK_UPDATE != 0,
        WalkCause::from_code(info >> WALK_CAUSE_SHIFT),
        if info & WALK_SIZE8 != 0 { 8 } else { 4 },
    )
}

/// The walk a Walk record stands for.
pub fn walk_of(r: &Record, vcpu: u16) -> Walk {
    let (stage, level, update, cause, size) = walk_info_fields(r.info);
    Walk { vcpu, pc: r.pc, va: r.b, pa: r.a, size, stage, level, update, cause, mem: MemType::from_bits(r.mem) }
}

/// A marker is a Marker record (X0, X1) followed by MarkerArg records: X2, then for NameRange the name in
/// two 8-byte words.
pub fn marker_records(m: &Marker, insn: u32) -> Vec<Record> {
    let head = Record {
        kind: RecordKind::Marker as u8,
        b: m.args[0],
        a: m.args[1],
        pc: m.pc,
        insn,
        info: m.kind.code(),
        ..Default::default()
    };
    let arg = |a: u64| Record { kind: RecordKind::MarkerArg as u8, a, insn, pc: m.pc, ..Default::default() };
    let mut v = vec![head, arg(m.args[2])];
    if m.kind == MarkerKind::NameRange {
        v.push(arg(u64::from_le_bytes(m.name[..8].try_into().unwrap())));
        v.push(arg(u64::from_le_bytes(m.name[8..].try_into().unwrap())));
    }
    v
}

/// The marker arguments among `following` (at most three), copied out of a stream whose records are
/// stored with their sequence numbers.
#[inline]
pub fn marker_args<'a>(following: impl Iterator<Item = &'a Record>) -> ([Record; 3], usize) {
    let mut args = [Record::default(); 3];
    let mut n = 0;
    for a in following.take(3) {
        if a.kind != RecordKind::MarkerArg as u8 {
            break;
        }
        args[n] = *a;
        n += 1;
    }
    (args, n)
}

/// Sizes the trace header records, needed to turn records back into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub line_size: u32,
    pub zva_size: u32,
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry { line_size: 64, zva_size: 64 }
    }
}

/// The access an Access record stands for.
#[inline(always)]
pub fn access_of(r: &Record, vcpu: u16) -> Access {
    Access {
        vcpu,
        pc: r.pc,
        va: r.b,
        pa: r.a,
        size: 1u32 << (r.info & INFO_SIZE_MASK).min(6),
        kind: if r.info & INFO_STORE != 0 { AccessKind::Store } else { AccessKind::Load },
        mem: MemType::from_bits(r.mem),
        mmio: r.info & INFO_MMIO != 0,
    }
}

/// The bulk access a Bulk record stands for (`None` for an unknown operation code).
#[inline]
pub fn bulk_of(r: &Record, vcpu: u16) -> Option<Bulk> {
    Some(Bulk {
        vcpu,
        pc: r.pc,
        va: r.b,
        pa: r.a,
        len: r.insn,
        op: BulkOp::from_code(r.info)?,
        store: r.info & BULK_STORE != 0,
        mem: MemType::from_bits(r.mem),
    })
}

/// The transfer a Dma record stands for (`None` for an unknown path code or a length of 0).
#[inline]
pub fn dma_of(r: &Record) -> Option<Dma> {
    if r.insn == 0 {
        return None;
    }
    Some(Dma { device: r.b as u32, pa: r.a, len: r.insn, write: r.info & DMA_WRITE != 0, path: DmaPath::from_code(r.info & DMA_PATH_MASK)? })
}

/// The name part a DeviceName record stands for (`None` for a part index beyond the fourth).
pub fn device_name_of(r: &Record) -> Option<DeviceName> {
    if r.info >= DEVICE_NAME_PARTS {
        return None;
    }
    let mut bytes = [0u8; DEVICE_NAME_PART_LEN];
    for (i, w) in [r.a, r.b, r.pc].into_iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    Some(DeviceName { id: r.insn, part: r.info, bytes })
}

/// Turns a record (and, for markers, the MarkerArg records after it) back into an event. Returns `None`
/// for a record that is not an event on its own (MarkerArg) or is malformed.
pub fn record_to_event(r: &Record, args: &[Record], vcpu: u16, geo: Geometry) -> Option<Event> {
    let mem = MemType::from_bits(r.mem);
    Some(match RecordKind::from_u8(r.kind)? {
        RecordKind::Access => Event::Access(access_of(r, vcpu)),
        RecordKind::Fetch => Event::Fetch(Fetch { vcpu, pc: r.pc, pa: r.a, mem }),
        RecordKind::Maintenance => {
            let tlbi = r.a as u16;
            let op = CacheOp::from_code(r.info, tlbi)?;
            let pa = match op {
                CacheOp::Tlbi(_) => None,
                _ if r.a == NO_PA || !op.is_by_va() => None,
                _ => Some(r.a),
            };
            let len = match op {
                CacheOp::DcZva => geo.zva_size,
                _ if op.is_by_va() => geo.line_size,
                _ => 0,
            };
            Event::Maintenance(Maintenance { vcpu, pc: r.pc, op, operand: r.b, pa, mem, len })
        }
        RecordKind::SysReg => Event::SysReg(SysRegWrite { vcpu, pc: r.pc, reg: SysReg::from_code(r.info)?, value: r.a }),
        RecordKind::Regime => Event::Regime { vcpu, regime: Regime::unpack(r.a) },
        RecordKind::Marker => {
            let mut extra = args.iter().take_while(|n| n.kind == RecordKind::MarkerArg as u8).map(|n| n.a);
            let arg2 = extra.next().unwrap_or(0);
            let mut name = [0u8; crate::event::MARKER_NAME_LEN];
            for (i, w) in extra.take(2).enumerate() {
                name[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
            }
            Event::Marker(Marker { vcpu, pc: r.pc, kind: MarkerKind::from_code(r.info)?, args: [r.b, r.a, arg2], name })
        }
        RecordKind::MarkerArg => return None,
        RecordKind::Walk => Event::Walk(walk_of(r, vcpu)),
        RecordKind::Bulk => Event::Bulk(bulk_of(r, vcpu)?),
        RecordKind::PendingType => Event::PendingType(PendingType {
            vcpu,
            write_pc: r.a,
            reg: SysReg::from_code(r.info & !PENDING_NEEDS_TLBI)?,
            tlbi: r.info & PENDING_NEEDS_TLBI != 0,
            mem,
        }),
        RecordKind::Dma => Event::Dma(dma_of(r)?),
        RecordKind::DeviceName => Event::DeviceName(device_name_of(r)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RegimeKind;

    #[test]
    fn ranges_split_at_the_records_bound() {
        let max = crate::trace::codes::MAX_RANGE_LEN;
        assert_eq!(range_pieces(64).collect::<Vec<_>>(), [(0, 64)]);
        assert_eq!(range_pieces(max as u64).collect::<Vec<_>>(), [(0, max)]);
        assert_eq!(range_pieces(2 * max as u64 + 3).collect::<Vec<_>>(), [(0, max), (max as u64, max), (2 * max as u64, 3)]);
        assert_eq!(range_pieces(0).count(), 0);
    }

    #[test]
    fn record_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 40);
    }

    #[test]
    fn events_round_trip_through_records() {
        let geo = Geometry::default();
        let events = [
            Event::Access(Access {
                vcpu: 1,
                pc: 0x4010_0000,
                va: 0xffff_0000_1234,
                pa: 0x4020_1234,
                size: 8,
                kind: AccessKind::Store,
                mem: MemType::NORMAL_NC,
                mmio: false,
            }),
            Event::Fetch(Fetch { vcpu: 1, pc: 0x4010_0040, pa: 0x4010_0040, mem: MemType::NORMAL_WB }),
            Event::Maintenance(Maintenance {
                vcpu: 1,
                pc: 4,
                op: CacheOp::DcCivac,
                operand: 0x1000,
                pa: Some(0x4000_1000),
                mem: MemType::NORMAL_WB,
                len: 64,
            }),
            Event::Maintenance(Maintenance {
                vcpu: 1,
                pc: 8,
                op: CacheOp::Tlbi(0x1234),
                operand: 7,
                pa: None,
                mem: MemType::UNKNOWN,
                len: 0,
            }),
            Event::SysReg(SysRegWrite { vcpu: 1, pc: 12, reg: SysReg::HcrEl2, value: 0x8000_0001 }),
            Event::Regime {
                vcpu: 1,
                regime: Regime { el: 1, kind: RegimeKind::El10, vmid: Some(3), asid: Some(9), secure: false },
            },
            Event::Marker(Marker { vcpu: 1, pc: 16, kind: MarkerKind::NameRange, args: [1, 2, 3], name: *b"framebuffer\0\0\0\0\0" }),
            Event::Marker(Marker { vcpu: 1, pc: 20, kind: MarkerKind::Check, args: [4, 5, 6], name: [0; 16] }),
            Event::Walk(Walk {
                vcpu: 1,
                pc: 0x4010_0100,
                va: 0xffff_8000_0000_1000,
                pa: 0x4030_0ff8,
                size: 8,
                stage: 2,
                level: -1,
                update: true,
                cause: WalkCause::At,
                mem: MemType::NORMAL_WB,
            }),
            Event::Walk(Walk {
                vcpu: 1,
                pc: 0,
                va: 0x1000,
                pa: 0x4030_0000,
                size: 4,
                stage: 1,
                level: 3,
                update: false,
                cause: WalkCause::Fetch,
                mem: MemType::NORMAL_NC,
            }),
            Event::Bulk(Bulk {
                vcpu: 1,
                pc: 0x4010_2000,
                va: 0xffff_0000_5000,
                pa: 0x4020_5000,
                len: 4096,
                op: BulkOp::Set,
                store: true,
                mem: MemType::NORMAL_NC,
            }),
            Event::Bulk(Bulk { vcpu: 1, pc: 4, va: 8, pa: 0x4020_0010, len: 3, op: BulkOp::Copy, store: false, mem: MemType::NORMAL_WB }),
            Event::Bulk(Bulk { vcpu: 1, pc: 4, va: 0x40, pa: 0x4020_0040, len: 64, op: BulkOp::Zero, store: true, mem: MemType::NORMAL_WB }),
            Event::PendingType(PendingType { vcpu: 1, write_pc: 0x4010_0abc, reg: SysReg::MairEl1, tlbi: true, mem: MemType::NORMAL_NC }),
            Event::Dma(Dma { device: 3, pa: 0x4100_0200, len: 512, write: true, path: DmaPath::Map }),
            Event::Dma(Dma { device: u32::MAX, pa: 0x4100_0000, len: 1, write: false, path: DmaPath::LdSt }),
            Event::DeviceName(DeviceName { id: 3, part: 2, bytes: *b"virtio-blk@a003e00\0\0\0\0\0x" }),
        ];
        for ev in events {
            let recs = Record::from_event(&ev, 5);
            let back = record_to_event(&recs[0], &recs[1..], ev.vcpu(), geo).unwrap();
            assert_eq!(back, ev);
        }
    }

    #[test]
    fn a_device_name_is_cut_into_parts_in_order() {
        let parts = Record::device_name_parts(7, "virtio-net-pci@0000:00:02.0/virtio-backend");
        assert_eq!(parts.len(), 2);
        let names: Vec<DeviceName> = parts.iter().map(|r| device_name_of(r).unwrap()).collect();
        assert_eq!((names[0].id, names[0].part, names[1].part), (7, 0, 1));
        assert_eq!(&names[0].bytes, b"virtio-net-pci@0000:00:0");
        assert_eq!(&names[1].bytes[..19], b"2.0/virtio-backend\0");
        // An empty name is one empty part; a long one stops at four parts (96 bytes).
        assert_eq!(Record::device_name_parts(1, "").len(), 1);
        assert_eq!(Record::device_name_parts(1, &"x".repeat(200)).len(), 4);
        assert_eq!(device_name_of(&Record { info: 4, ..parts[0] }), None);
        assert_eq!(dma_of(&Record { info: 5, ..Record::dma(&Dma { device: 1, pa: 0, len: 4, write: false, path: DmaPath::Rw }) }), None);
    }
}
