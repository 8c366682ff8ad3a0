//! Unix seconds ⇄ `YYYY-MM-DD HH:MM:SS` UTC for the admin pages (the civil-calendar
//! algorithms of H. Hinnant, proleptic Gregorian).

/// `2026-11-26 14:03:00` (UTC).
pub fn format(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Unix seconds, or `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DD HH:MM[:SS]` in UTC.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(day)), None) =
        (d.next(), d.next(), d.next(), d.next())
    else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || !(1..=9999).contains(&y) {
        return None;
    }
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let h = hms.next().flatten()?;
    let min = hms.next().flatten().unwrap_or(0);
    let s = hms.next().flatten().unwrap_or(0);
    if !(0..24).contains(&h) || !(0..60).contains(&min) || !(0..61).contains(&s) {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        assert_eq!(format(0), "1970-01-01 00:00:00");
        assert_eq!(format(1_800_000_000), "2027-01-15 08:00:00");
        assert_eq!(parse("2027-01-15T08:00"), Some(1_800_000_000));
        assert_eq!(parse("2027-01-15 08:00:00"), Some(1_800_000_000));
        assert_eq!(parse("1800000000"), Some(1_800_000_000));
        assert_eq!(parse("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2024-13-01"), None);
    }
}
