//! What the worker got: the OpenVINO runtime loaded, the devices it sees and the CPUs it may
//! use ([`seen`], checked by `verify`), then the identity of the device used ([`identify`]).

use super::output::{log, Failure};
use arcwhisper_worker::affinity;
use arcwhisper_worker::device::DeviceSpec;
use std::path::PathBuf;
use worker_protocol::ErrorKind;

/// The OpenVINO runtime as loaded in this process.
pub struct Runtime {
    /// Path of the OpenVINO C library loaded.
    pub path: PathBuf,
    core: openvino::Core,
}

/// What the worker sees from inside: OpenVINO's devices, its CPUs, its Level Zero mask.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// OpenVINO's `available_devices`.
    pub visible: Vec<String>,
    /// CPUs the worker may run on (`sched_getaffinity`).
    pub allowed_cpus: Vec<usize>,
    /// `ZE_AFFINITY_MASK` in the environment.
    pub ze_mask: Option<String>,
}

/// The identity of the device used, as OpenVINO reports it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// `FULL_DEVICE_NAME` ("" when OpenVINO does not say).
    pub full_name: String,
    /// `DEVICE_UUID` (GPU only).
    pub uuid: Option<String>,
    /// PCI address from `DEVICE_PCI_INFO` (GPU only).
    pub pci_address: Option<String>,
    /// `GPU_DEVICE_TOTAL_MEM_SIZE` (GPU only).
    pub gpu_total_memory: Option<u64>,
}

/// Loads the OpenVINO C library and creates a core (dropped once the device is known: models
/// are compiled by the engine's own).
pub fn load_runtime() -> Result<Runtime, Failure> {
    let path =
        whisper_engine::load_runtime().map_err(|e| (ErrorKind::Runtime, format!("{e:#}")))?;
    log(&format!("runtime path={}", path.display()));
    let core =
        openvino::Core::new().map_err(|e| (ErrorKind::Runtime, format!("OpenVINO core: {e}")))?;
    Ok(Runtime { path, core })
}

/// What OpenVINO and the kernel show this process.
pub fn seen(rt: &Runtime) -> Result<Seen, Failure> {
    let visible = rt
        .core
        .available_devices()
        .map_err(|e| {
            (
                ErrorKind::Runtime,
                format!("OpenVINO available_devices: {e}"),
            )
        })?
        .iter()
        .map(|d| d.as_ref().to_string())
        .collect();
    Ok(Seen {
        visible,
        allowed_cpus: affinity::current_affinity().unwrap_or_default(),
        ze_mask: std::env::var("ZE_AFFINITY_MASK").ok(),
    })
}

/// Asks OpenVINO who `openvino_device` is (after verification: the device exists).
pub fn identify(rt: &Runtime, spec: &DeviceSpec, openvino_device: &str) -> Identity {
    let ovdev = openvino::DeviceType::from(openvino_device);
    let prop = |key: &'static str| -> Option<String> {
        rt.core
            .get_property(&ovdev, &openvino::PropertyKey::Other(key.into()))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut id = Identity {
        full_name: prop("FULL_DEVICE_NAME").unwrap_or_default(),
        ..Default::default()
    };
    if spec.is_gpu() {
        let raw = prop("DEVICE_PCI_INFO");
        id.pci_address = raw.as_deref().and_then(pci_from_ov);
        if raw.is_some() && id.pci_address.is_none() {
            log(&format!(
                "warning DEVICE_PCI_INFO {raw:?} not understood; no PCI address reported"
            ));
        }
        id.uuid = prop("DEVICE_UUID");
        id.gpu_total_memory = prop("GPU_DEVICE_TOTAL_MEM_SIZE").and_then(|s| s.parse().ok());
    }
    id
}

/// OpenVINO prints `DEVICE_PCI_INFO` as `{domain: 0 bus: 3 device: 0x0 function: 0}` (the exact
/// punctuation varies by version); turn it into `0000:03:00.0`. `None` when the four numbers
/// are not all there (the element then skips its PCI check rather than compare garbage).
pub fn pci_from_ov(s: &str) -> Option<String> {
    let num = |key: &str| -> Option<u32> {
        let i = s.find(key)? + key.len();
        let rest = s[i..].trim_start_matches([':', ' ', '=']);
        let tok: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match tok.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => tok.parse().ok(),
        }
    };
    match (num("domain"), num("bus"), num("device"), num("function")) {
        (Some(d), Some(b), Some(v), Some(f)) => Some(format!("{d:04x}:{b:02x}:{v:02x}.{f:x}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_info_parsing() {
        assert_eq!(
            pci_from_ov("{domain: 0 bus: 3 device: 0x0 function: 0}").as_deref(),
            Some("0000:03:00.0")
        );
        assert_eq!(
            pci_from_ov("{domain: 0, bus: 28, device: 0x1f, function: 1}").as_deref(),
            Some("0000:1c:1f.1")
        );
        assert_eq!(pci_from_ov("weird"), None);
    }
}
