//! What the worker got against what was asked: the CPUs it may run on, the GPUs OpenVINO shows
//! under the Level Zero mask, a CPU device at all. Every refusal carries the device listing
//! (what exists), so the user can pick a device that does.

use super::output::{log, Failure};
use super::probe::Seen;
use arcwhisper_worker::affinity;
use arcwhisper_worker::device::{self, DeviceSpec};
use worker_protocol::ErrorKind;

/// Checks `seen` against `spec`. `cpu_problem`: why pinning failed, if it did.
pub fn check(spec: &DeviceSpec, cpu_problem: Option<&str>, seen: &Seen) -> Result<(), Failure> {
    check_against(spec, cpu_problem, seen, || listing(seen))
}

/// [`check`] with the listing given (tests use a fixed one).
pub fn check_against(
    spec: &DeviceSpec,
    cpu_problem: Option<&str>,
    seen: &Seen,
    listing: impl Fn() -> String,
) -> Result<(), Failure> {
    let refuse = |why: String| Err((ErrorKind::Device, format!("device {spec}: {why}")));
    let gpus = seen.visible.iter().filter(|d| d.starts_with("GPU")).count();
    match spec {
        DeviceSpec::CpuSet(cpus) => {
            if let Some(p) = cpu_problem {
                return refuse(format!("{p}; {}", listing()));
            }
            if &seen.allowed_cpus != cpus {
                return refuse(format!(
                    "the worker may run on CPUs {} instead of {} (a cgroup cpuset or the \
                     parent's mask restricts it); {}",
                    device::format_cpu_list(&seen.allowed_cpus),
                    device::format_cpu_list(cpus),
                    listing()
                ));
            }
            warn_if_process_mask_differs(cpus);
        }
        DeviceSpec::GpuIndex(_) | DeviceSpec::Gpu if gpus == 0 => {
            return refuse(format!("OpenVINO sees no GPU; {}", listing()));
        }
        DeviceSpec::GpuIndex(_) if gpus != 1 => {
            return refuse(format!(
                "expected exactly one GPU to be visible with ZE_AFFINITY_MASK={}, OpenVINO sees \
                 [{}]",
                seen.ze_mask.as_deref().unwrap_or("(unset)"),
                seen.visible.join(", ")
            ));
        }
        _ => {}
    }
    if spec.is_cpu() && !seen.visible.iter().any(|d| d == "CPU") {
        return refuse(format!("OpenVINO sees no CPU device; {}", listing()));
    }
    Ok(())
}

/// The thread mask is what counts; a different process-wide list is worth a log line.
fn warn_if_process_mask_differs(cpus: &[usize]) {
    let status = affinity::proc_cpus_allowed_list("self").unwrap_or_default();
    if device::parse_cpu_list(&status).ok().as_deref() != Some(cpus) {
        log(&format!(
            "warning /proc/self/status Cpus_allowed_list={status} differs from the thread mask \
             {}",
            device::format_cpu_list(cpus)
        ));
    }
}

/// The devices that exist, for error messages: OpenVINO's view, the CPUs online and the Intel
/// GPUs the kernel lists (whatever the mask hides).
pub fn listing(seen: &Seen) -> String {
    let drm = device::machine_intel_gpus();
    format!(
        "devices that exist: OpenVINO sees [{}]{}; CPUs online {}; Intel GPUs on this machine \
         (DRM): {}",
        seen.visible.join(", "),
        seen.ze_mask
            .as_ref()
            .map(|m| format!(" (with ZE_AFFINITY_MASK={m})"))
            .unwrap_or_default(),
        device::format_cpu_list(&device::machine_online_cpus()),
        if drm.is_empty() {
            "none".to_string()
        } else {
            drm.iter()
                .enumerate()
                .map(|(i, g)| format!("GPU.{i}={} {} {}", g.card, g.pci_address, g.device_id))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(visible: &[&str], cpus: &[usize], mask: Option<&str>) -> Seen {
        Seen {
            visible: visible.iter().map(|s| s.to_string()).collect(),
            allowed_cpus: cpus.to_vec(),
            ze_mask: mask.map(str::to_string),
        }
    }

    fn refusal(spec: &DeviceSpec, problem: Option<&str>, s: &Seen) -> String {
        let (kind, msg) = check_against(spec, problem, s, || "LISTING".into()).unwrap_err();
        assert_eq!(kind, ErrorKind::Device);
        msg
    }

    #[test]
    fn cpu_sets_must_be_what_the_worker_got() {
        let set = DeviceSpec::CpuSet(vec![0]);
        let s = seen(&["CPU"], &[0], None);
        assert!(check_against(&set, None, &s, String::new).is_ok());
        let m = refusal(&set, Some("CPU 99 does not exist"), &s);
        assert!(
            m.contains("CPU 99 does not exist") && m.contains("LISTING"),
            "{m}"
        );
        let m = refusal(&set, None, &seen(&["CPU"], &[0, 1], None));
        assert!(
            m.contains("CPUs 0-1 instead of 0") && m.contains("LISTING"),
            "{m}"
        );
        let m = refusal(&DeviceSpec::Cpu, None, &seen(&["GPU"], &[0], None));
        assert!(m.contains("no CPU device"), "{m}");
    }

    #[test]
    fn a_card_must_be_the_only_gpu_visible() {
        let card = DeviceSpec::GpuIndex(3);
        let m = refusal(&card, None, &seen(&["CPU"], &[0], Some("3")));
        assert!(
            m.contains("GPU.3: OpenVINO sees no GPU") && m.contains("LISTING"),
            "{m}"
        );
        let m = refusal(&card, None, &seen(&["CPU", "GPU.0", "GPU.1"], &[0], None));
        assert!(
            m.contains("exactly one GPU") && m.contains("(unset)"),
            "{m}"
        );
        let ok = seen(&["CPU", "GPU"], &[0], Some("3"));
        assert!(check_against(&card, None, &ok, String::new).is_ok());
        assert!(check_against(&DeviceSpec::Gpu, None, &ok, String::new).is_ok());
        assert!(check_against(&DeviceSpec::Auto, None, &seen(&[], &[], None), String::new).is_ok());
    }

    #[test]
    fn the_listing_names_what_openvino_sees_and_the_mask() {
        let l = listing(&seen(&["CPU"], &[0], Some("3")));
        assert!(
            l.starts_with("devices that exist: OpenVINO sees [CPU]"),
            "{l}"
        );
        assert!(
            l.contains("ZE_AFFINITY_MASK=3") && l.contains("CPUs online"),
            "{l}"
        );
    }
}
