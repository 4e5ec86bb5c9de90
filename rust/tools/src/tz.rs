// SPDX-License-Identifier: GPL-2.0

//! Local time for the dump's `created:`/`current:` columns, which setkey
//! prints with `ctime()`: the UTC offset comes from `$TZ` or
//! `/etc/localtime` (a TZif file, read here without libc), else UTC.

#![forbid(unsafe_code)]

/// A time zone: UTC offsets that start at given instants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    /// (first second it applies, offset in seconds), sorted.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition, or without any.
    initial: i32,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::default()
    }

    /// Parses a TZif file (version 1, or the 64-bit block of 2 and later).
    pub fn from_tzif(b: &[u8]) -> Option<Zone> {
        if b.get(..4)? != b"TZif" {
            return None;
        }
        let counts = |at: usize| -> Option<[usize; 6]> {
            let mut c = [0usize; 6];
            for (i, v) in c.iter_mut().enumerate() {
                *v = be32(b, at + 20 + 4 * i)? as usize;
            }
            Some(c)
        };
        let [isut, isstd, leap, time, ty, chars] = counts(0)?;
        let (start, tsize, counts) = if *b.get(4)? >= b'2' {
            let v1 = time * 5 + ty * 6 + chars + leap * 8 + isstd + isut;
            let at = 44 + v1;
            if b.get(at..at + 4)? != b"TZif" {
                return None;
            }
            (at + 44, 8, counts(at)?)
        } else {
            (44, 4, [isut, isstd, leap, time, ty, chars])
        };
        let [_, _, _, time, ty, _] = counts;
        let idx_at = start + time * tsize;
        let types_at = idx_at + time;
        let offset_of = |i: usize| -> Option<i32> { Some(be32(b, types_at + 6 * i)? as i32) };
        let mut transitions = Vec::with_capacity(time);
        for i in 0..time {
            let t = if tsize == 8 {
                be64(b, start + 8 * i)?
            } else {
                i64::from(be32(b, start + 4 * i)? as i32)
            };
            let idx = usize::from(*b.get(idx_at + i)?);
            if idx >= ty {
                return None;
            }
            transitions.push((t, offset_of(idx)?));
        }
        let first_std = (0..ty).find(|&i| b.get(types_at + 6 * i + 4) == Some(&0));
        let initial = offset_of(first_std.unwrap_or(0)).unwrap_or(0);
        Some(Zone {
            transitions,
            initial,
        })
    }

    /// The zone `$TZ` names, or `/etc/localtime`, or UTC.
    pub fn local() -> Zone {
        let path = match std::env::var("TZ") {
            Ok(tz) => {
                let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
                if tz.is_empty() || tz.starts_with("UTC") || tz.starts_with("GMT") {
                    return Zone::utc();
                }
                if tz.starts_with('/') {
                    tz
                } else {
                    format!("/usr/share/zoneinfo/{tz}")
                }
            }
            Err(_) => "/etc/localtime".to_string(),
        };
        std::fs::read(path)
            .ok()
            .and_then(|b| Zone::from_tzif(&b))
            .unwrap_or_default()
    }

    /// The UTC offset at `t` (seconds since the epoch).
    pub fn offset(&self, t: i64) -> i32 {
        let i = self.transitions.partition_point(|&(at, _)| at <= t);
        match i {
            0 => self.initial,
            _ => self.transitions[i - 1].1,
        }
    }
}

/// Year, month (1-12), day from days since 1970-01-01 (Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// setkey's `str_time()`: `ctime()` without the weekday and newline
/// (`Nov 25 12:00:00 2026`, 20 characters), or 20 spaces for 0.
pub fn str_time(t: u64, zone: &Zone) -> String {
    if t == 0 {
        return " ".repeat(20);
    }
    let t = i64::try_from(t).unwrap_or(i64::MAX / 2);
    let local = t + i64::from(zone.offset(t));
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let month = MONTHS[(m as usize).saturating_sub(1) % 12];
    format!(
        "{month} {d:2} {:02}:{:02}:{:02} {y}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_layout_in_utc() {
        let z = Zone::utc();
        assert_eq!(str_time(0, &z), "                    ");
        assert_eq!(str_time(1, &z), "Jan  1 00:00:01 1970");
        assert_eq!(str_time(1_795_608_000, &z), "Nov 25 12:00:00 2026");
        assert_eq!(str_time(951_782_400, &z), "Feb 29 00:00:00 2000");
    }

    /// A version 1 TZif file with one transition to UTC+1 at t=1000.
    fn tzif_v1() -> Vec<u8> {
        let mut b = b"TZif".to_vec();
        b.push(0);
        b.extend([0u8; 15]);
        for c in [0u32, 0, 0, 1, 2, 4] {
            b.extend(c.to_be_bytes());
        }
        b.extend(1000i32.to_be_bytes());
        b.push(1);
        b.extend(0i32.to_be_bytes());
        b.extend([0, 0]);
        b.extend(3600i32.to_be_bytes());
        b.extend([0, 0]);
        b.extend(b"UTC\0");
        b
    }

    #[test]
    fn a_tzif_file_gives_offsets_by_instant() {
        let z = Zone::from_tzif(&tzif_v1()).unwrap();
        assert_eq!(z.offset(999), 0);
        assert_eq!(z.offset(1000), 3600);
        assert_eq!(str_time(1_795_608_000, &z), "Nov 25 13:00:00 2026");
        assert_eq!(Zone::from_tzif(b"nope"), None);
        assert_eq!(Zone::from_tzif(&tzif_v1()[..50]), None);
    }
}
