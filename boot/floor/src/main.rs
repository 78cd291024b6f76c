//! The firmware floor: the smallest UEFI application that prints one line.
//!
//! `cargo xtask bench boot` boots it the same way as RayOS to measure how long the firmware
//! alone takes to start an application: the part of every boot-time figure RayOS cannot
//! change. After printing its marker it powers the machine off.
#![no_std]
#![no_main]

use core::fmt::Write;

use uefi::prelude::*;
use uefi::runtime::ResetType;

#[entry]
fn main() -> Status {
    uefi::system::with_stdout(|out| {
        let _ = writeln!(out, "{}", rayos_markers::FLOOR.with(&[]));
    });
    uefi::runtime::reset(ResetType::SHUTDOWN, Status::SUCCESS, None)
}
