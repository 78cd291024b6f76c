//! The block-device seam of RayOS.
//!
//! Every subsystem that stores something (the GPT reader, the persistent log, the crash
//! recorder) talks to a disk through [`BlockDevice`]: whole 512-byte sectors addressed by
//! LBA, plus an explicit [`BlockDevice::flush`] that is the only durability promise. The
//! kernel implements the trait for its virtio-blk driver; [`Partition`] narrows a device to
//! one partition so that a bug above it cannot write outside that window; [`mem::MemDisk`]
//! is an in-memory device whose volatile write cache can lose, keep or tear any unflushed
//! write, so that crash safety can be tested on the host.
//!
//! This crate is not a driver, a cache or a scheduler: it has no queue, no retry and no
//! partial-sector access.
//!
//! # Invariants
//! - A request is a whole number of sectors ([`SECTOR_BYTES`]); a buffer of any other
//!   length is refused with [`BlockError::UnalignedBuffer`] before the device sees it.
//! - A request that reaches past the last sector is refused with
//!   [`BlockError::OutOfRange`]; nothing of it is transferred.
//! - After `flush()` returns `Ok`, every write that returned `Ok` before it is durable.
//!   Nothing is promised about a write that was not followed by a successful flush: it may
//!   be lost entirely, land entirely, or land in part (any subset of its sectors, and a
//!   sector may be torn), in any order relative to other unflushed writes.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod mem;

use core::fmt;

/// Bytes per sector. Every request is a whole number of sectors.
pub const SECTOR_BYTES: usize = 512;

/// Why a block request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// The buffer is not a whole number of sectors.
    UnalignedBuffer {
        /// Length of the buffer that was passed.
        len_bytes: usize,
    },
    /// The request reaches past the end of the device or partition.
    OutOfRange {
        /// First sector of the request.
        lba: u64,
        /// Sectors requested.
        sectors: u64,
        /// Sectors the device or partition has.
        device_sectors: u64,
    },
    /// The device reported a failure for this request.
    Io {
        /// First sector of the failed request (0 for a flush).
        lba: u64,
        /// What the device said, for people.
        reason: &'static str,
    },
    /// The device refuses writes.
    ReadOnly,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnalignedBuffer { len_bytes } => write!(
                f,
                "buffer of {len_bytes} bytes is not a whole number of {SECTOR_BYTES}-byte sectors \
                 (a bug in the caller)"
            ),
            Self::OutOfRange { lba, sectors, device_sectors } => write!(
                f,
                "request for {sectors} sectors at LBA {lba} reaches past the end of the device \
                 ({device_sectors} sectors); the partition table or the on-disk layout points \
                 outside the disk"
            ),
            Self::Io { lba, reason } => {
                write!(f, "device error at LBA {lba}: {reason}; the disk may be failing or detached")
            }
            Self::ReadOnly => f.write_str("the device is read-only; attach it writable to store data"),
        }
    }
}

impl core::error::Error for BlockError {}

/// A sector-addressed storage device.
///
/// Implementations must refuse (not truncate) requests that are unaligned or out of range;
/// [`check_request`] does both checks.
pub trait BlockDevice {
    /// Number of sectors on the device.
    fn sector_count(&self) -> u64;
    /// Reads `buf.len() / SECTOR_BYTES` sectors starting at `lba` into `buf`.
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buf` to the sectors starting at `lba`. Not durable until [`Self::flush`].
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Makes every write that returned `Ok` before this call durable.
    fn flush(&mut self) -> Result<(), BlockError>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    fn sector_count(&self) -> u64 {
        (**self).sector_count()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write_sectors(lba, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// Checks that a request of `len_bytes` at `lba` is whole sectors and fits a device of
/// `device_sectors`; returns the number of sectors.
pub fn check_request(lba: u64, len_bytes: usize, device_sectors: u64) -> Result<u64, BlockError> {
    if !len_bytes.is_multiple_of(SECTOR_BYTES) {
        return Err(BlockError::UnalignedBuffer { len_bytes });
    }
    let sectors = (len_bytes / SECTOR_BYTES) as u64;
    match lba.checked_add(sectors) {
        Some(end) if end <= device_sectors => Ok(sectors),
        _ => Err(BlockError::OutOfRange { lba, sectors, device_sectors }),
    }
}

/// A window `[first_lba, first_lba + sector_count)` of a device, addressed from 0.
///
/// Requests are checked against the window before they reach the device, so a wrong LBA
/// in a layer above can never touch a neighbouring partition.
#[derive(Debug)]
pub struct Partition<D> {
    device: D,
    first_lba: u64,
    sector_count: u64,
}

impl<D: BlockDevice> Partition<D> {
    /// Narrows `device` to `sector_count` sectors starting at `first_lba`.
    ///
    /// Fails with [`BlockError::OutOfRange`] when the window does not fit the device.
    pub fn new(device: D, first_lba: u64, sector_count: u64) -> Result<Self, BlockError> {
        let device_sectors = device.sector_count();
        match first_lba.checked_add(sector_count) {
            Some(end) if end <= device_sectors => Ok(Self { device, first_lba, sector_count }),
            _ => Err(BlockError::OutOfRange { lba: first_lba, sectors: sector_count, device_sectors }),
        }
    }

    /// The first sector of the window on the underlying device.
    pub fn first_lba(&self) -> u64 {
        self.first_lba
    }

    /// The underlying device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The underlying device, mutably (for requests outside the window).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Gives the underlying device back.
    pub fn into_device(self) -> D {
        self.device
    }
}

impl<D: BlockDevice> BlockDevice for Partition<D> {
    fn sector_count(&self) -> u64 {
        self.sector_count
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(lba, buf.len(), self.sector_count)?;
        self.device.read_sectors(self.first_lba + lba, buf)
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(lba, buf.len(), self.sector_count)?;
        self.device.write_sectors(self.first_lba + lba, buf)
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.device.flush()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::mem::MemDisk;
    use super::*;
    use alloc::vec;

    #[test]
    fn check_request_refuses_unaligned_and_out_of_range() {
        assert_eq!(check_request(0, 512, 1), Ok(1));
        assert_eq!(check_request(3, 1024, 5), Ok(2));
        assert_eq!(check_request(0, 0, 0), Ok(0));
        assert_eq!(check_request(0, 100, 8), Err(BlockError::UnalignedBuffer { len_bytes: 100 }));
        assert_eq!(
            check_request(4, 1024, 5),
            Err(BlockError::OutOfRange { lba: 4, sectors: 2, device_sectors: 5 })
        );
        assert!(matches!(check_request(u64::MAX, 512, u64::MAX), Err(BlockError::OutOfRange { .. })));
    }

    #[test]
    fn partition_translates_and_confines() {
        let mut disk = MemDisk::new(16);
        {
            let mut part = Partition::new(&mut disk, 4, 8).unwrap();
            assert_eq!(part.sector_count(), 8);
            part.write_sectors(0, &[0xAA; 512]).unwrap();
            part.write_sectors(7, &[0xBB; 512]).unwrap();
            assert!(matches!(part.write_sectors(8, &[0; 512]), Err(BlockError::OutOfRange { .. })));
            assert!(matches!(part.write_sectors(7, &[0; 1024]), Err(BlockError::OutOfRange { .. })));
            let mut buf = vec![0u8; 512];
            part.read_sectors(7, &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 0xBB));
            part.flush().unwrap();
        }
        let mut buf = vec![0u8; 512];
        disk.read_sectors(4, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0xAA));
        disk.read_sectors(11, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0xBB));
        disk.read_sectors(12, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn partition_must_fit_the_device() {
        assert!(Partition::new(MemDisk::new(16), 8, 8).is_ok());
        assert!(matches!(Partition::new(MemDisk::new(16), 9, 8), Err(BlockError::OutOfRange { .. })));
        assert!(matches!(Partition::new(MemDisk::new(16), u64::MAX, 2), Err(BlockError::OutOfRange { .. })));
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = BlockError::OutOfRange { lba: 9, sectors: 2, device_sectors: 10 };
        let text = std::format!("{e}");
        assert!(text.contains("LBA 9") && text.contains("10 sectors"));
    }
}
