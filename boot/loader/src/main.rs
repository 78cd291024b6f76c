//! The RayOS UEFI loader.
//!
//! Started by the firmware as `\EFI\BOOT\BOOTX64.EFI`, it finds the kernel on the partition it
//! was itself loaded from, verifies it (size, SHA-256 digest stored beside it, ELF header and
//! segments), loads it at its higher-half addresses, builds the kernel's page tables, collects
//! what the kernel needs from the firmware (framebuffer, ACPI RSDP, memory map), leaves boot
//! services and jumps to the kernel with one [`BootInfo`].
//!
//! It is not a boot manager: choosing among installations comes later, in front of this.
//!
//! # Invariants
//! - Nothing is jumped to unless the digest matched and every loadable segment lies inside the
//!   kernel's address window and inside the file. Any failure prints a clear message on the
//!   screen and the serial console, prints `RAYOS_BOOT_MARKER:KERNEL_INVALID:<why>` and returns
//!   to the firmware.
//! - Memory the kernel must keep is allocated with RayOS's own UEFI memory types (see
//!   [`memory_types`]) so the kernel can tell it from free memory in the map.
#![no_std]
#![no_main]

extern crate alloc;

mod elf;
mod paging;

use alloc::string::String;
use core::fmt::Write as _;
use core::ptr::NonNull;

use rayos_bootinfo::{
    BootInfo, Framebuffer, MemoryKind, MemoryMap, MemoryRegion, Module, ModuleList, PixelFormat,
    BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BOOT_STACK_BYTES, KERNEL_DIGEST_PATH, KERNEL_PATH, MAX_MODULES,
    MODULES_DIRECTORY, MODULE_NAME_BYTES, PHYSICAL_MEMORY_OFFSET,
};
use sha2::{Digest, Sha256};
use uefi::boot::{self, AllocateType, MemoryType, OpenProtocolAttributes, OpenProtocolParams};
use uefi::mem::memory_map::MemoryMap as _;
use uefi::prelude::*;
use uefi::proto::console::gop::{GraphicsOutput, PixelFormat as GopPixelFormat};
use uefi::proto::device_path::media::{HardDrive, PartitionSignature};
use uefi::proto::device_path::DevicePath;
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::file::{File, FileAttribute, FileHandle, FileInfo, FileMode, RegularFile};
use uefi::table::cfg::ConfigTableEntry;
use uefi::CStr16;

/// RayOS's own UEFI memory types (the OS-loader range starts at 0x8000_0000).
mod memory_types {
    use uefi::boot::MemoryType;
    pub const KERNEL_IMAGE: MemoryType = MemoryType::custom(0x8000_0001);
    pub const KERNEL_FILE: MemoryType = MemoryType::custom(0x8000_0002);
    pub const BOOT_DATA: MemoryType = MemoryType::custom(0x8000_0003);
    pub const MODULE: MemoryType = MemoryType::custom(0x8000_0004);
}

/// The largest kernel file the loader accepts.
const MAX_KERNEL_BYTES: u64 = 64 * 1024 * 1024;
/// Preferred screen mode.
const PREFERRED_RESOLUTION: (usize, usize) = (1280, 800);
/// How long a boot failure message stays on screen before returning to the firmware.
const FAILURE_PAUSE: core::time::Duration = core::time::Duration::from_secs(10);

#[entry]
fn main() -> Status {
    let loader_start_tsc = read_tsc();
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    println(format_args!("{}", rayos_markers::LOADER_START.with(&[])));
    match load_and_start(loader_start_tsc) {
        Ok(never) => match never {},
        Err(failure) => {
            println(format_args!("RayOS loader: cannot start the kernel: {}", failure.message));
            println(format_args!(
                "RayOS loader: check that {KERNEL_PATH} and {KERNEL_DIGEST_PATH} exist on the boot partition and \
                 match (rebuild the image with `cargo xtask image`)."
            ));
            println(format_args!("{}", rayos_markers::KERNEL_INVALID.with(&[&failure.code])));
            boot::stall(FAILURE_PAUSE);
            Status::LOAD_ERROR
        }
    }
}

/// Why the loader could not start the kernel: a short marker code and a message for people.
struct Failure {
    code: &'static str,
    message: String,
}

fn fail(code: &'static str, args: core::fmt::Arguments<'_>) -> Failure {
    Failure { code, message: alloc::fmt::format(args) }
}

enum Never {}

fn load_and_start(loader_start_tsc: u64) -> Result<Never, Failure> {
    let image = boot::image_handle();
    let boot_partition_guid = boot_partition_guid(image);

    let kernel = read_kernel_file()?;
    let digest = verify_digest(kernel.bytes())?;
    let mut hex = [0u8; 64];
    let hex = to_hex(&digest, &mut hex);
    println(format_args!("{}", rayos_markers::KERNEL_LOADED.with(&[&kernel.len, &hex])));

    let elf = elf::KernelElf::parse(kernel.bytes()).map_err(|e| fail("bad-elf", format_args!("{e}")))?;
    let image_span = elf.image_span();
    let image_pages = image_span.len_bytes.div_ceil(4096) as usize;
    let image_phys = allocate(memory_types::KERNEL_IMAGE, image_pages)
        .map_err(|_| fail("no-memory", format_args!("cannot allocate {image_pages} pages for the kernel")))?;
    // SAFETY: `allocate` returned `image_pages` pages of fresh memory that nothing else uses.
    let image_memory = unsafe { core::slice::from_raw_parts_mut(image_phys as *mut u8, image_pages * 4096) };
    elf.copy_segments(kernel.bytes(), image_memory);

    let modules_phys = allocate(memory_types::BOOT_DATA, 1)
        .map_err(|_| fail("no-memory", format_args!("cannot allocate the module list")))?;
    let module_count = load_modules(modules_phys)?;

    let framebuffer = select_framebuffer();
    let rsdp_phys = find_rsdp();

    let pre_exit_map = boot::memory_map(MemoryType::LOADER_DATA)
        .map_err(|e| fail("no-memory-map", format_args!("cannot read the memory map: {e:?}")))?;
    let direct_map_ranges = pre_exit_map
        .entries()
        .filter(|d| !is_mmio(d.ty))
        .map(|d| (d.phys_start, d.phys_start + d.page_count * 4096));
    let mut tables = paging::PageTableBuilder::new(|| allocate(memory_types::BOOT_DATA, 1).ok())
        .map_err(|e| fail("no-memory", format_args!("page tables: {e}")))?;
    tables.map_direct(direct_map_ranges).map_err(|e| fail("no-memory", format_args!("page tables: {e}")))?;
    for segment in elf.segments() {
        let phys = image_phys + (segment.virt_start - image_span.virt_start);
        tables
            .map_kernel_segment(
                segment.virt_start,
                phys,
                segment.mem_len,
                segment.writable,
                segment.executable,
            )
            .map_err(|e| fail("no-memory", format_args!("page tables: {e}")))?;
    }
    let trampoline = paging::enter_kernel as *const () as u64;
    tables
        .map_identity_code(trampoline, 4096)
        .map_err(|e| fail("no-memory", format_args!("page tables: {e}")))?;
    let entry = elf.entry();
    drop(pre_exit_map);

    let stack_pages = (BOOT_STACK_BYTES / 4096) as usize;
    let stack_phys = allocate(memory_types::BOOT_DATA, stack_pages)
        .map_err(|_| fail("no-memory", format_args!("cannot allocate the boot stack")))?;
    let stack_top_virt = PHYSICAL_MEMORY_OFFSET + stack_phys + BOOT_STACK_BYTES;

    // Room for the converted memory map: the map grows by a few entries at most between now
    // and ExitBootServices (our own allocations split free ranges).
    let map_capacity =
        boot::memory_map(MemoryType::LOADER_DATA).map(|m| m.entries().count()).unwrap_or(256) + 64;
    let info_bytes = core::mem::size_of::<BootInfo>() + map_capacity * core::mem::size_of::<MemoryRegion>();
    let info_phys = allocate(memory_types::BOOT_DATA, info_bytes.div_ceil(4096))
        .map_err(|_| fail("no-memory", format_args!("cannot allocate the boot information")))?;
    let regions_phys = info_phys + core::mem::size_of::<BootInfo>() as u64;

    // From here on no failure can be reported through the firmware any more.
    // SAFETY: nothing holds boot-services resources across this call: every protocol scope
    // above has been dropped, and after it only our own allocations are touched.
    let final_map = unsafe { boot::exit_boot_services(Some(MemoryType::LOADER_DATA)) };
    // SAFETY: `regions_phys` points to `map_capacity` entries inside the allocation above.
    let regions = unsafe { core::slice::from_raw_parts_mut(regions_phys as *mut MemoryRegion, map_capacity) };
    let mut region_count = 0usize;
    for descriptor in final_map.entries() {
        let region = MemoryRegion {
            start_phys: descriptor.phys_start,
            len_bytes: descriptor.page_count * 4096,
            kind: memory_kind(descriptor.ty),
            _reserved: 0,
        };
        if region_count > 0 {
            let last = &mut regions[region_count - 1];
            if last.kind == region.kind && last.end_phys() == region.start_phys {
                last.len_bytes += region.len_bytes;
                continue;
            }
        }
        if region_count == map_capacity {
            break; // Cannot happen with the headroom above; a lost tail is better than a stop.
        }
        regions[region_count] = region;
        region_count += 1;
    }

    let info = BootInfo {
        magic: BOOT_INFO_MAGIC,
        version: BOOT_INFO_VERSION,
        size: core::mem::size_of::<BootInfo>() as u32,
        physical_memory_offset: PHYSICAL_MEMORY_OFFSET,
        memory_map: MemoryMap { entries_phys: regions_phys, len: region_count as u64 },
        framebuffer,
        rsdp_phys,
        kernel_file_phys: kernel.phys,
        kernel_file_len: kernel.len,
        kernel_sha256: digest,
        boot_partition_guid,
        loader_start_tsc,
        kernel_jump_tsc: read_tsc(),
        modules: ModuleList { entries_phys: modules_phys, len: module_count as u64 },
    };
    // SAFETY: `info_phys` is a fresh allocation large enough for a BootInfo (see info_bytes).
    unsafe { core::ptr::write(info_phys as *mut BootInfo, info) };

    // SAFETY: the page tables map the kernel's segments, all RAM at PHYSICAL_MEMORY_OFFSET and
    // `enter_kernel` itself at its identity address (so it keeps running after the CR3 switch); the entry point was checked
    // to lie in an executable segment; the stack and the boot info are mapped in the direct map.
    unsafe {
        paging::enter_kernel(tables.root_phys(), stack_top_virt, entry, PHYSICAL_MEMORY_OFFSET + info_phys)
    }
}

/// The kernel file, read into memory the kernel keeps (for its symbol table).
struct KernelFile {
    phys: u64,
    len: u64,
}

impl KernelFile {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `phys` is our own allocation of at least `len` initialised bytes (read_kernel_file).
        unsafe { core::slice::from_raw_parts(self.phys as *const u8, self.len as usize) }
    }
}

/// Opens `path` on the partition the loader was started from; `None` if it is not there.
fn open_on_boot_volume(path: &str) -> Result<Option<FileHandle>, Failure> {
    let mut fs = boot::get_image_file_system(boot::image_handle()).map_err(|e| {
        fail("no-boot-filesystem", format_args!("cannot open the boot partition: {:?}", e.status()))
    })?;
    let mut root =
        fs.open_volume().map_err(|e| fail("no-boot-filesystem", format_args!("{:?}", e.status())))?;
    let mut path_buf = [0u16; 64];
    let path =
        CStr16::from_str_with_buf(path, &mut path_buf).map_err(|_| fail("bad-path", format_args!("")))?;
    Ok(root.open(path, FileMode::Read, FileAttribute::empty()).ok())
}

/// Fills `buffer` from `file`; on failure, how many bytes were read and the error (`None`:
/// the file ended first).
fn read_exact(file: &mut RegularFile, buffer: &mut [u8]) -> Result<(), (usize, Option<Status>)> {
    let mut done = 0;
    while done < buffer.len() {
        match file.read(&mut buffer[done..]) {
            Ok(0) => return Err((done, None)),
            Ok(n) => done += n,
            Err(e) => return Err((done, Some(e.status()))),
        }
    }
    Ok(())
}

fn read_kernel_file() -> Result<KernelFile, Failure> {
    let handle = open_on_boot_volume(KERNEL_PATH)?
        .ok_or_else(|| fail("missing", format_args!("{KERNEL_PATH} not found on the boot partition")))?;
    let mut file = handle
        .into_regular_file()
        .ok_or_else(|| fail("missing", format_args!("{KERNEL_PATH} is a directory")))?;
    let info = file
        .get_boxed_info::<FileInfo>()
        .map_err(|e| fail("unreadable", format_args!("cannot stat {KERNEL_PATH}: {:?}", e.status())))?;
    let len = info.file_size();
    if len < 64 {
        return Err(fail("truncated", format_args!("{KERNEL_PATH} is only {len} bytes")));
    }
    if len > MAX_KERNEL_BYTES {
        return Err(fail(
            "too-large",
            format_args!("{KERNEL_PATH} is {len} bytes, the limit is {MAX_KERNEL_BYTES}"),
        ));
    }
    let pages = len.div_ceil(4096) as usize;
    let phys = allocate(memory_types::KERNEL_FILE, pages)
        .map_err(|_| fail("no-memory", format_args!("cannot allocate {pages} pages to read the kernel")))?;
    // SAFETY: fresh allocation of `pages` pages, exclusively ours.
    let buffer = unsafe { core::slice::from_raw_parts_mut(phys as *mut u8, len as usize) };
    match read_exact(&mut file, buffer) {
        Ok(()) => Ok(KernelFile { phys, len }),
        Err((done, Some(status))) => Err(fail(
            "unreadable",
            format_args!("read error in {KERNEL_PATH} after {done} bytes: {status:?}"),
        )),
        Err((done, None)) => {
            Err(fail("truncated", format_args!("{KERNEL_PATH} ended after {done} of {len} bytes")))
        }
    }
}

/// Reads every file of the modules directory into module memory and lists them at
/// `list_phys` (one page: room for [`MAX_MODULES`]). A missing directory means no modules.
fn load_modules(list_phys: u64) -> Result<usize, Failure> {
    let Some(mut directory) = open_on_boot_volume(MODULES_DIRECTORY)?.and_then(|h| h.into_directory()) else {
        return Ok(0);
    };
    let mut count = 0usize;
    while let Ok(Some(info)) = directory.read_entry_boxed() {
        if info.attribute().contains(FileAttribute::DIRECTORY) {
            continue;
        }
        let mut name = [0u8; MODULE_NAME_BYTES];
        for (i, c) in info.file_name().iter().enumerate() {
            let c = u16::from(*c);
            if i == MODULE_NAME_BYTES || c > 0x7F {
                return Err(fail("bad-module", format_args!("module file names must be short ASCII")));
            }
            name[i] = c as u8;
        }
        if count == MAX_MODULES {
            return Err(fail(
                "too-many-modules",
                format_args!("more than {MAX_MODULES} files in {MODULES_DIRECTORY}"),
            ));
        }
        let len = info.file_size();
        let mut file = directory
            .open(info.file_name(), FileMode::Read, FileAttribute::empty())
            .ok()
            .and_then(|h| h.into_regular_file())
            .ok_or_else(|| fail("bad-module", format_args!("cannot open module {count}")))?;
        let pages = len.div_ceil(4096).max(1) as usize;
        let phys = allocate(memory_types::MODULE, pages)
            .map_err(|_| fail("no-memory", format_args!("cannot allocate {len} bytes for a module")))?;
        // SAFETY: fresh allocation of `pages` pages.
        let buffer = unsafe { core::slice::from_raw_parts_mut(phys as *mut u8, len as usize) };
        if read_exact(&mut file, buffer).is_err() {
            return Err(fail("bad-module", format_args!("module {count} is unreadable")));
        }
        let entry = Module { name, phys, len_bytes: len };
        // SAFETY: `list_phys` is a page of boot data holding MAX_MODULES entries (56 bytes each).
        unsafe { core::ptr::write((list_phys as *mut Module).add(count), entry) };
        count += 1;
    }
    Ok(count)
}

/// Compares the kernel's SHA-256 with the digest file beside it.
fn verify_digest(kernel: &[u8]) -> Result<[u8; 32], Failure> {
    let mut file = open_on_boot_volume(KERNEL_DIGEST_PATH)?
        .and_then(|h| h.into_regular_file())
        .ok_or_else(|| fail("missing-digest", format_args!("{KERNEL_DIGEST_PATH} not found")))?;
    let mut text = [0u8; 128];
    let n = file
        .read(&mut text)
        .map_err(|_| fail("missing-digest", format_args!("cannot read {KERNEL_DIGEST_PATH}")))?;
    let expected = parse_hex_digest(&text[..n]).ok_or_else(|| {
        fail("bad-digest-file", format_args!("{KERNEL_DIGEST_PATH} does not hold 64 hex digits"))
    })?;
    let actual: [u8; 32] = Sha256::digest(kernel).into();
    if actual != expected {
        return Err(fail(
            "digest-mismatch",
            format_args!("{KERNEL_PATH} does not match {KERNEL_DIGEST_PATH}"),
        ));
    }
    Ok(actual)
}

fn parse_hex_digest(text: &[u8]) -> Option<[u8; 32]> {
    let hex = text.split(|b| b.is_ascii_whitespace()).find(|w| !w.is_empty())?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn to_hex<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    core::str::from_utf8(out).unwrap_or("")
}

/// The unique GUID of the GPT partition this loader was started from, or zeros.
fn boot_partition_guid(image: Handle) -> [u8; 16] {
    let Ok(loaded) = boot::open_protocol_exclusive::<LoadedImage>(image) else { return [0; 16] };
    let Some(device) = loaded.device() else { return [0; 16] };
    let Ok(path) = boot::open_protocol_exclusive::<DevicePath>(device) else { return [0; 16] };
    for node in path.node_iter() {
        if let Ok(hd) = <&HardDrive>::try_from(node) {
            if let PartitionSignature::Guid(guid) = hd.partition_signature() {
                return guid.to_bytes();
            }
        }
    }
    [0; 16]
}

/// Picks the preferred GOP mode if the firmware offers it, else keeps the current one.
fn select_framebuffer() -> Framebuffer {
    let Ok(handle) = boot::get_handle_for_protocol::<GraphicsOutput>() else { return Framebuffer::NONE };
    // Opened non-exclusively so the firmware's own text console keeps drawing on the screen.
    // SAFETY: the handle stays valid while boot services run; the scope ends in this function.
    let gop = unsafe {
        boot::open_protocol::<GraphicsOutput>(
            OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    };
    let Ok(mut gop) = gop else { return Framebuffer::NONE };
    let preferred = gop.modes().find(|m| {
        m.info().resolution() == PREFERRED_RESOLUTION
            && matches!(m.info().pixel_format(), GopPixelFormat::Rgb | GopPixelFormat::Bgr)
    });
    if let Some(mode) = preferred {
        if gop.current_mode_info().resolution() != PREFERRED_RESOLUTION {
            let _ = gop.set_mode(&mode);
        }
    }
    let info = gop.current_mode_info();
    let format = match info.pixel_format() {
        GopPixelFormat::Rgb => PixelFormat::Rgb,
        GopPixelFormat::Bgr => PixelFormat::Bgr,
        _ => return Framebuffer::NONE, // Bitmask and blt-only modes have no usable linear buffer.
    };
    let (width, height) = info.resolution();
    let mut fb = gop.frame_buffer();
    Framebuffer {
        base_phys: fb.as_mut_ptr() as u64,
        size_bytes: fb.size() as u64,
        width: width as u32,
        height: height as u32,
        stride_pixels: info.stride() as u32,
        format,
    }
}

fn find_rsdp() -> u64 {
    uefi::system::with_config_table(|entries| {
        let find = |guid| entries.iter().find(|e| e.guid == guid).map(|e| e.address as u64);
        find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID)).unwrap_or(0)
    })
}

fn is_mmio(ty: MemoryType) -> bool {
    matches!(ty, MemoryType::MMIO | MemoryType::MMIO_PORT_SPACE)
}

fn memory_kind(ty: MemoryType) -> MemoryKind {
    match ty {
        MemoryType::CONVENTIONAL
        | MemoryType::BOOT_SERVICES_CODE
        | MemoryType::BOOT_SERVICES_DATA
        | MemoryType::LOADER_CODE
        | MemoryType::LOADER_DATA => MemoryKind::Usable,
        MemoryType::ACPI_RECLAIM => MemoryKind::AcpiReclaimable,
        MemoryType::ACPI_NON_VOLATILE => MemoryKind::AcpiNvs,
        MemoryType::RUNTIME_SERVICES_CODE | MemoryType::RUNTIME_SERVICES_DATA => MemoryKind::FirmwareRuntime,
        MemoryType::MMIO | MemoryType::MMIO_PORT_SPACE => MemoryKind::Mmio,
        MemoryType::UNUSABLE => MemoryKind::Unusable,
        MemoryType::PERSISTENT_MEMORY => MemoryKind::Persistent,
        t if t == memory_types::KERNEL_IMAGE => MemoryKind::KernelImage,
        t if t == memory_types::KERNEL_FILE => MemoryKind::KernelFile,
        t if t == memory_types::BOOT_DATA => MemoryKind::BootData,
        t if t == memory_types::MODULE => MemoryKind::Module,
        _ => MemoryKind::Reserved,
    }
}

/// Allocates zeroed pages of the given type anywhere below 4 GiB... or above: the kernel only
/// uses them through the direct map, so any address works.
fn allocate(ty: MemoryType, pages: usize) -> Result<u64, ()> {
    let ptr: NonNull<u8> = boot::allocate_pages(AllocateType::AnyPages, ty, pages).map_err(|_| ())?;
    // SAFETY: the firmware just gave us `pages` pages at `ptr`.
    unsafe { core::ptr::write_bytes(ptr.as_ptr(), 0, pages * 4096) };
    Ok(ptr.as_ptr() as u64)
}

fn read_tsc() -> u64 {
    // SAFETY: RDTSC has no side effects and is available on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Prints one line on the firmware console (screen and serial).
fn println(args: core::fmt::Arguments<'_>) {
    uefi::system::with_stdout(|out| {
        let _ = out.write_fmt(args);
        let _ = out.write_str("\n");
    });
}
