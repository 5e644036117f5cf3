//! The one writer thread: receives full vCPU buffers, encodes them into trace chunks and/or replays them
//! through the online model, and hands the buffers back for reuse.

use crate::options::{OnHazard, Options};
use cohtrace_analyzer::event::{Event, MarkerKind};
use cohtrace_analyzer::model::{DmaPolicy, Model, ModelConfig};
use cohtrace_analyzer::report;
use cohtrace_analyzer::replay::{Fed, feed_record};
use cohtrace_analyzer::trace::merge::{Heads, Merge, stream_index, stream_vcpu};
use cohtrace_analyzer::trace::codes::{DEVICE_STREAM, ZVA_SIZE_IN_RECORDS};
use cohtrace_analyzer::trace::record::marker_args;
use cohtrace_analyzer::trace::{Geometry, Header, Record, RecordKind, TraceWriter};
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;

pub struct Chunk {
    pub vcpu: u16,
    pub base_seq: u64,
    pub buf: Box<[Record]>,
    pub len: usize,
}

pub enum Msg {
    Chunk(Chunk),
    /// Replay everything received so far through the online model, then answer (guest End/Check markers).
    Sync(Sender<()>),
    /// Flush everything and answer with the summary; the thread then exits.
    Finish { dropped: u64, done: Sender<Summary> },
}

#[derive(Debug, Default)]
pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

/// The online model with a merge of the per-vCPU streams and the device stream (DMA off the vCPU threads
/// can come at any time, even with one vCPU). Records are replayed in global sequence order up to the
/// watermark the capture hands in (every record older than it has arrived). Sync and the end of the run
/// replay everything queued.
struct Online {
    model: Model,
    geometry: Geometry,
    queues: Queues,
    merge: Merge,
    watermark: fn() -> u64,
    on_hazard: OnHazard,
    /// Hazards of the model's current log already printed.
    reported: usize,
    /// Every hazard reported during the run (the model's log restarts with each test case).
    all: report::HazardLog,
    /// The guest marks test cases: act at End/Check, not as soon as a hazard is found.
    in_cases: bool,
    report_path: Option<std::path::PathBuf>,
}

/// Queues of (sequence number, record) waiting for the merge: the device stream's first (the merge breaks
/// ties to the lower index, and a device record sorts before a vCPU record with its number), then one per
/// vCPU.
struct Queues(Vec<VecDeque<(u64, Record)>>);

impl Heads for Queues {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn head(&mut self, i: usize) -> Option<u64> {
        self.0[i].front().map(|(s, _)| *s)
    }
}

impl Online {
    /// Replays a chunk's records through the merge, as far as the watermark allows.
    fn consume(&mut self, c: &Chunk) {
        self.push(c);
        self.drain(false);
    }

    fn push(&mut self, c: &Chunk) {
        let v = stream_index(c.vcpu);
        let q = &mut self.queues.0;
        if q.len() <= v {
            q.resize_with(v + 1, VecDeque::new);
        }
        q[v].extend(c.buf[..c.len].iter().map(|r| (c.base_seq + r.seq as u64, *r)));
        self.merge.refresh(q.len());
    }

    /// Replays queued records in global order: all of them, or (`all` false) those below the watermark.
    fn drain(&mut self, all: bool) {
        let below = (!all).then(|| (self.watermark)());
        while let Some(i) = self.merge.next(&mut self.queues, below) {
            let q = &mut self.queues.0[i];
            let Some((seq, r)) = q.pop_front() else { break };
            let (args, n) = if r.kind == RecordKind::Marker as u8 {
                let got = marker_args(q.iter().map(|(_, a)| a));
                q.drain(..got.1);
                got
            } else {
                ([Record::default(); 3], 0)
            };
            let case = self.case_before(&r);
            let fed = feed_record(&mut self.model, self.geometry, stream_vcpu(i), seq, &r, &args[..n]);
            self.after(fed, case);
        }
    }

    /// The test case open before a marker record (an End closes it in the model); nothing to read for
    /// any other record.
    #[inline(always)]
    fn case_before(&self, r: &Record) -> Option<u64> {
        if r.kind == RecordKind::Marker as u8 { self.model.test_case() } else { None }
    }

    /// What a fed record means for the run: report new hazards, or act on a marker. `case` is the test
    /// case that was open before the record.
    #[inline]
    fn after(&mut self, fed: Fed, case: Option<u64>) {
        match fed {
            Fed::Access => {
                if !self.in_cases && self.model.hazards().len() > self.reported {
                    self.report_new("hazard");
                }
            }
            Fed::Nothing => {}
            Fed::Event(ev) => self.after_event(&ev, case),
        }
    }

    #[inline(never)]
    fn after_event(&mut self, ev: &Event, case: Option<u64>) {
        if let Event::Marker(m) = ev {
            match m.kind {
                MarkerKind::Begin => {
                    self.in_cases = true;
                    self.model.clear_hazards();
                    self.reported = 0;
                }
                MarkerKind::End | MarkerKind::Check => {
                    let id = case.map(|c| c.to_string()).unwrap_or_else(|| "(none)".into());
                    self.report_new(&format!("test case {id}"));
                }
                MarkerKind::NameRange | MarkerKind::Suppress => {}
            }
            return;
        }
        if !self.in_cases {
            self.report_new("hazard");
        }
    }

    /// Prints the hazards found since the last report and carries out on_hazard.
    fn report_new(&mut self, context: &str) {
        let n = self.model.hazards().len();
        if n > self.reported {
            eprintln!("cohtrace: {context}: {} new hazard{}", n - self.reported, if n - self.reported == 1 { "" } else { "s" });
            for h in &self.model.hazards()[self.reported..n] {
                eprint!("{}", report::text::render_one(h));
                self.all.record(h.clone());
            }
            self.reported = n;
            match self.on_hazard {
                OnHazard::Log => {}
                OnHazard::Abort => {
                    self.write_report();
                    eprintln!("cohtrace: hazard found, on_hazard=abort: raising SIGABRT");
                    // The trace so far is on disk chunk by chunk; SIGABRT is what fuzzers count as a crash.
                    unsafe { libc::abort() };
                }
                OnHazard::Exit(code) => {
                    self.write_report();
                    eprintln!("cohtrace: hazard found, on_hazard=exit: exiting with status {code}");
                    unsafe { libc::_exit(code) };
                }
            }
        }
    }

    /// Writes the run's report to `report=PATH`; without one, the hazards were printed as they came and
    /// only the total is printed.
    fn write_report(&self) {
        let hazards = self.all.hazards();
        let Some(path) = &self.report_path else {
            eprintln!("==cohtrace== {} hazard{} found online", hazards.len(), if hazards.len() == 1 { "" } else { "s" });
            return;
        };
        let body = if path.extension().is_some_and(|e| e == "json") {
            report::json::render(hazards)
        } else {
            report::text::render(hazards)
        };
        if let Err(e) = std::fs::write(path, body) {
            eprintln!("cohtrace: cannot write report {}: {e}", path.display());
        }
    }
}

pub struct Sink {
    pub tx: Sender<Msg>,
    pub free: Receiver<Box<[Record]>>,
    pub handle: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

pub fn header(opts: &Options, vcpus: u32) -> Header {
    let geometry = Geometry { line_size: opts.line, zva_size: ZVA_SIZE_IN_RECORDS };
    Header::new(
        geometry,
        vec![
            ("tool".into(), format!("cohtrace {}", env!("CARGO_PKG_VERSION"))),
            ("qemu_plugin_api".into(), qemu_plugin_sys::QEMU_PLUGIN_VERSION.to_string()),
            ("vcpus".into(), vcpus.to_string()),
            ("model".into(), format!("{:?}", opts.model).to_lowercase()),
            ("mode".into(), opts.mode.name().into()),
            ("filters".into(), format!("{:x?}", opts.filters)),
        ],
    )
}

/// Opens the trace (errors here stop QEMU at start) and starts the writer thread.
/// `watermark` says up to which sequence number every vCPU's records have been handed over (the capture's
/// flush rule); the online model's merge of several vCPUs waits for it.
pub fn start(opts: &Options, vcpus: u32, watermark: fn() -> u64) -> Result<Sink, String> {
    let writer = match &opts.out {
        Some(path) => {
            let f = File::create(path).map_err(|e| format!("option 'out': cannot create {}: {e}", path.display()))?;
            Some(TraceWriter::new(f, &header(opts, vcpus)).map_err(|e| format!("option 'out': {e}"))?)
        }
        None => None,
    };
    let online = (opts.model == crate::options::ModelMode::Online).then(|| Online {
        model: Model::with_dma(
            ModelConfig { mode: opts.mode, line_size: opts.line, ..Default::default() },
            DmaPolicy { noncoherent_all: opts.dma_noncoherent_all, noncoherent: opts.dma_noncoherent.clone() },
        ),
        geometry: Geometry { line_size: opts.line, zva_size: ZVA_SIZE_IN_RECORDS },
        queues: Queues(Vec::new()),
        merge: Merge::new(0),
        watermark,
        on_hazard: opts.on_hazard,
        reported: 0,
        all: report::HazardLog::default(),
        in_cases: false,
        report_path: opts.report.clone(),
    });
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(8);
    let (free_tx, free) = crossbeam_channel::bounded::<Box<[Record]>>(16);
    let handle = std::thread::Builder::new()
        .name("cohtrace-writer".into())
        .spawn(move || run(rx, free_tx, writer, online))
        .map_err(|e| format!("cannot start the writer thread: {e}"))?;
    Ok(Sink { tx, free, handle: std::sync::Mutex::new(Some(handle)) })
}

fn run(rx: Receiver<Msg>, free: Sender<Box<[Record]>>, mut writer: Option<TraceWriter<File>>, mut online: Option<Online>) {
    let mut error: Option<String> = None;
    let mut records = 0u64;
    for msg in rx {
        match msg {
            Msg::Chunk(c) => {
                records += c.len as u64;
                if let Some(w) = writer.as_mut()
                    && error.is_none()
                    && let Err(e) = w.write_chunk(c.vcpu, c.base_seq, &c.buf[..c.len])
                {
                    // Keep QEMU running; say so once, and at exit.
                    eprintln!("cohtrace: writing the trace failed: {e}; capture continues without it");
                    error = Some(e.to_string());
                }
                if let Some(o) = online.as_mut() {
                    o.consume(&c);
                }
                // Device-stream buffers are small and sized to their records: only vCPU buffers are reused.
                if c.vcpu != DEVICE_STREAM {
                    let _ = free.try_send(c.buf);
                }
            }
            Msg::Sync(reply) => {
                if let Some(o) = online.as_mut() {
                    o.drain(true);
                }
                let _ = reply.send(());
            }
            Msg::Finish { dropped, done } => {
                let mut summary = Summary { records, ..Default::default() };
                if let Some(o) = online.as_mut() {
                    o.drain(true);
                    o.report_new("end of run");
                    o.write_report();
                    let devices = o.model.devices();
                    let unknown = o.model.dma_policy().unknown_names(&devices);
                    if !unknown.is_empty() {
                        let seen: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
                        let msg = format!(
                            "option 'dma_noncoherent': no device {} did DMA in this run (devices seen: {})",
                            unknown.join(", "),
                            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
                        );
                        eprintln!("cohtrace: {msg}");
                    }
                }
                if let Some(w) = writer.take() {
                    summary.bytes = w.bytes_written();
                    match w.finish(dropped) {
                        Ok((mut f, _)) => {
                            let _ = f.flush();
                        }
                        Err(e) => error = Some(e.to_string()),
                    }
                }
                summary.error = error.take();
                let _ = done.send(summary);
                return;
            }
        }
    }
}
