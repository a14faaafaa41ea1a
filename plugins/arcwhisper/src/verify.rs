// SPDX-License-Identifier: MIT OR Apache-2.0
//! Checking what a worker reports about itself (`DeviceReport`) against what the element asked
//! for. Pure functions over the report and a sysfs root, so that they can be unit-tested with a
//! fake `/sys/class/drm`.
//!
//! - `CPU:<list>`: the worker's allowed CPUs must be exactly the list.
//! - `GPU.N`: the worker's `ZE_AFFINITY_MASK` must be `N`; and when the worker reports a PCI
//!   address and this machine lists Intel cards under `/sys/class/drm`, the address must be the
//!   one of the N-th Intel card in PCI order (the order Level Zero enumerates cards in without a
//!   mask). The GStreamer process itself never loads OpenVINO.
//! - `CPU`, `GPU`, `AUTO`: nothing to pin; the report is only summarised.

use arcwhisper_worker::device::{format_cpu_list, DeviceSpec};
use std::path::{Path, PathBuf};
use worker_protocol::DeviceReport;

/// An Intel card as `/sys/class/drm/cardN/device` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmCard {
    pub card: String,
    pub pci_address: String,
}

/// Intel (vendor `0x8086`) cards under `drm_root` (normally `/sys/class/drm`), sorted by PCI
/// address. Connector entries (`card0-DP-1`) and render nodes are ignored.
pub fn intel_cards(drm_root: &Path) -> Vec<DrmCard> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(drm_root) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(num) = name.strip_prefix("card") else {
            continue;
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dev = e.path().join("device");
        let vendor = std::fs::read_to_string(dev.join("vendor")).unwrap_or_default();
        if vendor.trim() != "0x8086" {
            continue;
        }
        // `device` is a symlink to the PCI device directory, whose name is the address.
        let target = std::fs::canonicalize(&dev)
            .ok()
            .or_else(|| std::fs::read_link(&dev).ok());
        let Some(pci) =
            target.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        else {
            continue;
        };
        out.push(DrmCard {
            card: name,
            pci_address: normalize_pci(&pci),
        });
    }
    out.sort_by(|a, b| a.pci_address.cmp(&b.pci_address));
    out
}

/// `0000:03:00.0` form, lower case; a missing domain is taken as `0000`.
pub fn normalize_pci(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    if s.matches(':').count() == 1 {
        format!("0000:{s}")
    } else {
        s
    }
}

/// Whether this machine has an Intel GPU render node (`/dev/dri/renderD*` whose sysfs vendor is
/// 0x8086).
pub fn has_intel_render_node(dev_dri: &Path, drm_root: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dev_dri) else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("renderD")
            && std::fs::read_to_string(drm_root.join(&name).join("device/vendor"))
                .map(|v| v.trim() == "0x8086")
                .unwrap_or(false)
    })
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// One-line summary for the `verified-device` property and the log.
    pub summary: String,
    /// Checks that could not be made here (logged, not fatal).
    pub skipped: Vec<String>,
}

/// Verifies a worker's report against the device that was asked for. `Err` names both sides.
pub fn verify_report(
    spec: &DeviceSpec,
    report: &DeviceReport,
    drm_root: &Path,
) -> Result<Verified, String> {
    let mut skipped = Vec::new();
    let asked = spec.to_string();
    // The worker echoes the device string it was started for.
    if let Ok(theirs) = DeviceSpec::parse(&report.requested) {
        if &theirs != spec {
            return Err(format!(
                "asked for device {asked}, the worker says it was started for {:?}",
                report.requested
            ));
        }
    }
    let name = if report.full_name.is_empty() {
        report.openvino_device.clone()
    } else {
        format!("{} ({})", report.openvino_device, report.full_name)
    };
    let summary = match spec {
        DeviceSpec::CpuSet(cpus) => {
            let mut got = report.allowed_cpus.clone();
            got.sort_unstable();
            got.dedup();
            if &got != cpus {
                return Err(format!(
                    "asked for CPUs {} but the worker may run on CPUs {}",
                    format_cpu_list(cpus),
                    if got.is_empty() {
                        "(none reported)".to_string()
                    } else {
                        format_cpu_list(&got)
                    }
                ));
            }
            format!(
                "{asked}: allowed CPUs {} verified, {name}",
                format_cpu_list(&got)
            )
        }
        DeviceSpec::GpuIndex(n) => {
            let want = n.to_string();
            match report.ze_affinity_mask.as_deref() {
                Some(m) if m.trim() == want => {}
                other => {
                    return Err(format!(
                        "asked for card {n} (ZE_AFFINITY_MASK={want}) but the worker reports ZE_AFFINITY_MASK={}",
                        other.unwrap_or("(unset)")
                    ))
                }
            }
            let cards = intel_cards(drm_root);
            let card_check = match (&report.pci_address, cards.get(*n as usize)) {
                (None, _) => {
                    skipped.push("the worker reported no PCI address: card identity not compared with sysfs".to_string());
                    String::new()
                }
                (Some(_), None) if cards.is_empty() => {
                    skipped.push(format!(
                        "no Intel card listed under {}: card identity not compared",
                        drm_root.display()
                    ));
                    String::new()
                }
                (Some(pci), None) => {
                    return Err(format!(
                        "asked for card {n} but {} lists only {} Intel card(s) ({}); the worker reports PCI {pci}",
                        drm_root.display(),
                        cards.len(),
                        cards.iter().map(|c| format!("{}={}", c.card, c.pci_address)).collect::<Vec<_>>().join(", ")
                    ))
                }
                (Some(pci), Some(card)) => {
                    if normalize_pci(pci) != card.pci_address {
                        return Err(format!(
                            "asked for card {n}, which is {} at PCI {} in sysfs, but the worker runs on PCI {}",
                            card.card, card.pci_address, normalize_pci(pci)
                        ));
                    }
                    format!(", PCI {} = {}", card.pci_address, card.card)
                }
            };
            format!("{asked}: ZE_AFFINITY_MASK={want} verified{card_check}, {name}")
        }
        DeviceSpec::Cpu | DeviceSpec::Gpu | DeviceSpec::Auto => {
            format!("{asked}: {name} (nothing pinned)")
        }
    };
    Ok(Verified { summary, skipped })
}

// ---------------------------------------------------------------------------------------------
// Worker binary lookup

/// Name of the worker executable.
pub const WORKER_NAME: &str = "arcwhisper-worker";
/// Environment variable naming the worker binary.
pub const WORKER_ENV: &str = "ARCWHISPER_WORKER";

/// Checks that `p` is an existing regular executable file; returns it canonicalised.
pub fn check_executable(p: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let c = std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let md = std::fs::metadata(&c).map_err(|e| format!("{}: {e}", c.display()))?;
    if !md.is_file() {
        return Err(format!("{}: not a regular file", c.display()));
    }
    if md.permissions().mode() & 0o111 == 0 {
        return Err(format!("{}: not executable", c.display()));
    }
    Ok(c)
}

/// Directories derived from the plugin file's location: its own directory, its parent when it
/// is cargo's `deps/`, and for a file inside a cargo `target/` tree, `target/release` and
/// `target/debug`.
pub fn dirs_near(plugin_file: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let Some(dir) = plugin_file.parent() else {
        return out;
    };
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p)
        }
    };
    push(dir.to_path_buf());
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        if let Some(p) = dir.parent() {
            push(p.to_path_buf());
        }
    }
    // The nearest ancestor called `target` (cargo's target dir).
    let mut a = Some(dir);
    while let Some(d) = a {
        if d.file_name().is_some_and(|n| n == "target") {
            push(d.join("release"));
            push(d.join("debug"));
            break;
        }
        a = d.parent();
    }
    out
}

/// Finds the worker: `explicit` (the `worker-path` property), then `env` (`ARCWHISPER_WORKER`),
/// then beside the plugin file, then the cargo target dir next to it, then `PATH`. An explicit
/// property or environment value that is not usable is an error (no silent fallback). The error
/// lists every place looked at.
pub fn find_worker(
    explicit: Option<&str>,
    env: Option<&str>,
    plugin_file: Option<&Path>,
    path_env: Option<&str>,
) -> Result<PathBuf, String> {
    if let Some(p) = explicit.filter(|s| !s.is_empty()) {
        return check_executable(Path::new(p)).map_err(|e| format!("worker-path property: {e}"));
    }
    if let Some(p) = env.filter(|s| !s.is_empty()) {
        return check_executable(Path::new(p)).map_err(|e| format!("{WORKER_ENV}: {e}"));
    }
    let mut looked = vec![
        "worker-path property: unset".to_string(),
        format!("{WORKER_ENV}: unset"),
    ];
    let mut candidates: Vec<(String, PathBuf)> = Vec::new();
    match plugin_file {
        Some(f) => {
            for d in dirs_near(f) {
                candidates.push(("beside the plugin".into(), d.join(WORKER_NAME)));
            }
        }
        None => looked.push("plugin file: unknown".into()),
    }
    for d in path_env.unwrap_or("").split(':').filter(|s| !s.is_empty()) {
        candidates.push(("PATH".into(), Path::new(d).join(WORKER_NAME)));
    }
    for (what, c) in candidates {
        match check_executable(&c) {
            Ok(p) => return Ok(p),
            Err(e) => looked.push(format!("{what}: {e}")),
        }
    }
    Err(format!(
        "cannot find the {WORKER_NAME} binary; looked at: {}. Build it (cargo build -p arcwhisper-worker), install it beside the plugin, or set the worker-path property or {WORKER_ENV}",
        looked.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fresh folder, removed when the returned guard drops (a failed assertion too).
    fn tmp(name: &str) -> test_support::tempdir::TempDir {
        test_support::tempdir::TempDir::new(&format!("verify-{name}"))
    }

    /// A fake `/sys/class/drm` with Intel cards at the given PCI addresses (listed in a shuffled
    /// card order) plus a non-Intel card and a connector; the guard removes it.
    fn fake_drm(pcis: &[&str]) -> (test_support::tempdir::TempDir, PathBuf) {
        let root = tmp(&format!("drm{}", pcis.len()));
        let devices = root.path().join("devices");
        let drm = root.path().join("class_drm");
        fs::create_dir_all(&drm).unwrap();
        for (i, pci) in pcis.iter().enumerate().rev() {
            let d = devices.join(pci);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("vendor"), "0x8086\n").unwrap();
            let card = drm.join(format!("card{}", pcis.len() - 1 - i));
            fs::create_dir_all(&card).unwrap();
            std::os::unix::fs::symlink(&d, card.join("device")).unwrap();
        }
        let amd = devices.join("0000:01:00.0");
        fs::create_dir_all(&amd).unwrap();
        fs::write(amd.join("vendor"), "0x1002\n").unwrap();
        fs::create_dir_all(drm.join("card9")).unwrap();
        std::os::unix::fs::symlink(&amd, drm.join("card9/device")).unwrap();
        fs::create_dir_all(drm.join("card0-DP-1")).unwrap();
        (root, drm)
    }

    fn report(requested: &str) -> DeviceReport {
        DeviceReport {
            requested: requested.into(),
            openvino_device: "GPU".into(),
            full_name: "Intel(R) Arc(TM) A770 Graphics".into(),
            ..Default::default()
        }
    }

    #[test]
    fn intel_cards_sorted_by_pci() {
        let (_root, drm) = fake_drm(&["0000:03:00.0", "0000:07:00.0"]);
        let cards = intel_cards(&drm);
        assert_eq!(
            cards
                .iter()
                .map(|c| c.pci_address.as_str())
                .collect::<Vec<_>>(),
            ["0000:03:00.0", "0000:07:00.0"]
        );
    }

    #[test]
    fn gpu_card_identity_checked_against_sysfs() {
        let (_root, drm) = fake_drm(&["0000:03:00.0", "0000:07:00.0"]);
        let spec = DeviceSpec::parse("GPU.1").unwrap();
        let mut r = report("GPU.1");
        r.ze_affinity_mask = Some("1".into());
        r.pci_address = Some("0000:07:00.0".into());
        let v = verify_report(&spec, &r, &drm).unwrap();
        assert!(
            v.summary.contains("ZE_AFFINITY_MASK=1 verified"),
            "{}",
            v.summary
        );
        assert!(v.summary.contains("0000:07:00.0"), "{}", v.summary);
        // Short form without domain, upper case.
        r.pci_address = Some("07:00.0".into());
        assert!(verify_report(&spec, &r, &drm).is_ok());
        // The worker landed on card 0: both sides named.
        r.pci_address = Some("0000:03:00.0".into());
        let e = verify_report(&spec, &r, &drm).unwrap_err();
        assert!(
            e.contains("0000:07:00.0") && e.contains("0000:03:00.0"),
            "{e}"
        );
        // Wrong mask (the old tile bug).
        r.ze_affinity_mask = Some("0.1".into());
        let e = verify_report(&spec, &r, &drm).unwrap_err();
        assert!(e.contains("ZE_AFFINITY_MASK=1") && e.contains("0.1"), "{e}");
        // Card index beyond what sysfs lists.
        let spec3 = DeviceSpec::parse("GPU.3").unwrap();
        let mut r3 = report("GPU.3");
        r3.ze_affinity_mask = Some("3".into());
        r3.pci_address = Some("0000:03:00.0".into());
        assert!(verify_report(&spec3, &r3, &drm)
            .unwrap_err()
            .contains("only 2 Intel card"));
    }

    #[test]
    fn gpu_check_skipped_without_intel_hardware() {
        let root = tmp("empty");
        let drm = root.path().to_path_buf();
        let spec = DeviceSpec::parse("GPU.0").unwrap();
        let mut r = report("GPU.0");
        r.ze_affinity_mask = Some("0".into());
        r.pci_address = Some("0000:03:00.0".into());
        let v = verify_report(&spec, &r, &drm).unwrap();
        assert_eq!(v.skipped.len(), 1, "{v:?}");
        r.pci_address = None;
        let v = verify_report(&spec, &r, &drm).unwrap();
        assert_eq!(v.skipped.len(), 1, "{v:?}");
    }

    #[test]
    fn cpu_set_must_match_exactly() {
        let spec = DeviceSpec::parse("CPU:1").unwrap();
        let mut r = report("CPU:1");
        r.openvino_device = "CPU".into();
        r.allowed_cpus = vec![1];
        assert!(verify_report(&spec, &r, Path::new("/nonexistent")).is_ok());
        r.allowed_cpus = vec![0, 1];
        let e = verify_report(&spec, &r, Path::new("/nonexistent")).unwrap_err();
        assert!(e.contains("CPUs 1 ") && e.contains("CPUs 0-1"), "{e}");
        r.requested = "CPU:0".into();
        r.allowed_cpus = vec![1];
        assert!(verify_report(&spec, &r, Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn worker_lookup_order_and_errors() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("lookup");
        let d = dir.path().to_path_buf();
        let target = d.join("target/debug");
        fs::create_dir_all(target.join("deps")).unwrap();
        let w = target.join(WORKER_NAME);
        fs::write(&w, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&w, fs::Permissions::from_mode(0o755)).unwrap();
        // A test binary in deps/ finds the worker one level up.
        let plugin = target.join("deps/test-binary");
        assert_eq!(
            find_worker(None, None, Some(&plugin), None).unwrap(),
            fs::canonicalize(&w).unwrap()
        );
        // Explicit values win and are not silently replaced.
        let e = find_worker(Some("/nonexistent/worker"), None, Some(&plugin), None).unwrap_err();
        assert!(e.contains("worker-path"), "{e}");
        let e = find_worker(None, Some(d.to_str().unwrap()), Some(&plugin), None).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        // Not executable.
        let ne = d.join("plain");
        fs::write(&ne, "x").unwrap();
        fs::set_permissions(&ne, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_executable(&ne)
            .unwrap_err()
            .contains("not executable"));
        // Nothing anywhere: every place is listed.
        let e = find_worker(
            None,
            None,
            Some(&d.join("lib/x.so")),
            Some("/nonexistent-bin"),
        )
        .unwrap_err();
        assert!(
            e.contains("ARCWHISPER_WORKER") && e.contains("/nonexistent-bin/arcwhisper-worker"),
            "{e}"
        );
        // PATH.
        let p = format!("/nonexistent-bin:{}", target.display());
        assert!(find_worker(None, None, None, Some(&p)).is_ok());
    }
}
