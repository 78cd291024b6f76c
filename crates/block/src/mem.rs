//! An in-memory disk with a volatile write cache that a simulated power cut can drain in
//! part.
//!
//! [`MemDisk`] keeps two images: the *durable* medium and the *volatile* view that reads
//! return (the medium with every write since the last flush applied). Each unflushed write
//! is also remembered sector by sector, in order. [`MemDisk::flush`] makes them durable;
//! [`MemDisk::power_cut`] decides which of them reach the medium — none, all, the first
//! few, a byte-exact prefix of the stream (tearing one sector), or a seeded random subset
//! with torn sectors — and then throws the cache away, as a machine losing power would.
//!
//! It is a test device, but it is ordinary `no_std` + `alloc` code so that other crates'
//! tests and the host image builder can use it.

use crate::{check_request, BlockDevice, BlockError, SECTOR_BYTES};
use alloc::vec;
use alloc::vec::Vec;

/// What survives a simulated power cut of the unflushed writes (see [`MemDisk::power_cut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerCut {
    /// No unflushed write reaches the medium.
    DropUnflushed,
    /// Every unflushed write reaches the medium (the cache drained in time).
    KeepAll,
    /// The first `sectors` unflushed sector writes land, in the order they were issued.
    KeepFirst {
        /// How many sector writes land.
        sectors: usize,
    },
    /// The first `bytes` bytes of the stream of unflushed sector writes land: whole sectors
    /// up to the cut, then the sector holding the cut keeps only its first bytes (torn).
    KeepFirstBytes {
        /// How many bytes of the write stream land.
        bytes: usize,
    },
    /// Every unflushed sector write lands or not, independently (probability 1/2), chosen
    /// by `seed`; one landed sector in eight is torn at a random byte. Later writes to the
    /// same sector may land while earlier ones do not, as with a reordering cache.
    Random {
        /// Seed of the choice; the same seed on the same disk state gives the same outcome.
        seed: u64,
    },
}

/// What a power cut did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PowerCutReport {
    /// Sector writes that reached the medium whole.
    pub landed_sectors: usize,
    /// Sector writes that reached the medium in part.
    pub torn_sectors: usize,
    /// Sector writes that were lost.
    pub lost_sectors: usize,
}

/// Counters of the requests a [`MemDisk`] served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// `read_sectors` calls.
    pub read_requests: u64,
    /// Sectors read.
    pub sectors_read: u64,
    /// `write_sectors` calls.
    pub write_requests: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// `flush` calls.
    pub flushes: u64,
}

#[derive(Debug, Clone)]
struct PendingSector {
    lba: u64,
    data: [u8; SECTOR_BYTES],
}

/// An in-memory [`BlockDevice`] with a volatile write cache and power-cut simulation.
#[derive(Debug, Clone)]
pub struct MemDisk {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    pending: Vec<PendingSector>,
    stats: DiskStats,
    writes_before_failure: Option<u64>,
}

impl MemDisk {
    /// A zero-filled disk of `sector_count` sectors.
    pub fn new(sector_count: u64) -> Self {
        let bytes = sector_count as usize * SECTOR_BYTES;
        Self {
            durable: vec![0; bytes],
            volatile: vec![0; bytes],
            pending: Vec::new(),
            stats: DiskStats::default(),
            writes_before_failure: None,
        }
    }

    /// A disk whose medium holds `image` (a whole number of sectors).
    pub fn from_image(image: Vec<u8>) -> Result<Self, BlockError> {
        if !image.len().is_multiple_of(SECTOR_BYTES) {
            return Err(BlockError::UnalignedBuffer { len_bytes: image.len() });
        }
        Ok(Self {
            volatile: image.clone(),
            durable: image,
            pending: Vec::new(),
            stats: DiskStats::default(),
            writes_before_failure: None,
        })
    }

    /// The durable medium (what survives a power cut that keeps nothing).
    pub fn durable_image(&self) -> &[u8] {
        &self.durable
    }

    /// The durable medium, by value.
    pub fn into_durable_image(self) -> Vec<u8> {
        self.durable
    }

    /// Unflushed sector writes held in the cache.
    pub fn pending_sector_writes(&self) -> usize {
        self.pending.len()
    }

    /// Reserves room for `sectors` more unflushed sector writes, so that writes up to that
    /// many do not allocate (for tests that count allocations).
    pub fn reserve_pending(&mut self, sectors: usize) {
        self.pending.reserve(sectors);
    }

    /// Request counters since the disk was made or [`Self::reset_stats`] was called.
    pub fn stats(&self) -> DiskStats {
        self.stats
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&mut self) {
        self.stats = DiskStats::default();
    }

    /// After `writes` more successful `write_sectors` calls, every further write fails with
    /// [`BlockError::Io`] (`None` turns failures off).
    pub fn fail_writes_after(&mut self, writes: Option<u64>) {
        self.writes_before_failure = writes;
    }

    /// Flips one bit of the medium and of what reads return, as media corruption would.
    /// Meant for a disk without unflushed writes (after a flush or a power cut).
    /// Does nothing if `byte_offset` is past the end.
    pub fn flip_bit(&mut self, byte_offset: usize, bit: u8) {
        let mask = 1u8 << (bit % 8);
        if let Some(b) = self.durable.get_mut(byte_offset) {
            *b ^= mask;
        }
        if let Some(b) = self.volatile.get_mut(byte_offset) {
            *b ^= mask;
        }
    }

    /// Simulates losing power: applies the part of the unflushed writes that `cut` selects
    /// to the medium, in issue order, then drops the cache so that reads see the medium.
    pub fn power_cut(&mut self, cut: PowerCut) -> PowerCutReport {
        let pending = core::mem::take(&mut self.pending);
        let mut report = PowerCutReport::default();
        let mut rng = SplitMix64(match cut {
            PowerCut::Random { seed } => seed,
            _ => 0,
        });
        for (index, write) in pending.iter().enumerate() {
            let landed_bytes = match cut {
                PowerCut::DropUnflushed => 0,
                PowerCut::KeepAll => SECTOR_BYTES,
                PowerCut::KeepFirst { sectors } => {
                    if index < sectors {
                        SECTOR_BYTES
                    } else {
                        0
                    }
                }
                PowerCut::KeepFirstBytes { bytes } => {
                    bytes.saturating_sub(index * SECTOR_BYTES).min(SECTOR_BYTES)
                }
                PowerCut::Random { .. } => {
                    let r = rng.next();
                    if r & 1 == 0 {
                        0
                    } else if (r >> 1) & 7 == 0 {
                        ((r >> 8) % SECTOR_BYTES as u64) as usize
                    } else {
                        SECTOR_BYTES
                    }
                }
            };
            match landed_bytes {
                0 => report.lost_sectors += 1,
                SECTOR_BYTES => report.landed_sectors += 1,
                _ => report.torn_sectors += 1,
            }
            let start = write.lba as usize * SECTOR_BYTES;
            self.durable[start..start + landed_bytes].copy_from_slice(&write.data[..landed_bytes]);
        }
        self.volatile.copy_from_slice(&self.durable);
        report
    }

    fn sector_total(&self) -> u64 {
        (self.durable.len() / SECTOR_BYTES) as u64
    }
}

impl BlockDevice for MemDisk {
    fn sector_count(&self) -> u64 {
        self.sector_total()
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let sectors = check_request(lba, buf.len(), self.sector_total())?;
        let start = lba as usize * SECTOR_BYTES;
        buf.copy_from_slice(&self.volatile[start..start + buf.len()]);
        self.stats.read_requests += 1;
        self.stats.sectors_read += sectors;
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let sectors = check_request(lba, buf.len(), self.sector_total())?;
        if let Some(left) = self.writes_before_failure.as_mut() {
            if *left == 0 {
                return Err(BlockError::Io { lba, reason: "injected write failure" });
            }
            *left -= 1;
        }
        let start = lba as usize * SECTOR_BYTES;
        self.volatile[start..start + buf.len()].copy_from_slice(buf);
        for (i, chunk) in buf.chunks_exact(SECTOR_BYTES).enumerate() {
            let mut data = [0u8; SECTOR_BYTES];
            data.copy_from_slice(chunk);
            self.pending.push(PendingSector { lba: lba + i as u64, data });
        }
        self.stats.write_requests += 1;
        self.stats.sectors_written += sectors;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        for write in self.pending.drain(..) {
            let start = write.lba as usize * SECTOR_BYTES;
            self.durable[start..start + SECTOR_BYTES].copy_from_slice(&write.data);
        }
        self.stats.flushes += 1;
        Ok(())
    }
}

/// SplitMix64: a tiny, well-mixed generator; enough to pick which writes survive.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;

    fn sector(fill: u8) -> [u8; SECTOR_BYTES] {
        [fill; SECTOR_BYTES]
    }

    fn read(disk: &mut MemDisk, lba: u64) -> [u8; SECTOR_BYTES] {
        let mut buf = [0u8; SECTOR_BYTES];
        disk.read_sectors(lba, &mut buf).unwrap();
        buf
    }

    #[test]
    fn reads_see_unflushed_writes_and_flush_makes_them_durable() {
        let mut disk = MemDisk::new(4);
        disk.write_sectors(1, &sector(7)).unwrap();
        assert_eq!(read(&mut disk, 1), sector(7));
        assert_eq!(&disk.durable_image()[512..1024], &sector(0)[..]);
        assert_eq!(disk.pending_sector_writes(), 1);
        disk.flush().unwrap();
        assert_eq!(&disk.durable_image()[512..1024], &sector(7)[..]);
        assert_eq!(disk.pending_sector_writes(), 0);
        disk.power_cut(PowerCut::DropUnflushed);
        assert_eq!(read(&mut disk, 1), sector(7));
    }

    #[test]
    fn drop_unflushed_loses_only_unflushed_writes() {
        let mut disk = MemDisk::new(4);
        disk.write_sectors(0, &sector(1)).unwrap();
        disk.flush().unwrap();
        disk.write_sectors(0, &sector(2)).unwrap();
        disk.write_sectors(2, &sector(3)).unwrap();
        let report = disk.power_cut(PowerCut::DropUnflushed);
        assert_eq!(report, PowerCutReport { landed_sectors: 0, torn_sectors: 0, lost_sectors: 2 });
        assert_eq!(read(&mut disk, 0), sector(1));
        assert_eq!(read(&mut disk, 2), sector(0));
    }

    #[test]
    fn keep_first_tears_a_multi_sector_write() {
        let mut disk = MemDisk::new(4);
        let mut buf = [0u8; 3 * SECTOR_BYTES];
        buf[..512].fill(1);
        buf[512..1024].fill(2);
        buf[1024..].fill(3);
        disk.write_sectors(1, &buf).unwrap();
        disk.power_cut(PowerCut::KeepFirst { sectors: 2 });
        assert_eq!(read(&mut disk, 1), sector(1));
        assert_eq!(read(&mut disk, 2), sector(2));
        assert_eq!(read(&mut disk, 3), sector(0));
    }

    #[test]
    fn keep_first_bytes_tears_one_sector() {
        let mut disk = MemDisk::new(2);
        let buf = [9u8; 2 * SECTOR_BYTES];
        disk.write_sectors(0, &buf).unwrap();
        let report = disk.power_cut(PowerCut::KeepFirstBytes { bytes: 600 });
        assert_eq!(report, PowerCutReport { landed_sectors: 1, torn_sectors: 1, lost_sectors: 0 });
        let second = read(&mut disk, 1);
        assert!(second[..88].iter().all(|&b| b == 9));
        assert!(second[88..].iter().all(|&b| b == 0));
    }

    #[test]
    fn injected_write_failures() {
        let mut disk = MemDisk::new(2);
        disk.fail_writes_after(Some(1));
        disk.write_sectors(0, &sector(1)).unwrap();
        assert!(matches!(disk.write_sectors(1, &sector(1)), Err(BlockError::Io { lba: 1, .. })));
        disk.fail_writes_after(None);
        disk.write_sectors(1, &sector(1)).unwrap();
    }

    #[test]
    fn stats_count_requests() {
        let mut disk = MemDisk::new(8);
        disk.write_sectors(0, &[0u8; 2048]).unwrap();
        disk.flush().unwrap();
        let mut buf = [0u8; 1024];
        disk.read_sectors(2, &mut buf).unwrap();
        let s = disk.stats();
        assert_eq!((s.write_requests, s.sectors_written, s.flushes), (1, 4, 1));
        assert_eq!((s.read_requests, s.sectors_read), (1, 2));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write { lba: u64, sectors: u64, fill: u8 },
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..8, 1u64..4, any::<u8>()).prop_map(|(lba, sectors, fill)| Op::Write {
                lba,
                sectors: sectors.min(8 - lba),
                fill
            }),
            1 => Just(Op::Flush),
        ]
    }

    fn cut() -> impl Strategy<Value = PowerCut> {
        prop_oneof![
            Just(PowerCut::DropUnflushed),
            Just(PowerCut::KeepAll),
            (0usize..40).prop_map(|sectors| PowerCut::KeepFirst { sectors }),
            (0usize..40 * SECTOR_BYTES).prop_map(|bytes| PowerCut::KeepFirstBytes { bytes }),
            any::<u64>().prop_map(|seed| PowerCut::Random { seed }),
        ]
    }

    proptest! {
        /// After a cut, every sector holds its last flushed content, or the content of an
        /// unflushed write to it, or a byte-wise mix of those (a torn write) — never
        /// anything else; flushed data is never lost and reads agree with the medium.
        #[test]
        fn power_cut_only_affects_unflushed_writes(ops in proptest::collection::vec(op(), 0..30), cut in cut()) {
            let mut disk = MemDisk::new(8);
            let mut flushed = [[0u8; SECTOR_BYTES]; 8];
            let mut candidates: std::vec::Vec<std::vec::Vec<u8>> = (0..8).map(|_| std::vec![0u8]).collect();
            let mut unflushed = 0usize;
            for op in &ops {
                match *op {
                    Op::Write { lba, sectors, fill } => {
                        let buf = std::vec![fill; sectors as usize * SECTOR_BYTES];
                        disk.write_sectors(lba, &buf).unwrap();
                        for s in lba..lba + sectors {
                            candidates[s as usize].push(fill);
                        }
                        unflushed += sectors as usize;
                    }
                    Op::Flush => {
                        disk.flush().unwrap();
                        unflushed = 0;
                        for s in 0..8 {
                            flushed[s] = read(&mut disk, s as u64);
                            candidates[s] = std::vec![flushed[s][0]];
                        }
                    }
                }
            }
            prop_assert_eq!(disk.pending_sector_writes(), unflushed);
            let report = disk.power_cut(cut);
            prop_assert_eq!(report.landed_sectors + report.torn_sectors + report.lost_sectors, unflushed);
            for s in 0..8u64 {
                let now = read(&mut disk, s);
                prop_assert_eq!(&now[..], &disk.durable_image()[s as usize * 512..(s as usize + 1) * 512]);
                for &b in now.iter() {
                    prop_assert!(candidates[s as usize].contains(&b), "sector {} byte {} not from any write", s, b);
                }
                if matches!(cut, PowerCut::DropUnflushed) {
                    prop_assert_eq!(now, flushed[s as usize]);
                }
            }
        }
    }
}
