//! AFL++'s entry for the `rvsadm` target alone (see `rvs-fuzz.rs`). A binary
//! per target links only the code that target reaches, so AFL's coverage
//! map, which it clears and scans for every execution, is that code's.
fn main() {
    afl::fuzz!(|data: &[u8]| rvs_fuzz::rvsadm(data));
}
