//! The host-testable half of the RayOS hypervisor.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpuid;
pub mod decode;
pub mod devices;
pub mod machine;
pub mod memory;
pub mod time;
