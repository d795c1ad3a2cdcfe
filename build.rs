//! Links the command-line binary at a fixed address on Linux (`-no-pie`).
//!
//! A position-independent executable must patch every pointer in its constant tables at
//! start-up: 41,000 of them here, most in the time-zone database. Each patched page becomes a
//! private copy in every running simulator (1.2 MiB), and the patch list itself (1 MiB) is
//! read in. Linked at a fixed address the tables stay shared, read-only file pages, and idle
//! memory falls by about 2 MiB. The cost is no address randomisation for the simulator's own
//! code, which a local test double can do without. The library and the tests are unaffected.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
