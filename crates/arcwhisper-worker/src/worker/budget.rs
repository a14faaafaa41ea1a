//! How much memory a model may use: free memory on the device (and on the host, which must hold
//! the IR and the compile), capped by `max-memory`.

use super::output::Failure;
use arcwhisper_worker::levelzero::{self, GpuMemory};
use arcwhisper_worker::memory::{self, human, HostMemory};
use worker_protocol::ErrorKind;

/// Free memory where the model will live, and how it was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMemory {
    pub free: u64,
    pub source: String,
}

/// The budget the chain is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    /// What bounds it, for messages: `max-memory 380 MB` or `free memory 2 GB (MemAvailable)`.
    pub label: String,
    /// The `max-memory` asked for (0: none).
    pub max_memory: u64,
    /// Free memory on the device.
    pub free: u64,
}

/// Measures free memory for the device: the host's, and for a GPU also the card's (Level Zero
/// Sysman by PCI address, else OpenVINO's total `gpu_total`).
pub fn measure(
    gpu: bool,
    pci_address: Option<&str>,
    gpu_total: Option<u64>,
) -> Result<DeviceMemory, Failure> {
    let host = memory::host_free_memory()
        .map_err(|e| (ErrorKind::Internal, format!("reading /proc/meminfo: {e}")))?;
    let card = gpu.then(|| (levelzero::device_memory(pci_address), gpu_total));
    Ok(device_free(&host, card))
}

/// The free memory that counts. On a GPU:
/// 1. Level Zero Sysman: free device-local memory of this card;
/// 2. OpenVINO's `GPU_DEVICE_TOTAL_MEM_SIZE`: the card's total (OpenVINO does not report what
///    is used; one worker per card is the design, so the total is what this worker may use).
///
/// The host side (IR read, compile) must fit too: the smaller of device and host wins.
pub fn device_free(
    host: &HostMemory,
    card: Option<(Result<GpuMemory, String>, Option<u64>)>,
) -> DeviceMemory {
    let Some((l0, ov_total)) = card else {
        return DeviceMemory {
            free: host.free,
            source: host.source.clone(),
        };
    };
    let (dev_free, dev_src) = match (&l0, ov_total) {
        (Ok(m), _) => (
            Some(m.free),
            format!(
                "level-zero zesMemoryGetState free of {} at {}",
                m.size, m.pci_address
            ),
        ),
        (Err(e), Some(total)) => (
            Some(total),
            format!("GPU_DEVICE_TOTAL_MEM_SIZE (total; used memory not known: level-zero: {e})"),
        ),
        (Err(e), None) => (
            None,
            format!("GPU_DEVICE_TOTAL_MEM_SIZE unavailable; level-zero: {e}"),
        ),
    };
    let (free, source) = match dev_free {
        Some(f) if f <= host.free => (f, dev_src),
        Some(_) => (
            host.free,
            format!("host {} (below the GPU's: {dev_src})", host.source),
        ),
        None => (host.free, format!("host {} ({dev_src})", host.source)),
    };
    DeviceMemory { free, source }
}

/// `max-memory` when it is set and below what is free, else what is free.
pub fn budget(max_memory: u64, mem: &DeviceMemory) -> Budget {
    let (bytes, label) = if max_memory > 0 && max_memory < mem.free {
        (max_memory, format!("max-memory {}", human(max_memory)))
    } else {
        (
            mem.free,
            format!("free memory {} ({})", human(mem.free), mem.source),
        )
    };
    Budget {
        bytes,
        label,
        max_memory,
        free: mem.free,
    }
}

impl Budget {
    /// `1.2 GB (max-memory 1.2 GB, free 3.0 GB)`: the budget with what bounds it.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}{})",
            human(self.bytes),
            self.label,
            if self.max_memory > 0 && self.bytes == self.max_memory {
                format!(", free {}", human(self.free))
            } else {
                String::new()
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(free: u64) -> HostMemory {
        HostMemory {
            free,
            source: "MemAvailable".into(),
        }
    }

    fn card(free: u64) -> Result<GpuMemory, String> {
        Ok(GpuMemory {
            pci_address: "0000:03:00.0".into(),
            free,
            size: 16_000_000_000,
            modules: 1,
        })
    }

    #[test]
    fn cpu_uses_the_host() {
        let m = device_free(&host(5_000), None);
        assert_eq!((m.free, m.source.as_str()), (5_000, "MemAvailable"));
    }

    #[test]
    fn gpu_takes_the_smaller_of_card_and_host() {
        let m = device_free(&host(9_000), Some((card(4_000), Some(16_000))));
        assert_eq!(m.free, 4_000);
        assert!(m.source.starts_with("level-zero") && m.source.contains("0000:03:00.0"));
        let m = device_free(&host(3_000), Some((card(4_000), None)));
        assert_eq!(m.free, 3_000);
        assert!(
            m.source.starts_with("host MemAvailable (below the GPU's"),
            "{}",
            m.source
        );
        let m = device_free(&host(90_000), Some((Err("no loader".into()), Some(16_000))));
        assert_eq!(m.free, 16_000);
        assert!(
            m.source.contains("GPU_DEVICE_TOTAL_MEM_SIZE (total") && m.source.contains("no loader")
        );
        let m = device_free(&host(7_000), Some((Err("no loader".into()), None)));
        assert_eq!(m.free, 7_000);
        assert!(
            m.source.contains("unavailable; level-zero: no loader"),
            "{}",
            m.source
        );
    }

    #[test]
    fn max_memory_caps_only_below_what_is_free() {
        let free = DeviceMemory {
            free: 2_000_000_000,
            source: "MemAvailable".into(),
        };
        let b = budget(0, &free);
        assert_eq!(b.bytes, 2_000_000_000);
        assert_eq!(b.label, "free memory 2000 MB (MemAvailable)");
        assert_eq!(b.describe(), "2000 MB (free memory 2000 MB (MemAvailable))");
        let b = budget(500_000_000, &free);
        assert_eq!(b.bytes, 500_000_000);
        assert_eq!(b.describe(), "500 MB (max-memory 500 MB, free 2000 MB)");
        let b = budget(3_000_000_000, &free);
        assert_eq!(b.bytes, 2_000_000_000);
        assert!(b.label.starts_with("free memory"));
    }
}
