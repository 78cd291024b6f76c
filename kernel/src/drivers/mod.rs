//! Device drivers. Register access (ports, MMIO) is the only unsafe code here.

pub mod acpi;
pub mod fbcon;
pub mod i6300esb;
pub mod keyboard;
pub mod pci;
pub mod pit;
pub mod serial;
pub mod virtio_blk;
