//! The event vocabulary: what the plugin captures and the model consumes.
//!
//! `Event` is the library-level vocabulary (the drmemtrace "memref"): what harnesses feed the model and what
//! tools print. The capture and replay hot paths use the fixed-size `trace::Record` instead and meet the
//! model in one place, `replay::feed_record` (ARCHITECTURE.md, "Two levels").

use crate::memtype::MemType;

pub use crate::regime::{Regime, RegimeKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    Load,
    Store,
}

/// A data access by a vCPU. `size` is in bytes (a power of two, 1..=64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub vcpu: u16,
    pub pc: u64,
    pub va: u64,
    pub pa: u64,
    pub size: u32,
    pub kind: AccessKind,
    pub mem: MemType,
    /// To a device (not RAM): recorded, not modelled.
    pub mmio: bool,
}

/// What a table walk serves: the data access, the instruction fetch or the AT instruction whose
/// translation needed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalkCause {
    Load,
    Store,
    Fetch,
    At,
}

impl WalkCause {
    pub fn name(self) -> &'static str {
        match self {
            WalkCause::Load => "load",
            WalkCause::Store => "store",
            WalkCause::Fetch => "fetch",
            WalkCause::At => "AT",
        }
    }
}

/// One descriptor access of the MMU's table walker (captured with qemu-patches/0003): a read of a
/// descriptor with the walk's own memory type, or a hardware update of it (FEAT_HAFDBS access flag or
/// dirty state), which is a write with that type. The model judges it as any other observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub vcpu: u16,
    /// The instruction whose translation walks (for a fetch, the fetched address); 0 when unknown.
    pub pc: u64,
    /// The virtual address being translated.
    pub va: u64,
    /// Physical address of the descriptor.
    pub pa: u64,
    /// 4 or 8 bytes.
    pub size: u32,
    /// 1 or 2.
    pub stage: u8,
    /// Lookup level, -1 to 3.
    pub level: i8,
    /// A hardware update (write) of the descriptor, else a read.
    pub update: bool,
    pub cause: WalkCause,
    /// The walk's memory type.
    pub mem: MemType,
}

/// What kind of instruction a bulk access comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BulkOp {
    /// FEAT_MOPS SETP/SETM/SETE and their variants (SETG*, *N, *T): a memset step.
    Set,
    /// FEAT_MOPS CPY*/CPYF*: a memmove/memcpy step (a read of the source and a write of the destination).
    Copy,
    /// DC ZVA, DC GZVA, STZGM: zeroing of one DCZID_EL0 block.
    Zero,
}

impl BulkOp {
    pub fn name(self) -> &'static str {
        match self {
            BulkOp::Set => "MOPS set",
            BulkOp::Copy => "MOPS copy",
            BulkOp::Zero => "DC ZVA",
        }
    }
}

/// A range one step of an instruction read or wrote as a whole, which QEMU performs without a memory
/// callback (captured with qemu-patches/0004): a FEAT_MOPS SET/CPY step or a DC ZVA block. The model
/// judges it as an access of `len` bytes (line by line), with the range's own memory type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bulk {
    pub vcpu: u16,
    pub pc: u64,
    /// Lowest virtual address of the range.
    pub va: u64,
    /// Its physical address (a range lies within one page).
    pub pa: u64,
    pub len: u32,
    pub op: BulkOp,
    /// Written (else read).
    pub store: bool,
    pub mem: MemType,
}

/// The next access of `vcpu` may also have memory type `mem`: a write of a memory-type register (`reg`, at
/// `write_pc`) is not yet synchronized by a context synchronization event (and, where `tlbi`, by TLB
/// maintenance), so hardware may use the type of either side of it. The model judges that access under
/// both (docs/model.md, "Pending memory-type changes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingType {
    pub vcpu: u16,
    pub write_pc: u64,
    pub reg: SysReg,
    pub tlbi: bool,
    pub mem: MemType,
}

/// How QEMU's device model reached guest memory (qemu-patches: the plugin reports each path's transfers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DmaPath {
    /// address_space_rw/read/write/set, dma_memory_*.
    Rw,
    /// address_space_map/unmap (a bounce buffer or a host pointer the device fills).
    Map,
    /// A MemoryRegionCache (virtio rings).
    Cache,
    /// ld*/st*_phys, ld*/st*_dma.
    LdSt,
}

impl DmaPath {
    pub fn name(self) -> &'static str {
        match self {
            DmaPath::Rw => "rw",
            DmaPath::Map => "map",
            DmaPath::Cache => "cache",
            DmaPath::LdSt => "ldst",
        }
    }
}

/// `Event::vcpu` of what no vCPU did (a device's transfer, its name).
pub const NO_VCPU: u16 = u16::MAX;

/// One transfer of a device to or from guest RAM. A device is no PE: it has no regime, PC or instruction,
/// and whether it snoops the PE caches is the model's decision (`model::DmaPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dma {
    /// The device's small integer id (its name comes in `DeviceName` events).
    pub device: u32,
    /// Bus address: the guest-physical address of the first byte.
    pub pa: u64,
    /// Bytes, at least 1.
    pub len: u32,
    /// The device wrote guest memory (else it read it).
    pub write: bool,
    pub path: DmaPath,
}

/// Bytes of a device name one `DeviceName` event carries.
pub const DEVICE_NAME_PART_LEN: usize = 24;

/// Part `part` (0..=3) of device `id`'s name: NUL-padded bytes; part 0 starts a name, the others follow in
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceName {
    pub id: u32,
    pub part: u8,
    pub bytes: [u8; DEVICE_NAME_PART_LEN],
}

/// An instruction fetch of one physical line (emitted when QEMU translates code from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub vcpu: u16,
    /// First instruction fetched from the line.
    pub pc: u64,
    /// Physical address in the line. With bit 0 set, `pa & !3` is the address of the last instruction the
    /// block fetched from the line, so the bytes fetched are `pc`'s offset up to it; with bit 0 clear
    /// (traces recorded before the plugin said so) the fetch counts as running to the end of the line.
    pub pa: u64,
    pub mem: MemType,
}

/// Cache-maintenance and TLB instructions cohtrace decodes (Arm ARM C5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheOp {
    DcIvac,
    DcIsw,
    DcCsw,
    DcCisw,
    DcZva,
    DcCvac,
    DcCvau,
    DcCvap,
    DcCvadp,
    DcCivac,
    IcIalluis,
    IcIallu,
    IcIvau,
    /// Any TLBI; the payload is the instruction's op2 (bits 2:0), CRm (6:3), op1 (9:7) and CRn[0] (11),
    /// as `trace::codes::tlbi_payload` packs them.
    Tlbi(u16),
}

impl CacheOp {
    /// Operations by virtual address: they carry a VA and, when it translates, a physical line.
    pub fn is_by_va(self) -> bool {
        matches!(
            self,
            CacheOp::DcIvac
                | CacheOp::DcZva
                | CacheOp::DcCvac
                | CacheOp::DcCvau
                | CacheOp::DcCvap
                | CacheOp::DcCvadp
                | CacheOp::DcCivac
                | CacheOp::IcIvau
        )
    }

    pub fn is_set_way(self) -> bool {
        matches!(self, CacheOp::DcIsw | CacheOp::DcCsw | CacheOp::DcCisw)
    }

    pub fn mnemonic(self) -> &'static str {
        match self {
            CacheOp::DcIvac => "DC IVAC",
            CacheOp::DcIsw => "DC ISW",
            CacheOp::DcCsw => "DC CSW",
            CacheOp::DcCisw => "DC CISW",
            CacheOp::DcZva => "DC ZVA",
            CacheOp::DcCvac => "DC CVAC",
            CacheOp::DcCvau => "DC CVAU",
            CacheOp::DcCvap => "DC CVAP",
            CacheOp::DcCvadp => "DC CVADP",
            CacheOp::DcCivac => "DC CIVAC",
            CacheOp::IcIalluis => "IC IALLUIS",
            CacheOp::IcIallu => "IC IALLU",
            CacheOp::IcIvau => "IC IVAU",
            CacheOp::Tlbi(_) => "TLBI",
        }
    }
}

/// A cache-maintenance (or TLB) instruction as executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Maintenance {
    pub vcpu: u16,
    pub pc: u64,
    pub op: CacheOp,
    /// The Xt operand: a VA for by-VA operations, the set/way/level word for set/way operations.
    pub operand: u64,
    /// Physical address the VA translated to (by-VA operations), if it translated.
    pub pa: Option<u64>,
    /// Memory type of the mapping the VA translated through (DC ZVA writes with it).
    pub mem: MemType,
    /// Bytes covered: the line size for DC/IC by VA, the ZVA block for DC ZVA, 0 otherwise.
    pub len: u32,
}

/// System registers whose writes the plugin decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SysReg {
    SctlrEl1,
    SctlrEl2,
    HcrEl2,
    MairEl1,
    MairEl2,
    TcrEl1,
    TcrEl2,
    Ttbr0El1,
    Ttbr1El1,
    Ttbr0El2,
    Ttbr1El2,
    VttbrEl2,
    VtcrEl2,
    /// Read-only identification registers the model needs (instruction-data coherence, R13): recorded
    /// once per vCPU when it starts, never written.
    CtrEl0,
    ClidrEl1,
}

impl SysReg {
    pub const ALL: [SysReg; 15] = [
        SysReg::SctlrEl1,
        SysReg::SctlrEl2,
        SysReg::HcrEl2,
        SysReg::MairEl1,
        SysReg::MairEl2,
        SysReg::TcrEl1,
        SysReg::TcrEl2,
        SysReg::Ttbr0El1,
        SysReg::Ttbr1El1,
        SysReg::Ttbr0El2,
        SysReg::Ttbr1El2,
        SysReg::VttbrEl2,
        SysReg::VtcrEl2,
        SysReg::CtrEl0,
        SysReg::ClidrEl1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SysReg::SctlrEl1 => "SCTLR_EL1",
            SysReg::SctlrEl2 => "SCTLR_EL2",
            SysReg::HcrEl2 => "HCR_EL2",
            SysReg::MairEl1 => "MAIR_EL1",
            SysReg::MairEl2 => "MAIR_EL2",
            SysReg::TcrEl1 => "TCR_EL1",
            SysReg::TcrEl2 => "TCR_EL2",
            SysReg::Ttbr0El1 => "TTBR0_EL1",
            SysReg::Ttbr1El1 => "TTBR1_EL1",
            SysReg::Ttbr0El2 => "TTBR0_EL2",
            SysReg::Ttbr1El2 => "TTBR1_EL2",
            SysReg::VttbrEl2 => "VTTBR_EL2",
            SysReg::VtcrEl2 => "VTCR_EL2",
            SysReg::CtrEl0 => "CTR_EL0",
            SysReg::ClidrEl1 => "CLIDR_EL1",
        }
    }
}

/// A write to a tracked system register (the value written, after VHE redirection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegWrite {
    pub vcpu: u16,
    pub pc: u64,
    pub reg: SysReg,
    pub value: u64,
}

/// Guest marker instructions (docs/markers.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// Start of a test case; X0 is its id.
    Begin,
    /// End of a test case; X0 is its id. Implies Check.
    End,
    /// Name the physical range [args[1], args[1]+args[2]) `name`.
    NameRange,
    /// Suppress hazards on the physical range [args[1], args[1]+args[2]).
    Suppress,
    /// Check: no hazard since the last Begin.
    Check,
}

/// Longest range name a marker carries (longer names are cut).
pub const MARKER_NAME_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub vcpu: u16,
    pub pc: u64,
    pub kind: MarkerKind,
    /// X0, then X1 and X2; for NameRange and Suppress the plugin has translated X1 to a physical address.
    pub args: [u64; 3],
    /// NUL-padded name (NameRange).
    pub name: [u8; MARKER_NAME_LEN],
}

impl Marker {
    pub fn name_str(&self) -> String {
        let end = self.name.iter().position(|b| *b == 0).unwrap_or(MARKER_NAME_LEN);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// One event, in the global order the model consumes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Access(Access),
    Fetch(Fetch),
    Maintenance(Maintenance),
    SysReg(SysRegWrite),
    /// The vCPU now runs in this regime: later events of the vCPU belong to it.
    Regime { vcpu: u16, regime: Regime },
    Marker(Marker),
    Walk(Walk),
    Bulk(Bulk),
    PendingType(PendingType),
    Dma(Dma),
    DeviceName(DeviceName),
}

impl Event {
    pub fn vcpu(&self) -> u16 {
        match self {
            Event::Access(a) => a.vcpu,
            Event::Fetch(f) => f.vcpu,
            Event::Maintenance(m) => m.vcpu,
            Event::SysReg(s) => s.vcpu,
            Event::Regime { vcpu, .. } => *vcpu,
            Event::Marker(m) => m.vcpu,
            Event::Walk(w) => w.vcpu,
            Event::Bulk(b) => b.vcpu,
            Event::PendingType(t) => t.vcpu,
            Event::Dma(_) | Event::DeviceName(_) => NO_VCPU,
        }
    }

    /// The PC of the instruction the event belongs to (`None` for regime changes and devices; a pending
    /// type's is its register write's).
    pub fn pc(&self) -> Option<u64> {
        match self {
            Event::Access(a) => Some(a.pc),
            Event::Fetch(f) => Some(f.pc),
            Event::Maintenance(m) => Some(m.pc),
            Event::SysReg(s) => Some(s.pc),
            Event::Marker(m) => Some(m.pc),
            Event::Walk(w) => Some(w.pc),
            Event::Bulk(b) => Some(b.pc),
            Event::PendingType(t) => Some(t.write_pc),
            Event::Regime { .. } | Event::Dma(_) | Event::DeviceName(_) => None,
        }
    }
}
