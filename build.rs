//! Links the command-line binary at a fixed address on Linux with glibc (`-no-pie`).
//!
//! A position-independent executable must patch every pointer in its constant tables at
//! start-up: 41,000 of them here, most in the time-zone database. Each patched page becomes a
//! private copy in every running simulator (1.2 MiB), and the patch list itself (1 MiB) is
//! read in. Linked at a fixed address the tables stay shared, read-only file pages, and idle
//! memory falls by about 2 MiB. The cost is no address randomisation for the simulator's own
//! code, which a local test double can do without. The library and the tests are unaffected.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name| std::env::var(name).unwrap_or_default();
    // A static build (musl, or glibc with `crt-static`) is linked `-static-pie`, which
    // `-no-pie` would break.
    let static_build = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && !static_build
    {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
