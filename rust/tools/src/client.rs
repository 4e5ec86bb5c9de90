// SPDX-License-Identifier: GPL-2.0

//! Request and reply over a PF_KEY socket: send one message, then read
//! datagrams, keeping those addressed to us (our pid, the request's type)
//! and dropping broadcasts meant for others, until the exchange ends: after
//! one reply, or, for a dump, at the message whose `sadb_msg_seq` is 0.

#![forbid(unsafe_code)]

use std::fmt;
use std::io;

use kame_core::pfkey::{MsgHeader, MsgType, WORD};

/// Sends and receives whole PF_KEY datagrams.
pub trait Transport {
    /// Sends one message.
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Receives one message into `buf`; returns its length.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// The longest PF_KEY message: `sadb_msg_len` is 16 bits of 8-byte words.
pub const MAX_MSG: usize = u16::MAX as usize * WORD;

/// Why an exchange failed (setkey's `perror("send")`, `perror("recv")`,
/// `warnx("invalid keymsg length")`).
#[derive(Debug)]
pub enum ClientError {
    /// `send` failed.
    Send(io::Error),
    /// `recv` failed (a timeout included).
    Recv(io::Error),
    /// A datagram's length disagrees with its `sadb_msg_len`.
    BadLength,
}

/// `strerror()` text of an I/O error, without Rust's `(os error N)`.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Send(e) => write!(f, "send: {}", strerror(e)),
            ClientError::Recv(e) => write!(f, "recv: {}", strerror(e)),
            ClientError::BadLength => f.write_str("invalid keymsg length"),
        }
    }
}

/// A PF_KEY client: a transport and the pid replies are addressed to.
pub struct Client<T: Transport> {
    t: T,
    pid: u32,
    buf: Vec<u8>,
}

/// True for the message types whose replies are a sequence ending at
/// `sadb_msg_seq == 0`.
fn is_dump(msg_type: u8) -> bool {
    msg_type == MsgType::Dump as u8 || msg_type == MsgType::XSpdDump as u8
}

impl<T: Transport> Client<T> {
    /// A client sending as `pid` over `t`.
    pub fn new(t: T, pid: u32) -> Client<T> {
        Client {
            t,
            pid,
            buf: vec![0; MAX_MSG],
        }
    }

    /// Sends a message without waiting for a reply.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), ClientError> {
        self.t.send(msg).map_err(ClientError::Send)
    }

    /// Receives the next message, whoever it is for.
    pub fn recv_any(&mut self) -> Result<&[u8], ClientError> {
        let n = self.t.recv(&mut self.buf).map_err(ClientError::Recv)?;
        let msg = &self.buf[..n];
        match MsgHeader::decode(msg) {
            Some(h) if usize::from(h.len) * WORD == n => Ok(msg),
            _ => Err(ClientError::BadLength),
        }
    }

    /// Sends `msg` and passes each reply to `on_reply`, every received
    /// message first to `on_seen` (for `-v`), until the exchange ends.
    pub fn exchange(
        &mut self,
        msg: &[u8],
        on_seen: &mut dyn FnMut(&[u8]),
        on_reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ClientError> {
        let sent = MsgHeader::decode(msg).ok_or(ClientError::BadLength)?;
        self.send(msg)?;
        let pid = self.pid;
        loop {
            let reply = self.recv_any()?;
            on_seen(reply);
            let Some(h) = MsgHeader::decode(reply) else {
                return Err(ClientError::BadLength);
            };
            if h.pid != pid || h.msg_type != sent.msg_type {
                continue;
            }
            on_reply(reply);
            if h.errno != 0 || !is_dump(h.msg_type) || h.seq == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A kernel stand-in: records what is sent, answers from a queue.
    #[derive(Default)]
    pub struct FakeKernel {
        pub sent: Vec<Vec<u8>>,
        pub replies: VecDeque<Vec<u8>>,
    }

    impl Transport for &mut FakeKernel {
        fn send(&mut self, msg: &[u8]) -> io::Result<()> {
            self.sent.push(msg.to_vec());
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let m = self
                .replies
                .pop_front()
                .ok_or_else(|| io::Error::from_raw_os_error(11))?;
            buf[..m.len()].copy_from_slice(&m);
            Ok(m.len())
        }
    }

    pub fn reply(msg_type: MsgType, errno: u8, seq: u32, pid: u32) -> Vec<u8> {
        MsgHeader {
            version: 2,
            msg_type: msg_type as u8,
            errno,
            len: 2,
            seq,
            pid,
            ..Default::default()
        }
        .encode()
        .to_vec()
    }

    #[test]
    fn a_dump_is_read_until_seq_zero_and_strangers_are_skipped() {
        let mut k = FakeKernel::default();
        k.replies.extend([
            reply(MsgType::Add, 0, 0, 99),
            reply(MsgType::Dump, 0, 2, 7),
            reply(MsgType::Dump, 0, 1, 42),
            reply(MsgType::Dump, 0, 0, 99),
            reply(MsgType::Dump, 0, 0, 7),
            reply(MsgType::Flush, 0, 0, 7),
        ]);
        let mut c = Client::new(&mut k, 7);
        let mut seen = 0;
        let mut got = Vec::new();
        let dump = crate::request::short(MsgType::Dump, 0, 7);
        c.exchange(&dump, &mut |_| seen += 1, &mut |m| {
            got.push(MsgHeader::decode(m).unwrap().seq)
        })
        .unwrap();
        assert_eq!(got, vec![2, 0]);
        assert_eq!(seen, 5);
        assert_eq!(k.replies.len(), 1);
        assert_eq!(k.sent, vec![dump]);
    }

    #[test]
    fn an_error_reply_ends_a_dump() {
        let mut k = FakeKernel::default();
        k.replies.push_back(reply(MsgType::XSpdDump, 2, 0, 5));
        let mut c = Client::new(&mut k, 5);
        let mut errs = Vec::new();
        let m = crate::request::short(MsgType::XSpdDump, 0, 5);
        c.exchange(&m, &mut |_| {}, &mut |m| errs.push(m[2]))
            .unwrap();
        assert_eq!(errs, vec![2]);
    }

    #[test]
    fn a_short_or_lying_datagram_is_refused() {
        let mut k = FakeKernel::default();
        let mut bad = reply(MsgType::Add, 0, 0, 5);
        bad[4] = 3;
        k.replies.push_back(bad);
        let mut c = Client::new(&mut k, 5);
        let m = crate::request::short(MsgType::Add, 3, 5);
        let e = c.exchange(&m, &mut |_| {}, &mut |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "invalid keymsg length");
        let e = c.exchange(&m, &mut |_| {}, &mut |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "recv: Resource temporarily unavailable");
    }
}
