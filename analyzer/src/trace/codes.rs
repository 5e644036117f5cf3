//! Every number the trace format puts on disk, in one frozen table (docs/trace-format.md lists the same
//! values, and the tests below pin each one to that page).
//!
//! Frozen means: a value here never changes meaning. The format grows in two ways only:
//! - **a new record kind an old reader can skip**: an extension record (`TAG_EXTENSION`, a new `EXT_*`
//!   kind, a length and that many bytes). A reader delivers an extension kind it does not know as an empty
//!   record (`RECORD_SKIPPED`) and goes on;
//! - **anything an old reader cannot skip** (a new tag, a changed field): `FORMAT_VERSION` goes up, and a
//!   reader refuses a newer version by name (`TraceError::UnsupportedVersion`).
//!
//! Traces recorded with version 1 read with every later reader.

use crate::event::{BulkOp, CacheOp, DmaPath, MarkerKind, SysReg, WalkCause};
use crate::regime::{Regime, RegimeKind};

pub const FILE_MAGIC: &[u8; 8] = b"COHTRACE";
pub const FORMAT_VERSION: u16 = 1;
pub const CHUNK_MAGIC: &[u8; 4] = b"CHNK";
pub const CHUNK_EVENTS: u8 = 1;
pub const CHUNK_END: u8 = 2;

/// Kinds of the fixed-size capture record (`Record::kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    Access = 1,
    Fetch = 2,
    Maintenance = 3,
    SysReg = 4,
    Regime = 5,
    Marker = 6,
    /// Third argument of the preceding Marker record (and a NameRange's name).
    MarkerArg = 7,
    /// A descriptor access of the MMU's table walker (on disk: extension `EXT_WALK`).
    Walk = 8,
    /// A range an instruction accessed as a whole, with no memory callback (FEAT_MOPS SET*/CPY* steps,
    /// the DC ZVA block; on disk: extension `EXT_BULK`). `Record::insn` holds its length in bytes.
    Bulk = 9,
    /// The next access of the vCPU may also have another memory type: a write of a memory-type register
    /// is not yet synchronized (on disk: extension `EXT_PENDING_TYPE`). `a` is the write's PC, `info`
    /// its `SysReg` code (with `PENDING_NEEDS_TLBI`), `mem` the other type.
    PendingType = 10,
    /// One device transfer to or from guest RAM (on disk: extension `EXT_DMA`). `a` is the bus (physical)
    /// address, `b` the device id, `insn` the length in bytes, `info` `DMA_WRITE` | the path code.
    Dma = 11,
    /// Part of a device's name (on disk: extension `EXT_DEVICE_NAME`). `insn` is the device id, `info`
    /// the part index, `a`, `b`, `pc` the part's 24 bytes (little-endian, NUL padded).
    DeviceName = 12,
}

/// `Record::kind` of a record that stands for nothing: an extension record this reader does not know.
pub const RECORD_SKIPPED: u8 = 0;

impl RecordKind {
    pub const ALL: [RecordKind; 12] = [
        RecordKind::Access,
        RecordKind::Fetch,
        RecordKind::Maintenance,
        RecordKind::SysReg,
        RecordKind::Regime,
        RecordKind::Marker,
        RecordKind::MarkerArg,
        RecordKind::Walk,
        RecordKind::Bulk,
        RecordKind::PendingType,
        RecordKind::Dma,
        RecordKind::DeviceName,
    ];

    pub fn from_u8(v: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| *k as u8 == v)
    }
}

// Chunk payload tags (low 7 bits of a record's first byte).
pub const TAG_ACCESS_PREDICTED: u8 = 0;
pub const TAG_ACCESS_INSN: u8 = 1;
pub const TAG_ACCESS_FULL: u8 = 2;
pub const TAG_FETCH: u8 = 3;
pub const TAG_MAINTENANCE: u8 = 4;
pub const TAG_SYSREG: u8 = 5;
pub const TAG_REGIME: u8 = 6;
pub const TAG_MARKER: u8 = 7;
pub const TAG_MARKER_ARG: u8 = 8;
/// varint(extension kind), varint(length), then that many bytes.
pub const TAG_EXTENSION: u8 = 9;
/// Set on a tag when the record's sequence number is not the previous one plus one.
pub const TAG_SEQ: u8 = 0x80;

/// Every tag with the record it codes, as docs/trace-format.md's tag table lists them.
pub const TAGS: [(u8, &str); 10] = [
    (TAG_ACCESS_PREDICTED, "access, all predicted"),
    (TAG_ACCESS_INSN, "access, fields predicted"),
    (TAG_ACCESS_FULL, "access"),
    (TAG_FETCH, "instruction fetch of a line"),
    (TAG_MAINTENANCE, "cache/TLB maintenance"),
    (TAG_SYSREG, "system register write"),
    (TAG_REGIME, "regime"),
    (TAG_MARKER, "guest marker"),
    (TAG_MARKER_ARG, "marker argument"),
    (TAG_EXTENSION, "extension record"),
];

/// A table-walk descriptor access: info byte, zigzag deltas of PA, VA and PC from the chunk's previous
/// walk record, memory type varint.
pub const EXT_WALK: u64 = 1;

/// A bulk access (MOPS step, DC ZVA block): info byte, zigzag deltas of PA, VA and PC from the chunk's
/// previous bulk record in the same direction, length varint, memory type zigzag delta.
pub const EXT_BULK: u64 = 2;

/// A pending memory type: info byte (`SysReg` code, `PENDING_NEEDS_TLBI`), varint(mem), varint(pc of the
/// register write). Rare (only between such a write and its synchronization): no deltas.
pub const EXT_PENDING_TYPE: u64 = 3;
/// Info bit of a pending-type record: the change also needs TLB maintenance (MAIR_ELx).
pub const PENDING_NEEDS_TLBI: u8 = 0x80;

/// The header's ZVA size in traces whose DC ZVA blocks are bulk records, each with its own length (older
/// traces have DC ZVA as maintenance records and the block size in the header).
pub const ZVA_SIZE_IN_RECORDS: u32 = 0;

/// The most bytes one Bulk or Dma record covers (64 KiB: the largest page, so a bulk step always fits; the
/// capture splits longer device transfers). A reader refuses longer ones: a record's work and the model's
/// memory for it stay bounded by 1,024 lines, whatever a damaged or hostile length field says.
pub const MAX_RANGE_LEN: u32 = 1 << 16;

/// A device transfer (DMA): info byte, zigzag(pa - the previous DMA record's pa + len in this chunk),
/// varint(device id), varint(len). Sequential transfers cost one byte of address.
pub const EXT_DMA: u64 = 4;
/// The transfer wrote guest memory (else the device read it).
pub const DMA_WRITE: u8 = 0x80;
/// Bits 2:0 of a DMA record's info byte: how QEMU's device model reached memory (`DmaPath` code).
pub const DMA_PATH_MASK: u8 = 0x07;

/// Part of a device's name: varint(device id), the part byte (0..DEVICE_NAME_PARTS), then the part's
/// bytes without trailing NULs (the rest of the body: 0 to DEVICE_NAME_PART_BYTES bytes).
pub const EXT_DEVICE_NAME: u64 = 5;
/// A name has at most this many parts (96 bytes); they come in order before the device's first transfer.
pub const DEVICE_NAME_PARTS: u8 = 4;
pub const DEVICE_NAME_PART_BYTES: usize = 24;
const _: () = assert!(DEVICE_NAME_PART_BYTES == crate::event::DEVICE_NAME_PART_LEN);

/// The `vcpu` of chunks holding what no vCPU did: DMA by QEMU's main loop or an I/O thread. Their records
/// take sequence numbers from the vCPUs' counter when captured (and may repeat one); at equal numbers a
/// device-stream record comes before the vCPU's (its number was read before that record was written).
pub const DEVICE_STREAM: u16 = 0xFFFF;
// A device's events say "no vCPU" with the same number (`Event::vcpu`).
const _: () = assert!(DEVICE_STREAM == crate::event::NO_VCPU);

/// Extension kinds this reader knows, numbered from 1 (kind 0 is an empty record).
pub const EXTENSIONS: [(u64, &str); 5] = [
    (EXT_WALK, "table walk"),
    (EXT_BULK, "bulk access"),
    (EXT_PENDING_TYPE, "pending memory type"),
    (EXT_DMA, "device transfer"),
    (EXT_DEVICE_NAME, "device name"),
];

// The info byte of a bulk record (`Record::info` of RecordKind::Bulk).
/// Bits 1:0: the instruction class (`BulkOp` code).
pub const BULK_OP_MASK: u8 = 0x03;
/// The range was written (else read).
pub const BULK_STORE: u8 = 0x80;

// The info byte of a walk record (`Record::info` of RecordKind::Walk).
/// Bits 2:0: the lookup level plus one (0 is level -1, 4 is level 3).
pub const WALK_LEVEL_MASK: u8 = 0x07;
/// A stage 2 walk (else stage 1).
pub const WALK_STAGE2: u8 = 0x08;
/// A hardware update of the descriptor (FEAT_HAFDBS access flag or dirty state): a write.
pub const WALK_UPDATE: u8 = 0x10;
/// Bits 6:5: what the walk serves (`WalkCause::code`).
pub const WALK_CAUSE_SHIFT: u8 = 5;
/// An 8-byte descriptor (else 4 bytes: AArch32 short descriptors).
pub const WALK_SIZE8: u8 = 0x80;

// Field mask bits of a full access (tag 2).
pub const FIELD_PA: u8 = 1;
pub const FIELD_VA: u8 = 2;
pub const FIELD_MEM: u8 = 4;
pub const FIELD_INFO: u8 = 8;

// The access size/kind byte (`Record::info` of an access).
pub const INFO_SIZE_MASK: u8 = 0x0f;
pub const INFO_MMIO: u8 = 0x40;
pub const INFO_STORE: u8 = 0x80;

/// `a` of a by-VA maintenance record whose VA did not translate (coded as varint 0 after the +1).
pub const NO_PA: u64 = u64::MAX;

impl CacheOp {
    /// The op byte of a maintenance record; `Tlbi` carries its payload in `a`.
    pub fn code(self) -> u8 {
        match self {
            CacheOp::DcIvac => 0,
            CacheOp::DcIsw => 1,
            CacheOp::DcCsw => 2,
            CacheOp::DcCisw => 3,
            CacheOp::DcZva => 4,
            CacheOp::DcCvac => 5,
            CacheOp::DcCvau => 6,
            CacheOp::DcCvap => 7,
            CacheOp::DcCvadp => 8,
            CacheOp::DcCivac => 9,
            CacheOp::IcIalluis => 10,
            CacheOp::IcIallu => 11,
            CacheOp::IcIvau => 12,
            CacheOp::Tlbi(_) => 13,
        }
    }

    pub fn from_code(code: u8, tlbi: u16) -> Option<CacheOp> {
        Some(match code {
            0 => CacheOp::DcIvac,
            1 => CacheOp::DcIsw,
            2 => CacheOp::DcCsw,
            3 => CacheOp::DcCisw,
            4 => CacheOp::DcZva,
            5 => CacheOp::DcCvac,
            6 => CacheOp::DcCvau,
            7 => CacheOp::DcCvap,
            8 => CacheOp::DcCvadp,
            9 => CacheOp::DcCivac,
            10 => CacheOp::IcIalluis,
            11 => CacheOp::IcIallu,
            12 => CacheOp::IcIvau,
            13 => CacheOp::Tlbi(tlbi),
            _ => return None,
        })
    }
}

/// The TLBI payload of a maintenance record: op2 in bits 2:0, CRm in 6:3, op1 in 9:7, CRn[0] in 11
/// (CRn is 8 or 9 for every TLBI).
pub fn tlbi_payload(op1: u32, crn: u32, crm: u32, op2: u32) -> u16 {
    ((crn & 1) << 11 | (op1 & 7) << 7 | (crm & 0xf) << 3 | (op2 & 7)) as u16
}

impl SysReg {
    /// The register byte of a system-register record.
    pub fn code(self) -> u8 {
        match self {
            SysReg::SctlrEl1 => 0,
            SysReg::SctlrEl2 => 1,
            SysReg::HcrEl2 => 2,
            SysReg::MairEl1 => 3,
            SysReg::MairEl2 => 4,
            SysReg::TcrEl1 => 5,
            SysReg::TcrEl2 => 6,
            SysReg::Ttbr0El1 => 7,
            SysReg::Ttbr1El1 => 8,
            SysReg::Ttbr0El2 => 9,
            SysReg::Ttbr1El2 => 10,
            SysReg::VttbrEl2 => 11,
            SysReg::VtcrEl2 => 12,
            SysReg::CtrEl0 => 13,
            SysReg::ClidrEl1 => 14,
        }
    }

    pub fn from_code(code: u8) -> Option<SysReg> {
        SysReg::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl MarkerKind {
    pub const ALL: [MarkerKind; 5] =
        [MarkerKind::Begin, MarkerKind::End, MarkerKind::NameRange, MarkerKind::Suppress, MarkerKind::Check];

    /// The kind byte of a marker record (also the guest's HINT number minus 0x70, docs/markers.md).
    pub fn code(self) -> u8 {
        match self {
            MarkerKind::Begin => 0,
            MarkerKind::End => 1,
            MarkerKind::NameRange => 2,
            MarkerKind::Suppress => 3,
            MarkerKind::Check => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<MarkerKind> {
        MarkerKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            MarkerKind::Begin => "begin",
            MarkerKind::End => "end",
            MarkerKind::NameRange => "name range",
            MarkerKind::Suppress => "suppress",
            MarkerKind::Check => "check",
        }
    }
}

impl RegimeKind {
    pub const ALL: [RegimeKind; 4] = [RegimeKind::El10, RegimeKind::El20, RegimeKind::El2, RegimeKind::El3];

    /// Bits 3:2 of a packed regime.
    pub fn code(self) -> u8 {
        match self {
            RegimeKind::El10 => 0,
            RegimeKind::El20 => 1,
            RegimeKind::El2 => 2,
            RegimeKind::El3 => 3,
        }
    }

    pub fn from_code(code: u8) -> RegimeKind {
        RegimeKind::ALL[(code & 3) as usize]
    }
}

impl Regime {
    /// Packs into 48 bits for the trace: el(2) kind(2) secure(1) has_vmid(1) has_asid(1) | vmid(16) | asid(16).
    pub fn pack(self) -> u64 {
        (self.el as u64 & 3)
            | (self.kind.code() as u64) << 2
            | (self.secure as u64) << 4
            | (self.vmid.is_some() as u64) << 5
            | (self.asid.is_some() as u64) << 6
            | (self.vmid.unwrap_or(0) as u64) << 16
            | (self.asid.unwrap_or(0) as u64) << 32
    }

    pub fn unpack(v: u64) -> Regime {
        Regime {
            el: (v & 3) as u8,
            kind: RegimeKind::from_code((v >> 2) as u8),
            secure: v & (1 << 4) != 0,
            vmid: (v & (1 << 5) != 0).then_some((v >> 16) as u16),
            asid: (v & (1 << 6) != 0).then_some((v >> 32) as u16),
        }
    }
}

impl WalkCause {
    pub const ALL: [WalkCause; 4] = [WalkCause::Load, WalkCause::Store, WalkCause::Fetch, WalkCause::At];

    /// Bits 6:5 of a walk record's info byte.
    #[inline(always)]
    pub fn code(self) -> u8 {
        match self {
            WalkCause::Load => 0,
            WalkCause::Store => 1,
            WalkCause::Fetch => 2,
            WalkCause::At => 3,
        }
    }

    #[inline(always)]
    pub fn from_code(code: u8) -> WalkCause {
        match code & 3 {
            0 => WalkCause::Load,
            1 => WalkCause::Store,
            2 => WalkCause::Fetch,
            _ => WalkCause::At,
        }
    }
}

impl BulkOp {
    pub const ALL: [BulkOp; 3] = [BulkOp::Set, BulkOp::Copy, BulkOp::Zero];

    /// Bits 1:0 of a bulk record's info byte.
    #[inline(always)]
    pub fn code(self) -> u8 {
        match self {
            BulkOp::Set => 0,
            BulkOp::Copy => 1,
            BulkOp::Zero => 2,
        }
    }

    #[inline(always)]
    pub fn from_code(code: u8) -> Option<BulkOp> {
        match code & BULK_OP_MASK {
            0 => Some(BulkOp::Set),
            1 => Some(BulkOp::Copy),
            2 => Some(BulkOp::Zero),
            _ => None,
        }
    }
}

impl DmaPath {
    pub const ALL: [DmaPath; 4] = [DmaPath::Rw, DmaPath::Map, DmaPath::Cache, DmaPath::LdSt];

    /// Bits 2:0 of a DMA record's info byte.
    #[inline(always)]
    pub fn code(self) -> u8 {
        match self {
            DmaPath::Rw => 0,
            DmaPath::Map => 1,
            DmaPath::Cache => 2,
            DmaPath::LdSt => 3,
        }
    }

    #[inline(always)]
    pub fn from_code(code: u8) -> Option<DmaPath> {
        match code & DMA_PATH_MASK {
            0 => Some(DmaPath::Rw),
            1 => Some(DmaPath::Map),
            2 => Some(DmaPath::Cache),
            3 => Some(DmaPath::LdSt),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows `| a | b |` of the markdown table under `heading` in docs/trace-format.md.
    fn doc_rows(heading: &str) -> Vec<(String, String)> {
        let doc = include_str!("../../../docs/trace-format.md");
        let at = doc.find(heading).unwrap_or_else(|| panic!("docs/trace-format.md has no heading {heading:?}"));
        let mut rows = Vec::new();
        let mut in_table = false;
        for line in doc[at..].lines().skip(1) {
            if line.starts_with('#') {
                break;
            }
            if let Some(inner) = line.strip_prefix('|') {
                in_table = true;
                let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
                if cells.len() >= 2 && !cells[0].starts_with('-') {
                    rows.push((cells[0].to_string(), cells[1].to_string()));
                }
            } else if in_table {
                break;
            }
        }
        rows
    }

    /// Each (code, name) must be a row of the table, and the table must list nothing else.
    fn pin(heading: &str, want: Vec<(u64, String)>) {
        let rows = doc_rows(heading);
        let got: Vec<(u64, String)> = rows
            .iter()
            .filter_map(|(c, n)| c.parse::<u64>().ok().map(|c| (c, n.replace('`', ""))))
            .collect();
        assert_eq!(got, want, "docs/trace-format.md, {heading}: the table and analyzer/src/trace/codes.rs disagree");
    }

    #[test]
    fn record_kinds_are_pinned() {
        let want = RecordKind::ALL.iter().map(|k| (*k as u64, format!("{k:?}"))).collect();
        pin("### Record kinds", want);
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(RecordKind::from_u8(RECORD_SKIPPED), None);
        assert_eq!(RecordKind::from_u8(13), None);
    }

    #[test]
    fn tags_are_pinned() {
        pin("### Tags", TAGS.iter().map(|(t, n)| (*t as u64, n.to_string())).collect());
        assert!(TAGS.iter().all(|(t, _)| t & TAG_SEQ == 0));
    }

    #[test]
    fn extension_kinds_are_pinned() {
        pin("### Extension kinds", EXTENSIONS.iter().map(|(k, n)| (*k, n.to_string())).collect());
    }

    #[test]
    fn cache_ops_are_pinned_and_round_trip() {
        let all: Vec<CacheOp> = (0..=255).filter_map(|c| CacheOp::from_code(c, 0x123)).collect();
        assert_eq!(all.len(), 14);
        for op in &all {
            assert_eq!(CacheOp::from_code(op.code(), 0x123), Some(*op));
        }
        pin("### Maintenance operations", all.iter().map(|op| (op.code() as u64, op.mnemonic().to_string())).collect());
    }

    #[test]
    fn system_registers_are_pinned_and_round_trip() {
        for r in SysReg::ALL {
            assert_eq!(SysReg::from_code(r.code()), Some(r));
        }
        assert_eq!(SysReg::from_code(15), None);
        let mut want: Vec<(u64, String)> = SysReg::ALL.iter().map(|r| (r.code() as u64, r.name().to_string())).collect();
        want.sort();
        pin("### System registers", want);
    }

    #[test]
    fn walk_causes_are_pinned_and_round_trip() {
        for c in WalkCause::ALL {
            assert_eq!(WalkCause::from_code(c.code()), c);
        }
        pin("### Walk causes", WalkCause::ALL.iter().map(|c| (c.code() as u64, c.name().to_string())).collect());
    }

    #[test]
    fn bulk_operations_are_pinned_and_round_trip() {
        for op in BulkOp::ALL {
            assert_eq!(BulkOp::from_code(op.code()), Some(op));
        }
        assert_eq!(BulkOp::from_code(3), None);
        pin("### Bulk operations", BulkOp::ALL.iter().map(|o| (o.code() as u64, o.name().to_string())).collect());
    }

    #[test]
    fn dma_paths_are_pinned_and_round_trip() {
        for p in DmaPath::ALL {
            assert_eq!(DmaPath::from_code(p.code()), Some(p));
            assert_eq!(DmaPath::from_code(p.code() | DMA_WRITE), Some(p));
        }
        assert_eq!(DmaPath::from_code(4), None);
        pin("### DMA paths", DmaPath::ALL.iter().map(|p| (p.code() as u64, p.name().to_string())).collect());
    }

    #[test]
    fn marker_kinds_are_pinned_and_round_trip() {
        for k in MarkerKind::ALL {
            assert_eq!(MarkerKind::from_code(k.code()), Some(k));
        }
        assert_eq!(MarkerKind::from_code(5), None);
        pin("### Marker kinds", MarkerKind::ALL.iter().map(|k| (k.code() as u64, k.name().to_string())).collect());
    }

    #[test]
    fn regime_kinds_are_pinned_and_regimes_round_trip() {
        pin("### Regimes", RegimeKind::ALL.iter().map(|k| (k.code() as u64, k.name().to_string())).collect());
        let cases = [
            Regime { el: 1, kind: RegimeKind::El10, vmid: Some(7), asid: Some(0xbeef), secure: false },
            Regime { el: 2, kind: RegimeKind::El2, vmid: None, asid: None, secure: false },
            Regime { el: 0, kind: RegimeKind::El20, vmid: None, asid: Some(3), secure: true },
            Regime { el: 3, kind: RegimeKind::El3, vmid: None, asid: None, secure: true },
        ];
        for r in cases {
            assert_eq!(Regime::unpack(r.pack()), r);
        }
        // The layout itself, bit by bit.
        let r = Regime { el: 1, kind: RegimeKind::El20, vmid: Some(0x1234), asid: Some(0xabcd), secure: true };
        assert_eq!(r.pack(), 1 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 6 | 0x1234 << 16 | 0xabcd << 32);
    }

    #[test]
    fn fixed_numbers_are_pinned() {
        let rows = doc_rows("### Fixed numbers");
        let value = |name: &str| {
            rows.iter().find(|(n, _)| n.replace('`', "") == name).map(|(_, v)| v.replace('`', "")).unwrap_or_else(|| {
                panic!("docs/trace-format.md, Fixed numbers: no row for {name}")
            })
        };
        assert_eq!(value("FORMAT_VERSION"), FORMAT_VERSION.to_string());
        assert_eq!(value("FILE_MAGIC"), String::from_utf8_lossy(FILE_MAGIC));
        assert_eq!(value("CHUNK_MAGIC"), String::from_utf8_lossy(CHUNK_MAGIC));
        assert_eq!(value("CHUNK_EVENTS"), CHUNK_EVENTS.to_string());
        assert_eq!(value("CHUNK_END"), CHUNK_END.to_string());
        assert_eq!(value("TAG_SEQ"), format!("{TAG_SEQ:#04x}"));
        assert_eq!(value("FIELD_PA"), FIELD_PA.to_string());
        assert_eq!(value("FIELD_VA"), FIELD_VA.to_string());
        assert_eq!(value("FIELD_MEM"), FIELD_MEM.to_string());
        assert_eq!(value("FIELD_INFO"), FIELD_INFO.to_string());
        assert_eq!(value("INFO_SIZE_MASK"), format!("{INFO_SIZE_MASK:#04x}"));
        assert_eq!(value("INFO_MMIO"), format!("{INFO_MMIO:#04x}"));
        assert_eq!(value("INFO_STORE"), format!("{INFO_STORE:#04x}"));
        assert_eq!(value("RECORD_SKIPPED"), RECORD_SKIPPED.to_string());
        assert_eq!(value("EXT_WALK"), EXT_WALK.to_string());
        assert_eq!(value("WALK_LEVEL_MASK"), format!("{WALK_LEVEL_MASK:#04x}"));
        assert_eq!(value("WALK_STAGE2"), format!("{WALK_STAGE2:#04x}"));
        assert_eq!(value("WALK_UPDATE"), format!("{WALK_UPDATE:#04x}"));
        assert_eq!(value("WALK_CAUSE_SHIFT"), WALK_CAUSE_SHIFT.to_string());
        assert_eq!(value("WALK_SIZE8"), format!("{WALK_SIZE8:#04x}"));
        assert_eq!(value("EXT_BULK"), EXT_BULK.to_string());
        assert_eq!(value("ZVA_SIZE_IN_RECORDS"), ZVA_SIZE_IN_RECORDS.to_string());
        assert_eq!(value("EXT_PENDING_TYPE"), EXT_PENDING_TYPE.to_string());
        assert_eq!(value("PENDING_NEEDS_TLBI"), format!("{PENDING_NEEDS_TLBI:#04x}"));
        assert_eq!(value("BULK_OP_MASK"), format!("{BULK_OP_MASK:#04x}"));
        assert_eq!(value("BULK_STORE"), format!("{BULK_STORE:#04x}"));
        assert_eq!(value("MAX_RANGE_LEN"), MAX_RANGE_LEN.to_string());
        assert_eq!(value("EXT_DMA"), EXT_DMA.to_string());
        assert_eq!(value("DMA_WRITE"), format!("{DMA_WRITE:#04x}"));
        assert_eq!(value("DMA_PATH_MASK"), format!("{DMA_PATH_MASK:#04x}"));
        assert_eq!(value("EXT_DEVICE_NAME"), EXT_DEVICE_NAME.to_string());
        assert_eq!(value("DEVICE_NAME_PARTS"), DEVICE_NAME_PARTS.to_string());
        assert_eq!(value("DEVICE_NAME_PART_BYTES"), DEVICE_NAME_PART_BYTES.to_string());
        assert_eq!(value("DEVICE_STREAM"), format!("{DEVICE_STREAM:#06x}"));
        assert_eq!(tlbi_payload(7, 9, 0xf, 7), 0b1011_1111_1111);
        assert_eq!(tlbi_payload(4, 8, 7, 0), 4 << 7 | 7 << 3);
    }
}
