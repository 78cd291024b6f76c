//! The RayOS shell's input handling, independent of any console.
//!
//! - [`editor::LineEditor`] turns raw input bytes (from a serial line or a keyboard) into
//!   finished lines, echoing what the user should see, with backspace, cursor keys, history and
//!   clear errors for input that cannot be a command.
//! - [`args::split`] splits a line into words with shell-like quoting.
//! - [`commands`] is the table of commands with their help texts, and suggestions for
//!   mistyped names.
//!
//! It does not run commands: the kernel does, and prints the result markers.
//!
//! # Invariants
//! - Any byte sequence fed to the editor yields at most a [`editor::LineError`]; it never
//!   panics and never grows memory without bound (lines are capped at
//!   [`editor::MAX_LINE_BYTES`], history at [`editor::HISTORY_LINES`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod commands;
pub mod editor;
pub mod options;
