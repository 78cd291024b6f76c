//! The block layer: the disks RayOS found, named `vda`, `vdb`, ... in PCI order, each behind
//! a lock, and their GPT partition tables (read and CRC-checked by `rayos_partition`).
//!
//! Other subsystems use a disk through [`DiskHandle`], a `rayos_block::BlockDevice`, narrowed
//! to a partition with `rayos_block::Partition`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use rayos_block::{BlockDevice, BlockError};
use rayos_partition::{Gpt, GptError};
use spin::Once;

use crate::drivers::pci::{self, PciFunction};
use crate::drivers::virtio_blk::{self, DmaMemory, Registers, VirtioBlk, Waiting, SCRATCH_BYTES};
use crate::sync::Mutex;

/// One disk.
pub struct Disk {
    pub name: String,
    pub model: &'static str,
    pub serial: Option<String>,
    pub capacity_bytes: u64,
    pub read_only: bool,
    pub pci: PciFunction,
    device: Mutex<VirtioBlk>,
}

impl Disk {
    /// Reads the GPT now (CRC-checked; a corrupt table is an error, never trusted).
    pub fn read_gpt(self: &Arc<Self>) -> Result<Gpt, GptError> {
        rayos_partition::read_gpt(&mut DiskHandle(Arc::clone(self)))
    }

    /// The device's register windows, for the crash path's own polled driver instance.
    pub fn registers(&self) -> Registers {
        self.device.lock().registers()
    }
}

static DISKS: Once<Vec<Arc<Disk>>> = Once::new();

/// Finds and starts every virtio-blk device.
pub fn init() -> usize {
    let mut disks = Vec::new();
    for function in pci::functions().iter().filter(|f| virtio_blk::is_virtio_blk(f)) {
        let name = alloc::format!("vd{}", (b'a' + disks.len() as u8) as char);
        match start(function) {
            Ok(mut device) => {
                let serial = device.serial();
                let disk = Disk {
                    capacity_bytes: device.capacity_sectors * rayos_block::SECTOR_BYTES as u64,
                    read_only: device.read_only,
                    name,
                    model: "virtio-blk",
                    serial,
                    pci: *function,
                    device: Mutex::new(device),
                };
                log::info!(target: "storage", "{}: {} bytes, {}", disk.name, disk.capacity_bytes, disk.model);
                crate::devices::register(
                    &disk.name,
                    alloc::format!("{} MiB virtio block device", disk.capacity_bytes >> 20),
                    Some("virtio-blk"),
                );
                disks.push(Arc::new(disk));
            }
            Err(error) => log::warn!(
                target: "storage",
                "virtio-blk at {:02x}:{:02x}.{} not usable: {error}",
                function.bus,
                function.device,
                function.function
            ),
        }
        if disks.len() == 26 {
            break;
        }
    }
    let count = disks.len();
    DISKS.call_once(|| disks);
    count
}

fn start(function: &PciFunction) -> Result<VirtioBlk, virtio_blk::ProbeError> {
    let registers = virtio_blk::map_registers(function)?;
    let queue = DmaMemory::allocate(virtio_blk::QUEUE_BYTES).ok_or(virtio_blk::ProbeError::NoMemory)?;
    let scratch = DmaMemory::allocate(SCRATCH_BYTES).ok_or(virtio_blk::ProbeError::NoMemory)?;
    VirtioBlk::initialise(registers, queue, scratch, Waiting::Cooperative)
}

/// Whether the disks have been probed (they are, shortly after boot, in their own thread).
pub fn is_ready() -> bool {
    DISKS.get().is_some()
}

pub fn disks() -> &'static [Arc<Disk>] {
    DISKS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// A disk as a `BlockDevice`: every call takes the disk's lock.
#[derive(Clone)]
pub struct DiskHandle(pub Arc<Disk>);

impl BlockDevice for DiskHandle {
    fn sector_count(&self) -> u64 {
        self.0.capacity_bytes / rayos_block::SECTOR_BYTES as u64
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.device.lock().read_sectors(lba, buf)
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.0.device.lock().write_sectors(lba, buf)
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.0.device.lock().flush()
    }
}
