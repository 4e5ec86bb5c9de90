// SPDX-License-Identifier: GPL-2.0

//! The `ipsecstat` view of the module's counters: reads
//! `/proc/net/kame_ipsec/{ipsecstat,espstat,ahstat}` (one `name value` line
//! per counter) and prints them as BSD `netstat -s -p ipsec|esp|ah` does,
//! one sentence per counter under the protocol's name.

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
            (
                "esps_badencap",
                "{} packet{s} dropped; UDP encapsulation does not match SA",
            ),
        ],
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
            ("ahs_badauth", "{} packet{s} dropped; bad authentication"),
            ("ahs_badenc", "{} packet{s} dropped; bad header"),
            ("ahs_pdrops", "{} packet{s} dropped; AH disabled"),
            ("ahs_wrap", "{} packet{s} not sent; sequence number wrapped"),
            (
                "ahs_crypto",
                "{} packet{s} dropped; crypto processing failure",
            ),
            ("ahs_invalid", "{} packet{s} dropped; SA not valid"),
        ],
    },
];

/// The section of protocol `proto` (`-p`).
pub fn section(proto: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.proto == proto)
}

/// The `name value` pairs of a file's text, in order; lines that are not
/// a name and a number are skipped.
pub fn parse(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, value) = (w.next()?, w.next()?.parse().ok()?);
            w.next().is_none().then(|| (name.to_string(), value))
        })
        .collect()
}

/// `sec` printed netstat's way from the file's `values`: the heading, then
/// the known counters in the section's order, then any the module has that
/// this tool does not know, by name.
pub fn render(sec: &Section, values: &[(String, u64)]) -> String {
    let mut out = format!("{}:\n", sec.proto);
    let value = |name: &str| values.iter().find(|(n, _)| n == name).map(|&(_, v)| v);
    for &(name, text) in sec.lines {
        if let Some(v) = value(name) {
            let s = if v == 1 { "" } else { "s" };
            let line = text.replacen("{}", &v.to_string(), 1).replace("{s}", s);
            out.push_str(&format!("\t{line}\n"));
        }
    }
    for (name, v) in values {
        if !sec.lines.iter().any(|&(n, _)| n == name) {
            out.push_str(&format!("\t{v} {name}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_value_lines() {
        let v = parse("esps_input 3\nesps_output 18446744073709551615\nbad line x\n\n");
        assert_eq!(
            v,
            [
                ("esps_input".to_string(), 3),
                ("esps_output".to_string(), u64::MAX)
            ]
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
        let names = [("ipsec", 9), ("esp", 13), ("ah", 12)];
        for (p, n) in names {
            let sec = section(p).unwrap();
            assert_eq!(sec.lines.len(), n, "{p}");
            for (name, text) in sec.lines {
                assert!(text.starts_with("{} "), "{name}");
            }
        }
        assert!(section("ipcomp").is_none());
    }
}
