//! UTC calendar dates without a time-zone database: what chat templates'
//! `strftime_now` and the run report's "started" line need.

/// Seconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The current UTC time as `2026-12-04T23:44:08Z`.
pub fn utc_now_rfc3339() -> String {
    strftime_utc("%Y-%m-%dT%H:%M:%SZ", now_secs())
}

/// Formats `secs` (since the epoch, UTC) with the common `strftime`
/// directives: `%Y %m %d %B %b %H %M %S %%`; others are kept as written.
pub fn strftime_utc(format: &str, secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let month_name = MONTHS[(month - 1) as usize];
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            strftime_utc("%Y-%m-%dT%H:%M:%SZ", 0),
            "1970-01-01T00:00:00Z"
        );
        // A leap day and a date after 2038.
        assert_eq!(strftime_utc("%d %b %Y", 951_782_400), "29 Feb 2000");
        assert_eq!(strftime_utc("%Y-%m-%d", 4_102_444_800), "2100-01-01");
        assert_eq!(
            strftime_utc("%d %b %Y %H:%M:%S %% %B", 1_796_501_109),
            "05 Dec 2026 20:05:09 % December"
        );
    }
}
