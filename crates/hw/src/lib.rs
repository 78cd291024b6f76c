//! Decoding of data that hardware and firmware hand to the kernel, kept free of I/O so it
//! can be tested on the host: the ACPI `\_S5` sleep-type package from AML bytes, the CMOS
//! real-time clock's registers, and names for PCI classes and common devices.
//!
//! # Invariants
//! - Every function accepts arbitrary bytes or values and returns `None`/a fallback instead of
//!   panicking: firmware tables and device registers are not trusted.
#![no_std]
#![forbid(unsafe_code)]

pub mod acpi_sleep;
pub mod pci_names;
pub mod rtc;
