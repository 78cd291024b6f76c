extern crate std;

use super::*;
use proptest::prelude::*;
use rayos_block::mem::MemDisk;
use std::format;
use std::string::ToString;

const DISK_SECTORS: u64 = 2048;
const DISK_GUID: Guid = guid!("11111111-2222-3333-4444-555555555555");
const ESP_GUID: Guid = guid!("aaaaaaaa-0000-0000-0000-000000000001");
const DATA_GUID: Guid = guid!("aaaaaaaa-0000-0000-0000-000000000002");

fn layout() -> [NewPartition<'static>; 2] {
    [
        NewPartition {
            type_guid: EFI_SYSTEM_TYPE,
            unique_guid: ESP_GUID,
            first_lba: 34,
            last_lba: 1033,
            attributes: 0,
            name: "EFI system",
        },
        NewPartition {
            type_guid: RAYOS_DATA_TYPE,
            unique_guid: DATA_GUID,
            first_lba: 1034,
            last_lba: 2014,
            attributes: 1 << 63,
            name: RAYOS_DATA_NAME,
        },
    ]
}

fn disk() -> MemDisk {
    let mut disk = MemDisk::new(DISK_SECTORS);
    write_gpt(&mut disk, DISK_GUID, &layout()).unwrap();
    disk
}

fn image() -> std::vec::Vec<u8> {
    disk().into_durable_image()
}

/// Rewrites a header field (in a header sector of `image`) and fixes its CRC, so that a
/// test can reach the checks behind the CRC.
fn patch_header(image: &mut [u8], lba: u64, offset: usize, bytes: &[u8]) {
    let s = lba as usize * SECTOR_BYTES;
    image[s + offset..s + offset + bytes.len()].copy_from_slice(bytes);
    image[s + 16..s + 20].fill(0);
    let crc = crc32(&[&image[s..s + 92]]);
    image[s + 16..s + 20].copy_from_slice(&crc.to_le_bytes());
}

fn read(image: std::vec::Vec<u8>) -> Result<Gpt, GptError> {
    read_gpt(&mut MemDisk::from_image(image).unwrap())
}

#[test]
fn valid_image_parses() {
    let gpt = read(image()).unwrap();
    assert_eq!(gpt.header_used, HeaderKind::Primary);
    assert!(!gpt.is_degraded(), "{gpt:?}");
    assert_eq!(gpt.disk_guid, DISK_GUID);
    assert_eq!((gpt.first_usable_lba, gpt.last_usable_lba), (34, 2014));
    assert_eq!(gpt.partitions().len(), 2);
    let data = gpt.find_by_type(RAYOS_DATA_TYPE).unwrap();
    assert_eq!(data.name, "RAYOS-DATA");
    assert_eq!((data.first_lba, data.last_lba, data.sector_count()), (1034, 2014, 981));
    assert_eq!(data.unique_guid, DATA_GUID);
    assert_eq!(data.attributes, 1 << 63);
    assert_eq!(data.index, 1);
    assert_eq!(gpt.find_by_type(EFI_SYSTEM_TYPE).unwrap().name, "EFI system");
    assert!(gpt.find_by_type(guid!("00000000-0000-0000-0000-000000000001")).is_none());
}

#[test]
fn type_guid_is_stored_mixed_endian() {
    let image = image();
    let entry = 2 * SECTOR_BYTES + 128;
    assert_eq!(
        &image[entry..entry + 16],
        &[0x4e, 0x0e, 0x7c, 0x5a, 0x71, 0x9b, 0x1e, 0x4d, 0x8c, 0x3f, 0x2b, 0x6d, 0x52, 0x41, 0x59, 0x53]
    );
}

#[test]
fn protective_mbr_is_written() {
    let image = image();
    assert_eq!(&image[510..512], &[0x55, 0xaa]);
    assert_eq!(image[446 + 4], 0xee);
}

#[test]
fn corrupt_primary_header_crc_falls_back_to_backup() {
    let mut image = image();
    image[SECTOR_BYTES + 40] ^= 0x01;
    let gpt = read(image).unwrap();
    assert_eq!(gpt.header_used, HeaderKind::Backup);
    assert!(matches!(
        gpt.primary_problem,
        Some(GptError::Header {
            header: HeaderKind::Primary,
            lba: 1,
            problem: HeaderProblem::HeaderCrcMismatch { .. }
        })
    ));
    assert_eq!(gpt.partitions(), read(self::image()).unwrap().partitions());
    assert!(gpt.is_degraded());
}

#[test]
fn corrupt_primary_entry_array_falls_back_to_backup() {
    let mut image = image();
    image[2 * SECTOR_BYTES + 128 + 60] ^= 0x80;
    let gpt = read(image).unwrap();
    assert_eq!(gpt.header_used, HeaderKind::Backup);
    assert!(matches!(
        gpt.primary_problem,
        Some(GptError::Header { problem: HeaderProblem::EntryArrayCrcMismatch { .. }, .. })
    ));
    assert_eq!(gpt.find_by_type(RAYOS_DATA_TYPE).unwrap().first_lba, 1034);
}

#[test]
fn corrupt_backup_is_reported_but_primary_used() {
    let mut image = image();
    let last = image.len() - SECTOR_BYTES;
    image[last + 24] ^= 0x04;
    let gpt = read(image).unwrap();
    assert_eq!(gpt.header_used, HeaderKind::Primary);
    assert!(gpt.primary_problem.is_none());
    assert!(matches!(
        gpt.backup_problem,
        Some(GptError::Header {
            header: HeaderKind::Backup,
            problem: HeaderProblem::HeaderCrcMismatch { .. },
            ..
        })
    ));
}

#[test]
fn both_corrupt_is_an_error_naming_both() {
    let mut image = image();
    image[SECTOR_BYTES + 40] ^= 0x01;
    let last = image.len() - SECTOR_BYTES;
    image[last + 40] ^= 0x01;
    let err = read(image).unwrap_err();
    let GptError::BothHeadersInvalid { primary, backup } = &err else { panic!("{err:?}") };
    assert!(matches!(**primary, GptError::Header { header: HeaderKind::Primary, .. }));
    assert!(matches!(**backup, GptError::Header { header: HeaderKind::Backup, .. }));
    let text = err.to_string();
    assert!(text.contains("primary GPT header at LBA 1") && text.contains("backup GPT header"), "{text}");
    assert!(!err.is_unpartitioned(), "a damaged GPT is not a blank disk");
}

#[test]
fn blank_disk_is_not_gpt() {
    let err = read(std::vec![0u8; 64 * SECTOR_BYTES]).unwrap_err();
    assert!(err.is_unpartitioned());
    assert!(err.to_string().starts_with("no GPT partition table (a blank disk"), "{err}");
    let GptError::BothHeadersInvalid { primary, .. } = err else { panic!() };
    assert!(matches!(*primary, GptError::Header { problem: HeaderProblem::BadSignature { found: 0 }, .. }));
    assert!(matches!(read(std::vec![0u8; 3 * SECTOR_BYTES]), Err(GptError::DiskTooSmall { sectors: 3 })));
}

fn primary_problem_after(patch: impl FnOnce(&mut [u8])) -> HeaderProblem {
    let mut image = image();
    patch(&mut image);
    // Break the backup too, so the primary's error surfaces as the result.
    let last = image.len() - SECTOR_BYTES;
    image[last] ^= 0xff;
    match read(image).unwrap_err() {
        GptError::BothHeadersInvalid { primary, .. } => match *primary {
            GptError::Header { problem, .. } => problem,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn absurd_sizes_are_errors() {
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 80, &u32::MAX.to_le_bytes())),
        HeaderProblem::EntryArrayTooLarge { entries: u32::MAX, entry_bytes: 128 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 84, &100u32.to_le_bytes())),
        HeaderProblem::BadEntrySize { bytes: 100 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 84, &(1u32 << 20).to_le_bytes())),
        HeaderProblem::BadEntrySize { bytes: 1 << 20 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 12, &1000u32.to_le_bytes())),
        HeaderProblem::BadHeaderSize { bytes: 1000 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 72, &u64::MAX.to_le_bytes())),
        HeaderProblem::EntryArrayOutOfRange { start_lba: u64::MAX, sectors: 32 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 72, &40u64.to_le_bytes())),
        HeaderProblem::EntryArrayOutOfRange { start_lba: 40, sectors: 32 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 48, &5000u64.to_le_bytes())),
        HeaderProblem::BadUsableRange { first: 34, last: 5000 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 24, &7u64.to_le_bytes())),
        HeaderProblem::WrongMyLba { found: 7 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_header(i, 1, 8, &0x0002_0000u32.to_le_bytes())),
        HeaderProblem::UnsupportedRevision { revision: 0x0002_0000 }
    );
}

/// Rewrites entry `index` of the primary array and fixes both CRCs.
fn patch_entry(image: &mut [u8], index: usize, first_lba: u64, last_lba: u64) {
    let at = 2 * SECTOR_BYTES + index * 128;
    image[at + 32..at + 40].copy_from_slice(&first_lba.to_le_bytes());
    image[at + 40..at + 48].copy_from_slice(&last_lba.to_le_bytes());
    let crc = crc32(&[&image[2 * SECTOR_BYTES..34 * SECTOR_BYTES]]);
    patch_header(image, 1, 88, &crc.to_le_bytes());
}

#[test]
fn partitions_outside_the_usable_range_or_overlapping_are_errors() {
    assert_eq!(
        primary_problem_after(|i| patch_entry(i, 1, 1034, 2047)),
        HeaderProblem::PartitionOutOfRange { index: 1, first_lba: 1034, last_lba: 2047 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_entry(i, 1, 1100, 1099)),
        HeaderProblem::PartitionOutOfRange { index: 1, first_lba: 1100, last_lba: 1099 }
    );
    assert_eq!(
        primary_problem_after(|i| patch_entry(i, 1, 1033, 2014)),
        HeaderProblem::PartitionsOverlap { first: 0, second: 1 }
    );
}

#[test]
fn header_crc_covers_header_size_bytes() {
    // A header that declares 100 bytes: its CRC must cover bytes 92..100 as well.
    let mut image = image();
    patch_header(&mut image, 1, 12, &100u32.to_le_bytes());
    let s = SECTOR_BYTES;
    image[s + 16..s + 20].fill(0);
    let crc = crc32(&[&image[s..s + 100]]);
    image[s + 16..s + 20].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(read(image.clone()).unwrap().header_used, HeaderKind::Primary);
    image[s + 95] ^= 1;
    assert_eq!(read(image).unwrap().header_used, HeaderKind::Backup);
}

#[test]
fn names_decode_utf16_with_replacement() {
    let mut raw = GptPartitionName([0; 72]);
    // "é" then an unpaired high surrogate then "x".
    for (i, unit) in [0x00e9u16, 0xd800, 0x0078].iter().enumerate() {
        raw.0[i * 2..i * 2 + 2].copy_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(decode_name(&raw), "é\u{fffd}x");
    let full = GptPartitionName([0x41; 72]);
    assert_eq!(decode_name(&full).chars().count(), 36);
}

#[test]
fn writer_refuses_bad_layouts() {
    let mut disk = MemDisk::new(DISK_SECTORS);
    let mut parts = layout();
    parts[1].first_lba = 1000;
    assert!(matches!(write_gpt(&mut disk, DISK_GUID, &parts), Err(GptError::InvalidLayout { .. })));
    let mut parts = layout();
    parts[1].last_lba = 2015;
    assert!(matches!(write_gpt(&mut disk, DISK_GUID, &parts), Err(GptError::InvalidLayout { .. })));
    let mut parts = layout();
    parts[0].name = "a name that is much longer than thirty-six units";
    assert!(matches!(write_gpt(&mut disk, DISK_GUID, &parts), Err(GptError::InvalidLayout { .. })));
    assert!(matches!(write_gpt(&mut MemDisk::new(60), DISK_GUID, &[]), Err(GptError::DiskTooSmall { .. })));
    assert_eq!(disk.stats().sectors_written, 0);
    assert_eq!(usable_range(DISK_SECTORS), Some((34, 2014)));
}

#[test]
fn device_errors_are_reported_as_such() {
    struct Failing;
    impl BlockDevice for Failing {
        fn sector_count(&self) -> u64 {
            100
        }
        fn read_sectors(&mut self, lba: u64, _: &mut [u8]) -> Result<(), BlockError> {
            Err(BlockError::Io { lba, reason: "test" })
        }
        fn write_sectors(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
            Err(BlockError::ReadOnly)
        }
        fn flush(&mut self) -> Result<(), BlockError> {
            Ok(())
        }
    }
    assert_eq!(read_gpt(&mut Failing), Err(GptError::Device(BlockError::Io { lba: 1, reason: "test" })));
    assert!(format!("{}", read_gpt(&mut Failing).unwrap_err()).contains("device error"));
}

/// Byte offsets of bit flips: mostly in the primary or backup table, sometimes anywhere.
fn flip_offset() -> impl Strategy<Value = usize> {
    let disk_bytes = DISK_SECTORS as usize * SECTOR_BYTES;
    prop_oneof![
        2 => 0..34 * SECTOR_BYTES,
        2 => disk_bytes - 33 * SECTOR_BYTES..disk_bytes,
        1 => 0..disk_bytes,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes never panic the reader, and never yield a table.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80 * SECTOR_BYTES)) {
        let len = bytes.len() / SECTOR_BYTES * SECTOR_BYTES;
        let mut bytes = bytes;
        bytes.truncate(len);
        prop_assert!(read(bytes).is_err());
    }

    /// Bit flips anywhere never produce a different table: either the damage is caught by
    /// a CRC (and the other copy, if intact, gives the original partitions) or the flip
    /// hit bytes no header vouches for.
    #[test]
    fn bit_flips_never_yield_wrong_entries(flips in proptest::collection::vec((flip_offset(), 0u8..8), 1..6)) {
        let original = read(image()).unwrap();
        let mut image = image();
        for &(at, bit) in &flips {
            image[at] ^= 1 << bit;
        }
        if let Ok(gpt) = read(image) {
            prop_assert_eq!(gpt.partitions(), original.partitions());
            prop_assert_eq!(gpt.disk_guid, original.disk_guid);
        }
    }

    /// Headers with valid CRCs but arbitrary fields never panic, and any table they yield
    /// keeps the invariants.
    #[test]
    fn arbitrary_fields_with_valid_crcs(
        first_usable in 0u64..300, last_usable in 0u64..300, array_lba in 0u64..300,
        entries in 0u32..300, entry_bytes in prop_oneof![Just(128u32), Just(256), 0u32..600],
        ranges in proptest::collection::vec((0u64..300, 0u64..300), 0..6),
    ) {
        let mut image = std::vec![0u8; 300 * SECTOR_BYTES];
        let array_bytes = (entries as usize * entry_bytes as usize).min(200 * SECTOR_BYTES);
        let array_at = (array_lba as usize * SECTOR_BYTES).min(image.len());
        for (i, &(first, last)) in ranges.iter().enumerate() {
            let at = array_at + i * entry_bytes.max(128) as usize;
            if at + 128 > image.len() { break; }
            image[at] = 1;
            image[at + 32..at + 40].copy_from_slice(&first.to_le_bytes());
            image[at + 40..at + 48].copy_from_slice(&last.to_le_bytes());
        }
        let array_end = (array_at + array_bytes).min(image.len());
        let array_crc = crc32(&[&image[array_at..array_end]]);
        let s = SECTOR_BYTES;
        image[s..s + 8].copy_from_slice(b"EFI PART");
        image[s + 8..s + 12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        patch_header(&mut image, 1, 12, &92u32.to_le_bytes());
        patch_header(&mut image, 1, 24, &1u64.to_le_bytes());
        patch_header(&mut image, 1, 40, &first_usable.to_le_bytes());
        patch_header(&mut image, 1, 48, &last_usable.to_le_bytes());
        patch_header(&mut image, 1, 72, &array_lba.to_le_bytes());
        patch_header(&mut image, 1, 80, &entries.to_le_bytes());
        patch_header(&mut image, 1, 84, &entry_bytes.to_le_bytes());
        patch_header(&mut image, 1, 88, &array_crc.to_le_bytes());
        if let Ok(gpt) = read(image) {
            prop_assert!(gpt.first_usable_lba <= gpt.last_usable_lba);
            for p in gpt.partitions() {
                prop_assert!(gpt.first_usable_lba <= p.first_lba && p.first_lba <= p.last_lba);
                prop_assert!(p.last_lba <= gpt.last_usable_lba);
            }
            prop_assert!(find_overlap(gpt.partitions().iter().map(|p| (p.index, p.first_lba, p.last_lba))).is_none());
        }
    }
}
