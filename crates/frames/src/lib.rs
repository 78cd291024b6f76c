//! A bitmap allocator of physical page frames.
//!
//! One bit per 4 KiB frame, set = in use. The kernel builds it from the firmware's memory map:
//! everything starts in use, the usable ranges are freed, then the frames the kernel already
//! occupies are marked used again. Single frames come from a rotating hint (O(1) amortised);
//! contiguous runs (DMA buffers, guest RAM) come from a first-fit scan.
//!
//! This crate holds no memory itself and does no I/O; it only keeps the books.
//!
//! # Invariants
//! - `free_frames` always equals the number of clear bits below `frame_count`.
//! - Bits at or above `frame_count` are set and never handed out.
//! - Freeing a frame that is not in use is refused ([`FreeError`]), never silently accepted.
#![no_std]
#![forbid(unsafe_code)]

/// Bytes in a frame.
pub const FRAME_BYTES: u64 = 4096;

/// Why a free was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The frame is beyond the end of the bitmap.
    OutOfRange(u64),
    /// The frame was already free (a double free).
    NotAllocated(u64),
}

/// The bitmap over frames `0..frame_count`.
#[derive(Debug)]
pub struct FrameBitmap<'a> {
    words: &'a mut [u64],
    frame_count: u64,
    free_frames: u64,
    hint_word: usize,
}

impl<'a> FrameBitmap<'a> {
    /// Words of storage needed for `frame_count` frames.
    pub const fn words_needed(frame_count: u64) -> usize {
        frame_count.div_ceil(64) as usize
    }

    /// A bitmap with every frame in use. `words` must hold at least
    /// [`Self::words_needed`]`(frame_count)` words; extra words are ignored.
    pub fn new_all_used(words: &'a mut [u64], frame_count: u64) -> FrameBitmap<'a> {
        let frame_count = frame_count.min(words.len() as u64 * 64);
        words.fill(u64::MAX);
        FrameBitmap { words, frame_count, free_frames: 0, hint_word: 0 }
    }

    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    fn is_used(&self, frame: u64) -> bool {
        self.words[(frame / 64) as usize] & (1 << (frame % 64)) != 0
    }

    fn set(&mut self, frame: u64, used: bool) {
        let word = &mut self.words[(frame / 64) as usize];
        let bit = 1u64 << (frame % 64);
        let was_used = *word & bit != 0;
        if used && !was_used {
            *word |= bit;
            self.free_frames -= 1;
        } else if !used && was_used {
            *word &= !bit;
            self.free_frames += 1;
        }
    }

    /// Marks frames `[first, first+count)` free (clamped to the bitmap).
    pub fn mark_free(&mut self, first: u64, count: u64) {
        let end = first.saturating_add(count).min(self.frame_count);
        for frame in first..end {
            self.set(frame, false);
        }
    }

    /// Marks frames `[first, first+count)` in use (clamped to the bitmap).
    pub fn mark_used(&mut self, first: u64, count: u64) {
        let end = first.saturating_add(count).min(self.frame_count);
        for frame in first..end {
            self.set(frame, true);
        }
    }

    /// Allocates one frame; returns its index.
    pub fn allocate(&mut self) -> Option<u64> {
        if self.free_frames == 0 {
            return None;
        }
        let words = self.words.len();
        for step in 0..words {
            let index = (self.hint_word + step) % words;
            let word = self.words[index];
            if word != u64::MAX {
                let frame = index as u64 * 64 + (!word).trailing_zeros() as u64;
                if frame >= self.frame_count {
                    continue;
                }
                self.set(frame, true);
                self.hint_word = index;
                return Some(frame);
            }
        }
        None
    }

    /// Allocates `count` contiguous frames whose first index is a multiple of `align_frames`
    /// (a power of two; 0 or 1 means no alignment). First fit.
    pub fn allocate_contiguous(&mut self, count: u64, align_frames: u64) -> Option<u64> {
        if count == 0 || count > self.free_frames {
            return None;
        }
        let align = align_frames.max(1);
        if !align.is_power_of_two() {
            return None;
        }
        let mut start = 0u64;
        while start.checked_add(count)? <= self.frame_count {
            // Find the first used frame in [start, start+count), scanning backwards so a hit
            // lets us skip past it.
            match (start..start + count).rev().find(|&f| self.is_used(f)) {
                Some(used) => start = (used + 1).next_multiple_of(align),
                None => {
                    self.mark_used(start, count);
                    return Some(start);
                }
            }
        }
        None
    }

    /// Frees `count` frames starting at `first`; all of them must be in use.
    pub fn free(&mut self, first: u64, count: u64) -> Result<(), FreeError> {
        let end = first.checked_add(count).ok_or(FreeError::OutOfRange(first))?;
        if end > self.frame_count {
            return Err(FreeError::OutOfRange(end - 1));
        }
        if let Some(frame) = (first..end).find(|&f| !self.is_used(f)) {
            return Err(FreeError::NotAllocated(frame));
        }
        self.mark_free(first, count);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::vec;

    #[test]
    fn starts_full_and_frees_ranges() {
        let mut words = vec![0; 4];
        let mut bitmap = FrameBitmap::new_all_used(&mut words, 200);
        assert_eq!(bitmap.free_frames(), 0);
        assert_eq!(bitmap.allocate(), None);
        bitmap.mark_free(10, 5);
        assert_eq!(bitmap.free_frames(), 5);
        let got: BTreeSet<u64> = (0..5).map(|_| bitmap.allocate().unwrap()).collect();
        assert_eq!(got, (10..15).collect());
        assert_eq!(bitmap.allocate(), None);
    }

    #[test]
    fn frames_beyond_the_count_are_never_handed_out() {
        let mut words = vec![0; 2];
        let mut bitmap = FrameBitmap::new_all_used(&mut words, 70);
        bitmap.mark_free(0, 1000);
        assert_eq!(bitmap.free_frames(), 70);
        for _ in 0..70 {
            assert!(bitmap.allocate().unwrap() < 70);
        }
        assert_eq!(bitmap.allocate(), None);
    }

    #[test]
    fn contiguous_respects_alignment_and_holes() {
        let mut words = vec![0; 16];
        let mut bitmap = FrameBitmap::new_all_used(&mut words, 1024);
        bitmap.mark_free(0, 1024);
        bitmap.mark_used(3, 1);
        let run = bitmap.allocate_contiguous(8, 8).unwrap();
        assert_eq!(run, 8);
        let run2 = bitmap.allocate_contiguous(512, 512).unwrap();
        assert_eq!(run2, 512);
        assert_eq!(bitmap.allocate_contiguous(600, 1), None);
        assert_eq!(bitmap.allocate_contiguous(3, 3), None, "alignment must be a power of two");
    }

    #[test]
    fn double_free_and_out_of_range_are_refused() {
        let mut words = vec![0; 1];
        let mut bitmap = FrameBitmap::new_all_used(&mut words, 64);
        bitmap.mark_free(0, 64);
        let frame = bitmap.allocate().unwrap();
        assert_eq!(bitmap.free(frame, 1), Ok(()));
        assert_eq!(bitmap.free(frame, 1), Err(FreeError::NotAllocated(frame)));
        assert_eq!(bitmap.free(63, 2), Err(FreeError::OutOfRange(64)));
        assert_eq!(bitmap.free(u64::MAX, 2), Err(FreeError::OutOfRange(u64::MAX)));
    }

    proptest! {
        #[test]
        fn random_operations_keep_the_books(ops in proptest::collection::vec((0u8..4, 0u64..300, 1u64..40), 1..200)) {
            let mut words = vec![0; 5];
            let mut bitmap = FrameBitmap::new_all_used(&mut words, 300);
            bitmap.mark_free(0, 300);
            let mut owned: BTreeSet<u64> = BTreeSet::new();
            let mut runs: std::vec::Vec<(u64, u64)> = std::vec::Vec::new();
            for (op, a, b) in ops {
                match op {
                    0 => if let Some(f) = bitmap.allocate() { prop_assert!(owned.insert(f)); },
                    1 => if let Some(f) = bitmap.allocate_contiguous(b, 1 << (a % 4)) {
                        prop_assert_eq!(f % (1 << (a % 4)), 0);
                        for x in f..f + b { prop_assert!(owned.insert(x)); }
                        runs.push((f, b));
                    },
                    2 => if let Some(&f) = owned.iter().nth((a as usize) % owned.len().max(1)) {
                        if !runs.iter().any(|&(s, n)| f >= s && f < s + n) {
                            prop_assert_eq!(bitmap.free(f, 1), Ok(()));
                            owned.remove(&f);
                        }
                    },
                    _ => if let Some((s, n)) = runs.pop() {
                        prop_assert_eq!(bitmap.free(s, n), Ok(()));
                        for x in s..s + n { owned.remove(&x); }
                    },
                }
                prop_assert_eq!(bitmap.free_frames(), 300 - owned.len() as u64);
            }
        }
    }
}
