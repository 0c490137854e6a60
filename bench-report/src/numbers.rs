//! The one median (workload's), and the number and duration formats of every table and
//! chart: the bench's, the sweep's, the cpu command's and the latency
//! table's.

pub use workload::stats::median;

/// Milliseconds for a table cell: whole ms from 100 up, one decimal below.
pub fn ms(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A ratio for a table cell, two decimals.
pub fn ratio(v: f64) -> String {
    format!("{v:.2}")
}

/// An optional number, `-` when absent.
pub fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// "1458 ms", "10.0 s", "2.8 h": a duration given in ms, as a reader takes
/// it in at a glance.
pub fn duration(millis: f64) -> String {
    let s = millis / 1e3;
    if millis < 10_000.0 {
        format!("{} ms", ms(millis))
    } else if s < 100.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Milliseconds of a [`std::time::Duration`], for arithmetic.
pub fn to_ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 10, 100, 1k, 10k, 0.5 ...: axis labels that stay short.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A time in human units.
pub fn human_ns(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.1} ns"),
        n if n < 1e6 => format!("{:.1} us", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

/// A duration in seconds told the way a person would: "4 min", "3 days".
pub fn human_scaled(seconds: f64) -> String {
    const MIN: f64 = 60.0;
    const HOUR: f64 = 60.0 * MIN;
    const DAY: f64 = 24.0 * HOUR;
    const MONTH: f64 = 30.0 * DAY;
    const YEAR: f64 = 365.0 * DAY;
    match seconds {
        s if s < MIN => format!("{s:.0} s"),
        s if s < HOUR => format!("{:.0} min", s / MIN),
        s if s < DAY => format!("{:.1} hours", s / HOUR),
        s if s < MONTH => format!("{:.1} days", s / DAY),
        s if s < YEAR => format!("{:.1} months", s / MONTH),
        s => format!("{:.1} years", s / YEAR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn numbers() {
        assert_eq!(ms(1002.4), "1002");
        assert_eq!(ms(99.96), "100.0");
        assert_eq!(ms(12.34), "12.3");
        assert_eq!(ratio(1.0049), "1.00");
        assert_eq!(opt(None, ms), "-");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(1458.2), "1458 ms");
        assert_eq!(duration(10_017.0), "10.0 s");
        assert_eq!(duration(500_000.0), "500 s");
        assert_eq!(duration(10_000_000.0), "2.8 h");
    }

    #[test]
    fn axis_labels() {
        assert_eq!(short_number(10_000.0), "10k");
        assert_eq!(short_number(100.0), "100");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(1500.0), "1.5k");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_ns(25.0), "25.0 ns");
        assert_eq!(human_ns(1_500.0), "1.5 us");
        assert_eq!(human_ns(250_000.0), "250.0 us");
        assert_eq!(human_scaled(30.0), "30 s");
        assert_eq!(human_scaled(65.0), "1 min");
        assert_eq!(human_scaled(3.0 * 3600.0), "3.0 hours");
        assert_eq!(human_scaled(400.0 * 86400.0), "1.1 years");
    }
}
