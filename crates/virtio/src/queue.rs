//! A split virtqueue (virtio 1.x, section 2.7), driver side, in fixed-size state.

use core::fmt;
use core::sync::atomic::{fence, Ordering};

use crate::DmaRegion;

/// The largest queue this driver uses; the state arrays have this many slots.
pub const MAX_QUEUE_SIZE: usize = 64;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

/// Where the three parts of a queue of `size` entries lie in its memory (one region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub descriptors: usize,
    pub available: usize,
    pub used: usize,
    /// Bytes needed in all.
    pub total: usize,
}

impl Layout {
    pub const fn for_size(size: u16) -> Layout {
        let n = size as usize;
        let available = 16 * n;
        let used = (available + 6 + 2 * n).next_multiple_of(4);
        Layout { descriptors: 0, available, used, total: used + 6 + 8 * n }
    }
}

/// One buffer of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub phys: u64,
    pub len: u32,
    /// The device writes it (a read's data, a status byte); otherwise the device reads it.
    pub device_writes: bool,
}

/// A chain the device has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The head descriptor that [`SplitQueue::submit`] returned.
    pub head: u16,
    /// Bytes the device says it wrote.
    pub written: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// The size is not a power of two between 1 and [`MAX_QUEUE_SIZE`].
    BadSize(u16),
    /// The region is smaller than [`Layout::total`].
    RegionTooSmall { have: usize, need: usize },
    /// A request needs at least one buffer.
    NoBuffers,
    /// Not enough free descriptors for this chain now.
    Full,
    /// The device's used index jumped by more than the queue size.
    BadUsedIndex { previous: u16, now: u16 },
    /// The device completed a descriptor that is not the head of an in-flight chain.
    BogusCompletion(u32),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSize(s) => write!(f, "queue size {s} is not a power of two up to {MAX_QUEUE_SIZE}"),
            Self::RegionTooSmall { have, need } => write!(f, "queue memory is {have} bytes, {need} needed"),
            Self::NoBuffers => f.write_str("a request without buffers"),
            Self::Full => f.write_str("the queue is full"),
            Self::BadUsedIndex { previous, now } => {
                write!(f, "the device moved its used index from {previous} to {now}")
            }
            Self::BogusCompletion(id) => {
                write!(f, "the device completed descriptor {id}, which was not submitted")
            }
        }
    }
}

/// Driver state of one split virtqueue.
#[derive(Debug, Clone)]
pub struct SplitQueue {
    size: u16,
    layout: Layout,
    free_head: u16,
    free_count: u16,
    /// Our own copy of each descriptor's `next`: the device cannot corrupt our free list.
    next: [u16; MAX_QUEUE_SIZE],
    /// For the head of an in-flight chain, its length; 0 otherwise.
    chain_len: [u16; MAX_QUEUE_SIZE],
    available_index: u16,
    last_used_index: u16,
}

impl SplitQueue {
    /// State for a queue of `size` entries, laid out in `memory` (which is zeroed here).
    pub fn new(size: u16, memory: &mut dyn DmaRegion) -> Result<SplitQueue, QueueError> {
        if size == 0 || !size.is_power_of_two() || size as usize > MAX_QUEUE_SIZE {
            return Err(QueueError::BadSize(size));
        }
        let layout = Layout::for_size(size);
        if memory.len() < layout.total {
            return Err(QueueError::RegionTooSmall { have: memory.len(), need: layout.total });
        }
        let zeros = [0u8; 64];
        let mut offset = 0;
        while offset < layout.total {
            let n = (layout.total - offset).min(zeros.len());
            memory.write(offset, &zeros[..n]);
            offset += n;
        }
        let mut next = [0u16; MAX_QUEUE_SIZE];
        for (i, slot) in next.iter_mut().enumerate().take(size as usize) {
            *slot = (i as u16 + 1) % size;
        }
        Ok(SplitQueue {
            size,
            layout,
            free_head: 0,
            free_count: size,
            next,
            chain_len: [0; MAX_QUEUE_SIZE],
            available_index: 0,
            last_used_index: 0,
        })
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Chains submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.chain_len.iter().filter(|&&n| n != 0).count()
    }

    /// Publishes a chain of buffers to the device; returns its head. The caller then notifies
    /// the device.
    pub fn submit(&mut self, memory: &mut dyn DmaRegion, buffers: &[Buffer]) -> Result<u16, QueueError> {
        if buffers.is_empty() {
            return Err(QueueError::NoBuffers);
        }
        if buffers.len() > self.free_count as usize {
            return Err(QueueError::Full);
        }
        let head = self.free_head;
        let mut index = head;
        for (i, buffer) in buffers.iter().enumerate() {
            let last = i + 1 == buffers.len();
            let mut flags = if buffer.device_writes { DESC_F_WRITE } else { 0 };
            if !last {
                flags |= DESC_F_NEXT;
            }
            let next = if last { 0 } else { self.next[index as usize] };
            let mut descriptor = [0u8; 16];
            descriptor[0..8].copy_from_slice(&buffer.phys.to_le_bytes());
            descriptor[8..12].copy_from_slice(&buffer.len.to_le_bytes());
            descriptor[12..14].copy_from_slice(&flags.to_le_bytes());
            descriptor[14..16].copy_from_slice(&next.to_le_bytes());
            memory.write(self.layout.descriptors + 16 * index as usize, &descriptor);
            let following = self.next[index as usize];
            if !last {
                index = following;
            } else {
                self.free_head = following;
            }
        }
        self.free_count -= buffers.len() as u16;
        self.chain_len[head as usize] = buffers.len() as u16;
        let slot = self.layout.available + 4 + 2 * (self.available_index % self.size) as usize;
        memory.write_u16(slot, head);
        // The ring entry must be visible before the index that publishes it.
        fence(Ordering::SeqCst);
        self.available_index = self.available_index.wrapping_add(1);
        memory.write_u16(self.layout.available + 2, self.available_index);
        fence(Ordering::SeqCst);
        Ok(head)
    }

    /// The next completion the device reported, if any. A device that reports nonsense gets an
    /// error and the queue state is left as it was.
    pub fn poll(&mut self, memory: &dyn DmaRegion) -> Option<Result<Completion, QueueError>> {
        let used_index = memory.read_u16(self.layout.used + 2);
        fence(Ordering::SeqCst);
        if used_index == self.last_used_index {
            return None;
        }
        if used_index.wrapping_sub(self.last_used_index) > self.size {
            return Some(Err(QueueError::BadUsedIndex { previous: self.last_used_index, now: used_index }));
        }
        let element = self.layout.used + 4 + 8 * (self.last_used_index % self.size) as usize;
        let id = memory.read_u32(element);
        let written = memory.read_u32(element + 4);
        if id >= self.size as u32 || self.chain_len[id as usize] == 0 {
            return Some(Err(QueueError::BogusCompletion(id)));
        }
        let head = id as u16;
        let length = self.chain_len[head as usize];
        let mut tail = head;
        for _ in 1..length {
            tail = self.next[tail as usize];
        }
        self.next[tail as usize] = self.free_head;
        self.free_head = head;
        self.free_count += length;
        self.chain_len[head as usize] = 0;
        self.last_used_index = self.last_used_index.wrapping_add(1);
        Some(Ok(Completion { head, written }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Plain memory standing in for DMA memory; physical address = offset + BASE.
    pub struct Memory(pub Vec<u8>);
    pub const BASE: u64 = 0x10_0000;

    impl DmaRegion for Memory {
        fn phys(&self) -> u64 {
            BASE
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn write(&mut self, offset: usize, bytes: &[u8]) {
            self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        fn read(&self, offset: usize, out: &mut [u8]) {
            out.copy_from_slice(&self.0[offset..offset + out.len()]);
        }
        fn write_u16(&mut self, offset: usize, value: u16) {
            assert_eq!(offset % 2, 0, "unaligned index store");
            self.write(offset, &value.to_le_bytes());
        }
        fn read_u16(&self, offset: usize) -> u16 {
            assert_eq!(offset % 2, 0, "unaligned index load");
            u16::from_le_bytes([self.0[offset], self.0[offset + 1]])
        }
        fn read_u32(&self, offset: usize) -> u32 {
            assert_eq!(offset % 4, 0, "unaligned used-ring load");
            u32::from_le_bytes(self.0[offset..offset + 4].try_into().unwrap())
        }
    }

    /// A well-behaved device: completes every available chain, filling device-writable
    /// buffers (which must lie inside `memory`) with `fill`.
    pub fn device_completes(
        memory: &mut Memory,
        layout: Layout,
        size: u16,
        seen: &mut u16,
        used: &mut u16,
        fill: u8,
    ) {
        let available = memory.read_u16(layout.available + 2);
        while *seen != available {
            let head = memory.read_u16(layout.available + 4 + 2 * (*seen % size) as usize);
            let mut index = head;
            let mut written = 0u32;
            loop {
                let d = layout.descriptors + 16 * index as usize;
                let mut raw = [0u8; 16];
                memory.read(d, &mut raw);
                let phys = u64::from_le_bytes(raw[0..8].try_into().unwrap());
                let len = u32::from_le_bytes(raw[8..12].try_into().unwrap());
                let flags = u16::from_le_bytes(raw[12..14].try_into().unwrap());
                if flags & DESC_F_WRITE != 0 {
                    let at = (phys - BASE) as usize;
                    memory.0[at..at + len as usize].fill(fill);
                    written += len;
                }
                if flags & DESC_F_NEXT == 0 {
                    break;
                }
                index = u16::from_le_bytes(raw[14..16].try_into().unwrap());
            }
            let element = layout.used + 4 + 8 * (*used % size) as usize;
            memory.write(element, &(head as u32).to_le_bytes());
            memory.write(element + 4, &written.to_le_bytes());
            *used = used.wrapping_add(1);
            memory.write_u16(layout.used + 2, *used);
            *seen = seen.wrapping_add(1);
        }
    }

    #[test]
    fn layout_matches_the_specification() {
        let l = Layout::for_size(64);
        assert_eq!((l.descriptors, l.available, l.used), (0, 1024, 1160));
        assert_eq!(l.total, 1160 + 6 + 512);
        assert!(Layout::for_size(64).total <= 4096);
    }

    #[test]
    fn chains_round_trip_and_free_their_descriptors() {
        let mut memory = Memory(vec![0; 8192]);
        let mut queue = SplitQueue::new(8, &mut memory).unwrap();
        let layout = queue.layout();
        let (mut seen, mut used) = (0u16, 0u16);
        for round in 0..100u32 {
            let buffers = [
                Buffer { phys: BASE + 4096, len: 16, device_writes: false },
                Buffer { phys: BASE + 4200, len: 512, device_writes: true },
                Buffer { phys: BASE + 5000, len: 1, device_writes: true },
            ];
            let head = queue.submit(&mut memory, &buffers).unwrap();
            assert_eq!(queue.poll(&memory), None);
            device_completes(&mut memory, layout, 8, &mut seen, &mut used, round as u8);
            assert_eq!(queue.poll(&memory), Some(Ok(Completion { head, written: 513 })));
            assert_eq!(queue.in_flight(), 0);
            assert_eq!(memory.0[4200], round as u8);
        }
    }

    #[test]
    fn a_full_queue_refuses_and_recovers() {
        let mut memory = Memory(vec![0; 8192]);
        let mut queue = SplitQueue::new(4, &mut memory).unwrap();
        let buffer = Buffer { phys: BASE + 4096, len: 8, device_writes: true };
        let heads: Vec<u16> = (0..4).map(|_| queue.submit(&mut memory, &[buffer]).unwrap()).collect();
        assert_eq!(queue.submit(&mut memory, &[buffer]), Err(QueueError::Full));
        let layout = queue.layout();
        let (mut seen, mut used) = (0, 0);
        device_completes(&mut memory, layout, 4, &mut seen, &mut used, 1);
        let mut done = Vec::new();
        while let Some(c) = queue.poll(&memory) {
            done.push(c.unwrap().head);
        }
        assert_eq!(done, heads);
        assert!(queue.submit(&mut memory, &[buffer, buffer, buffer, buffer]).is_ok());
    }

    #[test]
    fn bad_sizes_are_refused() {
        let mut memory = Memory(vec![0; 64]);
        assert_eq!(SplitQueue::new(3, &mut memory).unwrap_err(), QueueError::BadSize(3));
        assert_eq!(SplitQueue::new(128, &mut memory).unwrap_err(), QueueError::BadSize(128));
        assert!(matches!(SplitQueue::new(8, &mut memory).unwrap_err(), QueueError::RegionTooSmall { .. }));
    }

    proptest! {
        /// A hostile device writes anything into the used ring: the driver reports errors,
        /// never completes a chain twice or one it did not submit, and never panics.
        #[test]
        fn hostile_used_rings_are_caught(entries in proptest::collection::vec((any::<u16>(), any::<u32>(), any::<u32>()), 1..50)) {
            let mut memory = Memory(vec![0; 8192]);
            let mut queue = SplitQueue::new(16, &mut memory).unwrap();
            let layout = queue.layout();
            let buffer = Buffer { phys: BASE + 4096, len: 8, device_writes: true };
            let mut submitted = std::collections::BTreeSet::new();
            for _ in 0..5 {
                submitted.insert(queue.submit(&mut memory, &[buffer, buffer]).unwrap());
            }
            for (index, id, len) in entries {
                let slot = layout.used + 4 + 8 * (index % 16) as usize;
                memory.write(slot, &id.to_le_bytes());
                memory.write(slot + 4, &len.to_le_bytes());
                memory.write_u16(layout.used + 2, index);
                for _ in 0..20 {
                    match queue.poll(&memory) {
                        None | Some(Err(_)) => break,
                        Some(Ok(c)) => prop_assert!(submitted.remove(&c.head), "completed {} twice", c.head),
                    }
                }
            }
            prop_assert_eq!(queue.in_flight(), submitted.len());
        }
    }
}
