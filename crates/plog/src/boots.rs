//! The boot table: one entry per boot, each with two alternating on-disk copies.

use crate::codec::{checksum32, Get, Put};
use crate::error::PlogError;
use crate::superblock::BOOT_ENTRY_SECTORS;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use rayos_block::{BlockDevice, SECTOR_BYTES};

/// `"RBOO"`.
const BOOT_MAGIC: u32 = u32::from_le_bytes(*b"RBOO");
const BOOT_ENTRY_BYTES: usize = 64;

/// How a boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Still running (the current boot), or not yet looked at by the next mount.
    Running,
    /// Orderly power-off.
    CleanShutdown,
    /// Orderly reboot.
    Reboot,
    /// A panic or fatal CPU exception (a crash record was written).
    Panic,
    /// The watchdog fired (a crash record was written).
    Watchdog,
    /// The boot never recorded an end: power loss, hard reset or hang.
    Unknown,
}

impl EndReason {
    const ALL: [EndReason; 6] =
        [Self::Running, Self::CleanShutdown, Self::Reboot, Self::Panic, Self::Watchdog, Self::Unknown];

    fn code(self) -> u8 {
        match self {
            Self::Running => 0,
            Self::CleanShutdown => 1,
            Self::Reboot => 2,
            Self::Panic => 3,
            Self::Watchdog => 4,
            Self::Unknown => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Short name for `log boots`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::CleanShutdown => "shutdown",
            Self::Reboot => "reboot",
            Self::Panic => "panic",
            Self::Watchdog => "watchdog",
            Self::Unknown => "unknown",
        }
    }

    /// True for the ends that leave a crash record.
    pub fn is_crash(self) -> bool {
        matches!(self, Self::Panic | Self::Watchdog)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One boot as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootEntry {
    /// Boot number (1 for the first boot after format).
    pub boot: u32,
    /// Wall time at `begin_boot` (unix seconds, 0 if unknown).
    pub start_wall_s: u64,
    /// Wall time when the end was recorded (0 if unknown).
    pub end_wall_s: u64,
    /// Uptime when the end was recorded (0 if unknown).
    pub uptime_ns: u64,
    /// How it ended.
    pub end: EndReason,
    /// The crash record of this boot, if it crashed.
    pub crash_seq: Option<u64>,
}

impl BootEntry {
    fn encode(&self, update: u32, volume_id: u64) -> [u8; SECTOR_BYTES] {
        let mut sector = [0u8; SECTOR_BYTES];
        let mut put = Put::new(&mut sector);
        let _ = (|| {
            put.u32(BOOT_MAGIC)?;
            put.u32(0)?;
            put.u32(update)?;
            put.u32(self.boot)?;
            put.u64(self.start_wall_s)?;
            put.u64(self.end_wall_s)?;
            put.u64(self.uptime_ns)?;
            put.bytes(&[self.end.code(), 0, 0, 0, 0, 0, 0, 0])?;
            put.u64(self.crash_seq.unwrap_or(0))
        })();
        let crc = checksum32(&[&volume_id.to_le_bytes(), &sector[..4], &sector[8..BOOT_ENTRY_BYTES]]);
        sector[4..8].copy_from_slice(&crc.to_le_bytes());
        sector
    }

    /// The entry and its update counter, if `sector` holds a valid one of this volume.
    fn decode(sector: &[u8], volume_id: u64) -> Option<(Self, u32)> {
        let head = sector.get(..BOOT_ENTRY_BYTES)?;
        let mut get = Get::new(head);
        if get.u32()? != BOOT_MAGIC {
            return None;
        }
        let stored = get.u32()?;
        if checksum32(&[&volume_id.to_le_bytes(), &head[..4], &head[8..]]) != stored {
            return None;
        }
        let update = get.u32()?;
        let boot = get.u32()?;
        let start_wall_s = get.u64()?;
        let end_wall_s = get.u64()?;
        let uptime_ns = get.u64()?;
        let end = EndReason::from_code(get.array::<8>()?[0])?;
        let crash_seq = Some(get.u64()?).filter(|&s| s != 0);
        Some((Self { boot, start_wall_s, end_wall_s, uptime_ns, end, crash_seq }, update))
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    entry: BootEntry,
    copy: usize,
    update: u32,
}

/// The boot table as mounted.
#[derive(Debug)]
pub(crate) struct BootTable {
    lba: u64,
    volume_id: u64,
    slots: Vec<Option<Slot>>,
}

impl BootTable {
    /// Reads every entry (both copies; the valid one with the higher update counter wins).
    pub(crate) fn load<D: BlockDevice + ?Sized>(
        dev: &mut D,
        lba: u64,
        slot_count: u32,
        volume_id: u64,
    ) -> Result<Self, PlogError> {
        let mut raw = vec![0u8; slot_count as usize * BOOT_ENTRY_SECTORS as usize * SECTOR_BYTES];
        dev.read_sectors(lba, &mut raw)?;
        let slots = raw
            .chunks_exact(BOOT_ENTRY_SECTORS as usize * SECTOR_BYTES)
            .enumerate()
            .map(|(index, pair)| {
                let copies = [0, 1].map(|copy| {
                    BootEntry::decode(&pair[copy * SECTOR_BYTES..], volume_id)
                        .filter(|(e, _)| e.boot % slot_count == index as u32)
                        .map(|(entry, update)| Slot { entry, copy, update })
                });
                match copies {
                    [Some(a), Some(b)] => Some(if b.update > a.update { b } else { a }),
                    [a, b] => a.or(b),
                }
            })
            .collect();
        Ok(Self { lba, volume_id, slots })
    }

    /// Zeroes the table on disk (format).
    pub(crate) fn erase<D: BlockDevice + ?Sized>(
        dev: &mut D,
        lba: u64,
        slot_count: u32,
    ) -> Result<(), PlogError> {
        let raw = vec![0u8; slot_count as usize * BOOT_ENTRY_SECTORS as usize * SECTOR_BYTES];
        dev.write_sectors(lba, &raw)?;
        Ok(())
    }

    /// The entry with the highest boot number.
    pub(crate) fn latest(&self) -> Option<BootEntry> {
        self.slots.iter().flatten().map(|s| s.entry).max_by_key(|e| e.boot)
    }

    /// The entry of boot `boot`, if the table still holds it.
    pub(crate) fn get(&self, boot: u32) -> Option<BootEntry> {
        let slot = self.slots.get((boot as usize) % self.slots.len())?;
        slot.map(|s| s.entry).filter(|e| e.boot == boot)
    }

    /// All entries, oldest boot first.
    pub(crate) fn list(&self) -> Vec<BootEntry> {
        let mut all: Vec<BootEntry> = self.slots.iter().flatten().map(|s| s.entry).collect();
        all.sort_unstable_by_key(|e| e.boot);
        all
    }

    /// Writes `entry` into the copy of its slot that does not hold the current one, then
    /// flushes: a torn write leaves the previous state of the slot readable.
    pub(crate) fn write<D: BlockDevice + ?Sized>(
        &mut self,
        dev: &mut D,
        entry: BootEntry,
    ) -> Result<(), PlogError> {
        let index = (entry.boot as usize) % self.slots.len();
        let (copy, update) = match self.slots[index] {
            Some(current) => (1 - current.copy, current.update.wrapping_add(1)),
            None => (0, 1),
        };
        let lba = self.lba + index as u64 * BOOT_ENTRY_SECTORS + copy as u64;
        dev.write_sectors(lba, &entry.encode(update, self.volume_id))?;
        dev.flush()?;
        self.slots[index] = Some(Slot { entry, copy, update });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> BootEntry {
        BootEntry {
            boot: 7,
            start_wall_s: 1_700_000_000,
            end_wall_s: 1_700_000_100,
            uptime_ns: 100_000_000_000,
            end: EndReason::Reboot,
            crash_seq: Some(3),
        }
    }

    #[test]
    fn round_trip_and_volume_binding() {
        let sector = entry().encode(5, 42);
        assert_eq!(BootEntry::decode(&sector, 42), Some((entry(), 5)));
        assert_eq!(BootEntry::decode(&sector, 43), None);
        let none = BootEntry { crash_seq: None, end: EndReason::Running, ..entry() };
        assert_eq!(BootEntry::decode(&none.encode(1, 42), 42), Some((none, 1)));
    }

    proptest! {
        #[test]
        fn any_bit_flip_is_detected(bit in 0usize..8 * BOOT_ENTRY_BYTES) {
            let mut sector = entry().encode(5, 42);
            sector[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(BootEntry::decode(&sector, 42), None);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = BootEntry::decode(&bytes, 1);
        }
    }
}
