//! Device grammar -> pinning and environment, applied before OpenVINO is loaded (its thread
//! pools inherit the CPU mask; Level Zero reads `ZE_AFFINITY_MASK` once, at initialisation).
//!
//! The element already applied both before exec; the worker applies them again (belt and
//! braces) and refuses a mask that contradicts the device.

use super::output::Failure;
use arcwhisper_worker::affinity;
use arcwhisper_worker::device::{self, DeviceSpec, Placement};
use worker_protocol::ErrorKind;

/// The parsed device, its placement, and a CPU pinning problem (reported by `verify` together
/// with the device listing, once OpenVINO can say what exists).
pub struct Pinned {
    pub spec: DeviceSpec,
    pub placement: Placement,
    pub cpu_problem: Option<String>,
}

/// Parses the device, pins the CPUs and sets `ZE_AFFINITY_MASK`. Must run while the process is
/// still single-threaded (it changes the environment).
pub fn apply(device_value: &str) -> Result<Pinned, Failure> {
    let spec = DeviceSpec::parse(device_value).map_err(|e| (ErrorKind::Device, e.0))?;
    let placement = spec.placement();
    let cpu_problem = placement
        .cpus
        .as_ref()
        .and_then(|cpus| pin_cpus(cpus, &device::machine_online_cpus()).err());
    if let Some(mask) = &placement.ze_affinity_mask {
        let current = std::env::var("ZE_AFFINITY_MASK").ok();
        if ze_mask_to_set(&spec, mask, current.as_deref())? {
            std::env::set_var("ZE_AFFINITY_MASK", mask);
        }
    }
    Ok(Pinned {
        spec,
        placement,
        cpu_problem,
    })
}

/// Pins the calling thread (and what it starts later) to `cpus`, which must all be online.
pub fn pin_cpus(cpus: &[usize], online: &[usize]) -> Result<(), String> {
    device::check_cpus_exist(cpus, online).map_err(|e| e.0)?;
    affinity::set_current_affinity(cpus).map_err(|e| {
        format!(
            "sched_setaffinity({}) failed: {e}",
            device::format_cpu_list(cpus)
        )
    })
}

/// Whether `ZE_AFFINITY_MASK` must be set to `wanted`: `false` when it already is, an error
/// when the worker was started with another value.
pub fn ze_mask_to_set(
    spec: &DeviceSpec,
    wanted: &str,
    current: Option<&str>,
) -> Result<bool, Failure> {
    match current {
        None => Ok(true),
        Some(v) if v == wanted => Ok(false),
        Some(v) => Err((
            ErrorKind::Device,
            format!(
                "device {spec} needs ZE_AFFINITY_MASK={wanted} but the worker was started with \
                 ZE_AFFINITY_MASK={v}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ze_mask_is_set_kept_or_refused() {
        let spec = DeviceSpec::GpuIndex(1);
        assert!(ze_mask_to_set(&spec, "1", None).unwrap());
        assert!(!ze_mask_to_set(&spec, "1", Some("1")).unwrap());
        let (kind, msg) = ze_mask_to_set(&spec, "1", Some("0.1")).unwrap_err();
        assert_eq!(kind, ErrorKind::Device);
        assert!(
            msg.contains("GPU.1") && msg.contains("ZE_AFFINITY_MASK=1") && msg.contains("=0.1"),
            "{msg}"
        );
    }

    #[test]
    fn pinning_needs_online_cpus_and_pins_the_thread() {
        let first = affinity::current_affinity().unwrap()[0];
        // In a fresh thread so that the test harness's other threads keep their mask.
        std::thread::spawn(move || {
            let e = pin_cpus(&[first, 4095], &[first]).unwrap_err();
            assert!(e.contains("4095"), "{e}");
            pin_cpus(&[first], &[first]).unwrap();
            assert_eq!(affinity::current_affinity().unwrap(), vec![first]);
        })
        .join()
        .unwrap();
    }
}
