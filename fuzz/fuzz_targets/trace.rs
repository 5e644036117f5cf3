//! Target (a): a whole trace file through `TraceFile::from_bytes`, the merged `events()` stream, the model
//! (configuration varied with the input) and the report renderers; once as given and once with its
//! checksums recomputed, so that mutations reach the decoder. See cohtrace_analyzer::fuzzing.
#![no_main]

use cohtrace_analyzer::fuzzing::{self, BoundedAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc::new();

fuzz_target!(|data: &[u8]| fuzzing::trace(data));
