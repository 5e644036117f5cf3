//! Target (b): the chunk payload decoder on its own (8 bytes of base sequence number, then the payload), with
//! a re-encode/re-decode round trip of whatever decodes. See cohtrace_analyzer::fuzzing.
#![no_main]

use cohtrace_analyzer::fuzzing::{self, BoundedAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc::new();

fuzz_target!(|data: &[u8]| fuzzing::chunk(data));
