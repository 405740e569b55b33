//! Every sentence and heading of a report in both languages. Chinese follows the users' own
//! reports (shared/seeds: 测试结果, 对比汇总, 最佳值, 相对 ... 的提升); English follows
//! `vllm bench serve`'s summary wording.

use crate::report::figure::Lang;

/// One phrase in both languages.
pub struct Phrase {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Phrase {
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Zh => self.zh,
        }
    }
}

macro_rules! phrase {
    ($name:ident, $en:expr, $zh:expr) => {
        pub const $name: Phrase = Phrase { en: $en, zh: $zh };
    };
}

phrase!(TITLE, "Benchmark report", "性能测试报告");
phrase!(RESULTS, "Results", "测试结果");
phrase!(METRIC, "Metric", "指标");
phrase!(VALUE, "Value", "数值");
phrase!(CONFIGURATION, "Configuration", "配置");
phrase!(COMPARISON, "Comparison", "对比汇总");
phrase!(ALL_FIGURES, "All figures", "全部指标");
phrase!(BEST, "Best values", "最佳值");
phrase!(BEST_VALUE, "Best value", "最佳值");
phrase!(WORKLOADS, "Workloads", "测试配置");
phrase!(FILE, "File", "文件");
phrase!(MODEL, "Model", "模型");
phrase!(CONCURRENCY, "Concurrency", "并发");
phrase!(RATE, "Request rate (req/s)", "请求速率 (req/s)");
phrase!(RUNS, "Runs", "次数");
phrase!(ORIGIN, "Written by", "来源");
phrase!(UNLIMITED, "unlimited", "不限");
phrase!(CHARTS, "Charts", "图表");
phrase!(
    TOKENS_CHART,
    "Token throughput (input and output tok/s)",
    "Token 吞吐对比（prompt_tps / decode_tps）"
);
phrase!(QPS_CHART, "Request throughput (req/s)", "QPS 对比");
phrase!(
    LATENCY_CHART,
    "End-to-end latency (p50 / p95, s)",
    "延迟对比（p50 / p95，秒）"
);
phrase!(
    TOKENS_NOTE,
    "Token throughputs are drawn apart from request rate and latency, which have other units.",
    "说明：下图只对比同量纲的 token 吞吐（prompt_tps / decode_tps），避免把 QPS 与 latency 混在同一坐标系。"
);
phrase!(SERIES_CHART, "Per second", "每秒吞吐");
phrase!(TIME_S, "time (s)", "时间 (s)");
phrase!(OUTPUT_TOK_S, "output tok/s", "输出 tok/s");
phrase!(INPUT_TOK_S, "input tok/s", "输入 tok/s");
phrase!(
    LATENCY_PER_SECOND,
    "mean latency per second",
    "每秒平均延迟"
);
phrase!(MEAN_TTFT, "mean TTFT", "平均 TTFT");
phrase!(MEAN_TPOT, "mean TPOT", "平均 TPOT");
phrase!(GPU_POWER_PER_SECOND, "GPU power", "GPU 功耗");
phrase!(
    NO_SERIES,
    "This result has no per-second series (a vLLM file, or an older tokscope result).",
    "该结果没有逐秒数据（vLLM 结果文件或旧版 tokscope 结果）。"
);
phrase!(SWEEP, "Sweep", "扫描");
phrase!(KNEE, "Knee", "拐点");
phrase!(CAPACITY, "Capacity", "容量");
phrase!(
    THROUGHPUT_VS_LOAD,
    "Throughput against load",
    "吞吐量随负载变化"
);
phrase!(LATENCY_VS_LOAD, "Latency against load", "延迟随负载变化");
phrase!(
    LATENCY_VS_THROUGHPUT,
    "Latency against throughput",
    "延迟与吞吐量"
);
phrase!(
    ENERGY_VS_LOAD,
    "Energy per token against load",
    "每 token 能耗随负载变化"
);
phrase!(
    NO_GOODPUT,
    "n/a: the steps carry no goodput (run the sweep with --goodput SLOs)",
    "n/a：各步没有 goodput（运行扫描时请加 --goodput SLO）"
);
phrase!(
    NO_STEP_MEETS,
    "no step meets the SLOs for 95% of its requests",
    "没有任何一步满足 95% 请求的 SLO"
);
phrase!(
    NO_KNEE,
    "n/a: fewer than three steps carry throughput and latency",
    "n/a：同时有吞吐量和延迟的步数少于三步"
);
phrase!(ALL_RUNS, "all runs", "全部");
phrase!(WITHIN_NOISE, " (within noise)", "（在噪声范围内）");

/// "Missing from 'file' (vLLM result): keys" — why cells show n/a.
pub fn missing_note(lang: Lang, file: &str, vllm: bool, keys: &str) -> String {
    match (lang, vllm) {
        (Lang::En, true) => format!("n/a: '{file}' (a vLLM result) lacks {keys}"),
        (Lang::En, false) => format!("n/a: '{file}' lacks {keys}"),
        (Lang::Zh, true) => format!("n/a：'{file}'（vLLM 结果）缺少 {keys}"),
        (Lang::Zh, false) => format!("n/a：'{file}' 缺少 {keys}"),
    }
}

/// The line before the ratio list: seed 002's "2GPU 相对 1GPU 的提升：".
pub fn ratios_intro(lang: Lang, this: &str, base: &str) -> String {
    match lang {
        Lang::En => format!("{this} against {base}:"),
        Lang::Zh => format!("{this} 相对 {base} 的提升："),
    }
}

/// One ratio line: seed 002's "decode_tps：约 1.34×" and "平均延迟：约 0.75×（降低约 25%）".
pub fn ratio_line(lang: Lang, name: &str, ratio: &str, change_pct: Option<(f64, bool)>) -> String {
    let change = change_pct.map(|(pct, lower)| match (lang, lower) {
        (Lang::En, true) => format!(" ({pct:.0}% lower)"),
        (Lang::En, false) => format!(" ({pct:.0}% higher)"),
        (Lang::Zh, true) => format!("（降低约 {pct:.0}%）"),
        (Lang::Zh, false) => format!("（升高约 {pct:.0}%）"),
    });
    match lang {
        Lang::En => format!("{name}: {ratio}{}", change.unwrap_or_default()),
        Lang::Zh => format!("{name}：约 {ratio}{}", change.unwrap_or_default()),
    }
}

/// The sign after a ratio: "1.34x" in English, seed 002's "1.34×" in Chinese.
pub fn ratio_sign(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "x",
        Lang::Zh => "×",
    }
}

/// The flag next to a comparison whose workloads differ.
pub fn workload_flag(lang: Lang, this: &str, base: &str, diffs: &str) -> String {
    match lang {
        Lang::En => format!(
            "⚠ '{this}' ran a different workload from the baseline '{base}' ({diffs}): its ratios compare different loads"
        ),
        Lang::Zh => format!(
            "⚠ '{this}' 与基线 '{base}' 的负载不同（{diffs}），其比值对比的不是同一口径"
        ),
    }
}

/// The header of a ratio column: "b / a".
pub fn ratio_header(this: &str, base: &str) -> String {
    format!("{this} / {base}")
}

/// The knee line of a sweep.
pub fn knee_line(lang: Lang, load: &str, tput: &str, lat: &str) -> String {
    match lang {
        Lang::En => format!(
            "Knee: {load} (output {tput} at {lat} median latency; beyond it latency grows faster than throughput)"
        ),
        Lang::Zh => format!("拐点：{load}（输出 {tput}，p50 延迟 {lat}；此后延迟增长快于吞吐量）"),
    }
}

/// The capacity line of a sweep.
pub fn capacity_line(lang: Lang, answer: &str) -> String {
    match lang {
        Lang::En => format!("Capacity: {answer}"),
        Lang::Zh => format!("容量：{answer}"),
    }
}

/// A load on a sweep's axis: "concurrency 8" / "并发 8", "4 req/s".
pub fn load_name(lang: Lang, concurrency: bool, value: &str) -> String {
    match (lang, concurrency) {
        (Lang::En, true) => format!("concurrency {value}"),
        (Lang::Zh, true) => format!("并发 {value}"),
        (_, false) => format!("{value} req/s"),
    }
}

/// The capacity found from goodput: "concurrency 16 (95% of requests within the SLOs)".
pub fn capacity_found(lang: Lang, load: &str) -> String {
    match lang {
        Lang::En => format!("{load} (the highest step where 95% of requests met every SLO)"),
        Lang::Zh => format!("{load}（95% 请求满足全部 SLO 的最高一步）"),
    }
}
