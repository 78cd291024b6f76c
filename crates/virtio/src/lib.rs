//! The driver side of virtio 1.x (modern, PCI transport), without any hardware access.
//!
//! - [`pci`]: finding the virtio structures (common, notify, ISR, device configuration) in a
//!   function's PCI capability list.
//! - [`queue`]: a split virtqueue kept in memory the caller provides through [`DmaRegion`];
//!   completions the device reports are checked before they are believed.
//! - [`blk`]: virtio-blk request headers, status codes and configuration fields.
//!
//! The kernel supplies a [`DmaRegion`] implementation that uses volatile accesses to device-
//! visible memory, and does the register accesses and notifications itself.
//!
//! Why our own and not the `virtio-drivers` crate: RayOS's crash path must write to the disk
//! from a broken kernel with no heap, no locks and interrupts off, re-initialising the device
//! into memory it reserved at boot. That needs queue state in fixed-size arrays
//! ([`queue::MAX_QUEUE_SIZE`]), caller-provided DMA memory and no global allocator hooks;
//! `virtio-drivers` allocates DMA through a global HAL and may allocate indirect descriptor
//! lists on the heap.
//!
//! # Invariants
//! - Nothing here allocates; every structure has a fixed size.
//! - A used-ring entry naming a descriptor that is not the head of an in-flight chain, or an
//!   index that moves by more than the queue size, is reported as [`queue::QueueError`] and
//!   changes no state.
#![no_std]
#![forbid(unsafe_code)]

pub mod blk;
pub mod pci;
pub mod queue;

/// Device-visible memory the driver shares with a device (the kernel's implementation uses
/// volatile accesses; tests use plain memory).
///
/// The device reads and writes this memory while the driver does (a real device, or QEMU's
/// I/O thread), so the ring indices and used-ring entries must be read and written in single,
/// naturally aligned accesses: [`DmaRegion::read_u16`], [`DmaRegion::read_u32`] and
/// [`DmaRegion::write_u16`] have no byte-wise default for that reason. A byte-wise index read
/// tears when the device moves it from 0x00FF to 0x0100 (the driver sees 0x01FF), and a
/// byte-wise index write lets the device see the index run backwards.
pub trait DmaRegion {
    /// Physical (bus) address of byte 0.
    fn phys(&self) -> u64;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn write(&mut self, offset: usize, bytes: &[u8]);
    fn read(&self, offset: usize, out: &mut [u8]);

    /// One 16-bit store at a 2-byte aligned `offset`.
    fn write_u16(&mut self, offset: usize, value: u16);
    /// One 16-bit load at a 2-byte aligned `offset`.
    fn read_u16(&self, offset: usize) -> u16;
    /// One 32-bit load at a 4-byte aligned `offset`.
    fn read_u32(&self, offset: usize) -> u32;
}

/// Device status bits.
pub mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FEATURES_OK: u8 = 8;
    pub const NEEDS_RESET: u8 = 64;
    pub const FAILED: u8 = 128;
}

/// Feature bits common to all devices.
pub mod features {
    pub const VERSION_1: u64 = 1 << 32;
}

/// Offsets in the common configuration structure.
pub mod common {
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub const DEVICE_FEATURE: usize = 0x04;
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub const DRIVER_FEATURE: usize = 0x0C;
    pub const NUM_QUEUES: usize = 0x12;
    pub const DEVICE_STATUS: usize = 0x14;
    pub const QUEUE_SELECT: usize = 0x16;
    pub const QUEUE_SIZE: usize = 0x18;
    pub const QUEUE_MSIX_VECTOR: usize = 0x1A;
    pub const QUEUE_ENABLE: usize = 0x1C;
    pub const QUEUE_NOTIFY_OFF: usize = 0x1E;
    pub const QUEUE_DESC: usize = 0x20;
    pub const QUEUE_DRIVER: usize = 0x28;
    pub const QUEUE_DEVICE: usize = 0x30;
    /// Size of the structure this driver needs.
    pub const LEN: u32 = 0x38;
}
