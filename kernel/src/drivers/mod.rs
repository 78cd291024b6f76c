//! Device drivers. Register access (ports, MMIO) is the only unsafe code here.

pub mod acpi;
pub mod fbcon;
pub mod keyboard;
pub mod pci;
pub mod serial;
