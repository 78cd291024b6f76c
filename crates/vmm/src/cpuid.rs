//! The guest CPUID policy: a pure function of (leaf, subleaf, host CPUID).
//!
//! The rule is an allow-list: a host feature bit reaches the guest only if the VMM either
//! emulates it or the hardware runs it inside SVM without help; a few bits are forced on
//! because the VMM emulates them (x2APIC, TSC-deadline, APIC, MTRR, PAT, hypervisor). See the
//! crate header for the reasons behind each choice.

/// The four CPUID output registers.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// Highest basic leaf the guest sees.
pub const MAX_BASIC_LEAF: u32 = 0xD;
/// Highest extended leaf the guest sees (capped by the host's).
pub const MAX_EXTENDED_LEAF: u32 = 0x8000_0008;
/// Base of the hypervisor leaves.
pub const HYPERVISOR_BASE_LEAF: u32 = 0x4000_0000;

/// "KVMKVMKVM\0\0\0" in EBX, ECX, EDX.
pub const KVM_SIGNATURE: [u32; 3] = [0x4B4D_564B, 0x564B_4D56, 0x0000_004D];
/// KVM_FEATURE_NOP_IO_DELAY: the emulated devices need no port-0x80 delays, so Linux skips
/// them (each would be an exit).
pub const KVM_FEATURE_NOP_IO_DELAY: u32 = 1 << 1;
/// KVM_FEATURE_CLOCKSOURCE2: kvmclock at MSRs 0x4b564d00/01.
pub const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
/// KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: the kvmclock's TSC is stable.
pub const KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: u32 = 1 << 24;
/// Everything CPUID 0x40000001 EAX advertises.
pub const KVM_FEATURES: u32 =
    KVM_FEATURE_NOP_IO_DELAY | KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;

/// Leaf 1 ECX bits.
pub mod leaf1_ecx {
    #![allow(missing_docs)]
    pub const SSE3: u32 = 1 << 0;
    pub const PCLMULQDQ: u32 = 1 << 1;
    pub const MONITOR: u32 = 1 << 3;
    pub const VMX: u32 = 1 << 5;
    pub const SSSE3: u32 = 1 << 9;
    pub const FMA: u32 = 1 << 12;
    pub const CX16: u32 = 1 << 13;
    pub const PCID: u32 = 1 << 17;
    pub const SSE4_1: u32 = 1 << 19;
    pub const SSE4_2: u32 = 1 << 20;
    pub const X2APIC: u32 = 1 << 21;
    pub const MOVBE: u32 = 1 << 22;
    pub const POPCNT: u32 = 1 << 23;
    pub const TSC_DEADLINE: u32 = 1 << 24;
    pub const AES: u32 = 1 << 25;
    pub const XSAVE: u32 = 1 << 26;
    pub const OSXSAVE: u32 = 1 << 27;
    pub const AVX: u32 = 1 << 28;
    pub const F16C: u32 = 1 << 29;
    pub const RDRAND: u32 = 1 << 30;
    pub const HYPERVISOR: u32 = 1 << 31;
}

/// Leaf 1 EDX bits.
pub mod leaf1_edx {
    #![allow(missing_docs)]
    pub const FPU: u32 = 1 << 0;
    pub const VME: u32 = 1 << 1;
    pub const DE: u32 = 1 << 2;
    pub const PSE: u32 = 1 << 3;
    pub const TSC: u32 = 1 << 4;
    pub const MSR: u32 = 1 << 5;
    pub const PAE: u32 = 1 << 6;
    pub const MCE: u32 = 1 << 7;
    pub const CX8: u32 = 1 << 8;
    pub const APIC: u32 = 1 << 9;
    pub const SEP: u32 = 1 << 11;
    pub const MTRR: u32 = 1 << 12;
    pub const PGE: u32 = 1 << 13;
    pub const MCA: u32 = 1 << 14;
    pub const CMOV: u32 = 1 << 15;
    pub const PAT: u32 = 1 << 16;
    pub const PSE36: u32 = 1 << 17;
    pub const CLFSH: u32 = 1 << 19;
    pub const MMX: u32 = 1 << 23;
    pub const FXSR: u32 = 1 << 24;
    pub const SSE: u32 = 1 << 25;
    pub const SSE2: u32 = 1 << 26;
    pub const HTT: u32 = 1 << 28;
}

/// Leaf 0x80000001 bits.
pub mod ext1 {
    #![allow(missing_docs)]
    pub const ECX_LAHF: u32 = 1 << 0;
    pub const ECX_SVM: u32 = 1 << 2;
    pub const ECX_ABM: u32 = 1 << 5;
    pub const ECX_SSE4A: u32 = 1 << 6;
    pub const ECX_MISALIGN_SSE: u32 = 1 << 7;
    pub const ECX_PREFETCHW: u32 = 1 << 8;
    pub const EDX_SYSCALL: u32 = 1 << 11;
    pub const EDX_NX: u32 = 1 << 20;
    pub const EDX_MMXEXT: u32 = 1 << 22;
    pub const EDX_PAGE1GB: u32 = 1 << 26;
    pub const EDX_RDTSCP: u32 = 1 << 27;
    pub const EDX_LM: u32 = 1 << 29;
}

use leaf1_ecx as c1;
use leaf1_edx as d1;

const LEAF1_ECX_FROM_HOST: u32 = c1::SSE3
    | c1::PCLMULQDQ
    | c1::SSSE3
    | c1::CX16
    | c1::SSE4_1
    | c1::SSE4_2
    | c1::MOVBE
    | c1::POPCNT
    | c1::AES
    | c1::RDRAND;
const LEAF1_ECX_FORCED: u32 = c1::X2APIC | c1::TSC_DEADLINE | c1::HYPERVISOR;
const LEAF1_EDX_FROM_HOST: u32 = d1::FPU
    | d1::VME
    | d1::DE
    | d1::PSE
    | d1::TSC
    | d1::MSR
    | d1::PAE
    | d1::CX8
    | d1::SEP
    | d1::PGE
    | d1::CMOV
    | d1::PSE36
    | d1::CLFSH
    | d1::MMX
    | d1::FXSR
    | d1::SSE
    | d1::SSE2;
const LEAF1_EDX_FORCED: u32 = d1::APIC | d1::MTRR | d1::PAT;

/// Leaf 7 subleaf 0 EBX: FSGSBASE, BMI1, SMEP, BMI2, ERMS, RDSEED, ADX, SMAP, CLFLUSHOPT, CLWB, SHA.
const LEAF7_EBX_FROM_HOST: u32 = (1 << 0)
    | (1 << 3)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 18)
    | (1 << 19)
    | (1 << 20)
    | (1 << 23)
    | (1 << 24)
    | (1 << 29);

const EXT1_ECX_FROM_HOST: u32 =
    ext1::ECX_LAHF | ext1::ECX_ABM | ext1::ECX_SSE4A | ext1::ECX_MISALIGN_SSE | ext1::ECX_PREFETCHW;
/// AMD mirrors leaf-1 EDX bits 0-9, 12-17, 23, 24 in 0x80000001 EDX.
const EXT1_EDX_MIRRORED: u32 = 0x0183_F3FF;
const EXT1_EDX_FROM_HOST: u32 = (LEAF1_EDX_FROM_HOST & EXT1_EDX_MIRRORED)
    | ext1::EDX_SYSCALL
    | ext1::EDX_NX
    | ext1::EDX_MMXEXT
    | ext1::EDX_PAGE1GB
    | ext1::EDX_LM;
const EXT1_EDX_FORCED: u32 = (LEAF1_EDX_FORCED & EXT1_EDX_MIRRORED) | d1::APIC;

/// 0x80000007 EDX bit 8: invariant TSC.
const EXT7_EDX_INVARIANT_TSC: u32 = 1 << 8;

/// The guest's view of CPUID `leaf`/`subleaf`. `host` executes CPUID on the host.
pub fn guest_cpuid(leaf: u32, subleaf: u32, host: &dyn Fn(u32, u32) -> CpuidResult) -> CpuidResult {
    let zero = CpuidResult::default();
    match leaf {
        0 => {
            let h = host(0, 0);
            CpuidResult { eax: MAX_BASIC_LEAF, ..h }
        }
        1 => {
            let h = host(1, 0);
            CpuidResult {
                eax: h.eax,
                // Keep the CLFLUSH line size; APIC ID 0, one logical processor, no brand index.
                ebx: h.ebx & 0x0000_FF00,
                ecx: (h.ecx & LEAF1_ECX_FROM_HOST) | LEAF1_ECX_FORCED,
                edx: (h.edx & LEAF1_EDX_FROM_HOST) | LEAF1_EDX_FORCED,
            }
        }
        // ARAT: the emulated LAPIC timer keeps running in every C-state.
        6 => CpuidResult { eax: 1 << 2, ..zero },
        7 if subleaf == 0 => {
            let host_max = host(0, 0).eax;
            if host_max < 7 {
                return zero;
            }
            let h = host(7, 0);
            CpuidResult { eax: 0, ebx: h.ebx & LEAF7_EBX_FROM_HOST, ecx: 0, edx: 0 }
        }
        0xB => match subleaf {
            // One thread in one core: x2APIC ID 0, shift 0.
            0 => CpuidResult { eax: 0, ebx: 1, ecx: 1 << 8, edx: 0 },
            1 => CpuidResult { eax: 0, ebx: 1, ecx: (2 << 8) | 1, edx: 0 },
            _ => CpuidResult { eax: 0, ebx: 0, ecx: subleaf & 0xFF, edx: 0 },
        },
        HYPERVISOR_BASE_LEAF => CpuidResult {
            eax: HYPERVISOR_BASE_LEAF + 1,
            ebx: KVM_SIGNATURE[0],
            ecx: KVM_SIGNATURE[1],
            edx: KVM_SIGNATURE[2],
        },
        0x4000_0001 => CpuidResult { eax: KVM_FEATURES, ebx: 0, ecx: 0, edx: 0 },
        0x8000_0000 => {
            let h = host(0x8000_0000, 0);
            CpuidResult { eax: h.eax.clamp(0x8000_0000, MAX_EXTENDED_LEAF), ..h }
        }
        0x8000_0001..=MAX_EXTENDED_LEAF => {
            if host(0x8000_0000, 0).eax < leaf {
                return zero;
            }
            let h = host(leaf, 0);
            match leaf {
                0x8000_0001 => CpuidResult {
                    eax: h.eax,
                    ebx: 0,
                    ecx: h.ecx & EXT1_ECX_FROM_HOST,
                    edx: (h.edx & EXT1_EDX_FROM_HOST) | EXT1_EDX_FORCED,
                },
                // Brand string and cache descriptions are informational.
                0x8000_0002..=0x8000_0006 => h,
                0x8000_0007 => CpuidResult { edx: h.edx & EXT7_EDX_INVARIANT_TSC, ..zero },
                // Physical/linear address widths from the host; one core, no speculation controls.
                _ => CpuidResult { eax: h.eax & 0xFFFF, ..zero },
            }
        }
        _ => zero,
    }
}

/// The guest's MAXPHYADDR, as the policy reports it in leaf 0x80000008.
pub fn guest_phys_addr_bits(host: &dyn Fn(u32, u32) -> CpuidResult) -> u8 {
    let bits = (guest_cpuid(0x8000_0008, 0, host).eax & 0xFF) as u8;
    // A host without leaf 0x80000008 has 36-bit physical addresses.
    if bits == 0 {
        36
    } else {
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn everything(leaf: u32, _subleaf: u32) -> CpuidResult {
        match leaf {
            0 => CpuidResult { eax: 0x10, ebx: 0x6874_7541, ecx: 0x444D_4163, edx: 0x6974_6E65 },
            0x8000_0000 => CpuidResult { eax: 0x8000_0021, ebx: 0, ecx: 0, edx: 0 },
            0x8000_0008 => CpuidResult { eax: 0x3028, ebx: u32::MAX, ecx: 0xFF, edx: u32::MAX },
            _ => CpuidResult { eax: u32::MAX, ebx: u32::MAX, ecx: u32::MAX, edx: u32::MAX },
        }
    }

    #[test]
    fn advertises_what_linux_needs_and_hides_the_rest() {
        let l1 = guest_cpuid(1, 0, &everything);
        assert_ne!(l1.ecx & c1::HYPERVISOR, 0);
        assert_ne!(l1.ecx & c1::X2APIC, 0);
        assert_ne!(l1.ecx & c1::TSC_DEADLINE, 0);
        for hidden in [c1::VMX, c1::XSAVE, c1::OSXSAVE, c1::AVX, c1::FMA, c1::F16C, c1::MONITOR, c1::PCID] {
            assert_eq!(l1.ecx & hidden, 0, "{hidden:#x}");
        }
        for hidden in [d1::MCE, d1::MCA, d1::HTT] {
            assert_eq!(l1.edx & hidden, 0, "{hidden:#x}");
        }
        assert_eq!(l1.ebx >> 24, 0, "APIC ID 0");
        let e1 = guest_cpuid(0x8000_0001, 0, &everything);
        assert_eq!(e1.ecx & ext1::ECX_SVM, 0);
        assert_eq!(e1.edx & ext1::EDX_RDTSCP, 0);
        assert_ne!(e1.edx & ext1::EDX_LM, 0);
        let l7 = guest_cpuid(7, 0, &everything);
        assert_eq!(l7.ebx & (1 << 5), 0, "AVX2 hidden");
        assert_eq!(l7.ecx, 0);
        assert_eq!(l7.edx, 0);
        assert_eq!(guest_cpuid(0xD, 0, &everything), CpuidResult::default());
    }

    #[test]
    fn vendor_and_limits() {
        let l0 = guest_cpuid(0, 0, &everything);
        assert_eq!(l0.eax, MAX_BASIC_LEAF);
        assert_eq!((l0.ebx, l0.edx, l0.ecx), (0x6874_7541, 0x6974_6E65, 0x444D_4163));
        assert_eq!(guest_cpuid(0x8000_0000, 0, &everything).eax, MAX_EXTENDED_LEAF);
        assert_eq!(guest_cpuid(0x8000_000A, 0, &everything), CpuidResult::default());
        assert_eq!(
            guest_cpuid(0x8000_0008, 0, &everything),
            CpuidResult { eax: 0x3028, ..Default::default() }
        );
        assert_eq!(guest_phys_addr_bits(&everything), 0x28);
    }

    #[test]
    fn kvm_leaves() {
        let base = guest_cpuid(HYPERVISOR_BASE_LEAF, 0, &everything);
        let mut sig = [0u8; 12];
        sig[..4].copy_from_slice(&base.ebx.to_le_bytes());
        sig[4..8].copy_from_slice(&base.ecx.to_le_bytes());
        sig[8..].copy_from_slice(&base.edx.to_le_bytes());
        assert_eq!(&sig, b"KVMKVMKVM\0\0\0");
        assert_eq!(base.eax, 0x4000_0001);
        let features = guest_cpuid(0x4000_0001, 0, &everything);
        assert_eq!(features.eax, (1 << 1) | (1 << 3) | (1 << 24));
        assert_eq!(guest_cpuid(0x4000_0100, 0, &everything), CpuidResult::default());
    }

    #[test]
    fn host_without_extended_leaves() {
        let old = |leaf: u32, _| match leaf {
            0 => CpuidResult { eax: 1, ..Default::default() },
            0x8000_0000 => CpuidResult { eax: 0x8000_0001, ..Default::default() },
            _ => CpuidResult { eax: u32::MAX, ebx: u32::MAX, ecx: u32::MAX, edx: u32::MAX },
        };
        assert_eq!(guest_cpuid(7, 0, &old), CpuidResult::default());
        assert_eq!(guest_cpuid(0x8000_0008, 0, &old), CpuidResult::default());
        assert_eq!(guest_phys_addr_bits(&old), 36);
    }

    proptest! {
        #[test]
        fn guest_bits_are_allowed_or_forced(values in proptest::array::uniform4(any::<u32>()), leaf in any::<u32>(), subleaf in any::<u32>()) {
            let host = |l: u32, _s: u32| {
                let [a, b, c, d] = values;
                CpuidResult { eax: a ^ l, ebx: b, ecx: c, edx: d }
            };
            let g1 = guest_cpuid(1, subleaf, &host);
            prop_assert_eq!(g1.ecx & !(LEAF1_ECX_FROM_HOST | LEAF1_ECX_FORCED), 0);
            prop_assert_eq!(g1.edx & !(LEAF1_EDX_FROM_HOST | LEAF1_EDX_FORCED), 0);
            let g = guest_cpuid(0x8000_0001, subleaf, &host);
            prop_assert_eq!(g.ecx & ext1::ECX_SVM, 0);
            let _ = guest_cpuid(leaf, subleaf, &host);
        }
    }
}
