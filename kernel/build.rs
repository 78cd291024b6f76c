//! Links the kernel with its linker script and generates the 256 interrupt entry stubs.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Vectors for which the CPU pushes an error code.
const WITH_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("TARGET").unwrap_or_default().contains("rayos") {
        println!("cargo:rustc-link-arg-bins=-T{}", dir.join("linker.ld").display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }

    let mut stubs = String::from(".section .text.isr_stubs, \"ax\"\n.balign 16\n");
    for vector in 0..=255u8 {
        writeln!(stubs, "isr_stub_{vector}:").unwrap();
        if !WITH_ERROR_CODE.contains(&vector) {
            stubs.push_str("    push 0\n");
        }
        writeln!(stubs, "    push {vector}\n    jmp isr_common").unwrap();
    }
    stubs.push_str(
        ".section .rodata.isr_stub_table, \"a\"\n.balign 8\n.global isr_stub_table\nisr_stub_table:\n",
    );
    for vector in 0..=255u8 {
        writeln!(stubs, "    .quad isr_stub_{vector}").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("isr_stubs.s"), stubs).unwrap();
}
