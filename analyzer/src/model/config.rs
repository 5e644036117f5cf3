//! What the model can be told: when caches may hold a line, what they held at reset, the CPU's
//! instruction-data coherence; and the counts it keeps.

/// When the cache may hold a line (docs/model.md, "Modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// A line of a page that a live translation maps cacheable may be allocated at any time (Arm ARM
    /// B2.12/D8.2: speculative accesses and prefetches); evidence of a live cacheable mapping is a
    /// cacheable access to the page.
    #[default]
    Speculative,
    /// Only lines actually accessed cacheably are cached.
    Precise,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "speculative" => Some(Mode::Speculative),
            "precise" => Some(Mode::Precise),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Speculative => "speculative",
            Mode::Precise => "precise",
        }
    }
}

/// What the caches may hold at reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResetState {
    /// Caches come out of firmware invalid: nothing is stale until something maps a page cacheable.
    #[default]
    Invalid,
    /// Any line may hold stale data from before the trace started (every page counts as mapped cacheable).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub mode: Mode,
    pub line_size: u32,
    /// Model a system cache between PoU and PoC that outer-cacheable accesses allocate into.
    pub system_cache: bool,
    pub reset: ResetState,
    /// The CPU's effective CTR_EL0.IDC: instruction fetches see data still in the PE's data cache (no clean
    /// to PoU needed for instruction-data coherence; also when CLIDR_EL1.LoC = 0 or LoUIS = LoUU = 0).
    pub idc: bool,
    /// CTR_EL0.DIC: the instruction cache is coherent with data (no IC invalidation to PoU needed).
    pub dic: bool,
    /// Take IDC and DIC from the CTR_EL0 and CLIDR_EL1 the trace recorded (the CPU it ran on) instead of
    /// the portable rule (both 0). `idc` / `dic` still force them on.
    pub cpu_coherence: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            mode: Mode::Speculative,
            line_size: 64,
            system_cache: false,
            reset: ResetState::Invalid,
            idc: false,
            dic: false,
            cpu_coherence: false,
        }
    }
}

/// Event counts, for `cohtrace stats` and progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    pub events: u64,
    pub accesses: u64,
    pub mmio: u64,
    pub unknown_type: u64,
    pub fetches: u64,
    /// Table-walk descriptor accesses (reads and hardware updates).
    pub walks: u64,
    /// Bulk accesses (MOPS steps, DC ZVA blocks) and the bytes they covered.
    pub bulk: u64,
    pub bulk_bytes: u64,
    pub maintenance: u64,
    pub untranslated_maintenance: u64,
}
