//! virtio-blk (virtio 1.x, section 5.2): request layout, status codes, configuration.

/// Request types.
pub const REQUEST_READ: u32 = 0;
pub const REQUEST_WRITE: u32 = 1;
pub const REQUEST_FLUSH: u32 = 4;
pub const REQUEST_GET_ID: u32 = 8;

/// Status byte values.
pub const STATUS_OK: u8 = 0;
pub const STATUS_IO_ERROR: u8 = 1;
pub const STATUS_UNSUPPORTED: u8 = 2;

/// Length of the device id string returned by [`REQUEST_GET_ID`].
pub const ID_BYTES: usize = 20;

/// Feature bits.
pub mod features {
    pub const SIZE_MAX: u64 = 1 << 1;
    pub const SEG_MAX: u64 = 1 << 2;
    pub const READ_ONLY: u64 = 1 << 5;
    pub const BLOCK_SIZE: u64 = 1 << 6;
    pub const FLUSH: u64 = 1 << 9;
}

/// Offsets in the device configuration structure.
pub mod config {
    pub const CAPACITY: usize = 0;
    pub const BLOCK_SIZE: usize = 20;
}

/// The 16-byte header every request starts with.
pub fn request_header(kind: u32, sector: u64) -> [u8; 16] {
    let mut header = [0u8; 16];
    header[0..4].copy_from_slice(&kind.to_le_bytes());
    header[8..16].copy_from_slice(&sector.to_le_bytes());
    header
}

/// What a status byte means.
pub fn status_message(status: u8) -> &'static str {
    match status {
        STATUS_OK => "ok",
        STATUS_IO_ERROR => "the device reported an I/O error",
        STATUS_UNSUPPORTED => "the device does not support this request",
        _ => "the device returned an unknown status",
    }
}

/// The device id string (serial number) from a GET_ID reply: up to the first NUL, printable
/// ASCII only.
pub fn parse_id(raw: &[u8; ID_BYTES]) -> Option<&str> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(ID_BYTES);
    let text = core::str::from_utf8(&raw[..end]).ok()?;
    (!text.is_empty() && text.bytes().all(|b| (0x20..0x7F).contains(&b))).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let h = request_header(REQUEST_WRITE, 0x0102_0304_0506_0708);
        assert_eq!(h, [1, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn ids_are_cleaned() {
        let mut raw = [0u8; ID_BYTES];
        raw[..6].copy_from_slice(b"disk-1");
        assert_eq!(parse_id(&raw), Some("disk-1"));
        assert_eq!(parse_id(&[0u8; ID_BYTES]), None);
        raw[0] = 0xFF;
        assert_eq!(parse_id(&raw), None);
    }
}
