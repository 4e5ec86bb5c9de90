// SPDX-License-Identifier: GPL-2.0

//! The `ipsecstat` view of the module's counters: reads
//! `/proc/net/kame_ipsec/{ipsecstat,espstat,ahstat}` (one `name value` line
//! per counter, then one `histogram algorithm value` line per nonzero row
//! of a per-algorithm histogram) and prints them as BSD `netstat -s -p
//! ipsec|esp|ah` does: one sentence per counter under the protocol's name,
//! then each histogram with a row per algorithm, as KAME's netstat.

#![forbid(unsafe_code)]

/// Where the module publishes the reader's namespace's counters.
pub const PROC_DIR: &str = "/proc/net/kame_ipsec";

/// One file and how its counters read.
pub struct Section {
    /// The protocol name of `-p`, and the heading.
    pub proto: &'static str,
    /// The file under [`PROC_DIR`].
    pub file: &'static str,
    /// Each counter and its sentence: `{}` is the value, `{s}` an `s` when
    /// the value is not 1.
    pub lines: &'static [(&'static str, &'static str)],
    /// Each histogram and its title (`{title} histogram:`).
    pub hists: &'static [(&'static str, &'static str)],
}

/// The three files, in `netstat`'s order.
pub const SECTIONS: [Section; 3] = [
    Section {
        proto: "ipsec",
        file: "ipsecstat",
        lines: &[
            ("in_success", "{} inbound packet{s} processed successfully"),
            ("in_polvio", "{} inbound packet{s} violated security policy"),
            (
                "out_success",
                "{} outbound packet{s} processed successfully",
            ),
            (
                "out_polvio",
                "{} outbound packet{s} violated security policy",
            ),
            ("out_nosa", "{} outbound packet{s} with no SA available"),
            ("out_inval", "{} invalid outbound packet{s}"),
            (
                "out_toobig",
                "{} forwarded packet{s} too big once protected",
            ),
            (
                "out_expired",
                "{} outbound packet{s} refused; SA past its hard lifetime",
            ),
            (
                "exit_drops",
                "{} packet{s} dropped; namespace going when crypto completed",
            ),
        ],
        hists: &[],
    },
    Section {
        proto: "esp",
        file: "espstat",
        lines: &[
            ("esps_input", "{} packet{s} in"),
            ("esps_output", "{} packet{s} out"),
            ("esps_ibytes", "{} byte{s} in"),
            ("esps_obytes", "{} byte{s} out"),
            ("esps_hdrops", "{} packet{s} shorter than header shows"),
            ("esps_replay", "{} packet{s} dropped; replay"),
            ("in_espauthsucc", "{} packet{s} considered authentic"),
            ("esps_badauth", "{} packet{s} dropped; bad authentication"),
            (
                "esps_badenc",
                "{} packet{s} dropped; bad padding or inner header",
            ),
            ("esps_pdrops", "{} packet{s} dropped; ESP disabled"),
            (
                "esps_wrap",
                "{} packet{s} not sent; sequence number wrapped",
            ),
            (
                "esps_crypto",
                "{} packet{s} dropped; crypto processing failure",
            ),
            ("esps_invalid", "{} packet{s} dropped; SA not valid"),
            ("esps_qfull", "{} packet{s} dropped; queue full"),
            (
                "esps_badencap",
                "{} packet{s} dropped; UDP encapsulation does not match SA",
            ),
            (
                "esps_notdb",
                "{} packet{s} dropped; no SA for the SPI (ours or XFRM's)",
            ),
        ],
        hists: &[("in_esphist", "ESP input"), ("out_esphist", "ESP output")],
    },
    Section {
        proto: "ah",
        file: "ahstat",
        lines: &[
            ("ahs_input", "{} packet{s} in"),
            ("ahs_output", "{} packet{s} out"),
            ("ahs_ibytes", "{} byte{s} in"),
            ("ahs_obytes", "{} byte{s} out"),
            ("ahs_hdrops", "{} packet{s} shorter than header shows"),
            ("ahs_replay", "{} packet{s} dropped; replay"),
            ("in_ahauthsucc", "{} packet{s} considered authentic"),
            ("ahs_badauth", "{} packet{s} dropped; bad authentication"),
            ("ahs_badenc", "{} packet{s} dropped; bad header"),
            ("ahs_pdrops", "{} packet{s} dropped; AH disabled"),
            ("ahs_wrap", "{} packet{s} not sent; sequence number wrapped"),
            (
                "ahs_crypto",
                "{} packet{s} dropped; crypto processing failure",
            ),
            ("ahs_invalid", "{} packet{s} dropped; SA not valid"),
            (
                "ahs_notdb",
                "{} packet{s} dropped; no SA for the SPI (ours or XFRM's)",
            ),
        ],
        hists: &[("in_ahhist", "AH input"), ("out_ahhist", "AH output")],
    },
];

/// The section of protocol `proto` (`-p`).
pub fn section(proto: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.proto == proto)
}

/// What a file holds, in its order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Values {
    /// The `name value` lines.
    pub counters: Vec<(String, u64)>,
    /// The `histogram algorithm value` lines.
    pub rows: Vec<(String, String, u64)>,
}

/// A file's text as [`Values`]; lines that are neither a name and a
/// number nor two names and a number are skipped.
pub fn parse(text: &str) -> Values {
    let mut v = Values::default();
    for l in text.lines() {
        match l.split_whitespace().collect::<Vec<_>>()[..] {
            [name, n] => {
                if let Ok(n) = n.parse() {
                    v.counters.push((name.to_string(), n));
                }
            }
            [hist, alg, n] => {
                if let Ok(n) = n.parse() {
                    v.rows.push((hist.to_string(), alg.to_string(), n));
                }
            }
            _ => {}
        }
    }
    v
}

/// `sec` printed netstat's way from the file's `values`: the heading, then
/// the known counters in the section's order, then any the module has that
/// this tool does not know, by name; then the histograms with a nonzero
/// row, the known ones first, each under its title with a row per
/// algorithm, as KAME's netstat.
pub fn render(sec: &Section, values: &Values) -> String {
    let mut out = format!("{}:\n", sec.proto);
    let counters = &values.counters;
    let value = |name: &str| counters.iter().find(|(n, _)| n == name).map(|&(_, v)| v);
    for &(name, text) in sec.lines {
        if let Some(v) = value(name) {
            let s = if v == 1 { "" } else { "s" };
            let line = text.replacen("{}", &v.to_string(), 1).replace("{s}", s);
            out.push_str(&format!("\t{line}\n"));
        }
    }
    for (name, v) in counters {
        if !sec.lines.iter().any(|&(n, _)| n == name) {
            out.push_str(&format!("\t{v} {name}\n"));
        }
    }
    // Known histograms in the section's order, then others by name.
    let mut hists: Vec<(&str, &str)> = sec.hists.to_vec();
    for (h, _, _) in &values.rows {
        if !hists.iter().any(|&(n, _)| n == h) {
            hists.push((h, h));
        }
    }
    for (name, title) in hists {
        let mut rows = values.rows.iter().filter(|(h, _, v)| h == name && *v != 0);
        if let Some(first) = rows.next() {
            out.push_str(&format!("\t{title} histogram:\n"));
            for (_, alg, v) in core::iter::once(first).chain(rows) {
                out.push_str(&format!("\t\t{alg}: {v}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_value_lines() {
        let v = parse(
            "esps_input 3\nesps_output 18446744073709551615\nbad line x\n\n\
             in_esphist aes-gcm-16 12\nout_esphist aes-cbc x\na b c d\n",
        );
        assert_eq!(
            v.counters,
            [
                ("esps_input".to_string(), 3),
                ("esps_output".to_string(), u64::MAX)
            ]
        );
        assert_eq!(
            v.rows,
            [("in_esphist".to_string(), "aes-gcm-16".to_string(), 12)]
        );
    }

    #[test]
    fn renders_histograms_as_kame_netstat() {
        // Out before in, a zero row, an all-zero histogram, one unknown.
        let sec = section("esp").unwrap();
        let v = parse(
            "esps_input 5\nout_esphist aes-gcm-16 3\nout_esphist aes-cbc 0\n\
             in_esphist aes-cbc 4\nin_esphist aes-gcm-16 1\n\
             new_hist null 2\nold_hist null 0\n",
        );
        assert_eq!(
            render(sec, &v),
            "esp:\n\t5 packets in\n\
             \tESP input histogram:\n\t\taes-cbc: 4\n\t\taes-gcm-16: 1\n\
             \tESP output histogram:\n\t\taes-gcm-16: 3\n\
             \tnew_hist histogram:\n\t\tnull: 2\n"
        );
        let ah = section("ah").unwrap();
        let v = parse("out_ahhist hmac-sha256 1\n");
        assert_eq!(
            render(ah, &v),
            "ah:\n\tAH output histogram:\n\t\thmac-sha256: 1\n"
        );
    }

    #[test]
    fn renders_in_netstat_order_with_plurals() {
        let sec = section("esp").unwrap();
        let v = parse("esps_output 2\nesps_input 1\nesps_new 7\n");
        assert_eq!(
            render(sec, &v),
            "esp:\n\t1 packet in\n\t2 packets out\n\t7 esps_new\n"
        );
    }

    #[test]
    fn sections_and_sentences() {
        // How many counters each section of rust/stats.rs has; that the
        // names agree with the module's files, selftests/stats.py checks.
        let names = [("ipsec", 9), ("esp", 16), ("ah", 14)];
        for (p, n) in names {
            let sec = section(p).unwrap();
            assert_eq!(sec.lines.len(), n, "{p}");
            for (name, text) in sec.lines {
                assert!(text.starts_with("{} "), "{name}");
            }
        }
        let hists = [("esp", "in_esphist"), ("ah", "in_ahhist")];
        for (p, h) in hists {
            assert_eq!(section(p).unwrap().hists[0].0, h);
        }
        assert!(section("ipcomp").is_none());
    }
}
