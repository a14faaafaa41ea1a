// SPDX-License-Identifier: MIT OR Apache-2.0
//! The per-scene stats record (`arcwhisper-stats.jsonl`) and the numbers and SVG timeline of
//! `sceneckpt-report`. No GStreamer.

use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const STATS_FILE: &str = "arcwhisper-stats.jsonl";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatsLine {
    pub scene: String,
    #[serde(default)]
    pub device: String,
    /// The host that did the scene (several hosts may share one folder).
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub audio_seconds: f64,
    #[serde(default)]
    pub wall_seconds: f64,
    #[serde(default)]
    pub rtf: f64,
    #[serde(default)]
    pub worker_pid: i64,
    #[serde(default)]
    pub result: String,
    /// RFC 3339 UTC.
    pub started: String,
    pub finished: String,
}

impl StatsLine {
    pub fn start_unix(&self) -> Option<f64> {
        fsutil::parse_rfc3339(&self.started)
    }
    pub fn finish_unix(&self) -> Option<f64> {
        fsutil::parse_rfc3339(&self.finished)
    }
    pub fn stem(&self) -> String {
        let name = std::path::Path::new(&self.scene)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.scene.clone());
        match name.rfind('.') {
            Some(i) if i > 0 => name[..i].to_string(),
            _ => name,
        }
    }
}

/// Parse JSON lines; returns the records and the number of lines that did not parse.
pub fn parse_lines(text: &str) -> (Vec<StatsLine>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        match serde_json::from_str::<StatsLine>(l) {
            Ok(s) if s.start_unix().is_some() && s.finish_unix().is_some() => out.push(s),
            _ => bad += 1,
        }
    }
    (out, bad)
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceSummary {
    pub device: String,
    pub scenes: usize,
    pub failed: usize,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
    /// Mean of the per-scene real-time factors (wall / audio) of done scenes.
    pub mean_rtf: f64,
    pub first_start: f64,
    pub last_finish: f64,
}

impl DeviceSummary {
    pub fn busy_span(&self) -> f64 {
        (self.last_finish - self.first_start).max(0.0)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub devices: Vec<DeviceSummary>,
    /// min busy span / max busy span across devices (1.0 = perfectly even).
    pub balance: f64,
    /// sum of per-scene wall seconds / overall wall span.
    pub speedup: f64,
    pub total_wall_seconds: f64,
    pub overall_span: f64,
    pub start: f64,
}

pub fn device_name(s: &StatsLine) -> String {
    if s.device.is_empty() {
        "(unknown)".into()
    } else {
        s.device.clone()
    }
}

pub fn host_name(s: &StatsLine) -> String {
    if s.host.is_empty() {
        "(unknown)".into()
    } else {
        s.host.clone()
    }
}

/// The lane a record belongs to: its device, or `host/device` when the records come from more
/// than one host (the same `GPU.0` on two machines is two devices).
pub fn lane_names(lines: &[StatsLine]) -> Vec<String> {
    let many = lines
        .iter()
        .map(|l| l.host.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    lines
        .iter()
        .map(|l| {
            if many {
                format!("{}/{}", host_name(l), device_name(l))
            } else {
                device_name(l)
            }
        })
        .collect()
}

/// Per-host totals: each host's devices merged into one lane.
pub fn summarize_hosts(lines: &[StatsLine]) -> Report {
    let by_host: Vec<StatsLine> = lines
        .iter()
        .map(|l| StatsLine {
            device: host_name(l),
            host: String::new(),
            ..l.clone()
        })
        .collect();
    summarize(&by_host)
}

/// The per-host table (scenes, audio, busy span, share of the audio) and the host balance.
pub fn format_hosts(r: &Report) -> String {
    let total_audio: f64 = r.devices.iter().map(|d| d.audio_seconds).sum();
    let mut s = String::new();
    let w = r
        .devices
        .iter()
        .map(|d| d.device.chars().count())
        .fold(20, usize::max);
    let _ = writeln!(
        s,
        "{:<w$} {:>6} {:>6} {:>11} {:>12} {:>7}",
        "host", "scenes", "failed", "audio h", "busy span s", "share"
    );
    for h in &r.devices {
        let share = if total_audio > 0.0 {
            h.audio_seconds / total_audio
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "{:<w$} {:>6} {:>6} {:>11.4} {:>12.1} {:>6.1}%",
            h.device,
            h.scenes,
            h.failed,
            h.audio_seconds / 3600.0,
            h.busy_span(),
            share * 100.0
        );
    }
    let _ = writeln!(s, "host balance (min/max busy span): {:.3}", r.balance);
    s
}

pub fn summarize(lines: &[StatsLine]) -> Report {
    let mut by: BTreeMap<String, (DeviceSummary, f64, usize)> = BTreeMap::new();
    let mut start = f64::INFINITY;
    let mut end = f64::NEG_INFINITY;
    let mut total_wall = 0.0;
    for (s, lane) in lines.iter().zip(lane_names(lines)) {
        let (Some(a), Some(b)) = (s.start_unix(), s.finish_unix()) else {
            continue;
        };
        let e = by.entry(lane.clone()).or_insert_with(|| {
            (
                DeviceSummary {
                    device: lane,
                    first_start: f64::INFINITY,
                    last_finish: f64::NEG_INFINITY,
                    ..Default::default()
                },
                0.0,
                0,
            )
        });
        e.0.first_start = e.0.first_start.min(a);
        e.0.last_finish = e.0.last_finish.max(b);
        start = start.min(a);
        end = end.max(b);
        total_wall += s.wall_seconds;
        if s.result == "done" {
            e.0.scenes += 1;
            e.0.audio_seconds += s.audio_seconds;
            e.0.wall_seconds += s.wall_seconds;
            if s.audio_seconds > 0.0 {
                e.1 += s.wall_seconds / s.audio_seconds;
                e.2 += 1;
            }
        } else {
            e.0.failed += 1;
            e.0.wall_seconds += s.wall_seconds;
        }
    }
    let devices: Vec<DeviceSummary> = by
        .into_values()
        .map(|(mut d, rtf_sum, n)| {
            d.mean_rtf = if n > 0 { rtf_sum / n as f64 } else { 0.0 };
            d
        })
        .collect();
    let spans: Vec<f64> = devices.iter().map(|d| d.busy_span()).collect();
    let max = spans.iter().cloned().fold(0.0, f64::max);
    let min = spans.iter().cloned().fold(f64::INFINITY, f64::min);
    let overall = if end > start { end - start } else { 0.0 };
    Report {
        balance: if max > 0.0 { min / max } else { 0.0 },
        speedup: if overall > 0.0 {
            total_wall / overall
        } else {
            0.0
        },
        total_wall_seconds: total_wall,
        overall_span: overall,
        start: if start.is_finite() { start } else { 0.0 },
        devices,
    }
}

pub fn format_table(r: &Report) -> String {
    let mut s = String::new();
    // Wide enough for `host/device` lanes.
    let w = r
        .devices
        .iter()
        .map(|d| d.device.chars().count())
        .fold(14, usize::max);
    let _ = writeln!(
        s,
        "{:<w$} {:>6} {:>6} {:>11} {:>10} {:>9} {:>12}",
        "device", "scenes", "failed", "audio h", "wall h", "mean RTF", "busy span s"
    );
    for d in &r.devices {
        let _ = writeln!(
            s,
            "{:<w$} {:>6} {:>6} {:>11.4} {:>10.4} {:>9.3} {:>12.1}",
            d.device,
            d.scenes,
            d.failed,
            d.audio_seconds / 3600.0,
            d.wall_seconds / 3600.0,
            d.mean_rtf,
            d.busy_span()
        );
    }
    let _ = writeln!(s, "balance (min/max busy span): {:.3}", r.balance);
    let _ = writeln!(
        s,
        "speed-up over one device: {:.2}x ({:.1} s of scene work in {:.1} s)",
        r.speedup, r.total_wall_seconds, r.overall_span
    );
    s
}

pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The timeline as SVG, written by hand: it is rectangles, lines and text, for which no plotting
/// crate is needed (and none would make it simpler or more robust).
pub fn svg_timeline(lines: &[StatsLine], r: &Report) -> String {
    let lane_h = 46.0;
    let left = 110.0;
    let right = 30.0;
    let top = 50.0;
    let plot_w = 900.0;
    let width = left + plot_w + right;
    let n = r.devices.len().max(1) as f64;
    let height = top + n * lane_h + 60.0;
    let span = r.overall_span.max(1e-9);
    let minutes = span / 60.0;
    let x = |t: f64| left + (t - r.start) / span * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="15" font-weight="bold">Scenes per device — balance {:.2}, speed-up {:.2}×</text>"#,
        r.balance, r.speedup
    );
    // Time axis with about 8 ticks at round minute steps.
    let steps = [
        0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
        240.0,
    ];
    let step = steps
        .iter()
        .cloned()
        .find(|st| minutes / st <= 8.0)
        .unwrap_or(480.0);
    let axis_y = top + n * lane_h + 8.0;
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        left + plot_w
    );
    let mut m = 0.0;
    while m <= minutes + 1e-9 {
        let tx = left + m * 60.0 / span * plot_w;
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
            axis_y + 4.0,
            axis_y + 18.0,
            trim_num(m)
        );
        m += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">time since first scene start (minutes)</text>"#,
        left + plot_w / 2.0,
        axis_y + 38.0
    );
    let palette = [
        "#4e79a7", "#59a14f", "#f28e2b", "#76b7b2", "#edc948", "#b07aa1",
    ];
    for (i, d) in r.devices.iter().enumerate() {
        let y = top + i as f64 * lane_h;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + lane_h / 2.0 + 4.0,
            xml_escape(&d.device)
        );
        let lanes = lane_names(lines);
        for (l, _) in lines.iter().zip(&lanes).filter(|(_, n)| **n == d.device) {
            let (Some(a), Some(b)) = (l.start_unix(), l.finish_unix()) else {
                continue;
            };
            let (x0, x1) = (x(a), x(b).max(x(a) + 1.0));
            let fill = if l.result == "done" {
                palette[i % palette.len()]
            } else {
                "#e15759"
            };
            let label = xml_escape(&l.stem());
            let _ = writeln!(
                s,
                r#"<g><title>{label}: {:.1} s audio, {:.1} s wall, {}</title><rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="white" stroke-width="1"/>"#,
                l.audio_seconds,
                l.wall_seconds,
                xml_escape(&l.result),
                y + 6.0,
                x1 - x0,
                lane_h - 12.0
            );
            // Label inside the bar: the whole stem when it fits, else its end (where scene
            // numbers are), else nothing (the tooltip has it).
            let stem: Vec<char> = l.stem().chars().collect();
            let fit = (((x1 - x0) - 6.0) / 6.5).floor().max(0.0) as usize;
            let shown: String = if stem.len() <= fit {
                stem.iter().collect()
            } else if fit >= 3 {
                std::iter::once('…')
                    .chain(stem[stem.len() - (fit - 1)..].iter().cloned())
                    .collect()
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="white" text-anchor="middle">{}</text></g>"#,
                (x0 + x1) / 2.0,
                y + lane_h / 2.0 + 4.0,
                xml_escape(&shown)
            );
        }
    }
    if lines.iter().any(|l| l.result != "done") {
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="14" width="12" height="12" fill="#e15759"/><text x="{:.1}" y="24" font-size="12">failed scene</text>"##,
            left + plot_w - 95.0,
            left + plot_w - 78.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(dev: &str, scene: &str, a: f64, b: f64, audio: f64) -> StatsLine {
        StatsLine {
            scene: format!("/s/{scene}.mp4"),
            device: dev.into(),
            model: "tiny".into(),
            audio_seconds: audio,
            wall_seconds: b - a,
            rtf: (b - a) / audio,
            worker_pid: 1,
            host: String::new(),
            result: "done".into(),
            started: fsutil::rfc3339(1_000_000.0 + a),
            finished: fsutil::rfc3339(1_000_000.0 + b),
        }
    }

    #[test]
    fn numbers() {
        let lines = vec![
            line("GPU.0", "a", 0.0, 10.0, 20.0),
            line("GPU.0", "b", 10.0, 30.0, 20.0),
            line("GPU.1", "c", 0.0, 24.0, 48.0),
        ];
        let r = summarize(&lines);
        assert_eq!(r.devices.len(), 2);
        let g0 = &r.devices[0];
        assert_eq!((g0.device.as_str(), g0.scenes), ("GPU.0", 2));
        assert!((g0.audio_seconds - 40.0).abs() < 1e-9);
        assert!((g0.wall_seconds - 30.0).abs() < 1e-9);
        assert!((g0.mean_rtf - 0.75).abs() < 1e-9);
        assert!((g0.busy_span() - 30.0).abs() < 1e-6);
        assert!((r.devices[1].busy_span() - 24.0).abs() < 1e-6);
        assert!((r.balance - 0.8).abs() < 1e-6);
        assert!((r.speedup - 54.0 / 30.0).abs() < 1e-6);
        let t = format_table(&r);
        assert!(t.contains("balance (min/max busy span): 0.800"), "{t}");
        assert!(t.contains("1.80x"), "{t}");
        let svg = svg_timeline(&lines, &r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 3);
    }

    #[test]
    fn several_hosts_get_lanes_per_host_and_device_and_a_host_balance() {
        let on = |host: &str, l: StatsLine| StatsLine {
            host: host.into(),
            ..l
        };
        let lines = vec![
            on("nas-pc1", line("GPU.0", "a", 0.0, 10.0, 20.0)),
            on("nas-pc1", line("GPU.1", "b", 0.0, 30.0, 20.0)),
            on("nas-pc2", line("GPU.0", "c", 0.0, 15.0, 60.0)),
        ];
        let r = summarize(&lines);
        let lanes: Vec<&str> = r.devices.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(lanes, ["nas-pc1/GPU.0", "nas-pc1/GPU.1", "nas-pc2/GPU.0"]);
        let h = summarize_hosts(&lines);
        assert_eq!(h.devices.len(), 2);
        assert_eq!(
            (h.devices[0].device.as_str(), h.devices[0].scenes),
            ("nas-pc1", 2)
        );
        assert!((h.balance - 0.5).abs() < 1e-9, "{h:?}");
        let t = format_hosts(&h);
        assert!(t.contains("host balance (min/max busy span): 0.500"), "{t}");
        assert!(t.contains("60.0%"), "{t}");
        assert_eq!(svg_timeline(&lines, &r).matches("<rect x=").count(), 3);
        // One host: lanes stay plain device names (single-machine output unchanged).
        assert_eq!(lane_names(&lines[..2]), ["GPU.0", "GPU.1"]);
    }

    #[test]
    fn parse_and_escape() {
        let good = serde_json::to_string(&line("CPU", "x<&>", 0.0, 1.0, 2.0)).unwrap();
        let (v, bad) = parse_lines(&format!("{good}\n\nnot json\n{good}\n"));
        assert_eq!((v.len(), bad), (2, 1));
        assert_eq!(v[0].stem(), "x<&>");
        assert_eq!(xml_escape("a<b&\"c\n"), "a&lt;b&amp;&quot;c ");
        let r = summarize(&[]);
        assert_eq!((r.balance, r.speedup), (0.0, 0.0));
    }
}
