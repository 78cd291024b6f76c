//! CPU-specific code. Everything outside `arch` names `arch::*` items only, so a second
//! architecture adds a sibling module with the same names.

pub mod x86_64;
pub use self::x86_64::*;
