//! Fixed-size stacks in the kernel image for the interrupt stack table.

/// A 16-byte aligned stack of `N` bytes.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(pub [u8; N]);

impl<const N: usize> Stack<N> {
    pub const fn new() -> Self {
        Stack([0; N])
    }
}
