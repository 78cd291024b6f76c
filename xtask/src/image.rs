//! The bootable disk image: GPT with an EFI System Partition (FAT32) holding the loader as
//! `\EFI\BOOT\BOOTX64.EFI`, the kernel and its SHA-256 digest.
//!
//! Written entirely in Rust (gpt_disk_io, fatfs): no mtools or root privileges needed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use gpt_disk_io::gpt_disk_types::{
    guid, BlockSize, GptHeader, GptPartitionEntry, GptPartitionEntryArray, GptPartitionType, Guid, LbaLe,
    U32Le,
};
use gpt_disk_io::{BlockIoAdapter, Disk};
use sha2::{Digest, Sha256};

pub const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;
/// Where the first partition starts (1 MiB alignment, as partitioning tools do).
const FIRST_PARTITION_LBA: u64 = MIB / SECTOR;
const ESP_BYTES: u64 = 64 * MIB;
/// Room after the last partition for the backup GPT (33 sectors), rounded to 1 MiB.
const TAIL_BYTES: u64 = MIB;

const DISK_GUID: Guid = guid!("5241594f-5300-4d00-8000-000000000001");
const ESP_GUID: Guid = guid!("5241594f-5300-4d00-8000-0000000000e5");

/// A file to put on the ESP.
pub struct EspFile<'a> {
    pub path: &'a str,
    pub contents: &'a [u8],
}

/// One partition of the image.
pub struct PartitionSpec<'a> {
    pub name: &'a str,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub size_bytes: u64,
    pub contents: PartitionContents<'a>,
}

pub enum PartitionContents<'a> {
    /// A FAT32 file system with these files.
    Fat32 { label: [u8; 11], files: Vec<EspFile<'a>> },
    /// Raw bytes (shorter than the partition: the rest is zero).
    Raw(&'a [u8]),
}

const DATA_GUID: Guid = guid!("5241594f-5300-4d00-8000-0000000000da");
/// Size of the RAYOS-DATA partition (persistent log, boot table, crash records).
pub const DATA_BYTES: u64 = 64 * MIB;

/// Where RAYOS-DATA starts (bytes) in an image made from [`standard_partitions`]: partitions
/// follow each other from the first MiB, each rounded up to whole MiB.
pub const STANDARD_DATA_OFFSET: u64 = FIRST_PARTITION_LBA * SECTOR + ESP_BYTES.div_ceil(MIB) * MIB;

/// A freshly formatted RAYOS-DATA partition. Its volume id comes from the kernel digest, so
/// each build's image is a new format (the log never mistakes one build's data for another's).
pub fn data_partition_image(kernel: &[u8]) -> Result<Vec<u8>> {
    let digest = Sha256::digest(kernel);
    let volume_id = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) | 1;
    rayos_plog::format_image(DATA_BYTES, &rayos_plog::FormatParams::new(volume_id, 0))
        .map_err(|e| anyhow::anyhow!("formatting RAYOS-DATA: {e:?}"))
}

/// The standard partitions of a RayOS image: the ESP with loader and kernel, then RAYOS-DATA.
pub fn standard_partitions<'a>(
    loader: &'a [u8],
    kernel: &'a [u8],
    digest_text: &'a [u8],
    data: &'a [u8],
    modules: &[(String, &'a [u8])],
) -> Vec<PartitionSpec<'a>> {
    let mut partitions = esp_only(loader, kernel, digest_text);
    if let PartitionContents::Fat32 { files, .. } = &mut partitions[0].contents {
        for (name, contents) in modules {
            let path: &'a str = Box::leak(format!("rayos/modules/{name}").into_boxed_str());
            files.push(EspFile { path, contents });
        }
    }
    partitions.push(PartitionSpec {
        name: rayos_partition::RAYOS_DATA_NAME,
        type_guid: rayos_partition::RAYOS_DATA_TYPE,
        unique_guid: DATA_GUID,
        size_bytes: DATA_BYTES,
        contents: PartitionContents::Raw(data),
    });
    partitions
}

/// Just the ESP: an image for a machine that keeps no state on disk.
pub fn esp_only<'a>(loader: &'a [u8], kernel: &'a [u8], digest_text: &'a [u8]) -> Vec<PartitionSpec<'a>> {
    vec![PartitionSpec {
        name: "RAYOS-EFI",
        type_guid: GptPartitionType::EFI_SYSTEM.0,
        unique_guid: ESP_GUID,
        size_bytes: ESP_BYTES,
        contents: PartitionContents::Fat32 {
            label: *b"RAYOS-EFI  ",
            files: vec![
                EspFile { path: "EFI/BOOT/BOOTX64.EFI", contents: loader },
                EspFile { path: "rayos/kernel.elf", contents: kernel },
                EspFile { path: "rayos/kernel.sha256", contents: digest_text },
            ],
        },
    }]
}

/// The digest file's text for `kernel`: 64 hex digits and a newline.
pub fn digest_text(kernel: &[u8]) -> String {
    let digest = Sha256::digest(kernel);
    let mut text: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    text.push('\n');
    text
}

/// Writes a GPT disk image with `partitions` to `path` (replacing it).
pub fn write_image(path: &Path, partitions: &[PartitionSpec<'_>]) -> Result<()> {
    write_image_with_free_space(path, partitions, 0)
}

/// Like [`write_image`], with `free_bytes` of unpartitioned space after the last partition.
pub fn write_image_with_free_space(
    path: &Path,
    partitions: &[PartitionSpec<'_>],
    free_bytes: u64,
) -> Result<()> {
    let data_bytes: u64 = partitions.iter().map(|p| p.size_bytes.div_ceil(MIB) * MIB).sum();
    let total_bytes = FIRST_PARTITION_LBA * SECTOR + data_bytes + free_bytes.div_ceil(MIB) * MIB + TAIL_BYTES;
    let total_sectors = total_bytes / SECTOR;
    let temporary = path.with_extension("img.partial");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.set_len(total_bytes)?;

    let mut entries = Vec::new();
    let mut next_lba = FIRST_PARTITION_LBA;
    for spec in partitions {
        let sectors = spec.size_bytes.div_ceil(MIB) * MIB / SECTOR;
        let first = next_lba;
        let last = first + sectors - 1;
        next_lba = last + 1;
        let window =
            Window { file: file.try_clone()?, start: first * SECTOR, len: sectors * SECTOR, position: 0 };
        match &spec.contents {
            PartitionContents::Fat32 { label, files } => write_fat32(window, *label, files)
                .with_context(|| format!("cannot build the {} file system", spec.name))?,
            PartitionContents::Raw(bytes) => {
                if bytes.len() as u64 > sectors * SECTOR {
                    bail!("{} contents ({} bytes) do not fit the partition", spec.name, bytes.len());
                }
                let mut window = window;
                window.write_all(bytes)?;
            }
        }
        entries.push(GptPartitionEntry {
            partition_type_guid: GptPartitionType(spec.type_guid),
            unique_partition_guid: spec.unique_guid,
            starting_lba: LbaLe::from_u64(first),
            ending_lba: LbaLe::from_u64(last),
            attributes: Default::default(),
            name: spec.name.parse().map_err(|e| anyhow::anyhow!("partition name {}: {e:?}", spec.name))?,
        });
    }

    write_gpt(file, total_sectors, &entries)?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot move the image to {}", path.display()))?;
    Ok(())
}

fn write_gpt(file: File, total_sectors: u64, entries: &[GptPartitionEntry]) -> Result<()> {
    let block_size = BlockSize::BS_512;
    let mut disk = Disk::new(BlockIoAdapter::new(file, block_size)).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut block = vec![0u8; SECTOR as usize];
    let entry_array_sectors = 32;
    let mut primary = GptHeader {
        my_lba: LbaLe::from_u64(1),
        alternate_lba: LbaLe::from_u64(total_sectors - 1),
        first_usable_lba: LbaLe::from_u64(2 + entry_array_sectors),
        last_usable_lba: LbaLe::from_u64(total_sectors - 2 - entry_array_sectors),
        disk_guid: DISK_GUID,
        partition_entry_lba: LbaLe::from_u64(2),
        number_of_partition_entries: U32Le::from_u32(128),
        ..Default::default()
    };
    let layout = primary.get_partition_entry_array_layout().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut storage = vec![0u8; layout.num_bytes_rounded_to_block_as_usize(block_size).unwrap_or(16384)];
    let mut array = GptPartitionEntryArray::new(layout, block_size, &mut storage)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (i, entry) in entries.iter().enumerate() {
        *array.get_partition_entry_mut(i as u32).context("too many partitions")? = *entry;
    }
    primary.partition_entry_array_crc32 = array.calculate_crc32();
    primary.update_header_crc32();
    let mut secondary = primary;
    secondary.my_lba = primary.alternate_lba;
    secondary.alternate_lba = primary.my_lba;
    secondary.partition_entry_lba = LbaLe::from_u64(total_sectors - 1 - entry_array_sectors);
    secondary.update_header_crc32();

    let error = |e| anyhow::anyhow!("writing the GPT: {e:?}");
    disk.write_protective_mbr(&mut block).map_err(error)?;
    disk.write_primary_gpt_header(&primary, &mut block).map_err(error)?;
    disk.write_gpt_partition_entry_array(&array).map_err(error)?;
    array.set_start_lba(secondary.partition_entry_lba.into());
    disk.write_gpt_partition_entry_array(&array).map_err(error)?;
    disk.write_secondary_gpt_header(&secondary, &mut block).map_err(error)?;
    disk.flush().map_err(error)?;
    Ok(())
}

fn write_fat32(mut window: Window, label: [u8; 11], files: &[EspFile<'_>]) -> Result<()> {
    fatfs::format_volume(
        &mut window,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .volume_label(label)
            .bytes_per_cluster(512),
    )?;
    window.position = 0;
    let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new())?;
    for file in files {
        let mut dir = fs.root_dir();
        let mut parts: Vec<&str> = file.path.split('/').collect();
        let name = parts.pop().context("empty path")?;
        for part in parts {
            dir = match dir.open_dir(part) {
                Ok(existing) => existing,
                Err(_) => dir.create_dir(part)?,
            };
        }
        let mut out = dir.create_file(name)?;
        out.truncate()?;
        out.write_all(file.contents)?;
        out.flush()?;
    }
    fs.unmount()?;
    Ok(())
}

/// A byte window of a file: one partition seen as a whole disk.
struct Window {
    file: File,
    start: u64,
    len: u64,
    position: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.position)) as usize;
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for Window {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.position)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the end of the partition"));
        }
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.write(&buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Window {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let target = match from {
            SeekFrom::Start(offset) => offset as i128,
            SeekFrom::End(offset) => self.len as i128 + offset as i128,
            SeekFrom::Current(offset) => self.position as i128 + offset as i128,
        };
        if target < 0 || target > self.len as i128 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition"));
        }
        self.position = target as u64;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_has_a_valid_gpt_and_readable_esp() {
        let dir = std::env::temp_dir().join(format!("rayos-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.img");
        let kernel = vec![0x7Fu8; 100_000];
        let digest = digest_text(&kernel);
        let data = vec![0xA5u8; 4096];
        let module = b"a guest".to_vec();
        let modules = [(String::from("guest-file"), module.as_slice())];
        write_image(&path, &standard_partitions(b"MZloader", &kernel, digest.as_bytes(), &data, &modules))
            .unwrap();

        let file = File::open(&path).unwrap();
        let mut disk = Disk::new(BlockIoAdapter::new(file, BlockSize::BS_512)).unwrap();
        let mut block = vec![0u8; 512];
        let header = disk.read_primary_gpt_header(&mut block).unwrap();
        assert!(header.is_signature_valid());
        assert_eq!(header.header_crc32, header.calculate_header_crc32());
        let secondary = disk.read_secondary_gpt_header(&mut block).unwrap();
        assert_eq!(secondary.header_crc32, secondary.calculate_header_crc32());

        let layout = header.get_partition_entry_array_layout().unwrap();
        let mut storage = vec![0u8; layout.num_bytes_rounded_to_block_as_usize(BlockSize::BS_512).unwrap()];
        let array = disk.read_gpt_partition_entry_array(layout, &mut storage).unwrap();
        assert_eq!(array.calculate_crc32(), header.partition_entry_array_crc32);
        let data_entry = *array.get_partition_entry(1u32).unwrap();
        let data_type = data_entry.partition_type_guid.0;
        assert_eq!(data_type, rayos_partition::RAYOS_DATA_TYPE);
        let mut data_read = vec![0u8; 4096];
        let mut image_file = File::open(&path).unwrap();
        image_file.seek(SeekFrom::Start(data_entry.starting_lba.to_u64() * SECTOR)).unwrap();
        image_file.read_exact(&mut data_read).unwrap();
        assert_eq!(data_read, data);
        let esp = *array.get_partition_entry(0u32).unwrap();
        let type_guid = esp.partition_type_guid;
        assert_eq!(type_guid, GptPartitionType::EFI_SYSTEM);
        let first = esp.starting_lba.to_u64();
        let last = esp.ending_lba.to_u64();

        let window = Window {
            file: File::options().read(true).write(true).open(&path).unwrap(),
            start: first * SECTOR,
            len: (last - first + 1) * SECTOR,
            position: 0,
        };
        let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
        let mut read_back = Vec::new();
        fs.root_dir().open_file("rayos/kernel.elf").unwrap().read_to_end(&mut read_back).unwrap();
        assert_eq!(read_back, kernel);
        let mut loader = Vec::new();
        fs.root_dir().open_file("EFI/BOOT/BOOTX64.EFI").unwrap().read_to_end(&mut loader).unwrap();
        assert_eq!(loader, b"MZloader");
        let mut guest = Vec::new();
        fs.root_dir().open_file("rayos/modules/guest-file").unwrap().read_to_end(&mut guest).unwrap();
        assert_eq!(guest, b"a guest");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
