//! The figures a report shows: one enum, each with its labels in English (the wording of
//! `vllm bench serve`'s summary) and Chinese (the wording of the users' own reports in
//! shared/seeds), its unit and which direction is better.

use serde::Serialize;

/// One number a run can carry. The order of `Figure::ALL` is the order of the one-run table:
/// seed 001's nine rows first, then what those hand-made tables lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    InputLen,
    OutputLen,
    SuccessRate,
    OutputThroughput,
    PeakOutputThroughput,
    TotalThroughput,
    MeanTtft,
    MeanTpot,
    P99Tpot,
    RequestThroughput,
    InputThroughput,
    MedianTtft,
    P99Ttft,
    MeanTtfo,
    MedianE2el,
    P95E2el,
    P99E2el,
    Goodput,
    MaxConcurrent,
    GpuPowerMean,
    GpuPowerPeak,
    Energy,
    JoulesPerToken,
    KvCachePeak,
    QueuePeak,
}

/// How a figure's number is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Tokens per request (a length): whole numbers.
    Tokens,
    TokPerS,
    ReqPerS,
    Ms,
    Seconds,
    Watts,
    Joules,
    JoulesPerToken,
    /// A share in [0, 1], shown as a percentage.
    Percent,
    /// A count of requests.
    Requests,
}

/// Which way is better for a figure; `None` for figures that describe the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Figure {
    pub const ALL: [Figure; 25] = [
        Figure::InputLen,
        Figure::OutputLen,
        Figure::SuccessRate,
        Figure::OutputThroughput,
        Figure::PeakOutputThroughput,
        Figure::TotalThroughput,
        Figure::MeanTtft,
        Figure::MeanTpot,
        Figure::P99Tpot,
        Figure::RequestThroughput,
        Figure::InputThroughput,
        Figure::MedianTtft,
        Figure::P99Ttft,
        Figure::MeanTtfo,
        Figure::MedianE2el,
        Figure::P95E2el,
        Figure::P99E2el,
        Figure::Goodput,
        Figure::MaxConcurrent,
        Figure::GpuPowerMean,
        Figure::GpuPowerPeak,
        Figure::Energy,
        Figure::JoulesPerToken,
        Figure::KvCachePeak,
        Figure::QueuePeak,
    ];

    /// The columns of seed 002's comparison table, in its order.
    pub const COMPARISON: [Figure; 6] = [
        Figure::RequestThroughput,
        Figure::InputThroughput,
        Figure::OutputThroughput,
        Figure::MedianE2el,
        Figure::P95E2el,
        Figure::MeanTpot,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn unit(self) -> Unit {
        use Figure::*;
        match self {
            InputLen | OutputLen => Unit::Tokens,
            SuccessRate | KvCachePeak => Unit::Percent,
            OutputThroughput | PeakOutputThroughput | TotalThroughput | InputThroughput => {
                Unit::TokPerS
            }
            RequestThroughput | Goodput => Unit::ReqPerS,
            MeanTtft | MeanTpot | P99Tpot | MedianTtft | P99Ttft | MeanTtfo => Unit::Ms,
            MedianE2el | P95E2el | P99E2el => Unit::Seconds,
            MaxConcurrent | QueuePeak => Unit::Requests,
            GpuPowerMean | GpuPowerPeak => Unit::Watts,
            Energy => Unit::Joules,
            JoulesPerToken => Unit::JoulesPerToken,
        }
    }

    /// Which way is better; `None` for the workload's own lengths and for peaks of load that
    /// are neither good nor bad in themselves.
    pub fn better(self) -> Option<Better> {
        use Figure::*;
        match self {
            InputLen | OutputLen | MaxConcurrent | GpuPowerMean | GpuPowerPeak | KvCachePeak
            | QueuePeak => None,
            SuccessRate | OutputThroughput | PeakOutputThroughput | TotalThroughput
            | RequestThroughput | InputThroughput | Goodput => Some(Better::Higher),
            MeanTtft | MeanTpot | P99Tpot | MedianTtft | P99Ttft | MeanTtfo | MedianE2el
            | P95E2el | P99E2el | Energy | JoulesPerToken => Some(Better::Lower),
        }
    }

    /// The row label of the one-run table (seed 001's wording in Chinese, vLLM's summary
    /// wording in English, without the unit: the cell carries it).
    pub fn row_label(self, lang: Lang) -> &'static str {
        use Figure::*;
        match lang {
            Lang::En => match self {
                InputLen => "Input length",
                OutputLen => "Output length",
                SuccessRate => "Successful requests",
                OutputThroughput => "Output token throughput",
                PeakOutputThroughput => "Peak output token throughput",
                TotalThroughput => "Total token throughput",
                MeanTtft => "Mean TTFT",
                MeanTpot => "Mean TPOT",
                P99Tpot => "P99 TPOT",
                RequestThroughput => "Request throughput",
                InputThroughput => "Input token throughput",
                MedianTtft => "Median TTFT",
                P99Ttft => "P99 TTFT",
                MeanTtfo => "Mean TTFO",
                MedianE2el => "Median E2EL",
                P95E2el => "P95 E2EL",
                P99E2el => "P99 E2EL",
                Goodput => "Request goodput",
                MaxConcurrent => "Peak concurrent requests",
                GpuPowerMean => "GPU mean power",
                GpuPowerPeak => "GPU peak power",
                Energy => "GPU energy",
                JoulesPerToken => "Energy per output token",
                KvCachePeak => "Server KV-cache peak usage",
                QueuePeak => "Server queue peak",
            },
            Lang::Zh => match self {
                InputLen => "输入长度",
                OutputLen => "输出长度",
                SuccessRate => "成功率",
                OutputThroughput => "输出吞吐量",
                PeakOutputThroughput => "峰值吞吐量",
                TotalThroughput => "总吞吐量",
                MeanTtft => "平均 TTFT",
                MeanTpot => "平均 TPOT",
                P99Tpot => "P99 TPOT",
                RequestThroughput => "QPS",
                InputThroughput => "输入吞吐量",
                MedianTtft => "中位 TTFT",
                P99Ttft => "P99 TTFT",
                MeanTtfo => "平均 TTFO（首个回答 token）",
                MedianE2el => "p50 延迟",
                P95E2el => "p95 延迟",
                P99E2el => "p99 延迟",
                Goodput => "goodput（满足 SLO 的请求）",
                MaxConcurrent => "最大并发请求",
                GpuPowerMean => "GPU 平均功耗",
                GpuPowerPeak => "GPU 峰值功耗",
                Energy => "GPU 能耗",
                JoulesPerToken => "每输出 token 能耗",
                KvCachePeak => "KV Cache 峰值占用",
                QueuePeak => "排队请求峰值",
            },
        }
    }

    /// A column header with its unit (seed 002's wording in Chinese where it names the figure,
    /// `vllm bench serve`'s in English).
    pub fn column_label(self, lang: Lang) -> String {
        use Figure::*;
        if lang == Lang::Zh {
            let seed_002 = match self {
                RequestThroughput => Some("QPS"),
                InputThroughput => Some("prompt_tps"),
                OutputThroughput => Some("decode_tps"),
                MedianE2el => Some("p50 latency (s)"),
                P95E2el => Some("p95 latency (s)"),
                // Seed 002's name for the time per generated token.
                MeanTpot => Some("ms/output_token"),
                _ => None,
            };
            if let Some(s) = seed_002 {
                return s.to_string();
            }
        }
        match self.unit_suffix() {
            Some(u) => format!("{} ({u})", self.row_label(lang)),
            None => self.row_label(lang).to_string(),
        }
    }

    /// The unit as a header shows it, e.g. "tok/s".
    pub fn unit_suffix(self) -> Option<&'static str> {
        match self.unit() {
            Unit::Tokens => Some("tokens"),
            Unit::TokPerS => Some("tok/s"),
            Unit::ReqPerS => Some("req/s"),
            Unit::Ms => Some("ms"),
            Unit::Seconds => Some("s"),
            Unit::Watts => Some("W"),
            Unit::Joules => Some("J"),
            Unit::JoulesPerToken => Some("J/token"),
            // The cells carry the % sign (and seed 001's counts).
            Unit::Percent | Unit::Requests => None,
        }
    }

    /// The name used in the CSV and JSON outputs (stable, ASCII).
    pub fn key(self) -> &'static str {
        use Figure::*;
        match self {
            InputLen => "input_len",
            OutputLen => "output_len",
            SuccessRate => "success_rate",
            OutputThroughput => "output_throughput",
            PeakOutputThroughput => "max_output_tokens_per_s",
            TotalThroughput => "total_token_throughput",
            MeanTtft => "mean_ttft_ms",
            MeanTpot => "mean_tpot_ms",
            P99Tpot => "p99_tpot_ms",
            RequestThroughput => "request_throughput",
            InputThroughput => "input_throughput",
            MedianTtft => "median_ttft_ms",
            P99Ttft => "p99_ttft_ms",
            MeanTtfo => "mean_ttfo_ms",
            MedianE2el => "median_e2el_s",
            P95E2el => "p95_e2el_s",
            P99E2el => "p99_e2el_s",
            Goodput => "request_goodput",
            MaxConcurrent => "max_concurrent_requests",
            GpuPowerMean => "gpu_power_mean_w",
            GpuPowerPeak => "gpu_power_peak_w",
            Energy => "gpu_energy_j",
            JoulesPerToken => "joules_per_output_token",
            KvCachePeak => "kv_cache_peak",
            QueuePeak => "queue_peak",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order_so_index_works() {
        for (i, f) in Figure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i, "{f:?}");
        }
    }

    #[test]
    fn zh_columns_use_seed_002_names() {
        let cols: Vec<String> = Figure::COMPARISON
            .iter()
            .map(|f| f.column_label(Lang::Zh))
            .collect();
        assert_eq!(
            cols,
            [
                "QPS",
                "prompt_tps",
                "decode_tps",
                "p50 latency (s)",
                "p95 latency (s)",
                "ms/output_token"
            ]
        );
        assert_eq!(
            Figure::OutputThroughput.column_label(Lang::En),
            "Output token throughput (tok/s)"
        );
    }
}
