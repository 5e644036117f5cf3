//! Entry points of the fuzz targets (fuzz/, `cargo fuzz run trace|chunk`), kept in the library so that the
//! regression tests replay the committed seeds and every input that once crashed through the very same code
//! (analyzer/tests/fuzz_corpus.rs). Each function must return normally for any input: a panic, an arithmetic
//! overflow (fuzzing builds with overflow checks), or an allocation out of proportion to the input is a bug.

use crate::analysis::analyze_with_policy;
use crate::trace::codec::{ChunkDecoder, ChunkEncoder};
use crate::trace::reader::TraceFile;
use crate::trace::record::Record;
use crate::trace::{CHUNK_HEADER, CHUNK_MAGIC, FILE_MAGIC, HEADER_FIXED};
use crate::model::{DmaPolicy, Mode, ModelConfig, ResetState};
use crate::report;

/// Target (a): a whole trace file through the reader, the merged event stream, the model and the reports.
///
/// The input is read twice: as it is (the framing and checksum checks), then with every checksum the
/// framing lets us find recomputed, so that mutated headers and payloads get past the CRCs and reach the
/// decoder and the model (libFuzzer cannot forge a CRC-32 by itself).
pub fn trace(data: &[u8]) {
    check_trace(data.to_vec(), data.len());
    let fixed = fix_checksums(data);
    if fixed != data {
        check_trace(fixed, data.len());
    }
}

/// Target (b): one chunk payload through the decoder. The first 8 bytes (little-endian) are the chunk's
/// base sequence number, the rest is the payload. Whatever decodes must survive a round trip through the
/// encoder unchanged.
pub fn chunk(data: &[u8]) {
    let (base, payload) = match data.split_first_chunk::<8>() {
        Some((b, p)) => (u64::from_le_bytes(*b), p),
        None => (0, data),
    };
    let mut dec = ChunkDecoder::new(payload, base);
    let mut records = Vec::new();
    // Every record consumes at least its tag byte, so this loop is bounded by the payload length.
    while let Ok(Some(r)) = dec.next_record() {
        records.push(r);
        assert!(records.len() <= payload.len(), "more records than payload bytes");
    }
    if records.is_empty() {
        return;
    }
    // Re-encode what decoded, decode again: the two decodings must agree field for field. Sequence numbers
    // are compared when they fit the encoder's 32-bit offsets from the base.
    let seq_fits = records.iter().all(|(s, _)| s.wrapping_sub(base) <= u32::MAX as u64);
    let input: Vec<Record> = records
        .iter()
        .map(|&(s, r)| Record { seq: if seq_fits { s.wrapping_sub(base) as u32 } else { 0 }, ..r })
        .collect();
    let mut out = Vec::new();
    ChunkEncoder::new().encode(&input, base, &mut out);
    let mut dec = ChunkDecoder::new(&out, base);
    for (i, (seq, want)) in records.iter().enumerate() {
        let (got_seq, got) = match dec.next_record() {
            Ok(Some(x)) => x,
            other => panic!("record {i} of {}: re-encoded payload gives {other:?}", records.len()),
        };
        assert_eq!(got, *want, "record {i}: round trip changed it");
        if seq_fits {
            assert_eq!(got_seq, *seq, "record {i}: round trip changed its sequence number");
        }
    }
    assert_eq!(dec.next_record(), Ok(None), "re-encoded payload holds extra records");
}

/// Lines the range records of one fuzz input may claim before it is only read (2^18 lines: 32 MiB of line
/// state, within `MAX_ALLOCATION` for the line table however it grows).
pub const MAX_CLAIMED_LINES: u64 = 1 << 18;

fn check_trace(bytes: Vec<u8>, input_len: usize) {
    let len = bytes.len() as u64;
    let Ok(t) = TraceFile::from_bytes(bytes) else { return };
    if let Some(d) = &t.damage {
        assert!(d.offset <= len, "damage offset {} past the end ({len})", d.offset);
        assert!(d.chunk >= t.chunks.len() as u64, "damage at chunk {} but {} chunks indexed", d.chunk, t.chunks.len());
    }
    for c in &t.chunks {
        assert!(c.offset < len);
    }
    let _ = (t.record_count(), t.vcpus(), t.payload_bytes());
    for i in 0..t.chunks.len() {
        let _ = t.chunk_records(i);
    }
    // The model's memory follows the lines a trace touches, and a range record (a bulk step, a device
    // transfer) claims up to 1,024 of them (`MAX_RANGE_LEN`, which the decoder enforces) from a few bytes:
    // an input that claims more lines than a capture of its size could touch is read, not modelled.
    let claimed: u64 = t
        .events()
        .map(|e| match e {
            crate::event::Event::Bulk(b) => b.len as u64 / 64 + 2,
            crate::event::Event::Dma(d) => d.len as u64 / 64 + 2,
            _ => 0,
        })
        .sum();
    if claimed > MAX_CLAIMED_LINES {
        return;
    }
    // Vary the model's configuration with the input, so every knob gets exercised.
    let cfg = ModelConfig {
        mode: if input_len & 1 == 0 { Mode::Speculative } else { Mode::Precise },
        system_cache: input_len & 2 != 0,
        reset: if input_len & 4 == 0 { ResetState::Invalid } else { ResetState::Unknown },
        ..Default::default()
    };
    let dma = if input_len & 8 != 0 { DmaPolicy::parse_mode("noncoherent").unwrap_or_default() } else { DmaPolicy::default() };
    let a = analyze_with_policy(&t, cfg, &dma, 1, |_| {});
    let hazards = a.log.hazards();
    let _ = report::text::render(hazards);
    let _ = report::json::render(hazards);
    let _ = report::sarif::render(hazards);
    // The line-sharded analysis must find the same hazards and damage. Its merge orders hazards by the
    // sequence number that revealed them, which is the replay order only when sequence numbers increase
    // along the replay (always so in a capture; a hostile trace can make them jump back): then the whole
    // report must be identical, otherwise the same (class, observer, cause) keys with the same counts.
    // (On a quarter of the inputs: starting threads is most of an execution's time.)
    if input_len % 4 == 0 {
        compare_with_two_threads(&t, cfg, &dma, &a);
    }
    // The event iterator stops where the analysis did.
    let mut ev = t.events();
    ev.by_ref().for_each(drop);
    assert_eq!(ev.error().or(t.damage.as_ref()), a.damage.as_ref(), "events() and analyze() disagree on damage");
}

fn compare_with_two_threads(t: &TraceFile, cfg: ModelConfig, dma: &DmaPolicy, a: &crate::analysis::Analysis) {
    let hazards = a.log.hazards();
    let json = report::json::render(hazards);
    let two = analyze_with_policy(t, cfg, dma, 2, |_| {});
    assert_eq!(two.devices, a.devices, "2-thread analysis sees other devices");
    assert_eq!(two.damage, a.damage, "2-thread analysis sees other damage");
    let mut ev = t.events();
    let mut last = None;
    let mut increasing = true;
    while let Some((_, seq, _)) = ev.next_record() {
        increasing &= last.is_none_or(|l| seq > l);
        last = Some(seq);
    }
    if increasing {
        assert_eq!(report::json::render(two.log.hazards()), json, "2-thread analysis differs from 1-thread");
    } else {
        let keys = |hs: &[crate::report::Hazard]| {
            let mut k: Vec<_> = hs.iter().map(|h| (h.class, h.observer.pc, h.cause.pc, h.count)).collect();
            k.sort();
            k
        };
        assert_eq!(keys(two.log.hazards()), keys(hazards), "2-thread analysis finds other hazards than 1-thread");
    }
}

/// Recomputes the header CRC and the CRC of every chunk the framing can be followed to; stops where it
/// cannot (bad magic, a length past the end).
pub fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    if b.len() < HEADER_FIXED || &b[..8] != FILE_MAGIC {
        return b;
    }
    let meta_len = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
    let Some(end) = HEADER_FIXED.checked_add(meta_len).filter(|e| e.saturating_add(4) <= b.len()) else {
        return b;
    };
    let crc = crc32fast::hash(&b[..end]);
    b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    let mut pos = end + 4;
    while b.len() - pos >= CHUNK_HEADER && &b[pos..pos + 4] == CHUNK_MAGIC {
        let payload_len = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let start = pos + CHUNK_HEADER;
        if payload_len > b.len() - start {
            break;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&b[pos + 4..pos + 24]);
        h.update(&b[start..start + payload_len]);
        let crc = h.finalize();
        b[pos + 24..pos + 28].copy_from_slice(&crc.to_le_bytes());
        pos = start + payload_len;
    }
    b
}

/// Most a single allocation may ask for while fuzzing or replaying fuzz inputs (64 MiB). Inputs are at most
/// a few hundred KB; an allocation sized from an untrusted length field shows up here.
pub const MAX_ALLOCATION: usize = 64 << 20;
/// Most the heap may hold at once (512 MiB).
pub const MAX_LIVE: usize = 512 << 20;

/// A global allocator for fuzz targets and their regression tests: the system allocator, but an
/// allocation over [`MAX_ALLOCATION`], or one that would take the live heap over [`MAX_LIVE`], fails, which
/// aborts the process ("memory allocation of N bytes failed"): a crash libFuzzer records with its input.
/// It works without a sanitizer (libFuzzer's own -malloc_limit_mb needs one), so fuzzing runs on stable Rust.
pub struct BoundedAlloc {
    live: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Default for BoundedAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl BoundedAlloc {
    pub const fn new() -> BoundedAlloc {
        BoundedAlloc { live: std::sync::atomic::AtomicUsize::new(0), peak: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Bytes allocated now.
    pub fn live(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most bytes allocated at once since the last [`reset_peak`](Self::reset_peak).
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn reset_peak(&self) {
        self.peak.store(self.live(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Accounts for `grow` more bytes in an allocation that will be `size` bytes, or refuses.
    fn admit(&self, size: usize, grow: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if size > MAX_ALLOCATION {
            return false;
        }
        let now = self.live.fetch_add(grow, Relaxed) + grow;
        if now > MAX_LIVE {
            self.live.fetch_sub(grow, Relaxed);
            return false;
        }
        self.peak.fetch_max(now, Relaxed);
        true
    }

    fn release(&self, bytes: usize) {
        self.live.fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged, or fails with a null pointer (allowed
// by the GlobalAlloc contract); the counters never affect what is returned for a granted request.
unsafe impl std::alloc::GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !self.admit(layout.size(), layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { std::alloc::System.alloc(layout) };
        if p.is_null() {
            self.release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !self.admit(layout.size(), layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if p.is_null() {
            self.release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        self.release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        let grow = new_size.saturating_sub(old);
        if !self.admit(new_size, grow) {
            return std::ptr::null_mut();
        }
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            self.release(grow);
        } else {
            self.release(old.saturating_sub(new_size));
        }
        p
    }
}
