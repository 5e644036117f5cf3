//! Chunk payload encoding: records in, bytes out, and back.
//!
//! Each chunk is coded on its own (prediction state starts empty), so a reader can decode any whole chunk
//! without the ones before it. Prediction is per instruction: an instruction's next access is expected at its
//! last physical address plus its last stride, with the same VA-PA offset, memory type and size, and the
//! instruction expected next is the one that followed it last time. A load/store loop then costs one byte
//! per access. docs/trace-format.md describes the bytes.

use super::PA_LIMIT;
use super::codes::*;
use super::record::Record;
use super::varint::{self, Cursor, Truncated};
use crate::event::{BulkOp, DmaPath};
use hashbrown::HashMap;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Default)]
struct InsnState {
    pc: u64,
    last_pa: u64,
    stride: i64,
    va_off: i64,
    mem: u16,
    info: u8,
    succ: u32,
}

/// State shared by both directions, so that the two stay mirror images.
#[derive(Default)]
struct Predictor {
    insns: Vec<InsnState>,
    prev: u32,
    last_pa: u64,
    last_va_off: i64,
    last_mem: u16,
    last_info: u8,
    last_fetch_pa: u64,
    last_def_pc: u64,
    /// What walk extension records code deltas from: the previous walk record's descriptor PA at each
    /// (stage, level) (`walk_slot`: the same table entry recurs walk after walk), and its VA, PC and type.
    walk_pa: [u64; 10],
    walk_va: u64,
    walk_pc: u64,
    walk_mem: u16,
    /// What bulk extension records code deltas from, per direction (0 read, 1 write): the previous bulk
    /// record's PA, VA, PC and type.
    bulk_pa: [u64; 2],
    bulk_va: [u64; 2],
    bulk_pc: [u64; 2],
    bulk_mem: [u16; 2],
    /// What DMA extension records code their address from: the end (pa + len) of the previous DMA
    /// record, so a transfer split into consecutive records costs one byte of address each.
    dma_next: u64,
}

impl Predictor {
    fn reset(&mut self) {
        self.insns.clear();
        self.prev = NONE;
        self.last_pa = 0;
        self.last_va_off = 0;
        self.last_mem = 0;
        self.last_info = 3;
        self.last_fetch_pa = 0;
        self.last_def_pc = 0;
        self.walk_pa = [0; 10];
        self.walk_va = 0;
        self.walk_pc = 0;
        self.walk_mem = 0;
        self.bulk_pa = [0; 2];
        self.bulk_va = [0; 2];
        self.bulk_pc = [0; 2];
        self.bulk_mem = [0; 2];
        self.dma_next = 0;
    }

    /// Defines a new chunk-local instruction, seeded from the stream's last access (temporal locality).
    fn define(&mut self, pc: u64) -> u32 {
        let id = self.insns.len() as u32;
        self.insns.push(InsnState {
            pc,
            last_pa: self.last_pa,
            stride: 0,
            va_off: self.last_va_off,
            mem: self.last_mem,
            info: self.last_info,
            succ: NONE,
        });
        self.last_def_pc = pc;
        id
    }

    fn predicted_next(&self) -> u32 {
        if self.prev == NONE { NONE } else { self.insns[self.prev as usize].succ }
    }

    #[inline(always)]
    fn commit_access(&mut self, local: u32, pa: u64, va_off: i64, mem: u16, info: u8, new_stride: Option<i64>) {
        let st = &mut self.insns[local as usize];
        if let Some(s) = new_stride {
            st.stride = s;
        }
        st.last_pa = pa;
        st.va_off = va_off;
        st.mem = mem;
        st.info = info;
        if self.prev != NONE {
            self.insns[self.prev as usize].succ = local;
        }
        self.prev = local;
        self.last_pa = pa;
        self.last_va_off = va_off;
        self.last_mem = mem;
        self.last_info = info;
    }
}

/// Encodes records of one vCPU into chunk payloads. Reused across chunks (its tables keep their capacity).
pub struct ChunkEncoder {
    pred: Predictor,
    /// Global instruction id -> (chunk generation, local id). Ids are dense, so a vector beats hashing.
    local_of: Vec<(u32, u32)>,
    /// Records without an instruction id (library callers) are keyed by PC instead.
    local_of_pc: HashMap<u64, u32>,
    generation: u32,
    prev_seq: u64,
    /// An extension record's payload, built before its length is known.
    scratch: Vec<u8>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> ChunkEncoder {
        ChunkEncoder { pred: Predictor::default(), local_of: Vec::new(), local_of_pc: HashMap::new(), generation: 0, prev_seq: 0, scratch: Vec::new() }
    }

    /// Encodes `records` (sequence numbers `base_seq + r.seq`) into `out`, replacing its contents.
    pub fn encode(&mut self, records: &[Record], base_seq: u64, out: &mut Vec<u8>) {
        out.clear();
        self.pred.reset();
        self.local_of_pc.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.local_of.iter_mut().for_each(|e| *e = (0, 0));
            self.generation = 1;
        }
        // The first record's sequence number is base_seq + its offset; start one before base_seq.
        self.prev_seq = base_seq.wrapping_sub(1);
        out.reserve(records.len() + records.len() / 4);
        for r in records {
            if !self.encode_predicted(r, base_seq, out) {
                self.encode_one(r, base_seq, out);
            }
        }
    }

    /// The common case in one place: an access exactly as predicted costs one tag byte. Returns false
    /// to take the general path (which reaches the same bytes for a predicted access, only slower).
    #[inline(always)]
    fn encode_predicted(&mut self, r: &Record, base_seq: u64, out: &mut Vec<u8>) -> bool {
        if r.kind != RecordKind::Access as u8 || r.insn == 0 || self.pred.prev == NONE {
            return false;
        }
        let local = self.pred.insns[self.pred.prev as usize].succ;
        match self.local_of.get(r.insn as usize) {
            Some(&(g, l)) if g == self.generation && l == local => {}
            _ => return false,
        }
        let seq = base_seq.wrapping_add(r.seq as u64);
        if seq != self.prev_seq.wrapping_add(1) {
            return false;
        }
        let st = &mut self.pred.insns[local as usize];
        let va_off = r.b.wrapping_sub(r.a) as i64;
        if r.a != st.last_pa.wrapping_add(st.stride as u64) || va_off != st.va_off || r.mem != st.mem || r.info != st.info {
            return false;
        }
        st.last_pa = r.a;
        out.push(TAG_ACCESS_PREDICTED);
        self.prev_seq = seq;
        let p = &mut self.pred;
        p.prev = local;
        p.last_pa = r.a;
        p.last_va_off = va_off;
        p.last_mem = r.mem;
        p.last_info = r.info;
        true
    }

    #[inline(always)]
    fn seq_tag(&mut self, tag: u8, seq: u64, out: &mut Vec<u8>) {
        let delta = seq.wrapping_sub(self.prev_seq).wrapping_sub(1);
        self.prev_seq = seq;
        if delta == 0 {
            out.push(tag);
        } else {
            out.push(tag | TAG_SEQ);
            varint::put(out, delta);
        }
    }

    /// The chunk-local id of a record's instruction, and whether it is new to this chunk.
    #[inline(always)]
    fn local(&mut self, r: &Record) -> (u32, bool) {
        if r.insn != 0 {
            let idx = r.insn as usize;
            if idx >= self.local_of.len() {
                self.local_of.resize((idx + 1).next_power_of_two(), (0, 0));
            }
            let (g, l) = self.local_of[idx];
            if g == self.generation {
                return (l, false);
            }
            let l = self.pred.define(r.pc);
            self.local_of[idx] = (self.generation, l);
            (l, true)
        } else if let Some(&l) = self.local_of_pc.get(&r.pc) {
            (l, false)
        } else {
            let l = self.pred.define(r.pc);
            self.local_of_pc.insert(r.pc, l);
            (l, true)
        }
    }

    /// Writes an instruction reference: the local id, or (for a new one) the next id followed by its PC.
    #[inline(always)]
    fn put_insn(&self, local: u32, new: bool, prev_def_pc: u64, out: &mut Vec<u8>) {
        varint::put(out, local as u64);
        if new {
            let pc = self.pred.insns[local as usize].pc;
            varint::put(out, varint::zigzag(pc.wrapping_sub(prev_def_pc) as i64));
        }
    }

    fn encode_one(&mut self, r: &Record, base_seq: u64, out: &mut Vec<u8>) {
        let seq = base_seq.wrapping_add(r.seq as u64);
        let Some(kind) = RecordKind::from_u8(r.kind) else {
            // A record that stands for nothing (RECORD_SKIPPED, or a library caller's garbage): an empty
            // extension record of kind 0, so that the chunk's record count stays true.
            self.seq_tag(TAG_EXTENSION, seq, out);
            varint::put(out, 0);
            varint::put(out, 0);
            return;
        };
        if kind == RecordKind::Regime {
            self.seq_tag(TAG_REGIME, seq, out);
            varint::put(out, r.a);
            return;
        }
        if kind == RecordKind::MarkerArg {
            self.seq_tag(TAG_MARKER_ARG, seq, out);
            varint::put(out, r.a);
            return;
        }
        if kind == RecordKind::Walk {
            // An extension record: its payload must not touch the state an older reader keeps (the
            // instruction numbering), so the PC is a delta from the previous walk's, not an insn-ref.
            self.seq_tag(TAG_EXTENSION, seq, out);
            let body = &mut self.scratch;
            body.clear();
            body.push(r.info);
            let p = &mut self.pred;
            let slot = walk_slot(r.info);
            varint::put(body, varint::zigzag(r.a.wrapping_sub(p.walk_pa[slot]) as i64));
            varint::put(body, varint::zigzag(r.b.wrapping_sub(p.walk_va) as i64));
            varint::put(body, varint::zigzag(r.pc.wrapping_sub(p.walk_pc) as i64));
            varint::put(body, varint::zigzag(r.mem.wrapping_sub(p.walk_mem) as i16 as i64));
            (p.walk_pa[slot], p.walk_va, p.walk_pc, p.walk_mem) = (r.a, r.b, r.pc, r.mem);
            put_extension(out, EXT_WALK, body);
            return;
        }
        if kind == RecordKind::PendingType {
            self.seq_tag(TAG_EXTENSION, seq, out);
            let body = &mut self.scratch;
            body.clear();
            body.push(r.info);
            varint::put(body, r.mem as u64);
            varint::put(body, r.a);
            put_extension(out, EXT_PENDING_TYPE, body);
            return;
        }
        if kind == RecordKind::Bulk {
            // An extension record like the walk's: deltas from the previous bulk record of its direction.
            self.seq_tag(TAG_EXTENSION, seq, out);
            let body = &mut self.scratch;
            body.clear();
            body.push(r.info);
            let p = &mut self.pred;
            let d = bulk_slot(r.info);
            varint::put(body, varint::zigzag(r.a.wrapping_sub(p.bulk_pa[d]) as i64));
            varint::put(body, varint::zigzag(r.b.wrapping_sub(p.bulk_va[d]) as i64));
            varint::put(body, varint::zigzag(r.pc.wrapping_sub(p.bulk_pc[d]) as i64));
            varint::put(body, r.insn.max(1) as u64);
            varint::put(body, varint::zigzag(r.mem.wrapping_sub(p.bulk_mem[d]) as i16 as i64));
            (p.bulk_pa[d], p.bulk_va[d], p.bulk_pc[d], p.bulk_mem[d]) = (r.a, r.b, r.pc, r.mem);
            put_extension(out, EXT_BULK, body);
            return;
        }
        if kind == RecordKind::Dma {
            // No instruction, no memory type: the address follows on from the previous transfer.
            self.seq_tag(TAG_EXTENSION, seq, out);
            let body = &mut self.scratch;
            body.clear();
            body.push(r.info);
            let p = &mut self.pred;
            let len = r.insn.max(1);
            varint::put(body, varint::zigzag(r.a.wrapping_sub(p.dma_next) as i64));
            varint::put(body, r.b as u32 as u64);
            varint::put(body, len as u64);
            p.dma_next = r.a.wrapping_add(len as u64);
            put_extension(out, EXT_DMA, body);
            return;
        }
        if kind == RecordKind::DeviceName {
            self.seq_tag(TAG_EXTENSION, seq, out);
            let body = &mut self.scratch;
            body.clear();
            varint::put(body, r.insn as u64);
            body.push(r.info);
            let mut bytes = [0u8; DEVICE_NAME_PART_BYTES];
            for (i, w) in [r.a, r.b, r.pc].into_iter().enumerate() {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
            }
            let used = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
            body.extend_from_slice(&bytes[..used]);
            put_extension(out, EXT_DEVICE_NAME, body);
            return;
        }
        let prev_def_pc = self.pred.last_def_pc;
        let (local, new) = self.local(r);
        match kind {
            RecordKind::Access => {
                let va_off = r.b.wrapping_sub(r.a) as i64;
                let st = self.pred.insns[local as usize];
                let pred_pa = st.last_pa.wrapping_add(st.stride as u64);
                let mut fields = 0;
                if r.a != pred_pa {
                    fields |= FIELD_PA;
                }
                if va_off != st.va_off {
                    fields |= FIELD_VA;
                }
                if r.mem != st.mem {
                    fields |= FIELD_MEM;
                }
                if r.info != st.info {
                    fields |= FIELD_INFO;
                }
                if fields == 0 && !new && local == self.pred.predicted_next() {
                    self.seq_tag(TAG_ACCESS_PREDICTED, seq, out);
                    self.pred.commit_access(local, r.a, va_off, r.mem, r.info, None);
                } else if fields == 0 {
                    self.seq_tag(TAG_ACCESS_INSN, seq, out);
                    self.put_insn(local, new, prev_def_pc, out);
                    self.pred.commit_access(local, r.a, va_off, r.mem, r.info, None);
                } else {
                    self.seq_tag(TAG_ACCESS_FULL, seq, out);
                    self.put_insn(local, new, prev_def_pc, out);
                    out.push(fields);
                    let mut stride = None;
                    if fields & FIELD_PA != 0 {
                        varint::put(out, varint::zigzag(r.a.wrapping_sub(pred_pa) as i64));
                        stride = Some(r.a.wrapping_sub(st.last_pa) as i64);
                    }
                    if fields & FIELD_VA != 0 {
                        varint::put(out, varint::zigzag(va_off.wrapping_sub(st.va_off)));
                    }
                    if fields & FIELD_MEM != 0 {
                        varint::put(out, r.mem as u64);
                    }
                    if fields & FIELD_INFO != 0 {
                        out.push(r.info);
                    }
                    self.pred.commit_access(local, r.a, va_off, r.mem, r.info, stride);
                }
            }
            RecordKind::Fetch => {
                self.seq_tag(TAG_FETCH, seq, out);
                self.put_insn(local, new, prev_def_pc, out);
                varint::put(out, varint::zigzag(r.a.wrapping_sub(self.pred.last_fetch_pa) as i64));
                self.pred.last_fetch_pa = r.a;
                varint::put(out, r.mem as u64);
            }
            RecordKind::Maintenance => {
                self.seq_tag(TAG_MAINTENANCE, seq, out);
                self.put_insn(local, new, prev_def_pc, out);
                out.push(r.info);
                varint::put(out, r.a.wrapping_add(1)); // NO_PA encodes as 0
                varint::put(out, r.b);
                varint::put(out, r.mem as u64);
            }
            RecordKind::SysReg => {
                self.seq_tag(TAG_SYSREG, seq, out);
                self.put_insn(local, new, prev_def_pc, out);
                out.push(r.info);
                varint::put(out, r.a);
            }
            RecordKind::Marker => {
                self.seq_tag(TAG_MARKER, seq, out);
                self.put_insn(local, new, prev_def_pc, out);
                out.push(r.info);
                varint::put(out, r.b);
                varint::put(out, r.a);
            }
            RecordKind::Regime
            | RecordKind::MarkerArg
            | RecordKind::Walk
            | RecordKind::Bulk
            | RecordKind::PendingType
            | RecordKind::Dma
            | RecordKind::DeviceName => {
                unreachable!("handled above")
            }
        }
    }
}

/// Why a chunk payload did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated { at: usize },
    BadTag { at: usize, tag: u8 },
    BadInsn { at: usize, id: u64 },
    /// A physical address no ARM64 system has (at or above `PA_LIMIT`).
    BadAddress { at: usize, pa: u64 },
    /// An extension record of a known kind whose payload does not parse as that kind.
    BadExtension { at: usize, kind: u64 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { at } => write!(f, "payload ends inside a record at byte {at}"),
            DecodeError::BadTag { at, tag } => write!(f, "unknown record tag {tag:#04x} at byte {at}"),
            DecodeError::BadInsn { at, id } => write!(f, "reference to undefined instruction {id} at byte {at}"),
            DecodeError::BadAddress { at, pa } => write!(f, "physical address {pa:#x} out of range at byte {at}"),
            DecodeError::BadExtension { at, kind } => write!(f, "malformed extension record of kind {kind} at byte {at}"),
        }
    }
}

/// Decodes one chunk payload, record by record.
pub struct ChunkDecoder<'a> {
    cur: Cursor<'a>,
    pred: Predictor,
    seq: u64,
    marker_pc: u64,
}

impl<'a> ChunkDecoder<'a> {
    pub fn new(payload: &'a [u8], base_seq: u64) -> ChunkDecoder<'a> {
        let mut pred = Predictor::default();
        pred.reset();
        ChunkDecoder { cur: Cursor::new(payload), pred, seq: base_seq.wrapping_sub(1), marker_pc: 0 }
    }

    fn insn(&mut self, at: usize) -> Result<u32, DecodeError> {
        let t = |_: Truncated| DecodeError::Truncated { at };
        let id = self.cur.varint().map_err(t)?;
        let n = self.pred.insns.len() as u64;
        if id < n {
            Ok(id as u32)
        } else if id == n {
            let delta = self.cur.zigzag().map_err(t)?;
            let pc = self.pred.last_def_pc.wrapping_add(delta as u64);
            Ok(self.pred.define(pc))
        } else {
            Err(DecodeError::BadInsn { at, id })
        }
    }

    /// The payload of a walk extension record.
    fn walk(&mut self, body: &mut Cursor<'_>, at: usize) -> Result<Record, DecodeError> {
        let bad = |_: Truncated| DecodeError::BadExtension { at, kind: EXT_WALK };
        let info = body.byte().map_err(bad)?;
        let p = &mut self.pred;
        let slot = walk_slot(info);
        let pa = p.walk_pa[slot].wrapping_add(body.zigzag().map_err(bad)? as u64);
        let va = p.walk_va.wrapping_add(body.zigzag().map_err(bad)? as u64);
        let pc = p.walk_pc.wrapping_add(body.zigzag().map_err(bad)? as u64);
        let dmem = body.zigzag().map_err(bad)?;
        // The payload must end where its length says (a new field needs a format version bump).
        if !(i16::MIN as i64..=i16::MAX as i64).contains(&dmem) || !body.is_empty() {
            return Err(DecodeError::BadExtension { at, kind: EXT_WALK });
        }
        let mem = p.walk_mem.wrapping_add(dmem as i16 as u16);
        (p.walk_pa[slot], p.walk_va, p.walk_pc, p.walk_mem) = (pa, va, pc, mem);
        Ok(Record { a: pa, b: va, pc, kind: RecordKind::Walk as u8, info, mem, ..Default::default() })
    }

    /// The payload of a bulk extension record.
    fn bulk(&mut self, body: &mut Cursor<'_>, at: usize) -> Result<Record, DecodeError> {
        let bad = |_: Truncated| DecodeError::BadExtension { at, kind: EXT_BULK };
        let info = body.byte().map_err(bad)?;
        let p = &mut self.pred;
        let d = bulk_slot(info);
        let pa = p.bulk_pa[d].wrapping_add(body.zigzag().map_err(bad)? as u64);
        let va = p.bulk_va[d].wrapping_add(body.zigzag().map_err(bad)? as u64);
        let pc = p.bulk_pc[d].wrapping_add(body.zigzag().map_err(bad)? as u64);
        let len = body.varint().map_err(bad)?;
        let dmem = body.zigzag().map_err(bad)?;
        let known_op = BulkOp::from_code(info).is_some() && info & !(BULK_OP_MASK | BULK_STORE) == 0;
        if !known_op || len == 0 || len > MAX_RANGE_LEN as u64 || !(i16::MIN as i64..=i16::MAX as i64).contains(&dmem) || !body.is_empty() {
            return Err(DecodeError::BadExtension { at, kind: EXT_BULK });
        }
        let mem = p.bulk_mem[d].wrapping_add(dmem as i16 as u16);
        (p.bulk_pa[d], p.bulk_va[d], p.bulk_pc[d], p.bulk_mem[d]) = (pa, va, pc, mem);
        Ok(Record { a: pa, b: va, pc, insn: len as u32, kind: RecordKind::Bulk as u8, info, mem, ..Default::default() })
    }

    /// The payload of a pending-type extension record.
    fn pending_type(&mut self, body: &mut Cursor<'_>, at: usize) -> Result<Record, DecodeError> {
        let bad = |_: Truncated| DecodeError::BadExtension { at, kind: EXT_PENDING_TYPE };
        let info = body.byte().map_err(bad)?;
        let mem = body.varint().map_err(bad)?;
        let pc = body.varint().map_err(bad)?;
        if mem > u16::MAX as u64 || crate::event::SysReg::from_code(info & !PENDING_NEEDS_TLBI).is_none() || !body.is_empty() {
            return Err(DecodeError::BadExtension { at, kind: EXT_PENDING_TYPE });
        }
        Ok(Record { a: pc, kind: RecordKind::PendingType as u8, info, mem: mem as u16, ..Default::default() })
    }

    /// The payload of a DMA extension record.
    fn dma(&mut self, body: &mut Cursor<'_>, at: usize) -> Result<Record, DecodeError> {
        let bad = |_: Truncated| DecodeError::BadExtension { at, kind: EXT_DMA };
        let info = body.byte().map_err(bad)?;
        let pa = self.pred.dma_next.wrapping_add(body.zigzag().map_err(bad)? as u64);
        let device = body.varint().map_err(bad)?;
        let len = body.varint().map_err(bad)?;
        let known = DmaPath::from_code(info).is_some() && info & !(DMA_PATH_MASK | DMA_WRITE) == 0;
        if !known || device > u32::MAX as u64 || len == 0 || len > MAX_RANGE_LEN as u64 || !body.is_empty() {
            return Err(DecodeError::BadExtension { at, kind: EXT_DMA });
        }
        self.pred.dma_next = pa.wrapping_add(len);
        Ok(Record { a: pa, b: device, insn: len as u32, kind: RecordKind::Dma as u8, info, ..Default::default() })
    }

    /// The payload of a device-name extension record.
    fn device_name(&mut self, body: &mut Cursor<'_>, at: usize) -> Result<Record, DecodeError> {
        let bad = |_: Truncated| DecodeError::BadExtension { at, kind: EXT_DEVICE_NAME };
        let id = body.varint().map_err(bad)?;
        let part = body.byte().map_err(bad)?;
        let n = body.remaining();
        if id > u32::MAX as u64 || part >= DEVICE_NAME_PARTS || n > DEVICE_NAME_PART_BYTES {
            return Err(DecodeError::BadExtension { at, kind: EXT_DEVICE_NAME });
        }
        let mut bytes = [0u8; DEVICE_NAME_PART_BYTES];
        for b in bytes.iter_mut().take(n) {
            *b = body.byte().map_err(bad)?;
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        Ok(Record { a: word(0), b: word(1), pc: word(2), insn: id as u32, kind: RecordKind::DeviceName as u8, info: part, ..Default::default() })
    }

    /// Decodes up to `limit` more records into `out` (appending): `Ok(true)` when the payload holds more,
    /// `Ok(false)` at its end. A reader decodes a chunk a batch at a time with it.
    pub fn decode_up_to(&mut self, out: &mut Vec<(u64, Record)>, limit: usize) -> Result<bool, DecodeError> {
        for _ in 0..limit {
            if let Some(r) = self.predicted_access() {
                out.push(r);
                continue;
            }
            match self.next_record()? {
                Some(r) => out.push(r),
                None => return Ok(false),
            }
        }
        Ok(!self.cur.is_empty())
    }

    /// A fully predicted access (tag 0, the common case), or `None` to take the general path.
    #[inline(always)]
    fn predicted_access(&mut self) -> Option<(u64, Record)> {
        if self.cur.peek() != Some(TAG_ACCESS_PREDICTED) || self.pred.prev == NONE {
            return None;
        }
        let local = self.pred.insns[self.pred.prev as usize].succ;
        if local == NONE {
            return None;
        }
        let st = &mut self.pred.insns[local as usize];
        let pa = st.last_pa.wrapping_add(st.stride as u64);
        if pa >= PA_LIMIT {
            return None; // the general path reports it
        }
        self.cur.skip(1);
        self.seq = self.seq.wrapping_add(1);
        st.last_pa = pa;
        let r = Record {
            a: pa,
            b: pa.wrapping_add(st.va_off as u64),
            pc: st.pc,
            insn: local + 1,
            seq: 0,
            kind: RecordKind::Access as u8,
            info: st.info,
            mem: st.mem,
        };
        let (va_off, mem, info) = (st.va_off, st.mem, st.info);
        let p = &mut self.pred;
        p.prev = local;
        p.last_pa = pa;
        p.last_va_off = va_off;
        p.last_mem = mem;
        p.last_info = info;
        Some((self.seq, r))
    }

    /// The next record and its global sequence number, `Ok(None)` at the end of the payload.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<(u64, Record)>, DecodeError> {
        if let Some(r) = self.predicted_access() {
            return Ok(Some(r));
        }
        if self.cur.is_empty() {
            return Ok(None);
        }
        let at = self.cur.pos();
        let t = |_: Truncated| DecodeError::Truncated { at };
        let tag = self.cur.byte().map_err(t)?;
        if tag & TAG_SEQ != 0 {
            let d = self.cur.varint().map_err(t)?;
            self.seq = self.seq.wrapping_add(d).wrapping_add(1);
        } else {
            self.seq = self.seq.wrapping_add(1);
        }
        let mut r = Record::default();
        match tag & !TAG_SEQ {
            t @ (TAG_ACCESS_PREDICTED | TAG_ACCESS_INSN) => {
                let local = if t == TAG_ACCESS_PREDICTED { self.pred.predicted_next() } else { self.insn(at)? };
                if local == NONE {
                    return Err(DecodeError::BadTag { at, tag });
                }
                let st = self.pred.insns[local as usize];
                let pa = st.last_pa.wrapping_add(st.stride as u64);
                self.pred.commit_access(local, pa, st.va_off, st.mem, st.info, None);
                r = access_record(&st, local, pa, st.va_off, st.mem, st.info);
            }
            TAG_ACCESS_FULL => {
                let local = self.insn(at)?;
                let st = self.pred.insns[local as usize];
                let fields = self.cur.byte().map_err(t)?;
                let pred_pa = st.last_pa.wrapping_add(st.stride as u64);
                let (mut pa, mut va_off, mut mem, mut info, mut stride) = (pred_pa, st.va_off, st.mem, st.info, None);
                if fields & FIELD_PA != 0 {
                    pa = pred_pa.wrapping_add(self.cur.zigzag().map_err(t)? as u64);
                    stride = Some(pa.wrapping_sub(st.last_pa) as i64);
                }
                if fields & FIELD_VA != 0 {
                    va_off = st.va_off.wrapping_add(self.cur.zigzag().map_err(t)?);
                }
                if fields & FIELD_MEM != 0 {
                    mem = self.cur.varint().map_err(t)? as u16;
                }
                if fields & FIELD_INFO != 0 {
                    info = self.cur.byte().map_err(t)?;
                }
                self.pred.commit_access(local, pa, va_off, mem, info, stride);
                r = access_record(&st, local, pa, va_off, mem, info);
            }
            TAG_FETCH => {
                let local = self.insn(at)?;
                let d = self.cur.zigzag().map_err(t)?;
                let pa = self.pred.last_fetch_pa.wrapping_add(d as u64);
                self.pred.last_fetch_pa = pa;
                r.kind = RecordKind::Fetch as u8;
                r.a = pa;
                r.mem = self.cur.varint().map_err(t)? as u16;
                r.pc = self.pred.insns[local as usize].pc;
                r.insn = local + 1;
            }
            TAG_MAINTENANCE => {
                let local = self.insn(at)?;
                r.kind = RecordKind::Maintenance as u8;
                r.info = self.cur.byte().map_err(t)?;
                r.a = self.cur.varint().map_err(t)?.wrapping_sub(1);
                r.b = self.cur.varint().map_err(t)?;
                r.mem = self.cur.varint().map_err(t)? as u16;
                r.pc = self.pred.insns[local as usize].pc;
                r.insn = local + 1;
            }
            TAG_SYSREG => {
                let local = self.insn(at)?;
                r.kind = RecordKind::SysReg as u8;
                r.info = self.cur.byte().map_err(t)?;
                r.a = self.cur.varint().map_err(t)?;
                r.pc = self.pred.insns[local as usize].pc;
                r.insn = local + 1;
            }
            TAG_REGIME => {
                r.kind = RecordKind::Regime as u8;
                r.a = self.cur.varint().map_err(t)?;
            }
            TAG_MARKER => {
                let local = self.insn(at)?;
                r.kind = RecordKind::Marker as u8;
                r.info = self.cur.byte().map_err(t)?;
                r.b = self.cur.varint().map_err(t)?;
                r.a = self.cur.varint().map_err(t)?;
                r.pc = self.pred.insns[local as usize].pc;
                r.insn = local + 1;
                self.marker_pc = r.pc;
            }
            TAG_MARKER_ARG => {
                r.kind = RecordKind::MarkerArg as u8;
                r.a = self.cur.varint().map_err(t)?;
                r.pc = self.marker_pc;
            }
            TAG_EXTENSION => {
                let kind = self.cur.varint().map_err(t)?;
                let len = self.cur.varint().map_err(t)?;
                if len > self.cur.remaining() as u64 {
                    return Err(DecodeError::Truncated { at });
                }
                // Known or not, the record ends where its length says.
                let mut body = self.cur.take(len as usize).map_err(t)?;
                if kind == EXT_WALK {
                    r = self.walk(&mut body, at)?;
                } else if kind == EXT_BULK {
                    r = self.bulk(&mut body, at)?;
                } else if kind == EXT_PENDING_TYPE {
                    r = self.pending_type(&mut body, at)?;
                } else if kind == EXT_DMA {
                    r = self.dma(&mut body, at)?;
                } else if kind == EXT_DEVICE_NAME {
                    r = self.device_name(&mut body, at)?;
                } else {
                    r.kind = RECORD_SKIPPED;
                }
            }
            _ => return Err(DecodeError::BadTag { at, tag }),
        }
        if pa_out_of_range(&r) {
            return Err(DecodeError::BadAddress { at, pa: r.a });
        }
        Ok(Some((self.seq, r)))
    }
}

/// An extension record's kind, length and payload (after its tag).
#[inline]
fn put_extension(out: &mut Vec<u8>, kind: u64, body: &[u8]) {
    varint::put(out, kind);
    varint::put(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// The walk prediction slot of a walk record's info byte: its (stage, level), 0..10.
#[inline(always)]
fn walk_slot(info: u8) -> usize {
    ((info & WALK_LEVEL_MASK).min(4) + if info & WALK_STAGE2 != 0 { 5 } else { 0 }) as usize
}

/// The bulk prediction slot of a bulk record's info byte: its direction.
#[inline(always)]
fn bulk_slot(info: u8) -> usize {
    (info & BULK_STORE != 0) as usize
}

/// A record whose physical address no ARM64 system has (see `PA_LIMIT`).
#[inline(always)]
fn pa_out_of_range(r: &Record) -> bool {
    let has_pa = r.kind == RecordKind::Access as u8
        || r.kind == RecordKind::Fetch as u8
        || r.kind == RecordKind::Walk as u8
        || r.kind == RecordKind::Bulk as u8
        || r.kind == RecordKind::Dma as u8
        || (r.kind == RecordKind::Maintenance as u8 && r.a != NO_PA);
    has_pa && r.a >= PA_LIMIT
}

#[inline(always)]
fn access_record(st: &InsnState, local: u32, pa: u64, va_off: i64, mem: u16, info: u8) -> Record {
    Record {
        a: pa,
        b: pa.wrapping_add(va_off as u64),
        pc: st.pc,
        insn: local + 1,
        seq: 0,
        kind: RecordKind::Access as u8,
        info,
        mem,
    }
}

// Keep NO_PA's encoding (as 0 after +1) documented next to its use.
const _: () = assert!(NO_PA.wrapping_add(1) == 0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memtype::MemType;

    fn access(insn: u32, pc: u64, pa: u64, store: bool) -> Record {
        Record::access(insn, pc, pa + 0x1000_0000, pa, 3, store, MemType::NORMAL_WB)
    }

    fn round_trip(records: &[Record], base: u64) -> (Vec<u8>, Vec<(u64, Record)>) {
        let mut enc = ChunkEncoder::new();
        let mut out = Vec::new();
        enc.encode(records, base, &mut out);
        let mut dec = ChunkDecoder::new(&out, base);
        let mut back = Vec::new();
        while let Some(x) = dec.next_record().unwrap() {
            back.push(x);
        }
        (out, back)
    }

    fn same(a: &Record, b: &Record) -> bool {
        // Decoded records carry chunk-local instruction ids; everything else must match.
        // (A bulk or DMA record's insn is its length, a device name's its device id.)
        a.a == b.a && a.b == b.b && a.pc == b.pc && a.kind == b.kind && a.info == b.info && a.mem == b.mem
            && (![RecordKind::Bulk as u8, RecordKind::Dma as u8, RecordKind::DeviceName as u8].contains(&a.kind) || a.insn == b.insn)
    }

    #[test]
    fn a_load_store_loop_costs_about_one_byte_per_access() {
        let mut recs = Vec::new();
        for i in 0..10_000u64 {
            recs.push(access(1, 0x4010_0000, 0x4020_0000 + 16 * i, false));
            recs.push(access(2, 0x4010_0004, 0x4020_0008 + 16 * i, true));
        }
        for (i, r) in recs.iter_mut().enumerate() {
            r.seq = i as u32;
        }
        let (bytes, back) = round_trip(&recs, 100);
        assert_eq!(back.len(), recs.len());
        for (i, ((seq, b), a)) in back.iter().zip(&recs).enumerate() {
            assert!(same(a, b), "record {i}: {a:?} vs {b:?}");
            assert_eq!(*seq, 100 + i as u64);
        }
        let per_event = bytes.len() as f64 / recs.len() as f64;
        assert!(per_event < 1.01, "{per_event} bytes per access");
    }

    #[test]
    fn irregular_streams_and_every_kind_round_trip() {
        use crate::event::*;
        let mut recs = Vec::new();
        let mut x: u64 = 0x1234_5678;
        for i in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let insn = 1 + (x % 37) as u32;
            let mut r = Record::access(insn, 0x8000 + insn as u64 * 4, x >> 20, x >> 24, (x % 5) as u8, x & 1 == 0, MemType::from_bits((x >> 3) as u16 & 0x3ff));
            r.seq = i * 3;
            recs.push(r);
            if i % 97 == 0 {
                let ev = Event::Maintenance(Maintenance {
                    vcpu: 0,
                    pc: 0x9000,
                    op: CacheOp::DcCivac,
                    operand: x,
                    pa: if i % 2 == 0 { Some(x >> 16) } else { None },
                    mem: MemType::NORMAL_WB,
                    len: 64,
                });
                let mut m = Record::from_event(&ev, 0)[0];
                m.seq = i * 3 + 1;
                recs.push(m);
            }
            if i % 101 == 0 {
                for (k, mut extra) in [
                    Record::from_event(&Event::Regime { vcpu: 0, regime: Regime { el: 2, ..Default::default() } }, 0),
                    Record::from_event(&Event::Fetch(Fetch { vcpu: 0, pc: 0x9100, pa: (x >> 16) & !63, mem: MemType::NORMAL_WB }), 40),
                    Record::from_event(&Event::SysReg(SysRegWrite { vcpu: 0, pc: 0x9200, reg: SysReg::HcrEl2, value: x }), 41),
                    Record::from_event(
                        &Event::Marker(Marker { vcpu: 0, pc: 0x9300, kind: MarkerKind::NameRange, args: [1, x, 3], name: *b"virtqueue\0\0\0\0\0\0\0" }),
                        42,
                    ),
                    Record::from_event(
                        &Event::Walk(Walk {
                            vcpu: 0,
                            pc: 0x9400 + (x & 0xff0),
                            va: x,
                            pa: (x >> 20) & !7,
                            size: 8,
                            stage: 1 + (x & 1) as u8,
                            level: (x % 5) as i8 - 1,
                            update: x & 2 != 0,
                            cause: WalkCause::from_code((x >> 2) as u8),
                            mem: MemType::NORMAL_WB,
                        }),
                        0,
                    ),
                    Record::from_event(
                        &Event::Dma(Dma {
                            device: (x % 5) as u32,
                            pa: (x >> 24) & !0x1ff,
                            len: 1 + (x % 4096) as u32,
                            write: x & 16 != 0,
                            path: DmaPath::from_code((x >> 5) as u8 & 3).unwrap(),
                        }),
                        0,
                    ),
                    Record::device_name_parts((x % 5) as u32, if x & 32 != 0 { "virtio-blk@a003e00" } else { "" })[0..1].to_vec(),
                    Record::from_event(
                        &Event::PendingType(PendingType {
                            vcpu: 0,
                            write_pc: 0x9600 + (x & 0xffc),
                            reg: SysReg::MairEl2,
                            tlbi: x & 8 != 0,
                            mem: MemType::NORMAL_NC,
                        }),
                        0,
                    ),
                    // A copy step: the source read, then the destination write (separate delta sequences).
                    Record::from_event(
                        &Event::Bulk(Bulk {
                            vcpu: 0,
                            pc: 0x9500,
                            va: x >> 8,
                            pa: (x >> 24) & !0xfff,
                            len: 1 + (x % 4096) as u32,
                            op: BulkOp::Copy,
                            store: false,
                            mem: MemType::NORMAL_NC,
                        }),
                        0,
                    ),
                    Record::from_event(
                        &Event::Bulk(Bulk {
                            vcpu: 0,
                            pc: 0x9500,
                            va: x >> 12,
                            pa: (x >> 28) & !0xfff,
                            len: 1 + (x % 4096) as u32,
                            op: if x & 4 != 0 { BulkOp::Set } else { BulkOp::Zero },
                            store: true,
                            mem: MemType::NORMAL_WB,
                        }),
                        0,
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    let _ = k;
                    for r in extra.iter_mut() {
                        r.seq = i * 3 + 2;
                    }
                    recs.extend(extra);
                }
            }
        }
        // Sequence numbers must strictly increase within a chunk.
        let mut s = 0;
        for r in recs.iter_mut() {
            s += 1;
            r.seq = s;
        }
        let (_, back) = round_trip(&recs, 0);
        assert_eq!(back.len(), recs.len());
        for (i, ((_, b), a)) in back.iter().zip(&recs).enumerate() {
            assert!(same(a, b), "record {i}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn a_malformed_walk_record_is_a_located_error() {
        let w = Record::walk(&crate::event::Walk {
            vcpu: 0,
            pc: 0x4010_0000,
            va: 0x8000,
            pa: 0x4030_0000,
            size: 8,
            stage: 1,
            level: 3,
            update: false,
            cause: crate::event::WalkCause::Load,
            mem: crate::memtype::MemType::NORMAL_WB,
        });
        let mut enc = ChunkEncoder::new();
        let mut good = Vec::new();
        enc.encode(&[w, Record { seq: 1, ..w }], 0, &mut good);
        let mut dec = ChunkDecoder::new(&good, 0);
        let got: Vec<(u64, Record)> = std::iter::from_fn(|| dec.next_record().unwrap()).collect();
        assert_eq!(got.len(), 2);
        assert!(same(&got[1].1, &w), "{:?}", got[1].1);
        // The second record's length claims one byte less than its fields take.
        let mut one = Vec::new();
        enc.encode(&[w], 0, &mut one);
        let second = one.len();
        let mut short = good.clone();
        assert_eq!(short[second], TAG_EXTENSION);
        short[second + 2] -= 1;
        short.pop();
        let mut dec = ChunkDecoder::new(&short, 0);
        assert!(dec.next_record().unwrap().is_some());
        assert_eq!(dec.next_record(), Err(DecodeError::BadExtension { at: second, kind: EXT_WALK }));
        // Trailing bytes inside the length are refused too, not ignored.
        let mut long = good[..second].to_vec();
        long.extend_from_slice(&[TAG_EXTENSION, EXT_WALK as u8, 6, 0x84, 0, 0, 0, 0x3f, 0]);
        let mut dec = ChunkDecoder::new(&long, 0);
        assert!(dec.next_record().unwrap().is_some());
        assert_eq!(dec.next_record(), Err(DecodeError::BadExtension { at: second, kind: EXT_WALK }));
    }

    #[test]
    fn a_malformed_bulk_record_is_a_located_error() {
        let b = Record::bulk(&crate::event::Bulk {
            vcpu: 0,
            pc: 0x4010_0000,
            va: 0x8000,
            pa: 0x4030_0000,
            len: 64,
            op: crate::event::BulkOp::Set,
            store: true,
            mem: crate::memtype::MemType::NORMAL_NC,
        });
        let mut enc = ChunkEncoder::new();
        let mut good = Vec::new();
        enc.encode(&[b], 0, &mut good);
        let mut dec = ChunkDecoder::new(&good, 0);
        assert!(same(&dec.next_record().unwrap().unwrap().1, &b));
        // Payload: info, pa, va, pc, len, mem. An unknown operation code, and a zero length, are refused.
        let info_at = 3;
        assert_eq!((good[0], good[1], good[info_at]), (TAG_EXTENSION, EXT_BULK as u8, BULK_STORE));
        // The length's byte: where the encodings of lengths 64 and 65 differ.
        let mut other = Vec::new();
        ChunkEncoder::new().encode(&[Record { insn: 65, ..b }], 0, &mut other);
        let len_at = good.iter().zip(&other).position(|(x, y)| x != y).unwrap();
        for (at, v) in [(info_at, BULK_STORE | 3), (len_at, 0)] {
            let mut bad = good.clone();
            bad[at] = v;
            let mut dec = ChunkDecoder::new(&bad, 0);
            assert_eq!(dec.next_record(), Err(DecodeError::BadExtension { at: 0, kind: EXT_BULK }), "byte {at} = {v}");
        }
    }

    fn dma(pa: u64, len: u32, write: bool) -> Record {
        Record::dma(&crate::event::Dma { device: 2, pa, len, write, path: crate::event::DmaPath::Map })
    }

    #[test]
    fn sequential_transfers_cost_one_address_byte_and_equal_sequence_numbers_round_trip() {
        // A 64 KiB transfer split into 512-byte records, all taken at one sequence number (the device
        // stream while the vCPUs wait), then a name and a write with the next numbers.
        let mut recs: Vec<Record> = (0..128).map(|i| Record { seq: 5, ..dma(0x4100_0000 + 512 * i, 512, false) }).collect();
        recs.extend(Record::device_name_parts(2, "virtio-blk@a003e00").into_iter().map(|r| Record { seq: 5, ..r }));
        recs.push(Record { seq: 6, ..dma(0x4200_0000, 16, true) });
        let (bytes, back) = round_trip(&recs, 1000);
        assert_eq!(back.len(), recs.len());
        for (i, ((seq, b), a)) in back.iter().zip(&recs).enumerate() {
            assert!(same(a, b), "record {i}: {a:?} vs {b:?}");
            assert_eq!(*seq, 1000 + a.seq as u64, "record {i}");
        }
        // Tag, kind, length, info, one address byte, device, a two-byte length; the repeated sequence
        // number costs a wrapped varint (10 bytes), which every reader decodes.
        let one = TAG_EXTENSION_RECORD_BYTES + 10;
        assert!(bytes.len() <= 128 * one + 96, "{} bytes", bytes.len());
    }

    /// An extension record of a DMA transfer with a one-byte address delta: tag, kind, length, info, delta,
    /// device, two length bytes.
    const TAG_EXTENSION_RECORD_BYTES: usize = 8;

    #[test]
    fn a_malformed_dma_or_device_name_record_is_a_located_error() {
        let d = dma(0x4100_0000, 64, true);
        let mut good = Vec::new();
        ChunkEncoder::new().encode(&[d], 0, &mut good);
        assert_eq!(good, [TAG_EXTENSION, EXT_DMA as u8, 8, DMA_WRITE | 1, 0x80, 0x80, 0x80, 0x90, 0x08, 2, 64]);
        let mut dec = ChunkDecoder::new(&good, 0);
        assert!(same(&dec.next_record().unwrap().unwrap().1, &d));
        // Payload: info, pa delta, device, len. An unknown path, a stray info bit and a zero length are refused.
        let info_at = 3;
        assert_eq!((good[0], good[1], good[info_at]), (TAG_EXTENSION, EXT_DMA as u8, DMA_WRITE | 1));
        let len_at = good.len() - 1;
        assert_eq!(good[len_at], 64);
        for (at, v) in [(info_at, DMA_WRITE | 4), (info_at, 0x40 | 1), (len_at, 0)] {
            let mut bad = good.clone();
            bad[at] = v;
            assert_eq!(ChunkDecoder::new(&bad, 0).next_record(), Err(DecodeError::BadExtension { at: 0, kind: EXT_DMA }), "byte {at} = {v:#x}");
        }
        // A length one short of the fields, and a trailing byte inside the length.
        let mut short = good.clone();
        short[2] -= 1;
        short.pop();
        assert_eq!(ChunkDecoder::new(&short, 0).next_record(), Err(DecodeError::BadExtension { at: 0, kind: EXT_DMA }));
        let mut long = good.clone();
        long[2] += 1;
        long.push(0);
        assert_eq!(ChunkDecoder::new(&long, 0).next_record(), Err(DecodeError::BadExtension { at: 0, kind: EXT_DMA }));
        // Device names: id, part, bytes. A fifth part, 25 bytes, and a missing part byte are refused.
        let n = Record::device_name_parts(9, "pl011")[0];
        let mut good = Vec::new();
        ChunkEncoder::new().encode(&[n], 0, &mut good);
        assert_eq!(good, [TAG_EXTENSION, EXT_DEVICE_NAME as u8, 7, 9, 0, b'p', b'l', b'0', b'1', b'1']);
        assert!(same(&ChunkDecoder::new(&good, 0).next_record().unwrap().unwrap().1, &n));
        let mut fifth = good.clone();
        fifth[4] = 4;
        let mut long = vec![TAG_EXTENSION, EXT_DEVICE_NAME as u8, 27, 9, 0];
        long.extend([b'x'; 25]);
        for bad in [fifth, long, vec![TAG_EXTENSION, EXT_DEVICE_NAME as u8, 1, 9]] {
            assert_eq!(ChunkDecoder::new(&bad, 0).next_record(), Err(DecodeError::BadExtension { at: 0, kind: EXT_DEVICE_NAME }), "{bad:x?}");
        }
    }

    #[test]
    fn an_unknown_extension_record_is_skipped_and_counted() {
        // access, extension (kind 77, 3 bytes), access: a reader that does not know kind 77 goes on.
        let a = access(1, 0x4010_0000, 0x4020_0000, false);
        let mut enc = ChunkEncoder::new();
        let mut first = Vec::new();
        enc.encode(&[a], 0, &mut first);
        let mut payload = first.clone();
        payload.extend_from_slice(&[TAG_EXTENSION, 77, 3, 0xaa, 0xbb, 0xcc]);
        payload.push(TAG_ACCESS_INSN);
        payload.push(0); // instruction 0 again, its fields as predicted
        let mut dec = ChunkDecoder::new(&payload, 0);
        let got: Vec<(u64, Record)> = std::iter::from_fn(|| dec.next_record().unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1.kind, RECORD_SKIPPED);
        assert_eq!(got[1].0, 1);
        assert_eq!((got[2].1.kind, got[2].1.pc), (RecordKind::Access as u8, a.pc));
        // One cut short is an error, not a skip past the end.
        let mut cut = first.clone();
        cut.extend_from_slice(&[TAG_EXTENSION, 77, 9, 0xaa]);
        let mut dec = ChunkDecoder::new(&cut, 0);
        assert!(dec.next_record().unwrap().is_some());
        assert!(matches!(dec.next_record(), Err(DecodeError::Truncated { .. })));
        // The encoder writes a record of no kind as an empty extension record, which round-trips.
        let (_, back) = round_trip(&[a, Record { seq: 1, ..Default::default() }], 0);
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].1.kind, RECORD_SKIPPED);
    }

    #[test]
    fn garbage_payloads_error_without_panicking() {
        let mut x: u32 = 99;
        for len in 0..300 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                buf.push((x >> 24) as u8);
            }
            let mut dec = ChunkDecoder::new(&buf, 0);
            for _ in 0..1000 {
                match dec.next_record() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
}
