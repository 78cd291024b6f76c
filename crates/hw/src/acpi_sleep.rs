//! Finding the `\_S5` (soft-off) sleep types in a DSDT without an AML interpreter.
//!
//! Firmware declares `Name (_S5, Package () { SLP_TYPa, SLP_TYPb, ... })`. In AML that is
//! `NameOp (0x08) "_S5_" PackageOp (0x12) PkgLength NumElements <elements>`, where each element
//! is a constant: `ZeroOp` (0x00), `OneOp` (0x01), `BytePrefix` (0x0A) n, or `WordPrefix` (0x0B)
//! n. That is all the kernel needs to power off; a full interpreter is not required for it.

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;

/// The PM1a and PM1b sleep-type values for S5, if the table declares them.
pub fn find_s5(aml: &[u8]) -> Option<(u8, u8)> {
    let mut from = 0;
    while let Some(pos) = find(&aml[from..], b"_S5_") {
        let at = from + pos;
        if let Some(types) = parse_s5_at(aml, at) {
            return Some(types);
        }
        from = at + 4;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_s5_at(aml: &[u8], name_at: usize) -> Option<(u8, u8)> {
    // The name must follow NameOp, possibly with a root prefix '\'.
    let before = aml.get(name_at.checked_sub(1)?)?;
    let is_named =
        *before == NAME_OP || (*before == b'\\' && name_at >= 2 && aml.get(name_at - 2) == Some(&NAME_OP));
    if !is_named {
        return None;
    }
    let mut at = name_at + 4;
    if *aml.get(at)? != PACKAGE_OP {
        return None;
    }
    at += 1;
    // PkgLength: the top two bits of the lead byte say how many more bytes follow.
    let lead = *aml.get(at)?;
    at += 1 + (lead >> 6) as usize;
    let count = *aml.get(at)?;
    at += 1;
    if count < 2 {
        return None;
    }
    let (a, next) = read_constant(aml, at)?;
    let (b, _) = read_constant(aml, next)?;
    Some((a, b))
}

fn read_constant(aml: &[u8], at: usize) -> Option<(u8, usize)> {
    match *aml.get(at)? {
        0x00 => Some((0, at + 1)),
        0x01 => Some((1, at + 1)),
        0x0A => Some((*aml.get(at + 1)?, at + 2)),
        0x0B => Some((*aml.get(at + 1)?, at + 3)),
        0x0C => Some((*aml.get(at + 1)?, at + 5)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_byte_prefixed_values() {
        // Name (_S5, Package (0x04) { 0x05, 0x05, 0, 0 }) as iasl emits it.
        let aml = [0xFF, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00];
        assert_eq!(find_s5(&aml), Some((5, 5)));
    }

    #[test]
    fn finds_zero_and_one_ops_and_root_prefix() {
        let aml = [0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 0x02, 0x00, 0x01];
        assert_eq!(find_s5(&aml), Some((0, 1)));
    }

    #[test]
    fn skips_mentions_that_are_not_declarations() {
        // A reference to _S5_ (no NameOp), then the real declaration.
        let aml =
            [0x70, b'_', b'S', b'5', b'_', 0x08, b'_', b'S', b'5', b'_', 0x12, 0x05, 0x02, 0x0A, 0x07, 0x00];
        assert_eq!(find_s5(&aml), Some((7, 0)));
        assert_eq!(find_s5(b"no sleep states here"), None);
        assert_eq!(find_s5(&[0x08, b'_', b'S', b'5', b'_', 0x12]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = find_s5(&bytes);
        }
    }
}
