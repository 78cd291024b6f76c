//! A text console on the GOP framebuffer.
//!
//! Characters go into a grid of cells whose rows form a ring (scrolling moves the ring's top,
//! nothing is copied); [`FbConsole::flush`] draws the cells that changed, from glyphs
//! pre-rendered in the screen's pixel format. It understands the few terminal sequences the
//! shell uses (`\r`, `\n`, backspace, tab, `ESC[nA/B/C/D`, `ESC[K`, `ESC[2J`, `ESC[H`) and
//! ignores the rest (colours), so the screen shows the same text as the serial console.

use alloc::vec;
use alloc::vec::Vec;

use noto_sans_mono_bitmap::{get_raster, get_raster_width, FontWeight, RasterHeight};
use rayos_bootinfo::{Framebuffer, PixelFormat};

const FONT_WEIGHT: FontWeight = FontWeight::Regular;
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
const GLYPH_WIDTH: usize = get_raster_width(FONT_WEIGHT, FONT_HEIGHT);
const GLYPH_HEIGHT: usize = FONT_HEIGHT.val();
/// One row of a glyph's pixels, written to the framebuffer as one store sequence (a few wide
/// moves) rather than pixel by pixel: under QEMU's TCG every guest store is a trip through
/// its software MMU, and the screen's stores cost more than its text's logic.
type GlyphRow = [u32; GLYPH_WIDTH];
type Glyph = [GlyphRow; GLYPH_HEIGHT];
const BACKGROUND: (u8, u8, u8) = (0x10, 0x14, 0x1C);
const FOREGROUND: (u8, u8, u8) = (0xD8, 0xDC, 0xE0);
const MARGIN_PIXELS: usize = 4;
const MAX_CSI_PARAMETERS: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Start,
    Csi { params: [u16; MAX_CSI_PARAMETERS], count: usize, has_digit: bool },
}

pub struct FbConsole {
    pixels: *mut u32,
    stride: usize,
    columns: usize,
    rows: usize,
    cells: Vec<char>,
    /// Ring index of the top visible row.
    top: usize,
    cursor_row: usize,
    cursor_column: usize,
    dirty: Vec<bool>,
    /// The character drawn at each screen position (row-major, `rows * columns`): a redraw
    /// draws only the cells whose character changed. A scroll moves every row, but most of a
    /// screen is blank on both sides, so it redraws the text only: under QEMU's software
    /// emulation the full 1280x800 redraws after a shell command took about 11 ms and left
    /// the emulator's caches cold for the next command (a System 2 read typed at the shell
    /// took about twice as long as the same read repeated; round 19 of the intent engine's
    /// PROVENANCE.md).
    on_screen: Vec<char>,
    drawn_cursor: Option<(usize, usize)>,
    escape: Escape,
    pixel_format: PixelFormat,
    /// Pre-rendered printable ASCII glyphs.
    ascii_glyphs: Vec<Glyph>,
    background: u32,
    /// Pending UTF-8 bytes of a character split across writes.
    utf8: [u8; 4],
    utf8_len: usize,
}

// SAFETY: the framebuffer pointer is only used behind the console lock.
unsafe impl Send for FbConsole {}

fn encode(format: PixelFormat, (r, g, b): (u8, u8, u8)) -> u32 {
    match format {
        PixelFormat::Bgr => (r as u32) << 16 | (g as u32) << 8 | b as u32,
        PixelFormat::Rgb => (b as u32) << 16 | (g as u32) << 8 | r as u32,
    }
}

fn blend(intensity: u8) -> (u8, u8, u8) {
    let mix = |bg: u8, fg: u8| (bg as u32 + (fg as u32 - bg as u32) * intensity as u32 / 255) as u8;
    (mix(BACKGROUND.0, FOREGROUND.0), mix(BACKGROUND.1, FOREGROUND.1), mix(BACKGROUND.2, FOREGROUND.2))
}

/// Why the firmware's framebuffer cannot hold the console, if it cannot: every pixel the
/// console writes must lie in the `size_bytes` that are mapped, and one cell must fit.
fn unusable(fb: &Framebuffer) -> Option<&'static str> {
    let (width, height, stride) = (fb.width as u64, fb.height as u64, fb.stride_pixels as u64);
    if stride < width {
        Some("its scan lines are shorter than its width")
    } else if stride * height * 4 > fb.size_bytes {
        Some("it is smaller than its width, height and scan line say")
    } else if width < (2 * MARGIN_PIXELS + GLYPH_WIDTH) as u64
        || height < (2 * MARGIN_PIXELS + GLYPH_HEIGHT) as u64
    {
        Some("it is too small for one character")
    } else {
        None
    }
}

impl FbConsole {
    /// The console on `fb`, or why `fb` cannot hold it ([`unusable`]).
    ///
    /// # Safety
    /// `virt_base` must map `fb.size_bytes` bytes of the framebuffer for the kernel's lifetime.
    pub unsafe fn new(fb: &Framebuffer, virt_base: u64) -> Result<FbConsole, &'static str> {
        if let Some(why) = unusable(fb) {
            return Err(why);
        }
        let columns = (fb.width as usize - 2 * MARGIN_PIXELS) / GLYPH_WIDTH;
        let rows = (fb.height as usize - 2 * MARGIN_PIXELS) / GLYPH_HEIGHT;
        let ascii_glyphs = (' '..='~').map(|c| render_glyph(c, fb.format)).collect();
        let mut console = FbConsole {
            pixels: virt_base as *mut u32,
            stride: fb.stride_pixels as usize,
            columns,
            rows,
            cells: vec![' '; columns * rows],
            top: 0,
            cursor_row: 0,
            cursor_column: 0,
            dirty: vec![true; rows],
            on_screen: vec![' '; columns * rows],
            drawn_cursor: None,
            escape: Escape::None,
            pixel_format: fb.format,
            ascii_glyphs,
            background: encode(fb.format, BACKGROUND),
            utf8: [0; 4],
            utf8_len: 0,
        };
        console.fill_screen(fb.width as usize, fb.height as usize);
        Ok(console)
    }

    pub fn size(&self) -> (usize, usize) {
        (self.columns, self.rows)
    }

    fn fill_screen(&mut self, width: usize, height: usize) {
        for y in 0..height {
            for x in 0..width {
                // SAFETY: inside the mapped framebuffer (y < height, x < width <= stride, and
                // stride * height pixels are mapped: checked by `unusable`).
                unsafe { self.pixels.add(y * self.stride + x).write_volatile(self.background) };
            }
        }
    }

    fn cell_index(&self, row: usize, column: usize) -> usize {
        ((self.top + row) % self.rows) * self.columns + column
    }

    fn put_char(&mut self, c: char) {
        if self.cursor_column >= self.columns {
            self.new_line();
        }
        let index = self.cell_index(self.cursor_row, self.cursor_column);
        self.cells[index] = c;
        self.dirty[self.cursor_row] = true;
        self.cursor_column += 1;
    }

    fn new_line(&mut self) {
        self.cursor_column = 0;
        if self.cursor_row + 1 < self.rows {
            self.cursor_row += 1;
        } else {
            self.top = (self.top + 1) % self.rows;
            let last = self.cell_index(self.rows - 1, 0);
            self.cells[last..last + self.columns].fill(' ');
            self.dirty.fill(true);
        }
    }

    fn erase_to_end_of_line(&mut self) {
        let start = self.cell_index(self.cursor_row, 0);
        self.cells[start + self.cursor_column.min(self.columns)..start + self.columns].fill(' ');
        self.dirty[self.cursor_row] = true;
    }

    pub fn clear(&mut self) {
        self.cells.fill(' ');
        self.top = 0;
        self.cursor_row = 0;
        self.cursor_column = 0;
        self.dirty.fill(true);
    }

    /// Feeds output bytes (UTF-8 with terminal control sequences).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }

    fn write_byte(&mut self, b: u8) {
        match self.escape {
            Escape::Start => {
                self.escape = if b == b'[' {
                    Escape::Csi { params: [0; MAX_CSI_PARAMETERS], count: 0, has_digit: false }
                } else {
                    Escape::None
                };
                return;
            }
            Escape::Csi { mut params, mut count, has_digit } => {
                match b {
                    b'0'..=b'9' => {
                        let slot = count.min(MAX_CSI_PARAMETERS - 1);
                        params[slot] = params[slot].saturating_mul(10).saturating_add((b - b'0') as u16);
                        self.escape = Escape::Csi { params, count, has_digit: true };
                    }
                    b';' => {
                        count = (count + 1).min(MAX_CSI_PARAMETERS - 1);
                        self.escape = Escape::Csi { params, count, has_digit: false };
                    }
                    0x40..=0x7E => {
                        self.escape = Escape::None;
                        let n = if has_digit || count > 0 { params[0].max(1) as usize } else { 1 };
                        self.csi(b, n, &params);
                    }
                    _ => self.escape = Escape::None,
                }
                return;
            }
            Escape::None => {}
        }
        if self.utf8_len > 0 || b >= 0x80 {
            self.utf8[self.utf8_len.min(3)] = b;
            self.utf8_len = (self.utf8_len + 1).min(4);
            match core::str::from_utf8(&self.utf8[..self.utf8_len]) {
                Ok(s) => {
                    let c = s.chars().next().unwrap_or('?');
                    self.utf8_len = 0;
                    self.put_char(c);
                }
                Err(e) if e.error_len().is_some() || self.utf8_len == 4 => {
                    self.utf8_len = 0;
                    self.put_char('\u{FFFD}');
                }
                Err(_) => {} // incomplete: wait for more bytes
            }
            return;
        }
        match b {
            b'\n' => self.new_line(),
            b'\r' => self.cursor_column = 0,
            0x08 => self.cursor_column = self.cursor_column.saturating_sub(1),
            b'\t' => {
                let next = (self.cursor_column / 8 + 1) * 8;
                while self.cursor_column < next.min(self.columns) {
                    self.put_char(' ');
                }
            }
            0x1B => self.escape = Escape::Start,
            0x00..=0x1F | 0x7F => {}
            _ => self.put_char(b as char),
        }
    }

    fn csi(&mut self, command: u8, n: usize, params: &[u16; MAX_CSI_PARAMETERS]) {
        match command {
            b'A' => self.cursor_row = self.cursor_row.saturating_sub(n),
            b'B' => self.cursor_row = (self.cursor_row + n).min(self.rows - 1),
            b'C' => self.cursor_column = (self.cursor_column + n).min(self.columns - 1),
            b'D' => self.cursor_column = self.cursor_column.saturating_sub(n),
            b'K' => self.erase_to_end_of_line(),
            b'J' if params[0] == 2 => self.clear(),
            b'H' => {
                self.cursor_row = (params[0].max(1) as usize - 1).min(self.rows - 1);
                self.cursor_column = (params[1].max(1) as usize - 1).min(self.columns - 1);
            }
            _ => {}
        }
    }

    /// Forgets what the screen shows, so that the next [`flush`](FbConsole::flush) draws every
    /// cell: for the fatal path, which may have interrupted a flush in the middle of a cell.
    pub fn forget_what_is_drawn(&mut self) {
        self.on_screen.fill('\0');
        self.dirty.fill(true);
    }

    /// Draws every changed row and the cursor.
    pub fn flush(&mut self) {
        let cursor = (self.cursor_row, self.cursor_column.min(self.columns - 1));
        if let Some((row, _)) = self.drawn_cursor {
            if self.drawn_cursor != Some(cursor) {
                self.dirty[row] = true;
            }
        }
        self.dirty[cursor.0] = true;
        for row in 0..self.rows {
            if !core::mem::replace(&mut self.dirty[row], false) {
                continue;
            }
            let first = self.cell_index(row, 0);
            let shown = row * self.columns..(row + 1) * self.columns;
            let cursor_in_row = cursor.0 == row || self.drawn_cursor.is_some_and(|(r, _)| r == row);
            if !cursor_in_row && self.cells[first..first + self.columns] == self.on_screen[shown.clone()] {
                continue;
            }
            for column in 0..self.columns {
                let c = self.cells[first + column];
                let with_cursor = (row, column) == cursor;
                let had_cursor = self.drawn_cursor == Some((row, column));
                let at = shown.start + column;
                if self.on_screen[at] != c || with_cursor || had_cursor {
                    self.draw_cell(row, column, c, with_cursor);
                    self.on_screen[at] = c;
                }
            }
        }
        self.drawn_cursor = Some(cursor);
    }

    fn draw_cell(&self, row: usize, column: usize, c: char, with_cursor: bool) {
        let x0 = MARGIN_PIXELS + column * GLYPH_WIDTH;
        let y0 = MARGIN_PIXELS + row * GLYPH_HEIGHT;
        // Other characters are rasterized on the stack: this runs on the fatal path too, where
        // allocating could wait forever on a heap lock the dead context held.
        let rendered;
        let glyph: &Glyph = if (' '..='~').contains(&c) {
            &self.ascii_glyphs[c as usize - ' ' as usize]
        } else {
            rendered = render_glyph(c, self.pixel_format);
            &rendered
        };
        let cursor_row: GlyphRow = [encode(self.pixel_format, FOREGROUND); GLYPH_WIDTH];
        for (y, pixels) in glyph.iter().enumerate() {
            let pixels = if with_cursor && y >= GLYPH_HEIGHT - 2 { &cursor_row } else { pixels };
            // SAFETY: the cell lies inside the framebuffer: columns and rows were computed from
            // its size minus the margins, so x0 + GLYPH_WIDTH <= width <= stride and
            // y0 + y < height, all mapped (`unusable` checked the framebuffer's geometry).
            unsafe {
                self.pixels.add((y0 + y) * self.stride + x0).cast::<GlyphRow>().write_unaligned(*pixels)
            };
        }
    }
}

fn render_glyph(c: char, format: PixelFormat) -> Glyph {
    let raster =
        get_raster(c, FONT_WEIGHT, FONT_HEIGHT).or_else(|| get_raster('\u{FFFD}', FONT_WEIGHT, FONT_HEIGHT));
    let mut glyph = [[encode(format, BACKGROUND); GLYPH_WIDTH]; GLYPH_HEIGHT];
    let Some(raster) = raster else { return glyph };
    for (pixels, row) in glyph.iter_mut().zip(raster.rows()) {
        for (pixel, &intensity) in pixels.iter_mut().zip(row) {
            *pixel = encode(format, blend(intensity));
        }
    }
    glyph
}
