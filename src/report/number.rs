//! Numbers as the users' reports write them: `66.55 tok/s`, `4,970 ms`, `100% (30/30)`,
//! `1.34x`. From 1,000 up a value is a whole number with thousands separators (seed 001's
//! `4,970 ms`, seed 003's `1,880`); below, it keeps `decimals` places (seed 001 uses 2,
//! seed 002 uses 4). A missing value is `n/a`, never zero.

use crate::report::figure::{Figure, Unit};

/// What a missing figure shows.
pub const MISSING: &str = "n/a";

/// `value` with thousands separators from 1,000 up, else with `decimals` places.
pub fn plain(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return MISSING.to_string();
    }
    if value.abs() >= 1000.0 {
        grouped(value.round())
    } else {
        format!("{value:.decimals$}")
    }
}

/// A whole number with a comma every three digits: `14720` -> `14,720`.
pub fn grouped(value: f64) -> String {
    let negative = value < 0.0;
    let digits = format!("{:.0}", value.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if negative {
        format!("-{out}")
    } else {
        out
    }
}

/// A figure's value with its unit, as a table cell shows it.
pub fn with_unit(figure: Figure, value: Option<f64>, decimals: usize) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return MISSING.to_string();
    };
    match figure.unit() {
        Unit::Tokens => format!("{} tokens", plain(v, 0)),
        Unit::TokPerS => format!("{} tok/s", plain(v, decimals)),
        Unit::ReqPerS => format!("{} req/s", plain(v, decimals)),
        Unit::Ms => format!("{} ms", plain(v, decimals)),
        Unit::Seconds => format!("{} s", plain(v, decimals)),
        Unit::Watts => format!("{} W", plain(v, decimals)),
        Unit::Joules => format!("{} J", plain(v, decimals)),
        Unit::JoulesPerToken => format!("{} J/token", plain(v, decimals)),
        Unit::Percent => percent(v),
        Unit::Requests => plain(v, 0),
    }
}

/// A figure's bare number (the unit is in the column header).
pub fn bare(figure: Figure, value: Option<f64>, decimals: usize) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return MISSING.to_string();
    };
    match figure.unit() {
        Unit::Tokens | Unit::Requests => plain(v, 0),
        Unit::Percent => percent(v),
        _ => plain(v, decimals),
    }
}

/// A share in [0, 1] as a percentage: whole when it is whole (`100%`), else one place.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}

/// Seed 001's success cell: `100% (30/30)`.
pub fn success(completed: u64, total: u64) -> String {
    if total == 0 {
        return MISSING.to_string();
    }
    format!(
        "{} ({completed}/{total})",
        percent(completed as f64 / total as f64)
    )
}

/// A ratio against the baseline: `1.34x` (English) or `1.34×` (Chinese, as seed 002 writes).
pub fn ratio(r: f64, sign: &str) -> String {
    if !r.is_finite() {
        return MISSING.to_string();
    }
    format!("{r:.2}{sign}")
}

/// A mean with its spread over repeats: `260.37 ± 1.20`.
pub fn mean_std(figure: Figure, mean: f64, std: f64, decimals: usize) -> String {
    format!(
        "{} ± {}",
        bare(figure, Some(mean), decimals),
        bare(figure, Some(std), decimals)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(4970.4, 2, "4,970")]
    #[case(12801.0, 2, "12,801")]
    #[case(394.71, 2, "394.71")]
    #[case(90.0, 2, "90.00")]
    #[case(1880.0, 2, "1,880")]
    #[case(14720.0, 2, "14,720")]
    #[case(1234567.8, 2, "1,234,568")]
    #[case(999.996, 2, "1000.00")]
    #[case(260.36882, 4, "260.3688")]
    #[case(-4970.0, 2, "-4,970")]
    #[case(f64::NAN, 2, "n/a")]
    fn plain_follows_the_seeds(#[case] v: f64, #[case] d: usize, #[case] want: &str) {
        assert_eq!(plain(v, d), want);
    }

    #[test]
    fn cells_carry_units_and_missing_is_never_zero() {
        assert_eq!(
            with_unit(Figure::MeanTtft, Some(4970.2), 2),
            "4,970 ms".to_string()
        );
        assert_eq!(
            with_unit(Figure::OutputThroughput, Some(66.55), 2),
            "66.55 tok/s"
        );
        assert_eq!(with_unit(Figure::InputLen, Some(512.0), 2), "512 tokens");
        assert_eq!(with_unit(Figure::MeanTtft, None, 2), "n/a");
        assert_eq!(bare(Figure::JoulesPerToken, None, 2), "n/a");
        assert_eq!(success(30, 30), "100% (30/30)");
        assert_eq!(success(197, 200), "98.5% (197/200)");
        assert_eq!(ratio(1.3366, "x"), "1.34x");
        assert_eq!(ratio(0.7495, "×"), "0.75×");
        assert_eq!(
            mean_std(Figure::OutputThroughput, 260.368, 1.2, 2),
            "260.37 ± 1.20"
        );
    }
}
