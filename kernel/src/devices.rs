//! The list of platform devices found at boot, for the `devices` command.

use alloc::string::String;
use alloc::vec::Vec;

use crate::sync::IrqMutex;

#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub description: String,
    /// The RayOS driver using it, or `None`.
    pub driver: Option<&'static str>,
}

static DEVICES: IrqMutex<Vec<Device>> = IrqMutex::new(Vec::new());

pub fn register(name: &str, description: String, driver: Option<&'static str>) {
    DEVICES.lock().push(Device { name: String::from(name), description, driver });
}

pub fn list() -> Vec<Device> {
    DEVICES.lock().clone()
}
