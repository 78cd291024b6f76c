//! CPU identification (CPUID).

use alloc::string::String;
use alloc::vec::Vec;

/// One CPUID leaf.
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// What the `cpu` command shows and what other subsystems check.
pub struct CpuInfo {
    pub vendor: String,
    pub brand: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub features: Vec<&'static str>,
    pub has_svm: bool,
    pub has_npt: bool,
}

/// (leaf, register index in [eax, ebx, ecx, edx], bit, name)
const FEATURE_BITS: &[(u32, usize, u32, &str)] = &[
    (1, 3, 0, "fpu"),
    (1, 3, 4, "tsc"),
    (1, 3, 5, "msr"),
    (1, 3, 6, "pae"),
    (1, 3, 9, "apic"),
    (1, 3, 12, "mtrr"),
    (1, 3, 13, "pge"),
    (1, 3, 15, "cmov"),
    (1, 3, 16, "pat"),
    (1, 3, 19, "clflush"),
    (1, 3, 23, "mmx"),
    (1, 3, 24, "fxsr"),
    (1, 3, 25, "sse"),
    (1, 3, 26, "sse2"),
    (1, 2, 0, "sse3"),
    (1, 2, 9, "ssse3"),
    (1, 2, 12, "fma"),
    (1, 2, 13, "cx16"),
    (1, 2, 19, "sse4.1"),
    (1, 2, 20, "sse4.2"),
    (1, 2, 21, "x2apic"),
    (1, 2, 22, "movbe"),
    (1, 2, 23, "popcnt"),
    (1, 2, 24, "tsc-deadline"),
    (1, 2, 25, "aes"),
    (1, 2, 26, "xsave"),
    (1, 2, 28, "avx"),
    (1, 2, 29, "f16c"),
    (1, 2, 30, "rdrand"),
    (1, 2, 31, "hypervisor"),
    (7, 1, 0, "fsgsbase"),
    (7, 1, 3, "bmi1"),
    (7, 1, 5, "avx2"),
    (7, 1, 7, "smep"),
    (7, 1, 8, "bmi2"),
    (7, 1, 18, "rdseed"),
    (7, 1, 20, "smap"),
    (0x8000_0001, 3, 11, "syscall"),
    (0x8000_0001, 3, 20, "nx"),
    (0x8000_0001, 3, 26, "pdpe1gb"),
    (0x8000_0001, 3, 27, "rdtscp"),
    (0x8000_0001, 3, 29, "lm"),
    (0x8000_0001, 2, 0, "lahf-lm"),
    (0x8000_0001, 2, 2, "svm"),
    (0x8000_0001, 2, 5, "abm"),
    (0x8000_0007, 3, 8, "invariant-tsc"),
];

fn regs_to_string(regs: &[u32]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).filter(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).trim().into()
}

pub fn info() -> CpuInfo {
    let [max_leaf, b, c, d] = cpuid(0, 0);
    let vendor = regs_to_string(&[b, d, c]);
    let [signature, _, _, _] = cpuid(1, 0);
    let base_family = (signature >> 8) & 0xF;
    let family = if base_family == 0xF { base_family + ((signature >> 20) & 0xFF) } else { base_family };
    let model = if base_family >= 6 {
        ((signature >> 4) & 0xF) | (((signature >> 16) & 0xF) << 4)
    } else {
        (signature >> 4) & 0xF
    };
    let max_extended = cpuid(0x8000_0000, 0)[0];
    let brand = if max_extended >= 0x8000_0004 {
        let mut regs = Vec::new();
        for leaf in 0x8000_0002..=0x8000_0004 {
            regs.extend_from_slice(&cpuid(leaf, 0));
        }
        regs_to_string(&regs)
    } else {
        String::from("(no brand string)")
    };
    let leaf_available =
        |leaf: u32| if leaf >= 0x8000_0000 { leaf <= max_extended } else { leaf <= max_leaf };
    let features: Vec<&'static str> = FEATURE_BITS
        .iter()
        .filter(|(leaf, reg, bit, _)| leaf_available(*leaf) && cpuid(*leaf, 0)[*reg] & (1 << bit) != 0)
        .map(|(_, _, _, name)| *name)
        .collect();
    let has_svm = features.contains(&"svm");
    let has_npt = has_svm && max_extended >= 0x8000_000A && cpuid(0x8000_000A, 0)[3] & 1 != 0;
    CpuInfo { vendor, brand, family, model, stepping: signature & 0xF, features, has_svm, has_npt }
}
