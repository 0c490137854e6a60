//! The one median, and the number and duration formats every table and
//! chart of the bench, the sweep and the cpu command share.

/// The median of some measurements (the mean of the middle two for an even
/// count), non-finite values left out; `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

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
pub fn duration(ms_: f64) -> String {
    let s = ms_ / 1e3;
    if ms_ < 10_000.0 {
        format!("{} ms", ms(ms_))
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
}
