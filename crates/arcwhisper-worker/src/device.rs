//! The `device` property: parsing, and its mapping onto what a worker process needs (OpenVINO
//! device name, `ZE_AFFINITY_MASK`, CPU set). Pure: no OpenVINO, no GStreamer, no I/O except
//! the small `machine_*` helpers that read sysfs.
//!
//! | value        | OpenVINO device | `ZE_AFFINITY_MASK` | CPU set          |
//! | ------------ | --------------- | ------------------ | ---------------- |
//! | `CPU`        | `CPU`           | untouched          | inherited        |
//! | `CPU:0-3,8`  | `CPU`           | untouched          | {0,1,2,3,8}      |
//! | `GPU`        | `GPU`           | untouched          | inherited        |
//! | `GPU.N`      | `GPU`           | `N` (whole card N) | inherited        |
//! | `AUTO`       | `AUTO`          | untouched          | inherited        |
//!
//! `GPU.N` maps to `ZE_AFFINITY_MASK=N`, never `0.N`: in Level Zero's syntax `0.N` is sub-device
//! (tile) N of card 0, which was the bug of the earlier tool. Inside the worker only card N is
//! visible, so OpenVINO's device is plain `GPU`.

use std::fmt;

/// Accepted forms, for error messages.
pub const ACCEPTED_FORMS: &str =
    "CPU, CPU:<list> (e.g. CPU:0-3,8), GPU, GPU.<N> (Intel card N, e.g. GPU.1), AUTO";

/// Largest CPU index accepted syntactically (the kernel's CPU_SETSIZE is 1024 in glibc).
pub const MAX_CPU_INDEX: usize = 1023;
/// Largest card index accepted syntactically.
pub const MAX_GPU_INDEX: u32 = 63;

/// A parsed `device` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// OpenVINO CPU on every core the process may use.
    Cpu,
    /// OpenVINO CPU restricted to these cores (sorted, no duplicates, non-empty).
    CpuSet(Vec<usize>),
    /// OpenVINO GPU, whatever Level Zero shows.
    Gpu,
    /// Intel card N.
    GpuIndex(u32),
    /// OpenVINO AUTO.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError(pub String);

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DeviceError {}

/// What a worker for a device needs: set by the element before exec, and checked (and re-applied
/// where possible) by the worker itself before OpenVINO is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Device name handed to OpenVINO inside the worker.
    pub openvino_device: String,
    /// Value for `ZE_AFFINITY_MASK` in the worker's environment (`None`: leave it alone).
    pub ze_affinity_mask: Option<String>,
    /// CPU mask for the worker (`None`: inherit).
    pub cpus: Option<Vec<usize>>,
}

impl DeviceSpec {
    /// Parses a `device` value. Case-insensitive for the keywords; surrounding whitespace is
    /// ignored. Any other form is an error naming the accepted ones.
    pub fn parse(s: &str) -> Result<DeviceSpec, DeviceError> {
        let t = s.trim();
        let bad = |why: &str| {
            DeviceError(format!(
                "invalid device {s:?}: {why}; accepted forms: {ACCEPTED_FORMS}"
            ))
        };
        let upper = t.to_ascii_uppercase();
        match upper.as_str() {
            "" => return Err(bad("empty")),
            "CPU" => return Ok(DeviceSpec::Cpu),
            "GPU" => return Ok(DeviceSpec::Gpu),
            "AUTO" => return Ok(DeviceSpec::Auto),
            _ => {}
        }
        if let Some(list) = upper.strip_prefix("CPU:") {
            return parse_cpu_list(list)
                .map(DeviceSpec::CpuSet)
                .map_err(|e| bad(&e.0));
        }
        if let Some(n) = upper.strip_prefix("GPU.") {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the card index after `GPU.` must be a decimal number (the whole card; sub-device forms like `GPU.0.1` are not accepted)"));
            }
            if n.len() > 1 && n.starts_with('0') {
                return Err(bad("card index with a leading zero"));
            }
            let idx: u32 = n
                .parse()
                .ok()
                .filter(|i| *i <= MAX_GPU_INDEX)
                .ok_or_else(|| bad(&format!("card index above {MAX_GPU_INDEX}")))?;
            return Ok(DeviceSpec::GpuIndex(idx));
        }
        Err(bad("unknown form"))
    }

    /// How a worker for this device is set up.
    pub fn placement(&self) -> Placement {
        match self {
            DeviceSpec::Cpu => Placement {
                openvino_device: "CPU".into(),
                ze_affinity_mask: None,
                cpus: None,
            },
            DeviceSpec::CpuSet(c) => Placement {
                openvino_device: "CPU".into(),
                ze_affinity_mask: None,
                cpus: Some(c.clone()),
            },
            DeviceSpec::Gpu => Placement {
                openvino_device: "GPU".into(),
                ze_affinity_mask: None,
                cpus: None,
            },
            // The whole card N: `N`, never `0.N` (tile N of card 0).
            DeviceSpec::GpuIndex(n) => Placement {
                openvino_device: "GPU".into(),
                ze_affinity_mask: Some(n.to_string()),
                cpus: None,
            },
            DeviceSpec::Auto => Placement {
                openvino_device: "AUTO".into(),
                ze_affinity_mask: None,
                cpus: None,
            },
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, DeviceSpec::Gpu | DeviceSpec::GpuIndex(_))
    }

    pub fn is_cpu(&self) -> bool {
        matches!(self, DeviceSpec::Cpu | DeviceSpec::CpuSet(_))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("CPU"),
            DeviceSpec::CpuSet(c) => write!(f, "CPU:{}", format_cpu_list(c)),
            DeviceSpec::Gpu => f.write_str("GPU"),
            DeviceSpec::GpuIndex(n) => write!(f, "GPU.{n}"),
            DeviceSpec::Auto => f.write_str("AUTO"),
        }
    }
}

/// Parses a CPU list as the kernel writes it (`0-3,8`, `5`, `0,2-3`): comma-separated indices
/// or inclusive ranges. Duplicates and overlaps are merged; the result is sorted. Empty lists,
/// reversed ranges, indices above [`MAX_CPU_INDEX`] and junk are errors. Whether the CPUs exist
/// on this machine is checked separately ([`check_cpus_exist`]).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, DeviceError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DeviceError("empty CPU list".into()));
    }
    let num = |p: &str| -> Result<usize, DeviceError> {
        let p = p.trim();
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DeviceError(format!("{p:?} is not a CPU number")));
        }
        let v: usize = p
            .parse()
            .map_err(|_| DeviceError(format!("CPU {p} is out of range")))?;
        if v > MAX_CPU_INDEX {
            return Err(DeviceError(format!(
                "CPU {v} is out of range (max {MAX_CPU_INDEX})"
            )));
        }
        Ok(v)
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(DeviceError(format!("reversed CPU range {a}-{b}")));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Formats CPUs as the kernel does (`0-3,8`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Checks a CPU set against the CPUs that exist (e.g. [`machine_online_cpus`]). The error names
/// the missing CPUs and the ones that exist.
pub fn check_cpus_exist(wanted: &[usize], existing: &[usize]) -> Result<(), DeviceError> {
    let missing: Vec<usize> = wanted
        .iter()
        .copied()
        .filter(|c| !existing.contains(c))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DeviceError(format!(
            "CPU {} does not exist on this machine; CPUs online: {}",
            format_cpu_list(&missing),
            format_cpu_list(existing)
        )))
    }
}

/// The CPUs online on this machine (`/sys/devices/system/cpu/online`), falling back to
/// `0..available_parallelism`.
pub fn machine_online_cpus() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s).ok())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n).collect()
        })
}

/// One Intel GPU as the kernel's DRM subsystem lists it (independent of `ZE_AFFINITY_MASK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmGpu {
    /// `card0`, `card1`, ...
    pub card: String,
    /// PCI address, e.g. `0000:03:00.0`.
    pub pci_address: String,
    /// PCI device id, e.g. `0x56a0`.
    pub device_id: String,
}

/// Intel (vendor 0x8086) GPUs under `/sys/class/drm`, sorted by PCI address (the order Level
/// Zero enumerates them in by default, `ZE_ENABLE_PCI_ID_DEVICE_ORDER` aside). Used only to tell
/// the user which cards exist when the one asked for is not visible.
pub fn machine_intel_gpus() -> Vec<DrmGpu> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/class/drm") else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("card") else {
            continue;
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue; // connectors like card0-DP-1
        }
        let dev = e.path().join("device");
        let vendor = std::fs::read_to_string(dev.join("vendor")).unwrap_or_default();
        if vendor.trim() != "0x8086" {
            continue;
        }
        let pci_address = std::fs::canonicalize(&dev)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let device_id = std::fs::read_to_string(dev.join("device"))
            .unwrap_or_default()
            .trim()
            .to_string();
        out.push(DrmGpu {
            card: name,
            pci_address,
            device_id,
        });
    }
    out.sort_by(|a, b| a.pci_address.cmp(&b.pci_address));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Placement {
        DeviceSpec::parse(s).unwrap().placement()
    }

    #[test]
    fn gpu_n_is_the_whole_card_n() {
        for (s, mask) in [
            ("GPU.0", "0"),
            ("GPU.1", "1"),
            ("GPU.12", "12"),
            ("gpu.1", "1"),
        ] {
            let pl = p(s);
            assert_eq!(pl.ze_affinity_mask.as_deref(), Some(mask), "{s}");
            assert_eq!(pl.openvino_device, "GPU", "{s}");
            assert_eq!(pl.cpus, None);
        }
        // Never the tile form.
        assert_ne!(p("GPU.1").ze_affinity_mask.as_deref(), Some("0.1"));
        assert_eq!(DeviceSpec::parse("GPU.1").unwrap().to_string(), "GPU.1");
    }

    #[test]
    fn plain_forms() {
        assert_eq!(DeviceSpec::parse("CPU").unwrap(), DeviceSpec::Cpu);
        assert_eq!(DeviceSpec::parse(" cpu ").unwrap(), DeviceSpec::Cpu);
        assert_eq!(DeviceSpec::parse("GPU").unwrap(), DeviceSpec::Gpu);
        assert_eq!(DeviceSpec::parse("AUTO").unwrap(), DeviceSpec::Auto);
        assert_eq!(p("AUTO").openvino_device, "AUTO");
        assert_eq!(p("GPU").ze_affinity_mask, None);
        assert_eq!(p("CPU").cpus, None);
    }

    #[test]
    fn bad_forms_are_rejected_naming_the_accepted_ones() {
        for s in [
            "",
            "GPU.",
            "GPU.-1",
            "GPU.0.1",
            "GPU.1.0",
            "GPU.x",
            "GPU1",
            "GPU:1",
            "GPU.01",
            "GPU.64",
            "GPU.99999999999",
            "CPU:",
            "CPU:a",
            "CPU:3-1",
            "CPU:1,,2",
            "CPU:-1",
            "CPU:1-",
            "CPU:2000",
            "NPU",
            "HETERO:GPU,CPU",
            "MULTI:GPU.0,GPU.1",
            "CPU.0",
        ] {
            let e = DeviceSpec::parse(s).unwrap_err();
            assert!(e.0.contains("accepted forms"), "{s}: {e}");
            assert!(e.0.contains("GPU.<N>"), "{s}: {e}");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("8,0-3").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list("1,1,0-2,2").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_cpu_list("5-5").unwrap(), vec![5]);
        assert_eq!(parse_cpu_list(" 0-1\n").unwrap(), vec![0, 1]);
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("1-0").is_err());
        assert!(parse_cpu_list("1024").is_err());
        assert_eq!(
            p("CPU:0-3,8").cpus.as_deref(),
            Some(&[0usize, 1, 2, 3, 8][..])
        );
        assert_eq!(p("CPU:0-3,8").openvino_device, "CPU");
        assert_eq!(p("CPU:0-3,8").ze_affinity_mask, None);
        assert_eq!(
            DeviceSpec::parse("cpu:3,0-1").unwrap().to_string(),
            "CPU:0-1,3"
        );
    }

    #[test]
    fn cpu_list_formatting() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(format_cpu_list(&[3, 1]), "1,3");
        assert_eq!(format_cpu_list(&[]), "");
        assert_eq!(format_cpu_list(&[7]), "7");
    }

    #[test]
    fn cpus_out_of_range_of_the_machine() {
        let online = machine_online_cpus();
        assert!(!online.is_empty());
        assert!(check_cpus_exist(&[online[0]], &online).is_ok());
        let beyond = online.iter().max().unwrap() + 1;
        let e = check_cpus_exist(&[online[0], beyond], &online).unwrap_err();
        assert!(e.0.contains(&format!("CPU {beyond} does not exist")), "{e}");
        assert!(e.0.contains(&format_cpu_list(&online)), "{e}");
        let e = check_cpus_exist(&[99, 100], &[0, 1]).unwrap_err();
        assert_eq!(
            e.0,
            "CPU 99-100 does not exist on this machine; CPUs online: 0-1"
        );
    }
}
