//! The 8254 PIT (ports 0x40-0x43) and port 0x61 (channel 2 gate, speaker, OUT2, refresh).
//!
//! Counters are computed from guest time on every read, so the PIT is as exact as the time the
//! caller passes in: Linux's PIT-based TSC calibration works if exits are fast enough, and
//! when they are not (nested TCG), Linux does not need it because kvmclock gives it the TSC
//! frequency. Channel 0 raises ISA IRQ 0 on each rising edge of OUT0 (modes 0, 2, 3, 4), which
//! Linux's I/O APIC timer check and its PIT clockevent rely on.
//!
//! Simplifications, none of which Linux depends on: counting is binary even when the BCD bit is
//! set (the bit is stored and reported in the status byte); a new count written while a
//! periodic mode counts takes effect at once rather than at the next reload; a low gate does
//! not pause modes 0 and 4 (it restarts modes 1, 2, 3, 5 on its rising edge, as on hardware).

use crate::time::{mul_div, mul_div_ceil, NS_PER_SECOND};

/// The PIT input clock.
pub const PIT_FREQUENCY_HZ: u64 = 1_193_182;
/// DRAM refresh period that bit 4 of port 0x61 toggles with.
const REFRESH_PERIOD_NS: u64 = 15_085;

#[derive(Debug, Clone, Default)]
struct Channel {
    mode: u8,
    access: u8,
    bcd: bool,
    /// The reload value (0 means 0x10000).
    reload: u16,
    counting: bool,
    null_count: bool,
    load_time_ns: u64,
    write_high_next: bool,
    pending_low: u8,
    read_high_next: bool,
    latched_count: Option<u16>,
    latched_high_next: bool,
    latched_status: Option<u8>,
    gate: bool,
    next_edge_ns: Option<u64>,
}

impl Channel {
    fn period_ticks(&self) -> u64 {
        if self.reload == 0 {
            0x10000
        } else {
            u64::from(self.reload)
        }
    }

    fn ticks(&self, now_ns: u64) -> u64 {
        mul_div(now_ns.saturating_sub(self.load_time_ns), PIT_FREQUENCY_HZ, NS_PER_SECOND)
    }

    fn ns_at_tick(&self, tick: u64) -> u64 {
        self.load_time_ns.saturating_add(mul_div_ceil(tick, NS_PER_SECOND, PIT_FREQUENCY_HZ))
    }

    fn count(&self, now_ns: u64) -> u16 {
        if !self.counting {
            return self.reload;
        }
        let d = self.ticks(now_ns);
        let n = self.period_ticks();
        let value = match self.mode {
            2 => n - d % n,
            3 => n.wrapping_sub((2 * d) % n),
            _ => n.wrapping_sub(d),
        };
        value as u16
    }

    fn out(&self, now_ns: u64) -> bool {
        if !self.counting {
            return self.mode != 0;
        }
        let d = self.ticks(now_ns);
        let n = self.period_ticks();
        match self.mode {
            0 => d >= n,
            1 => d >= n,
            2 => d % n != n - 1,
            3 => d % n < n.div_ceil(2),
            _ => d != n,
        }
    }

    /// The next time OUT rises after `now_ns`, for the modes that produce edges on their own.
    fn next_edge_after(&self, now_ns: u64) -> Option<u64> {
        if !self.counting {
            return None;
        }
        let n = self.period_ticks();
        let d = self.ticks(now_ns);
        match self.mode {
            0 if d < n => Some(self.ns_at_tick(n)),
            4 if d <= n => Some(self.ns_at_tick(n + 1)),
            2 | 3 => Some(self.ns_at_tick((d / n + 1) * n)),
            _ => None,
        }
    }

    fn status(&self, now_ns: u64) -> u8 {
        (u8::from(self.out(now_ns)) << 7)
            | (u8::from(self.null_count) << 6)
            | (self.access << 4)
            | (self.mode << 1)
            | u8::from(self.bcd)
    }

    fn load(&mut self, now_ns: u64) {
        self.counting = true;
        self.null_count = false;
        self.load_time_ns = now_ns;
        self.next_edge_ns = self.next_edge_after(now_ns);
    }

    fn write_count(&mut self, value: u8, now_ns: u64) {
        match self.access {
            1 => {
                self.reload = u16::from(value);
                self.load(now_ns);
            }
            2 => {
                self.reload = u16::from(value) << 8;
                self.load(now_ns);
            }
            _ => {
                if self.write_high_next {
                    self.reload = u16::from(self.pending_low) | (u16::from(value) << 8);
                    self.write_high_next = false;
                    self.load(now_ns);
                } else {
                    self.pending_low = value;
                    self.write_high_next = true;
                    // Mode 0 drops OUT as soon as the first byte arrives.
                    if self.mode == 0 {
                        self.counting = false;
                        self.next_edge_ns = None;
                    }
                }
            }
        }
    }

    fn read_counter(&mut self, now_ns: u64) -> u8 {
        if let Some(status) = self.latched_status.take() {
            return status;
        }
        let (value, high) = match self.latched_count {
            Some(latched) => {
                let high = self.access == 2 || (self.access == 3 && self.latched_high_next);
                if self.access == 3 && !self.latched_high_next {
                    self.latched_high_next = true;
                } else {
                    self.latched_count = None;
                    self.latched_high_next = false;
                }
                (latched, high)
            }
            None => {
                let high = self.access == 2 || (self.access == 3 && self.read_high_next);
                if self.access == 3 {
                    self.read_high_next = !self.read_high_next;
                }
                (self.count(now_ns), high)
            }
        };
        if high {
            (value >> 8) as u8
        } else {
            value as u8
        }
    }

    fn latch_count(&mut self, now_ns: u64) {
        if self.latched_count.is_none() {
            self.latched_count = Some(self.count(now_ns));
            self.latched_high_next = false;
        }
    }

    fn set_gate(&mut self, gate: bool, now_ns: u64) {
        let rising = gate && !self.gate;
        self.gate = gate;
        if rising && self.counting && matches!(self.mode, 1 | 2 | 3 | 5) {
            self.load(now_ns);
        }
    }
}

/// The three PIT channels and port 0x61.
#[derive(Debug, Clone)]
pub struct Pit {
    channels: [Channel; 3],
    port61: u8,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit {
    /// Power-up state: nothing counting; channels 0 and 1 have their gates tied high.
    pub fn new() -> Self {
        let mut channels: [Channel; 3] = Default::default();
        channels[0].gate = true;
        channels[1].gate = true;
        for c in &mut channels {
            c.access = 3;
        }
        Self { channels, port61: 0 }
    }

    /// Reads port 0x40-0x43 (0x43 reads as 0xFF: the control word is write-only).
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].read_counter(now_ns),
            _ => 0xFF,
        }
    }

    /// Writes port 0x40-0x43.
    pub fn write(&mut self, port: u16, value: u8, now_ns: u64) {
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].write_count(value, now_ns),
            0x43 => self.write_control(value, now_ns),
            _ => {}
        }
    }

    fn write_control(&mut self, value: u8, now_ns: u64) {
        let select = value >> 6;
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
            for (i, channel) in self.channels.iter_mut().enumerate() {
                if value & (2 << i) == 0 {
                    continue;
                }
                if value & 0x10 == 0 && channel.latched_status.is_none() {
                    channel.latched_status = Some(channel.status(now_ns));
                }
                if value & 0x20 == 0 {
                    channel.latch_count(now_ns);
                }
            }
            return;
        }
        let channel = &mut self.channels[usize::from(select)];
        let access = (value >> 4) & 3;
        if access == 0 {
            channel.latch_count(now_ns);
            return;
        }
        let mode = (value >> 1) & 7;
        channel.mode = if mode >= 6 { mode - 4 } else { mode };
        channel.access = access;
        channel.bcd = value & 1 != 0;
        channel.counting = false;
        channel.null_count = true;
        channel.write_high_next = false;
        channel.read_high_next = false;
        channel.latched_count = None;
        channel.latched_status = None;
        channel.next_edge_ns = None;
    }

    /// Reads port 0x61.
    pub fn read_port61(&self, now_ns: u64) -> u8 {
        let refresh = ((now_ns / REFRESH_PERIOD_NS) & 1) as u8;
        let out2 = u8::from(self.channels[2].out(now_ns));
        (self.port61 & 0x0F) | (refresh << 4) | (out2 << 5)
    }

    /// Writes port 0x61: bit 0 is the channel 2 gate, bit 1 the speaker enable.
    pub fn write_port61(&mut self, value: u8, now_ns: u64) {
        self.port61 = value & 0x0F;
        self.channels[2].set_gate(value & 1 != 0, now_ns);
    }

    /// Processes time up to `now_ns`; true if channel 0's OUT rose (one IRQ 0 edge, however many
    /// periods were missed).
    pub fn advance(&mut self, now_ns: u64) -> bool {
        let channel = &mut self.channels[0];
        match channel.next_edge_ns {
            Some(edge) if now_ns >= edge => {
                channel.next_edge_ns = channel.next_edge_after(now_ns);
                true
            }
            _ => false,
        }
    }

    /// When channel 0 next raises IRQ 0.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.channels[0].next_edge_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns_for_ticks(ticks: u64) -> u64 {
        mul_div_ceil(ticks, NS_PER_SECOND, PIT_FREQUENCY_HZ)
    }

    #[test]
    fn channel2_mode0_as_linux_calibrates() {
        let mut pit = Pit::new();
        pit.write_port61((pit.read_port61(0) & !0x02) | 0x01, 0);
        pit.write(0x43, 0xB0, 0);
        pit.write(0x42, 0xFF, 1000);
        pit.write(0x42, 0xFF, 1000);
        assert_eq!(pit.read_port61(1000) & 0x20, 0, "OUT2 low while counting");
        let t = 1000 + ns_for_ticks(0x100);
        let lo = pit.read(0x42, t);
        let hi = pit.read(0x42, t);
        assert_eq!(u16::from(lo) | (u16::from(hi) << 8), 0xFFFF - 0x100);
        assert_ne!(pit.read_port61(1000 + ns_for_ticks(0xFFFF)) & 0x20, 0, "OUT2 high at terminal count");
    }

    #[test]
    fn latch_and_read_back() {
        let mut pit = Pit::new();
        pit.write(0x43, 0x34, 0); // ch0 lo/hi mode 2
        pit.write(0x40, 0x00, 0);
        pit.write(0x40, 0x10, 0); // 0x1000
        pit.write(0x43, 0x00, ns_for_ticks(0x10)); // latch ch0
        let later = ns_for_ticks(0x800);
        assert_eq!(pit.read(0x40, later), 0xF0);
        assert_eq!(pit.read(0x40, later), 0x0F);
        // Read-back status + count of channel 0.
        pit.write(0x43, 0xC2, later);
        let status = pit.read(0x40, later);
        assert_eq!(status & 0x3F, (3 << 4) | (2 << 1));
        assert_eq!(status & 0x80, 0x80, "mode 2 OUT high mid-period");
        let lo = pit.read(0x40, later);
        let hi = pit.read(0x40, later);
        assert_eq!(u16::from(lo) | (u16::from(hi) << 8), 0x800);
    }

    #[test]
    fn channel0_periodic_irq_edges() {
        let mut pit = Pit::new();
        pit.write(0x43, 0x34, 0);
        pit.write(0x40, 0xA9, 0);
        pit.write(0x40, 0x04, 0); // 1193 ticks ~ 1 ms
        let period = ns_for_ticks(1193);
        assert_eq!(pit.next_deadline_ns(), Some(period));
        assert!(!pit.advance(period - 1));
        assert!(pit.advance(period));
        assert_eq!(pit.next_deadline_ns(), Some(ns_for_ticks(2 * 1193)));
        // Missing several periods yields one edge and a future deadline.
        assert!(pit.advance(10 * period + 5));
        assert!(pit.next_deadline_ns().unwrap() > 10 * period + 5);
    }

    #[test]
    fn channel0_one_shot_modes() {
        let mut pit = Pit::new();
        pit.write(0x43, 0x30, 0); // mode 0
        pit.write(0x40, 100, 0);
        pit.write(0x40, 0, 0);
        assert!(pit.advance(ns_for_ticks(100)));
        assert_eq!(pit.next_deadline_ns(), None);
        pit.write(0x43, 0x38, 0); // mode 4: edge one tick after terminal count
        pit.write(0x40, 100, 0);
        pit.write(0x40, 0, 0);
        assert_eq!(pit.next_deadline_ns(), Some(ns_for_ticks(101)));
    }

    #[test]
    fn square_wave_and_gate_restart() {
        let mut pit = Pit::new();
        pit.write(0x43, 0xB6, 0); // ch2 mode 3
        pit.write(0x42, 100, 0);
        pit.write(0x42, 0, 0);
        pit.write_port61(1, 0);
        assert_ne!(pit.read_port61(ns_for_ticks(10)) & 0x20, 0);
        assert_eq!(pit.read_port61(ns_for_ticks(60)) & 0x20, 0);
        // Gate low then high restarts the count.
        pit.write_port61(0, ns_for_ticks(60));
        pit.write_port61(1, ns_for_ticks(70));
        let lo = pit.read(0x42, ns_for_ticks(70));
        assert_eq!(lo, 100);
    }

    #[test]
    fn refresh_bit_toggles() {
        let pit = Pit::new();
        assert_ne!(pit.read_port61(0) & 0x10, pit.read_port61(REFRESH_PERIOD_NS) & 0x10);
    }
}
