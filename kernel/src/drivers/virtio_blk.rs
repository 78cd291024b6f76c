//! virtio-blk over PCI (virtio 1.x), polled.
//!
//! Why polled: one request is in flight at a time and completes in microseconds to a few
//! milliseconds, so an interrupt would save little; and the crash path must write to the disk
//! with interrupts off from a broken kernel, which a polled driver does with the same code. While
//! it waits, a thread with interrupts enabled yields the CPU between polls, so other threads
//! (the shell) keep running.
//!
//! Queue bookkeeping and validation of what the device reports live in `rayos_virtio`; this file
//! is register access and DMA memory.

use alloc::string::String;

use rayos_block::{BlockDevice, BlockError, SECTOR_BYTES};
use rayos_virtio::queue::{Buffer, SplitQueue};
use rayos_virtio::{blk, common, features, pci as vpci, status, DmaRegion};

use super::pci::{self, PciFunction};
use crate::{arch, mm, time};

/// Entries in the request queue (each request uses three).
const QUEUE_SIZE: u16 = 16;
/// Largest transfer per request; larger ones are split.
pub const MAX_TRANSFER_BYTES: usize = 128 * 1024;
/// A request the device has not completed by then is reported as failed.
const REQUEST_TIMEOUT_NS: u64 = 10_000_000_000;
/// How long a device may take to reset.
const RESET_TIMEOUT_NS: u64 = 1_000_000_000;

/// Physically contiguous memory shared with the device, accessed with volatile operations.
pub struct DmaMemory {
    phys: u64,
    virt: u64,
    len: usize,
    /// The frames, when [`DmaMemory::allocate`] took them (freed on drop); `None` for memory
    /// wrapped by [`DmaMemory::from_raw`].
    _frames: Option<mm::PhysicalRun>,
}

impl DmaMemory {
    /// Takes `len` bytes of zeroed contiguous frames.
    pub fn allocate(len: usize) -> Option<DmaMemory> {
        let bytes = len.div_ceil(4096) as u64 * 4096;
        let frames = mm::PhysicalRun::allocate_zeroed(bytes, 4096)?;
        Some(DmaMemory {
            phys: frames.phys(),
            virt: frames.virt(),
            len: bytes as usize,
            _frames: Some(frames),
        })
    }

    /// Wraps memory reserved elsewhere (the crash path's static buffers).
    ///
    /// # Safety
    /// `[virt, virt+len)` must be mapped, physically contiguous at `phys`, and used by nobody
    /// else while this value lives.
    pub unsafe fn from_raw(phys: u64, virt: u64, len: usize) -> DmaMemory {
        DmaMemory { phys, virt, len, _frames: None }
    }

    /// Keeps the memory reserved for good (for the crash path, which wraps it again with
    /// [`DmaMemory::from_raw`]); returns its physical and virtual addresses.
    pub fn keep_forever(self) -> (u64, u64) {
        let addresses = (self.phys, self.virt);
        core::mem::forget(self);
        addresses
    }

    fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        assert!(offset + len <= self.len);
        // SAFETY: inside the region (checked); callers touch it only while no request using
        // this range is in flight.
        unsafe { core::slice::from_raw_parts_mut((self.virt as usize + offset) as *mut u8, len) }
    }
}

impl DmaRegion for DmaMemory {
    fn phys(&self) -> u64 {
        self.phys
    }
    fn len(&self) -> usize {
        self.len
    }
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len);
        for (i, &b) in bytes.iter().enumerate() {
            // SAFETY: inside the region (checked above).
            unsafe { core::ptr::write_volatile((self.virt as usize + offset + i) as *mut u8, b) };
        }
    }
    fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.len);
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: inside the region (checked above).
            *b = unsafe { core::ptr::read_volatile((self.virt as usize + offset + i) as *const u8) };
        }
    }
    fn write_u16(&mut self, offset: usize, value: u16) {
        assert!(offset.is_multiple_of(2) && offset + 2 <= self.len);
        // SAFETY: aligned and inside the region (checked above): one store the device sees whole.
        unsafe { core::ptr::write_volatile((self.virt as usize + offset) as *mut u16, value.to_le()) };
    }
    fn read_u16(&self, offset: usize) -> u16 {
        assert!(offset.is_multiple_of(2) && offset + 2 <= self.len);
        // SAFETY: as in write_u16: one load.
        u16::from_le(unsafe { core::ptr::read_volatile((self.virt as usize + offset) as *const u16) })
    }
    fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len);
        // SAFETY: as in write_u16: one load.
        u32::from_le(unsafe { core::ptr::read_volatile((self.virt as usize + offset) as *const u32) })
    }
}

/// Where the device's register structures are mapped.
#[derive(Debug, Clone, Copy)]
pub struct Registers {
    common: u64,
    notify: u64,
    device: u64,
}

impl Registers {
    fn read8(&self, offset: usize) -> u8 {
        // SAFETY: `common` maps the common configuration structure (at least common::LEN bytes).
        unsafe { core::ptr::read_volatile((self.common as usize + offset) as *const u8) }
    }
    fn write8(&self, offset: usize, value: u8) {
        // SAFETY: as in read8.
        unsafe { core::ptr::write_volatile((self.common as usize + offset) as *mut u8, value) }
    }
    fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as in read8.
        unsafe { core::ptr::read_volatile((self.common as usize + offset) as *const u16) }
    }
    fn write16(&self, offset: usize, value: u16) {
        // SAFETY: as in read8.
        unsafe { core::ptr::write_volatile((self.common as usize + offset) as *mut u16, value) }
    }
    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as in read8.
        unsafe { core::ptr::read_volatile((self.common as usize + offset) as *const u32) }
    }
    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as in read8.
        unsafe { core::ptr::write_volatile((self.common as usize + offset) as *mut u32, value) }
    }
    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
    fn device_read32(&self, offset: usize) -> u32 {
        // SAFETY: `device` maps the device configuration structure (checked to be present).
        unsafe { core::ptr::read_volatile((self.device as usize + offset) as *const u32) }
    }
    fn notify(&self, queue: u16) {
        // SAFETY: `notify` is this queue's notification address inside the mapped structure.
        unsafe { core::ptr::write_volatile(self.notify as *mut u16, queue) }
    }
}

#[derive(Debug)]
pub enum ProbeError {
    Capabilities(vpci::CapError),
    Bar(u8),
    Map,
    NoMemory,
    Reset,
    Features(&'static str),
    Queue(&'static str),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Capabilities(e) => write!(f, "{e}"),
            Self::Bar(b) => write!(f, "BAR {b} is not a usable memory BAR"),
            Self::Map => f.write_str("cannot map the device registers"),
            Self::NoMemory => f.write_str("no memory for the queue"),
            Self::Reset => f.write_str("the device did not reset"),
            Self::Features(why) => write!(f, "feature negotiation failed: {why}"),
            Self::Queue(why) => write!(f, "queue setup failed: {why}"),
        }
    }
}

/// How to wait for a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Yield the CPU between polls when interrupts are on.
    Cooperative,
    /// Spin (the crash path: nothing else may run).
    Spin,
}

/// One virtio-blk device.
pub struct VirtioBlk {
    registers: Registers,
    queue: SplitQueue,
    queue_memory: DmaMemory,
    /// Request header at 0, status byte at 16, data from 512.
    scratch: DmaMemory,
    pub capacity_sectors: u64,
    pub read_only: bool,
    pub has_flush: bool,
    waiting: Waiting,
    /// The device failed to reset after a request went wrong: it is not used again.
    stopped: bool,
}

const SCRATCH_DATA_OFFSET: usize = 512;
/// Bytes of DMA memory a device needs besides its queue page.
pub const SCRATCH_BYTES: usize = SCRATCH_DATA_OFFSET + MAX_TRANSFER_BYTES;
/// Memory for the request queue's rings (a queue of [`QUEUE_SIZE`] fits one page).
pub const QUEUE_BYTES: usize = 4096;

/// Maps the register structures of a virtio PCI function.
pub fn map_registers(function: &PciFunction) -> Result<Registers, ProbeError> {
    let caps = vpci::parse_capabilities(|offset| {
        pci::read_config_u32(function.bus, function.device, function.function, offset).unwrap_or(u32::MAX)
    })
    .map_err(ProbeError::Capabilities)?;
    let map = |region: vpci::Region| -> Result<u64, ProbeError> {
        let base = pci::bar_address(function, region.bar).ok_or(ProbeError::Bar(region.bar))?;
        mm::map::map_mmio(base + region.offset as u64, region.len.max(4) as u64).map_err(|_| ProbeError::Map)
    };
    let device =
        caps.device.ok_or(ProbeError::Capabilities(vpci::CapError::Missing("device configuration")))?;
    let registers = Registers { common: map(caps.common)?, notify: map(caps.notify)?, device: map(device)? };
    // The device must reach our queue.
    pci::enable_memory_and_dma(function);
    // Queue 0's notification address; the structure is mapped from its start.
    let notify_offset = {
        registers.write16(common::QUEUE_SELECT, 0);
        registers.read16(common::QUEUE_NOTIFY_OFF) as u64 * caps.notify_multiplier as u64
    };
    // The offset comes from the device: a notification must land inside the mapped structure.
    if notify_offset + 2 > caps.notify.len.max(4) as u64 {
        return Err(ProbeError::Queue("the queue's notification address is outside the notify structure"));
    }
    Ok(Registers { notify: registers.notify + notify_offset, ..registers })
}

impl VirtioBlk {
    /// The device's register windows, for the crash path's own polled driver instance.
    pub fn registers(&self) -> Registers {
        self.registers
    }

    /// Resets the device and brings it up with fresh queue state in the given memory.
    pub fn initialise(
        registers: Registers,
        mut queue_memory: DmaMemory,
        scratch: DmaMemory,
        waiting: Waiting,
    ) -> Result<VirtioBlk, ProbeError> {
        let started = start(registers, &mut queue_memory)?;
        Ok(VirtioBlk {
            registers,
            queue: started.queue,
            queue_memory,
            scratch,
            capacity_sectors: started.capacity_sectors,
            read_only: started.accepted & blk::features::READ_ONLY != 0,
            has_flush: started.accepted & blk::features::FLUSH != 0,
            waiting,
            stopped: false,
        })
    }

    /// After a request went wrong (timeout, a completion for another chain), the device may
    /// still own the old chain and DMA into the scratch area later. A reset takes every buffer
    /// back from it; only then may the queue and scratch memory be used again. A device that
    /// does not reset is given up: no later request touches the memory it may still write.
    fn recover(&mut self) {
        match start(self.registers, &mut self.queue_memory) {
            Ok(started) if started.capacity_sectors == self.capacity_sectors => self.queue = started.queue,
            Ok(_) | Err(_) => {
                self.registers.write8(common::DEVICE_STATUS, status::FAILED);
                self.stopped = true;
            }
        }
    }

    /// Runs one request and waits for it. `data_len` bytes of the scratch data area are sent
    /// (write) or received (read, get-id).
    fn request(
        &mut self,
        kind: u32,
        sector: u64,
        data_len: usize,
        device_writes_data: bool,
    ) -> Result<(), BlockError> {
        let lba = sector;
        let io_error = |reason| BlockError::Io { lba, reason };
        if self.stopped {
            return Err(io_error("the device stopped answering and did not reset"));
        }
        self.scratch.write(0, &blk::request_header(kind, sector));
        self.scratch.write(16, &[0xFF]);
        let base = self.scratch.phys();
        let header = Buffer { phys: base, len: 16, device_writes: false };
        let data = Buffer {
            phys: base + SCRATCH_DATA_OFFSET as u64,
            len: data_len as u32,
            device_writes: device_writes_data,
        };
        let status_byte = Buffer { phys: base + 16, len: 1, device_writes: true };
        let chain: &[Buffer] =
            if data_len == 0 { &[header, status_byte] } else { &[header, data, status_byte] };
        let head = self
            .queue
            .submit(&mut self.queue_memory, chain)
            .map_err(|_| io_error("the request queue is full"))?;
        self.registers.notify(0);
        let deadline = time::now_ns() + REQUEST_TIMEOUT_NS;
        let mut polls = 0u32;
        loop {
            let failure = match self.queue.poll(&self.queue_memory) {
                Some(Ok(done)) if done.head == head => break,
                Some(Ok(_)) => Some("the device completed a request we were not waiting for"),
                Some(Err(_)) => Some("the device reported an invalid completion"),
                None => None,
            };
            polls += 1;
            let failure = failure.or_else(|| {
                (polls.is_multiple_of(1024) && time::now_ns() > deadline)
                    .then_some("the device did not complete the request within 10 s")
            });
            if let Some(reason) = failure {
                self.recover();
                return Err(io_error(reason));
            }
            if self.waiting == Waiting::Cooperative && polls.is_multiple_of(64) && arch::interrupts_enabled()
            {
                crate::task::yield_now();
            } else {
                core::hint::spin_loop();
            }
        }
        let mut status = [0u8; 1];
        self.scratch.read(16, &mut status);
        match status[0] {
            blk::STATUS_OK => Ok(()),
            other => Err(io_error(blk::status_message(other))),
        }
    }

    /// The device's serial number, if it has one.
    pub fn serial(&mut self) -> Option<String> {
        self.request(blk::REQUEST_GET_ID, 0, blk::ID_BYTES, true).ok()?;
        let mut raw = [0u8; blk::ID_BYTES];
        self.scratch.read(SCRATCH_DATA_OFFSET, &mut raw);
        blk::parse_id(&raw).map(String::from)
    }
}

impl BlockDevice for VirtioBlk {
    fn sector_count(&self) -> u64 {
        self.capacity_sectors
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        rayos_block::check_request(lba, buf.len(), self.capacity_sectors)?;
        for (i, chunk) in buf.chunks_mut(MAX_TRANSFER_BYTES).enumerate() {
            let sector = lba + (i * MAX_TRANSFER_BYTES / SECTOR_BYTES) as u64;
            self.request(blk::REQUEST_READ, sector, chunk.len(), true)?;
            chunk.copy_from_slice(self.scratch.bytes_mut(SCRATCH_DATA_OFFSET, chunk.len()));
        }
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        rayos_block::check_request(lba, buf.len(), self.capacity_sectors)?;
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        for (i, chunk) in buf.chunks(MAX_TRANSFER_BYTES).enumerate() {
            let sector = lba + (i * MAX_TRANSFER_BYTES / SECTOR_BYTES) as u64;
            self.scratch.bytes_mut(SCRATCH_DATA_OFFSET, chunk.len()).copy_from_slice(chunk);
            self.request(blk::REQUEST_WRITE, sector, chunk.len(), false)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.has_flush {
            self.request(blk::REQUEST_FLUSH, 0, 0, false)
        } else {
            // Without the flush feature the device writes through: every completed write is
            // already durable.
            Ok(())
        }
    }
}

/// What [`start`] brought up.
struct Started {
    queue: SplitQueue,
    accepted: u64,
    capacity_sectors: u64,
}

/// Resets the device and runs the virtio initialisation sequence with a fresh queue in
/// `queue_memory`.
fn start(registers: Registers, queue_memory: &mut DmaMemory) -> Result<Started, ProbeError> {
    let r = registers;
    r.write8(common::DEVICE_STATUS, 0);
    let deadline = time::now_ns() + RESET_TIMEOUT_NS;
    while r.read8(common::DEVICE_STATUS) != 0 {
        if time::now_ns() > deadline {
            return Err(ProbeError::Reset);
        }
        core::hint::spin_loop();
    }
    r.write8(common::DEVICE_STATUS, status::ACKNOWLEDGE);
    r.write8(common::DEVICE_STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let mut offered = 0u64;
    for select in 0..2u32 {
        r.write32(common::DEVICE_FEATURE_SELECT, select);
        offered |= (r.read32(common::DEVICE_FEATURE) as u64) << (32 * select);
    }
    if offered & features::VERSION_1 == 0 {
        r.write8(common::DEVICE_STATUS, status::FAILED);
        return Err(ProbeError::Features("the device does not offer virtio 1.0"));
    }
    let wanted = features::VERSION_1 | blk::features::FLUSH | blk::features::READ_ONLY;
    let accepted = offered & wanted;
    for select in 0..2u32 {
        r.write32(common::DRIVER_FEATURE_SELECT, select);
        r.write32(common::DRIVER_FEATURE, (accepted >> (32 * select)) as u32);
    }
    let driver = status::ACKNOWLEDGE | status::DRIVER;
    r.write8(common::DEVICE_STATUS, driver | status::FEATURES_OK);
    if r.read8(common::DEVICE_STATUS) & status::FEATURES_OK == 0 {
        r.write8(common::DEVICE_STATUS, status::FAILED);
        return Err(ProbeError::Features("the device refused our features"));
    }

    r.write16(common::QUEUE_SELECT, 0);
    let max = r.read16(common::QUEUE_SIZE);
    if max == 0 {
        return Err(ProbeError::Queue("the device has no queue 0"));
    }
    let size = QUEUE_SIZE.min(max);
    let size = if size.is_power_of_two() { size } else { 1 << (15 - size.leading_zeros()) };
    let queue = SplitQueue::new(size, queue_memory).map_err(|_| ProbeError::Queue("bad queue memory"))?;
    let layout = queue.layout();
    r.write16(common::QUEUE_SIZE, size);
    r.write16(common::QUEUE_MSIX_VECTOR, 0xFFFF);
    r.write64(common::QUEUE_DESC, queue_memory.phys() + layout.descriptors as u64);
    r.write64(common::QUEUE_DRIVER, queue_memory.phys() + layout.available as u64);
    r.write64(common::QUEUE_DEVICE, queue_memory.phys() + layout.used as u64);
    r.write16(common::QUEUE_ENABLE, 1);
    r.write8(common::DEVICE_STATUS, driver | status::FEATURES_OK | status::DRIVER_OK);

    let capacity_sectors = r.device_read32(blk::config::CAPACITY) as u64
        | (r.device_read32(blk::config::CAPACITY + 4) as u64) << 32;
    Ok(Started { queue, accepted, capacity_sectors })
}

/// Whether a PCI function is a virtio block device this driver can drive.
pub fn is_virtio_blk(function: &PciFunction) -> bool {
    function.vendor_id == vpci::VENDOR_ID
        && (function.device_id == vpci::BLK_MODERN_ID || function.device_id == vpci::BLK_TRANSITIONAL_ID)
}
