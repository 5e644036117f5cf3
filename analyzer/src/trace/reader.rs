//! Reads a trace: maps the file, checks the header, indexes the whole chunks, and replays their records as
//! one event stream in global order. Damage stops the index at the last good chunk and is reported with
//! its byte offset; nothing here panics or allocates according to an untrusted length.

use super::codec::{ChunkDecoder, DecodeError};
use super::codes::{DEVICE_STREAM, RecordKind};
use super::record::{Geometry, Record, marker_args, record_to_event};
use super::{
    CHUNK_END, CHUNK_EVENTS, CHUNK_HEADER, CHUNK_MAGIC, EndSummary, FILE_MAGIC, FORMAT_VERSION, HEADER_FIXED, Header,
    MAX_META, MAX_PAYLOAD,
};
use super::merge::{Heads, Merge};
use crate::event::Event;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("not a cohtrace trace: the file starts with {found:02x?}, not \"COHTRACE\"")]
    BadMagic { found: Vec<u8> },
    #[error("trace format version {0} is not supported (this cohtrace reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u16),
    #[error("trace header is cut short: the file has {len} bytes")]
    HeaderTruncated { len: usize },
    #[error("trace header metadata claims {len} bytes (at most {MAX_META} allowed)")]
    MetaTooLong { len: usize },
    #[error("trace header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    HeaderChecksum { stored: u32, computed: u32 },
    #[error("trace header: line size {0} is not a power of two between 16 and 4096")]
    BadLineSize(u32),
}

/// Where and why the chunk sequence broke. Everything before `offset` was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Index of the first chunk that could not be used.
    pub chunk: u64,
    /// Its byte offset in the file.
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chunk {} at byte offset {}: {}", self.chunk, self.offset, self.reason)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ChunkInfo {
    pub offset: u64,
    pub vcpu: u16,
    pub records: u32,
    pub first_seq: u64,
    payload_start: usize,
    payload_len: usize,
}

enum Backing {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

pub struct TraceFile {
    backing: Backing,
    pub header: Header,
    pub chunks: Vec<ChunkInfo>,
    /// Set when the chunk sequence ends in something other than a clean end chunk or end of file.
    pub damage: Option<Damage>,
    /// The end chunk's totals: present only if the capture finished cleanly.
    pub end: Option<EndSummary>,
}

impl TraceFile {
    pub fn open(path: &Path) -> Result<TraceFile, TraceError> {
        let io = |source| TraceError::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let backing = if len == 0 {
            Backing::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only; a capture still appending to the file only adds bytes past what
            // we index, and every length we follow is checked against the mapped size.
            Backing::Map(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        TraceFile::from_backing(backing)
    }

    /// Reads a trace held in memory (fuzzing, tests, embedding).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<TraceFile, TraceError> {
        TraceFile::from_backing(Backing::Owned(bytes))
    }

    fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }

    fn from_backing(backing: Backing) -> Result<TraceFile, TraceError> {
        let bytes: &[u8] = match &backing {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        };
        let (header, mut pos) = parse_header(bytes)?;
        let mut chunks = Vec::new();
        let mut damage = None;
        let mut end = None;
        let mut index = 0u64;
        while pos < bytes.len() {
            match parse_chunk(bytes, pos) {
                Ok((kind, info)) => {
                    let next = info.payload_start + info.payload_len;
                    if kind == CHUNK_END {
                        end = Some(parse_end(&bytes[info.payload_start..next]));
                        pos = next;
                        if pos < bytes.len() {
                            damage = Some(Damage {
                                chunk: index + 1,
                                offset: pos as u64,
                                reason: format!("{} bytes after the end chunk", bytes.len() - pos),
                            });
                        }
                        break;
                    }
                    chunks.push(info);
                    pos = next;
                }
                Err(reason) => {
                    damage = Some(Damage { chunk: index, offset: pos as u64, reason });
                    break;
                }
            }
            index += 1;
        }
        Ok(TraceFile { backing, header, chunks, damage, end })
    }

    pub fn geometry(&self) -> Geometry {
        self.header.geometry
    }

    pub fn len_bytes(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Total records in the indexed chunks.
    pub fn record_count(&self) -> u64 {
        self.chunks.iter().map(|c| c.records as u64).sum()
    }

    /// The vCPUs with chunks (not the device stream, `has_device_stream`).
    pub fn vcpus(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.chunks.iter().map(|c| c.vcpu).filter(|v| *v != DEVICE_STREAM).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether the trace has chunks of the device stream (DMA that no vCPU performed).
    pub fn has_device_stream(&self) -> bool {
        self.chunks.iter().any(|c| c.vcpu == DEVICE_STREAM)
    }

    /// All events in global order (merged across vCPUs by sequence number).
    pub fn events(&self) -> Events<'_> {
        self.events_of(|_| true)
    }

    /// The events of the streams `keep` chooses (by vCPU, `DEVICE_STREAM` for the device stream) in
    /// global order; the other streams' chunks are never decoded (`cohtrace dump --vcpu`).
    pub fn events_of(&self, keep: impl Fn(u16) -> bool) -> Events<'_> {
        let mut streams: Vec<Stream> = Vec::new();
        // vCPU -> stream (a hostile trace can have 65536 of them: no linear search per chunk).
        let mut index = hashbrown::HashMap::<u16, usize>::new();
        for (i, c) in self.chunks.iter().enumerate().filter(|(_, c)| keep(c.vcpu)) {
            let s = *index.entry(c.vcpu).or_insert_with(|| {
                streams.push(Stream {
                    vcpu: c.vcpu,
                    chunks: Vec::new(),
                    next_chunk: 0,
                    batch: Vec::new(),
                    pos: 0,
                    dec: None,
                    chunk: 0,
                    decoded: 0,
                });
                streams.len() - 1
            });
            streams[s].chunks.push(i);
        }
        // Ties go to the lower stream: the device stream's record comes before a vCPU's with its number
        // (docs/trace-format.md, "Ordering"). The vCPUs keep their order of first appearance.
        if let Some(d) = streams.iter().position(|s| s.vcpu == DEVICE_STREAM) {
            streams[..=d].rotate_right(1);
        }
        // Decoded records held at once stay bounded however many streams there are (see BATCH_RECORDS).
        let batch_limit = (BATCH_RECORDS / streams.len().max(1)).clamp(MIN_BATCH, MAX_BATCH);
        let merge = Merge::new(streams.len());
        Events {
            set: StreamSet { file: self, streams, error: None, stopped: false, batch_limit },
            merge,
            geometry: self.geometry(),
            last_stream: 0,
        }
    }

    /// Raw records of one chunk, for `cohtrace dump` and tests.
    pub fn chunk_records(&self, chunk: usize) -> Result<Vec<(u64, Record)>, DecodeError> {
        let c = self.chunks[chunk];
        let payload = &self.bytes()[c.payload_start..c.payload_start + c.payload_len];
        let mut dec = ChunkDecoder::new(payload, c.first_seq);
        let mut out = Vec::new();
        while let Some(r) = dec.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    /// Bytes of chunk payloads (for bytes-per-event statistics).
    pub fn payload_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| (c.payload_len + CHUNK_HEADER) as u64).sum()
    }

    /// Bytes of the device stream's chunks, headers included (what DMA off the vCPU threads costs).
    pub fn device_stream_bytes(&self) -> u64 {
        self.chunks.iter().filter(|c| c.vcpu == DEVICE_STREAM).map(|c| (c.payload_len + CHUNK_HEADER) as u64).sum()
    }
}

/// A trace file still being written (`cohtrace record`'s progress): its size and the records of its whole
/// chunks, found by reading each chunk's header once as the file grows (no payload is read or checked).
#[derive(Debug, Default)]
pub struct GrowingTrace {
    path: PathBuf,
    file: Option<File>,
    /// Offset of the next chunk header to read (0: the file header is not read yet).
    pos: u64,
    /// The chunk headers stopped making sense (or the end chunk came): no more counting.
    done: bool,
    pub bytes: u64,
    pub records: u64,
}

impl GrowingTrace {
    pub fn new(path: &Path) -> GrowingTrace {
        GrowingTrace { path: path.to_owned(), ..Default::default() }
    }

    /// Reads what was added since the last call; a file that does not exist yet is empty.
    pub fn poll(&mut self) {
        use std::os::unix::fs::FileExt;
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let Some(f) = &self.file else { return };
        self.bytes = f.metadata().map_or(self.bytes, |m| m.len());
        if self.pos == 0 {
            let mut h = [0u8; HEADER_FIXED];
            if self.bytes < HEADER_FIXED as u64 || f.read_exact_at(&mut h, 0).is_err() {
                return;
            }
            if &h[..8] != FILE_MAGIC {
                self.done = true;
            }
            self.pos = (HEADER_FIXED + 4) as u64 + u32::from_le_bytes(h[16..20].try_into().unwrap()) as u64;
        }
        let mut h = [0u8; CHUNK_HEADER];
        while !self.done && self.pos + CHUNK_HEADER as u64 <= self.bytes && f.read_exact_at(&mut h, self.pos).is_ok() {
            let payload = u32::from_le_bytes(h[8..12].try_into().unwrap()) as u64;
            let next = self.pos + CHUNK_HEADER as u64 + payload;
            if &h[..4] != CHUNK_MAGIC || payload > MAX_PAYLOAD as u64 {
                self.done = true;
            } else if next <= self.bytes {
                match h[4] {
                    CHUNK_EVENTS => self.records += u32::from_le_bytes(h[12..16].try_into().unwrap()) as u64,
                    _ => self.done = true, // the end chunk
                }
                self.pos = next;
            } else {
                break; // the chunk is still being written
            }
        }
    }
}

fn parse_header(b: &[u8]) -> Result<(Header, usize), TraceError> {
    if b.len() < FILE_MAGIC.len() || &b[..8] != FILE_MAGIC {
        return Err(TraceError::BadMagic { found: b[..b.len().min(8)].to_vec() });
    }
    if b.len() < HEADER_FIXED {
        return Err(TraceError::HeaderTruncated { len: b.len() });
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if version != FORMAT_VERSION {
        return Err(TraceError::UnsupportedVersion(version));
    }
    let line_size = u16::from_le_bytes([b[10], b[11]]) as u32;
    let zva_size = u32::from_le_bytes(b[12..16].try_into().unwrap());
    let meta_len = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
    if meta_len > MAX_META {
        return Err(TraceError::MetaTooLong { len: meta_len });
    }
    let end = HEADER_FIXED + meta_len;
    if b.len() < end + 4 {
        return Err(TraceError::HeaderTruncated { len: b.len() });
    }
    let stored = u32::from_le_bytes(b[end..end + 4].try_into().unwrap());
    let computed = crc32fast::hash(&b[..end]);
    if stored != computed {
        return Err(TraceError::HeaderChecksum { stored, computed });
    }
    if !line_size.is_power_of_two() || !(16..=4096).contains(&line_size) {
        return Err(TraceError::BadLineSize(line_size));
    }
    let text = String::from_utf8_lossy(&b[HEADER_FIXED..end]);
    let meta = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let zva_size = if zva_size.is_power_of_two() && zva_size <= 2048 { zva_size } else { line_size };
    Ok((Header { version, geometry: Geometry { line_size, zva_size }, meta }, end + 4))
}

fn parse_chunk(b: &[u8], pos: usize) -> Result<(u8, ChunkInfo), String> {
    let left = b.len() - pos;
    if left < CHUNK_HEADER {
        return Err(format!("truncated: {left} bytes left, a chunk header needs {CHUNK_HEADER}"));
    }
    let h = &b[pos..pos + CHUNK_HEADER];
    if &h[..4] != CHUNK_MAGIC {
        return Err(format!("bad chunk magic {:02x?}", &h[..4]));
    }
    let kind = h[4];
    if kind != CHUNK_EVENTS && kind != CHUNK_END {
        return Err(format!("unknown chunk kind {kind}"));
    }
    let vcpu = u16::from_le_bytes([h[6], h[7]]);
    let payload_len = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
    let records = u32::from_le_bytes(h[12..16].try_into().unwrap());
    let first_seq = u64::from_le_bytes(h[16..24].try_into().unwrap());
    let stored = u32::from_le_bytes(h[24..28].try_into().unwrap());
    if payload_len > MAX_PAYLOAD {
        return Err(format!("payload length {payload_len} exceeds the {MAX_PAYLOAD}-byte limit"));
    }
    if payload_len > left - CHUNK_HEADER {
        return Err(format!(
            "truncated: payload of {payload_len} bytes but only {} bytes left in the file",
            left - CHUNK_HEADER
        ));
    }
    let payload_start = pos + CHUNK_HEADER;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h[4..24]);
    crc.update(&b[payload_start..payload_start + payload_len]);
    let computed = crc.finalize();
    if computed != stored {
        return Err(format!("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"));
    }
    if kind == CHUNK_END && payload_len != 24 {
        return Err(format!("end chunk has {payload_len} payload bytes, expected 24"));
    }
    Ok((kind, ChunkInfo { offset: pos as u64, vcpu, records, first_seq, payload_start, payload_len }))
}

fn parse_end(p: &[u8]) -> EndSummary {
    let word = |i: usize| u64::from_le_bytes(p[i * 8..i * 8 + 8].try_into().unwrap());
    EndSummary { records: word(0), chunks: word(1), dropped: word(2) }
}

/// Records decoded ahead, over all streams: a chunk is decoded a batch at a time (a tight loop beats
/// interleaving decode and replay), and a batch holds at most this many records divided among the streams
/// (at least MIN_BATCH, at most MAX_BATCH each), so memory does not grow with a chunk's size (a 256 MiB
/// payload of one-byte records is 256 M records of 48 bytes) nor with the number of vCPUs.
const BATCH_RECORDS: usize = 1 << 20;
const MIN_BATCH: usize = 16;
const MAX_BATCH: usize = 64 * 1024;
struct Stream<'t> {
    vcpu: u16,
    chunks: Vec<usize>,
    next_chunk: usize,
    /// Records of the current chunk decoded ahead (a batch), and the next one to deliver.
    batch: Vec<(u64, Record)>,
    pos: usize,
    /// The current chunk's decoder while it has records left; the chunk's index and its records so far.
    dec: Option<ChunkDecoder<'t>>,
    chunk: usize,
    decoded: usize,
}

/// The streams of a trace, one per vCPU, each decoding its chunks a batch at a time.
struct StreamSet<'t> {
    file: &'t TraceFile,
    streams: Vec<Stream<'t>>,
    error: Option<Damage>,
    /// Set at the first damage: no further chunk is decoded, in any stream (merging without the broken
    /// stream would reorder events).
    stopped: bool,
    batch_limit: usize,
}

/// Events of a trace in global order. Stops at the first chunk whose payload does not decode; `error()`
/// then says where. `replay` is the fast way through; `next_record` and the iterator read one at a time.
pub struct Events<'t> {
    set: StreamSet<'t>,
    merge: Merge,
    geometry: Geometry,
    /// The stream of the record `next_record` returned last.
    last_stream: usize,
}

impl Heads for StreamSet<'_> {
    fn count(&self) -> usize {
        self.streams.len()
    }

    #[inline]
    fn head(&mut self, i: usize) -> Option<u64> {
        let s = &self.streams[i];
        if s.pos < s.batch.len() {
            return Some(s.batch[s.pos].0);
        }
        if self.load_chunk(i) {
            let s = &self.streams[i];
            return s.batch.get(s.pos).map(|r| r.0);
        }
        None
    }
}

impl<'t> StreamSet<'t> {
    /// Decodes the next batch of stream `i` (from its current chunk, else its next one); false when the
    /// stream is done (or stopped). A true return brings at least one record unless the batch ran into damage.
    #[cold]
    fn load_chunk(&mut self, i: usize) -> bool {
        let file: &'t TraceFile = self.file;
        let limit = self.batch_limit;
        loop {
            if self.stopped {
                return false;
            }
            let s = &mut self.streams[i];
            if s.dec.is_none() {
                if s.next_chunk >= s.chunks.len() {
                    return false;
                }
                let chunk = s.chunks[s.next_chunk];
                s.next_chunk += 1;
                let c = &file.chunks[chunk];
                let payload = &file.bytes()[c.payload_start..c.payload_start + c.payload_len];
                s.dec = Some(ChunkDecoder::new(payload, c.first_seq));
                s.chunk = chunk;
                s.decoded = 0;
            }
            s.batch.clear();
            s.pos = 0;
            if s.batch.capacity() == 0 {
                s.batch.reserve_exact(limit + 8);
            }
            let Some(dec) = s.dec.as_mut() else { return false };
            // Ok(true): the chunk has more records; Ok(false): it is done.
            let mut result = dec.decode_up_to(&mut s.batch, limit).map_err(|e| e.to_string());
            // A marker's arguments stay in the batch with it (the driver takes them from `following`): the
            // batch ends on a record that is neither (or, in a hostile run of them, at twice the limit).
            for _ in 0..limit {
                match (&result, s.batch.last()) {
                    (Ok(true), Some((_, r))) if r.kind == RecordKind::Marker as u8 || r.kind == RecordKind::MarkerArg as u8 => {
                        result = dec.decode_up_to(&mut s.batch, 1).map_err(|e| e.to_string());
                    }
                    _ => break,
                }
            }
            s.decoded += s.batch.len();
            let c = &file.chunks[s.chunk];
            let reason = match result {
                Ok(true) => None,
                Ok(false) => {
                    s.dec = None;
                    (s.decoded != c.records as usize)
                        .then(|| format!("payload holds {} records, its header says {}", s.decoded, c.records))
                }
                Err(e) => {
                    s.dec = None;
                    Some(e)
                }
            };
            if let Some(reason) = reason {
                // Records decoded before the damage are valid and are delivered; nothing after it is.
                self.error = Some(Damage { chunk: s.chunk as u64, offset: c.offset, reason });
                self.stopped = true;
                return true;
            }
            if !s.batch.is_empty() {
                return true;
            }
            // An empty chunk (or an empty tail): on to the next one.
        }
    }
}

impl<'t> Events<'t> {
    pub fn error(&self) -> Option<&Damage> {
        self.set.error.as_ref()
    }

    /// Skips, without decoding them, the chunks whose records all come before sequence number `seq`: in
    /// each stream, every chunk that the stream's next chunk starts at or before `seq` (a stream's records
    /// are in order). Records before `seq` may remain, from the chunk that holds it. Call it on a fresh
    /// `Events` (`cohtrace dump --from`); damage inside a skipped chunk's payload is not seen.
    pub fn skip_to(&mut self, seq: u64) {
        let file = self.set.file;
        for s in &mut self.set.streams {
            if s.dec.is_some() || s.pos < s.batch.len() {
                continue; // already reading: not fresh
            }
            while s.next_chunk + 1 < s.chunks.len() && file.chunks[s.chunks[s.next_chunk + 1]].first_seq <= seq {
                s.next_chunk += 1;
            }
        }
    }

    /// Calls `f(vcpu, seq, record, following)` for every record in global order, where `following` are
    /// the records after it in its chunk (a marker's arguments are there). The fast way through a trace;
    /// use it on a fresh `Events` instead of the iterator.
    pub fn replay(&mut self, mut f: impl FnMut(u16, u64, &Record, &[(u64, Record)])) {
        let set = &mut self.set;
        if set.streams.len() == 1 {
            // One stream is already in order: straight through its batches.
            let vcpu = set.streams[0].vcpu;
            loop {
                let s = &set.streams[0];
                for k in s.pos..s.batch.len() {
                    let (seq, r) = &s.batch[k];
                    f(vcpu, *seq, r, &s.batch[k + 1..]);
                }
                let n = set.streams[0].batch.len();
                set.streams[0].pos = n;
                if !set.load_chunk(0) {
                    return;
                }
            }
        }
        while let Some(i) = self.merge.next(set, None) {
            let s = &mut set.streams[i];
            let k = s.pos;
            s.pos += 1;
            let s = &set.streams[i];
            f(s.vcpu, s.batch[k].0, &s.batch[k].1, &s.batch[k + 1..]);
        }
    }

    /// The next record in global order with its vCPU and sequence number.
    #[inline]
    pub fn next_record(&mut self) -> Option<(u16, u64, Record)> {
        let i = self.merge.next(&mut self.set, None)?;
        let s = &mut self.set.streams[i];
        let (seq, r) = s.batch[s.pos];
        s.pos += 1;
        self.last_stream = i;
        Some((s.vcpu, seq, r))
    }

    /// The event a record read with `next_record` stands for; a marker takes its argument records (which
    /// follow it in its stream's batch). `None` for records that are not events on their own.
    pub fn event_of(&mut self, vcpu: u16, r: &Record) -> Option<Event> {
        if r.kind != RecordKind::Marker as u8 {
            return record_to_event(r, &[], vcpu, self.geometry);
        }
        let s = self.set.streams.get_mut(self.last_stream).filter(|s| s.vcpu == vcpu)?;
        let (args, n) = marker_args(s.batch[s.pos..].iter().map(|(_, a)| a));
        s.pos += n;
        record_to_event(r, &args[..n], vcpu, self.geometry)
    }
}

impl Iterator for Events<'_> {
    type Item = Event;

    #[inline]
    fn next(&mut self) -> Option<Event> {
        loop {
            let (vcpu, _, r) = self.next_record()?;
            if let Some(ev) = self.event_of(vcpu, &r) {
                return Some(ev);
            }
        }
    }
}
