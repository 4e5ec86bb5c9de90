// SPDX-License-Identifier: GPL-2.0

//! Configuration text to commands and to the bytes setkey would send.

#![forbid(unsafe_code)]

use crate::ast::Command;
use crate::exec::messages_of;
use crate::tests::*;

#[test]
fn syntax_errors_carry_their_line_and_token() {
    assert_eq!(
        parse_err("flush;\n\nbogus 1;"),
        "line 3: syntax error at [bogus]"
    );
    assert_eq!(parse_err("flush"), "line 1: syntax error at [flush]");
    assert_eq!(
        parse_err("add 10.0.0.1 10.0.0.2 esp 0x1000\n -E aes-cbc 0x0102;"),
        "line 2: Invalid key length (aes-cbc: 16 bits given, 128-256 allowed) at [0x0102]"
    );
    assert_eq!(
        parse_err("add 10.0.0.1 10.0.0.2 esp 0x1000 -E rot13 \"k\";"),
        "line 1: unsupported algorithm at [rot13]"
    );
    assert_eq!(
        parse_err("spdadd 10.0.0.1 10.0.0.2 any\n -P sideways none;"),
        "line 2: Invalid direciton at [sideways none]"
    );
    assert_eq!(
        parse_err("get 10.0.0.1 10.0.0.300 esp 1;"),
        "line 1: Name or service not known at [10.0.0.300]"
    );
    assert_eq!(
        parse_err("spdadd 10.0.0.1/33 10.0.0.2 any -P out none;"),
        "line 1: Invalid prefix length at [33]"
    );
    assert_eq!(
        parse_err("add -6 10.0.0.1 10.0.0.2 esp 1 -E null;"),
        "line 1: Address family for hostname not supported at [10.0.0.1]"
    );
}

#[test]
fn every_command_parses() {
    let src = format!(
        "# a comment\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -m tunnel -r 32 -u 5 -f random-pad\n\
         -lh 100 -ls 80 -bh 1000 -bs 800 -E aes-cbc {AES_KEY} -A hmac-sha256 {SHA_KEY};\n\
         add 10.0.0.1 10.0.0.2 ah 4097 -A hmac-sha1 \"01234567890123456789\";\n\
         add fe80::1 fe80::2 ipcomp 4098 -C deflate -R;\n\
         add 10.0.0.1[4500] 10.0.0.2[4500] esp-udp 4099 -E null -A null;\n\
         get 10.0.0.1 10.0.0.2 esp 0x1000;\n delete 10.0.0.1 10.0.0.2 esp 4096;\n\
         deleteall 10.0.0.1 10.0.0.2 esp;\nflush;\nflush ah;\ndump esp;\n\
         spdadd 10.0.0.0/24[any] 10.0.1.0/24[80] tcp -P out prio high + 2 ipsec\n\
         esp/transport//require ah/tunnel/10.0.0.1-10.0.0.2/unique:3;\n\
         spdupdate ::/0 ::/0 icmp6 135,0 -P in none;\n\
         spddelete 10.0.0.0/24 10.0.1.0/24 any -P out;\nspdflush;\nspddump;\nexit;\n"
    );
    let cmds = parse_all(&src).unwrap();
    assert_eq!(cmds.len(), 16);
    assert_eq!(cmds[0].line, 3);
    assert_eq!(cmds[7].cmd, Command::Flush(0));
    assert_eq!(cmds[8].cmd, Command::Flush(2));
    assert_eq!(cmds[15].cmd, Command::Exit);
    let Command::Sa(add) = &cmds[0].cmd else {
        panic!("not an SA command");
    };
    assert_eq!((add.p.mode, add.p.replay, add.p.reqid), (2, 32, 5));
    assert_eq!(
        (add.p.lt_hard, add.p.lb_soft, add.p.flags),
        (100, 800, 0x140)
    );
    let Command::Spd(spd) = &cmds[11].cmd else {
        panic!("not an SPD command");
    };
    assert_eq!(
        (spd.upper, spd.src.addr.port, spd.dst.addr.port),
        (58, 135, 0)
    );
}

#[test]
fn an_esp_add_is_byte_for_byte_what_setkey_sends() {
    let src =
        format!("add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc {AES_KEY} -A hmac-sha256 {SHA_KEY};");
    let cmds = parse_all(&src).unwrap();
    let msgs = messages_of(&cmds[0].cmd, 1234);
    assert_eq!(msgs.len(), 1);
    let mut want = msg_hdr(3, 3, 20, 1234);
    want.extend(ext_hdr(3, 9));
    want.extend(128u16.to_ne_bytes());
    want.extend([0, 0]);
    want.extend(1..=16u8);
    want.extend(ext_hdr(5, 8));
    want.extend(256u16.to_ne_bytes());
    want.extend([0, 0]);
    want.extend((1..=16u8).chain(1..=16u8));
    want.extend(ext_hdr(2, 1));
    want.extend([0, 0, 0x10, 0, 0, 0, 5, 12]);
    want.extend(0x40u32.to_ne_bytes());
    want.extend(ext_hdr(2, 19));
    want.extend([0u8; 12]);
    want.extend(v4_address(5, 255, 32, [10, 0, 0, 1], 0));
    want.extend(v4_address(6, 255, 32, [10, 0, 0, 2], 0));
    assert_eq!(msgs[0], want);
}

#[test]
fn an_inbound_tunnel_policy_is_sent_twice_in_and_fwd() {
    let src = "spdadd 10.0.0.0/24[any] 10.0.1.0/24[80] tcp -P in ipsec esp/tunnel/10.0.0.1-10.0.0.2/unique:4;";
    let cmds = parse_all(src).unwrap();
    let msgs = messages_of(&cmds[0].cmd, 1);
    assert_eq!(msgs.len(), 2);
    let policy = |dir: u8, level: u8, reqid: u32| {
        let mut v = ext_hdr(8, 18);
        v.extend(2u16.to_ne_bytes());
        v.extend([dir, 0, 0, 0, 0, 0]);
        v.extend(0x8000_0000u32.to_ne_bytes());
        v.extend(48u16.to_ne_bytes());
        v.extend(50u16.to_ne_bytes());
        v.extend([2, level, 0, 0]);
        v.extend(reqid.to_ne_bytes());
        v.extend([0u8; 4]);
        for a in [[10, 0, 0, 1], [10, 0, 0, 2]] {
            v.extend(2u16.to_ne_bytes());
            v.extend([0, 0]);
            v.extend(a);
            v.extend([0u8; 8]);
        }
        v
    };
    let sel = [
        v4_address(5, 6, 24, [10, 0, 0, 0], 0),
        v4_address(6, 6, 24, [10, 0, 1, 0], 80),
    ]
    .concat();
    let want_in = [msg_hdr(14, 0, 16, 1), policy(1, 3, 4), sel.clone()].concat();
    let want_fwd = [msg_hdr(14, 0, 16, 1), policy(3, 2, 0), sel].concat();
    assert_eq!(msgs, vec![want_in, want_fwd]);
}
