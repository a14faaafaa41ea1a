//! Free memory of an Intel GPU from Level Zero Sysman (`zesMemoryGetState`), through
//! `libze_loader.so.1` opened at run time (no build-time dependency; absent loader = an error
//! the caller reports, then it falls back to OpenVINO's `GPU_DEVICE_TOTAL_MEM_SIZE`).
//!
//! Structure layouts and type tags follow the Sysman spec (`zes_api.h`, 1.x): each output
//! structure is given trailing spare bytes, so a newer driver writing a few more fields cannot
//! run past it. Values are sanity-checked before use. Untested on hardware in this repository's
//! CI (no GPU there): the fallback keeps a wrong reading from mattering more than a warning.

use std::ffi::{c_void, CString};

const ZES_STRUCTURE_TYPE_PCI_PROPERTIES: u32 = 0x2;
const ZES_STRUCTURE_TYPE_MEM_PROPERTIES: u32 = 0xb;
const ZES_STRUCTURE_TYPE_MEM_STATE: u32 = 0x1e;
const ZES_MEM_LOC_DEVICE: u32 = 1;

#[repr(C)]
struct PciProperties {
    stype: u32,
    p_next: *const c_void,
    domain: u32,
    bus: u32,
    device: u32,
    function: u32,
    _rest: [u64; 32],
}

#[repr(C)]
struct MemProperties {
    stype: u32,
    p_next: *const c_void,
    mem_type: u32,
    on_subdevice: u8,
    subdevice_id: u32,
    location: u32,
    physical_size: u64,
    bus_width: i32,
    num_channels: i32,
    _rest: [u64; 16],
}

#[repr(C)]
struct MemState {
    stype: u32,
    p_next: *const c_void,
    health: u32,
    free: u64,
    size: u64,
    _rest: [u64; 16],
}

type Handle = *mut c_void;
type FnInit = unsafe extern "C" fn(u32) -> u32;
type FnDriverGet = unsafe extern "C" fn(*mut u32, *mut Handle) -> u32;
type FnDeviceGet = unsafe extern "C" fn(Handle, *mut u32, *mut Handle) -> u32;
type FnPci = unsafe extern "C" fn(Handle, *mut PciProperties) -> u32;
type FnEnumMem = unsafe extern "C" fn(Handle, *mut u32, *mut Handle) -> u32;
type FnMemProps = unsafe extern "C" fn(Handle, *mut MemProperties) -> u32;
type FnMemState = unsafe extern "C" fn(Handle, *mut MemState) -> u32;

/// Device-local memory of one GPU as Sysman reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuMemory {
    pub pci_address: String,
    pub free: u64,
    pub size: u64,
    pub modules: usize,
}

unsafe fn sym<T: Copy>(lib: *mut c_void, name: &str) -> Result<T, String> {
    let c = CString::new(name).unwrap();
    let p = libc::dlsym(lib, c.as_ptr());
    if p.is_null() {
        return Err(format!("libze_loader.so.1 has no {name}"));
    }
    // SAFETY: T is a function pointer type of the same size as a data pointer.
    Ok(std::mem::transmute_copy::<*mut c_void, T>(&p))
}

fn list(f: impl Fn(*mut u32, *mut Handle) -> u32, what: &str) -> Result<Vec<Handle>, String> {
    let mut n = 0u32;
    let r = f(&mut n, std::ptr::null_mut());
    if r != 0 {
        return Err(format!("{what}: ze_result 0x{r:x}"));
    }
    let mut v = vec![std::ptr::null_mut(); n.min(256) as usize];
    let mut n2 = v.len() as u32;
    let r = f(&mut n2, v.as_mut_ptr());
    if r != 0 {
        return Err(format!("{what}: ze_result 0x{r:x}"));
    }
    v.truncate(n2 as usize);
    Ok(v)
}

/// Free and total device memory of the GPU at `pci_address` (`0000:03:00.0`), or of the only
/// GPU Sysman lists when the address is unknown.
pub fn device_memory(pci_address: Option<&str>) -> Result<GpuMemory, String> {
    let name = CString::new("libze_loader.so.1").unwrap();
    // SAFETY: dlopen/dlsym with valid C strings; the library stays loaded for the process's
    // life (never dlclosed: the driver may have started threads).
    unsafe {
        let lib = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if lib.is_null() {
            return Err("libze_loader.so.1 not found (Level Zero loader not installed)".into());
        }
        let init: FnInit = sym(lib, "zesInit")?;
        let driver_get: FnDriverGet = sym(lib, "zesDriverGet")?;
        let device_get: FnDeviceGet = sym(lib, "zesDeviceGet")?;
        let pci_get: FnPci = sym(lib, "zesDevicePciGetProperties")?;
        let enum_mem: FnEnumMem = sym(lib, "zesDeviceEnumMemoryModules")?;
        let mem_props: FnMemProps = sym(lib, "zesMemoryGetProperties")?;
        let mem_state: FnMemState = sym(lib, "zesMemoryGetState")?;
        let r = init(0);
        if r != 0 {
            return Err(format!("zesInit: ze_result 0x{r:x}"));
        }
        let drivers = list(|n, h| driver_get(n, h), "zesDriverGet")?;
        let mut devices = Vec::new();
        for d in drivers {
            for dev in list(|n, h| device_get(d, n, h), "zesDeviceGet")? {
                let mut p: PciProperties = std::mem::zeroed();
                p.stype = ZES_STRUCTURE_TYPE_PCI_PROPERTIES;
                let addr = if pci_get(dev, &mut p) == 0 {
                    format!(
                        "{:04x}:{:02x}:{:02x}.{:x}",
                        p.domain, p.bus, p.device, p.function
                    )
                } else {
                    String::new()
                };
                devices.push((dev, addr));
            }
        }
        let chosen = match pci_address {
            Some(want) => devices
                .iter()
                .find(|(_, a)| a.eq_ignore_ascii_case(want))
                .ok_or_else(|| {
                    format!(
                        "Sysman lists no GPU at {want} (it lists [{}])",
                        devices
                            .iter()
                            .map(|(_, a)| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?,
            None if devices.len() == 1 => &devices[0],
            None => {
                return Err(format!(
                    "{} GPUs listed by Sysman and no PCI address to choose by",
                    devices.len()
                ))
            }
        };
        let mut out = GpuMemory {
            pci_address: chosen.1.clone(),
            free: 0,
            size: 0,
            modules: 0,
        };
        for m in list(
            |n, h| enum_mem(chosen.0, n, h),
            "zesDeviceEnumMemoryModules",
        )? {
            let mut p: MemProperties = std::mem::zeroed();
            p.stype = ZES_STRUCTURE_TYPE_MEM_PROPERTIES;
            if mem_props(m, &mut p) != 0 || p.location != ZES_MEM_LOC_DEVICE {
                continue;
            }
            let mut s: MemState = std::mem::zeroed();
            s.stype = ZES_STRUCTURE_TYPE_MEM_STATE;
            if mem_state(m, &mut s) != 0 {
                continue;
            }
            if s.size == 0 || s.free > s.size || s.size > (1u64 << 42) {
                return Err(format!(
                    "implausible zesMemoryGetState reading: free {} size {}",
                    s.free, s.size
                ));
            }
            out.free += s.free;
            out.size += s.size;
            out.modules += 1;
        }
        if out.modules == 0 {
            return Err(format!(
                "Sysman reports no device-local memory module for {}",
                out.pci_address
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn absent_or_present_loader_does_not_crash() {
        match super::device_memory(None) {
            Ok(m) => assert!(m.size > 0 && m.free <= m.size),
            Err(e) => assert!(!e.is_empty()),
        }
    }
}
