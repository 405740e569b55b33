//! GPU figures over a run window: average and peak power, peak memory and temperature, energy
//! (from the energy counter where it exists, else trapezoid-integrated power) and joules per
//! output token. Fed with samples by [`super::GpuMonitor`] between `begin_run` and `end_run`, or
//! directly through [`GpuRunAccumulator::push`].

use super::{GpuSample, Metric};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How `energy_j` was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergySource {
    /// Difference of the device's cumulative energy counter.
    Counter,
    /// Power readings integrated over time (trapezoid rule).
    IntegratedPower,
}

/// One GPU over one run window. `None` means the device never reported that figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRunStats {
    /// Node name ("local" host name or the remote's name).
    pub node: String,
    /// The device key (UUID, MIG UUID, backend:index).
    pub key: String,
    pub name: String,
    /// Readings taken in the window.
    pub samples: u32,
    /// Seconds between the first and last reading.
    pub window_s: f64,
    pub avg_power_w: Option<f64>,
    pub peak_power_w: Option<f64>,
    /// Peak memory in use: VRAM used, or GPU-held on unified memory.
    pub peak_memory_bytes: Option<u64>,
    pub peak_temperature_c: Option<f64>,
    pub energy_j: Option<f64>,
    pub energy_source: Option<EnergySource>,
}

impl GpuRunStats {
    /// Energy divided by output tokens; `None` without energy or tokens.
    pub fn joules_per_output_token(&self, total_output_tokens: u64) -> Option<f64> {
        per_token(self.energy_j, total_output_tokens)
    }
}

fn per_token(energy: Option<f64>, tokens: u64) -> Option<f64> {
    (tokens > 0).then_some(())?;
    energy.map(|j| j / tokens as f64)
}

/// Every GPU over one run window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuRunSummary {
    pub gpus: Vec<GpuRunStats>,
    /// Sum of the energies of the GPUs that have one; `None` if none has.
    pub total_energy_j: Option<f64>,
    /// Power of all GPUs together in each second of the window (the sum of each GPU's mean
    /// reading in that second); `None` for a second without a reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_per_second_w: Vec<Option<f64>>,
}

impl GpuRunSummary {
    /// Total energy of all GPUs divided by the run's output tokens.
    pub fn joules_per_output_token(&self, total_output_tokens: u64) -> Option<f64> {
        per_token(self.total_energy_j, total_output_tokens)
    }

    /// Lines for the bench summary table (empty when there was no GPU).
    pub fn summary_lines(&self, total_output_tokens: u64) -> Vec<String> {
        if self.gpus.is_empty() {
            return Vec::new();
        }
        let opt = |v: Option<f64>, prec: usize| match v {
            Some(x) => format!("{x:.prec$}"),
            None => "-".to_string(),
        };
        let mut lines = vec![format!(
            "{:<34} {:>8} {:>8} {:>9} {:>7} {:>10} {:>8}",
            "GPU", "avg W", "peak W", "peak mem", "peak C", "energy J", "J/tok"
        )];
        for g in &self.gpus {
            let mut label = format!("{}/{}", g.node, g.name);
            if label.chars().count() > 34 {
                label = label.chars().take(33).collect::<String>() + "~";
            }
            let energy = match (g.energy_j, g.energy_source) {
                (Some(j), Some(EnergySource::IntegratedPower)) => format!("~{j:.1}"),
                (Some(j), _) => format!("{j:.1}"),
                (None, _) => "-".into(),
            };
            lines.push(format!(
                "{:<34} {:>8} {:>8} {:>9} {:>7} {:>10} {:>8}",
                label,
                opt(g.avg_power_w, 1),
                opt(g.peak_power_w, 1),
                g.peak_memory_bytes
                    .map(super::fmt_gib)
                    .unwrap_or("-".into()),
                opt(g.peak_temperature_c, 0),
                energy,
                opt(g.joules_per_output_token(total_output_tokens), 3),
            ));
        }
        if self.gpus.len() > 1 {
            lines.push(format!(
                "{:<34} {:>8} {:>8} {:>9} {:>7} {:>10} {:>8}",
                "all GPUs",
                "",
                "",
                "",
                "",
                opt(self.total_energy_j, 1),
                opt(self.joules_per_output_token(total_output_tokens), 3),
            ));
        }
        lines
    }
}

#[derive(Debug, Clone)]
struct Acc {
    node: String,
    key: String,
    name: String,
    n: u32,
    first_t: f64,
    last_t: f64,
    last_power: Option<(f64, f64)>,
    integrated_j: f64,
    integrated_s: f64,
    single_power: Option<f64>,
    peak_power: Option<f64>,
    peak_mem: Option<u64>,
    peak_temp: Option<f64>,
    energy_first: Option<u64>,
    energy_last: Option<u64>,
    counter_broken: bool,
    /// (sum of readings, readings) per second of the window.
    power_seconds: Vec<(f64, u32)>,
}

fn max_opt<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Collects samples of a run window, per (node, device).
#[derive(Debug, Clone, Default)]
pub struct GpuRunAccumulator {
    gpus: Vec<Acc>,
    index: HashMap<(String, String), usize>,
    /// The first reading's time: second 0 of the per-second power.
    origin: Option<f64>,
}

impl GpuRunAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the readings of `node` taken at `t_s` seconds (any monotonic origin).
    pub fn push(&mut self, node: &str, t_s: f64, samples: &[GpuSample]) {
        let origin = *self.origin.get_or_insert(t_s);
        // A day of seconds at most: a reading with an odd clock cannot grow the series.
        let second = ((t_s - origin).max(0.0) as usize).min(86_400);
        for s in samples {
            let id = (node.to_string(), s.key.clone());
            let i = *self.index.entry(id).or_insert_with(|| {
                self.gpus.push(Acc {
                    node: node.to_string(),
                    key: s.key.clone(),
                    name: s.name.clone(),
                    n: 0,
                    first_t: t_s,
                    last_t: t_s,
                    last_power: None,
                    integrated_j: 0.0,
                    integrated_s: 0.0,
                    single_power: None,
                    peak_power: None,
                    peak_mem: None,
                    peak_temp: None,
                    energy_first: None,
                    energy_last: None,
                    counter_broken: false,
                    power_seconds: Vec::new(),
                });
                self.gpus.len() - 1
            });
            let a = &mut self.gpus[i];
            if a.n > 0 && t_s <= a.last_t {
                continue; // the same reading twice, or out of order
            }
            a.n += 1;
            a.last_t = t_s;
            if let Metric::Value(w) = s.power_w {
                if let Some((t0, w0)) = a.last_power {
                    a.integrated_j += (w0 + w) / 2.0 * (t_s - t0);
                    a.integrated_s += t_s - t0;
                }
                a.last_power = Some((t_s, w));
                if a.power_seconds.len() <= second {
                    a.power_seconds.resize(second + 1, (0.0, 0));
                }
                let slot = &mut a.power_seconds[second];
                *slot = (slot.0 + w, slot.1 + 1);
                a.single_power.get_or_insert(w);
                a.peak_power = max_opt(a.peak_power, Some(w));
            }
            a.peak_mem = max_opt(a.peak_mem, s.memory_in_use());
            a.peak_temp = max_opt(a.peak_temp, s.temperature_c.value());
            match s.energy_mj {
                Metric::Value(e) => {
                    if a.energy_last.is_some_and(|last| e < last) {
                        a.counter_broken = true; // driver reload or wrap
                    }
                    a.energy_first.get_or_insert(e);
                    a.energy_last = Some(e);
                }
                // A gap in the counter makes its difference unreliable.
                _ if a.energy_first.is_some() => a.counter_broken = true,
                _ => {}
            }
        }
    }

    /// The figures so far.
    pub fn finish(&self) -> GpuRunSummary {
        let gpus: Vec<GpuRunStats> = self
            .gpus
            .iter()
            .map(|a| {
                let counter = match (a.energy_first, a.energy_last) {
                    (Some(f), Some(l)) if !a.counter_broken && a.n >= 2 => {
                        Some((l - f) as f64 / 1000.0)
                    }
                    _ => None,
                };
                let integrated = (a.integrated_s > 0.0).then_some(a.integrated_j);
                let (energy_j, energy_source) = match (counter, integrated) {
                    (Some(j), _) => (Some(j), Some(EnergySource::Counter)),
                    (None, Some(j)) => (Some(j), Some(EnergySource::IntegratedPower)),
                    (None, None) => (None, None),
                };
                let avg_power_w = if a.integrated_s > 0.0 {
                    Some(a.integrated_j / a.integrated_s)
                } else {
                    a.single_power
                };
                GpuRunStats {
                    node: a.node.clone(),
                    key: a.key.clone(),
                    name: a.name.clone(),
                    samples: a.n,
                    window_s: a.last_t - a.first_t,
                    avg_power_w,
                    peak_power_w: a.peak_power,
                    peak_memory_bytes: a.peak_mem,
                    peak_temperature_c: a.peak_temp,
                    energy_j,
                    energy_source,
                }
            })
            .collect();
        let energies: Vec<f64> = gpus.iter().filter_map(|g| g.energy_j).collect();
        let seconds = self
            .gpus
            .iter()
            .map(|a| a.power_seconds.len())
            .max()
            .unwrap_or(0);
        let power_per_second_w = (0..seconds)
            .map(|i| {
                let means = self.gpus.iter().filter_map(|a| {
                    let (sum, n) = *a.power_seconds.get(i)?;
                    (n > 0).then(|| sum / f64::from(n))
                });
                means.fold(None, |acc: Option<f64>, w| Some(acc.unwrap_or(0.0) + w))
            })
            .collect();
        GpuRunSummary {
            total_energy_j: (!energies.is_empty()).then(|| energies.iter().sum()),
            gpus,
            power_per_second_w,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::gpu::{Backend, Vendor};

    fn sample(
        key: &str,
        power: Option<f64>,
        energy: Option<u64>,
        mem: u64,
        temp: f64,
    ) -> GpuSample {
        let mut s = GpuSample::blank(key.into(), 0, "GPU".into(), Vendor::Nvidia, Backend::Nvml);
        s.power_w = power.map(Metric::Value).unwrap_or(Metric::NotSupported);
        s.energy_mj = energy.map(Metric::Value).unwrap_or(Metric::NotSupported);
        s.memory_used_bytes = Metric::Value(mem);
        s.temperature_c = Metric::Value(temp);
        s
    }

    #[test]
    fn energy_from_counter_and_from_integrated_power() {
        let mut acc = GpuRunAccumulator::new();
        // GPU a: counter 1000 J over 10 s; power readings 100 then 300 W.
        acc.push(
            "n",
            0.0,
            &[
                sample("a", Some(100.0), Some(5_000_000), 10, 40.0),
                sample("b", Some(200.0), None, 1, 30.0),
            ],
        );
        acc.push(
            "n",
            10.0,
            &[
                sample("a", Some(300.0), Some(6_000_000), 30, 60.0),
                sample("b", Some(200.0), None, 5, 35.0),
            ],
        );
        acc.push(
            "n",
            10.0,
            &[sample("a", Some(999.0), Some(9_000_000), 99, 99.0)],
        ); // duplicate time: ignored
        let s = acc.finish();
        let a = &s.gpus[0];
        assert_eq!(a.samples, 2);
        assert_eq!(a.energy_j, Some(1000.0));
        assert_eq!(a.energy_source, Some(EnergySource::Counter));
        assert_eq!(a.avg_power_w, Some(200.0));
        assert_eq!(a.peak_power_w, Some(300.0));
        assert_eq!(a.peak_memory_bytes, Some(30));
        assert_eq!(a.peak_temperature_c, Some(60.0));
        let b = &s.gpus[1];
        assert_eq!(b.energy_j, Some(2000.0));
        assert_eq!(b.energy_source, Some(EnergySource::IntegratedPower));
        assert_eq!(s.total_energy_j, Some(3000.0));
        assert_eq!(s.joules_per_output_token(1500), Some(2.0));
        assert_eq!(a.joules_per_output_token(0), None);
    }

    #[test]
    fn counter_reset_falls_back_and_no_power_means_none() {
        let mut acc = GpuRunAccumulator::new();
        acc.push(
            "n",
            0.0,
            &[
                sample("a", Some(100.0), Some(9_000), 0, 0.0),
                sample("c", None, None, 0, 0.0),
            ],
        );
        acc.push(
            "n",
            2.0,
            &[
                sample("a", Some(100.0), Some(1_000), 0, 0.0),
                sample("c", None, None, 0, 0.0),
            ],
        );
        let s = acc.finish();
        assert_eq!(s.gpus[0].energy_j, Some(200.0));
        assert_eq!(s.gpus[0].energy_source, Some(EnergySource::IntegratedPower));
        assert_eq!(s.gpus[1].energy_j, None);
        assert_eq!(s.gpus[1].avg_power_w, None);
        assert_eq!(s.total_energy_j, Some(200.0));
        let lines = s.summary_lines(100);
        assert_eq!(lines.len(), 4);
        assert!(lines[1].contains("~200.0"), "{}", lines[1]);
        assert!(lines[1].trim_end().ends_with("2.000"), "{}", lines[1]);
        assert!(lines[2].contains(" - "), "{}", lines[2]);
    }

    #[test]
    fn serializes_for_the_result_json() {
        let mut acc = GpuRunAccumulator::new();
        acc.push("n", 0.0, &[sample("a", Some(100.0), None, 0, 0.0)]);
        let json = serde_json::to_value(acc.finish()).unwrap();
        assert_eq!(json["gpus"][0]["avg_power_w"], 100.0);
        assert_eq!(json["gpus"][0]["energy_j"], serde_json::Value::Null);
        let back: GpuRunSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back.gpus[0].key, "a");
    }

    #[test]
    fn power_per_second_sums_each_gpus_mean_of_that_second() {
        let mut acc = GpuRunAccumulator::new();
        let at = |acc: &mut GpuRunAccumulator, t: f64, a: Option<f64>, b: Option<f64>| {
            acc.push(
                "n",
                t,
                &[sample("a", a, None, 0, 0.0), sample("b", b, None, 0, 0.0)],
            );
        };
        at(&mut acc, 10.0, Some(100.0), Some(50.0));
        at(&mut acc, 10.5, Some(200.0), None);
        at(&mut acc, 11.2, Some(300.0), None);
        at(&mut acc, 13.0, None, None);
        // Second 0: a's mean 150 + b's 50; second 1: a alone; seconds 2 and 3: no reading.
        assert_eq!(
            acc.finish().power_per_second_w,
            vec![Some(200.0), Some(300.0)]
        );
    }
}
