// SPDX-License-Identifier: GPL-2.0

//! Tokens of the setkey configuration language, with their line numbers.
//!
//! As in setkey's `token.l`, everything after `-P` up to the next `;` is one
//! token (the policy text, parsed by [`crate::policy`]); `#` starts a comment
//! that runs to the end of the line.

#![forbid(unsafe_code)]

use std::fmt;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A name, number, address or hex string.
    Word(String),
    /// `-` followed by letters or digits: `-m`, `-lh`, `-46`, `-E`.
    Flag(String),
    /// A `"..."` string, without its quotes.
    Quoted(String),
    /// The text after `-P`, up to (not including) the `;`.
    Policy(String),
    /// `/`
    Slash,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `;`
    Semi,
}

impl fmt::Display for Tok {
    /// Shows the token as written, for `at [...]` in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(s) | Tok::Flag(s) => f.write_str(s),
            Tok::Quoted(s) => write!(f, "\"{s}\""),
            Tok::Policy(s) => f.write_str(s.trim()),
            Tok::Slash => f.write_str("/"),
            Tok::LBracket => f.write_str("["),
            Tok::RBracket => f.write_str("]"),
            Tok::Semi => f.write_str(";"),
        }
    }
}

/// A token and the line it ends on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line.
    pub line: u32,
}

/// An error in the input, printed as setkey prints it:
/// `line N: message at [token]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line of the offending token.
    pub line: u32,
    /// What went wrong.
    pub msg: String,
    /// The offending token as written (empty at the end of input).
    pub near: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} at [{}]", self.line, self.msg, self.near)
    }
}

/// Splits configuration text into tokens, lazily, so that commands before
/// a bad character still run (as setkey's flex scanner does).
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    /// Set after `-P`: the next token is the policy text.
    in_policy: bool,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':' || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '%' | '.' | '-' | '_' | ',')
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`, starting at line 1.
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            line: 1,
            in_policy: false,
        }
    }

    /// A lexer over `src` whose first line is `line`.
    pub fn starting_at(src: &'a str, line: u32) -> Lexer<'a> {
        Lexer {
            line,
            ..Lexer::new(src)
        }
    }

    /// The current line.
    pub fn line(&self) -> u32 {
        self.line
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Consumes characters while `pred` holds; returns them.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek_char().is_some_and(&pred) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    fn skip_comment(&mut self) {
        self.take_while(|c| c != '\n');
    }

    /// The policy text after `-P`: everything up to `;`, comments dropped.
    fn policy(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek_char() {
            match c {
                ';' => break,
                '#' => self.skip_comment(),
                _ => {
                    text.push(c);
                    self.bump();
                }
            }
        }
        text
    }

    fn token(&self, tok: Tok) -> Option<Result<Token, ParseError>> {
        Some(Ok(Token {
            tok,
            line: self.line,
        }))
    }

    fn error(&self, msg: &str, near: String) -> Option<Result<Token, ParseError>> {
        Some(Err(ParseError {
            line: self.line,
            msg: msg.to_string(),
            near,
        }))
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Token, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.in_policy {
            self.in_policy = false;
            let text = self.policy();
            return self.token(Tok::Policy(text));
        }
        loop {
            let c = self.peek_char()?;
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                self.skip_comment();
            } else {
                break;
            }
        }
        let c = self.bump()?;
        match c {
            ';' => self.token(Tok::Semi),
            '/' => self.token(Tok::Slash),
            '[' => self.token(Tok::LBracket),
            ']' => self.token(Tok::RBracket),
            '"' => {
                let s = self.take_while(|c| c != '"').to_string();
                if self.bump().is_none() {
                    return self.error("unterminated string", format!("\"{s}"));
                }
                self.token(Tok::Quoted(s))
            }
            '-' if self.peek_char().is_some_and(|c| c.is_ascii_alphanumeric()) => {
                let name = self.take_while(|c| c.is_ascii_alphanumeric());
                let flag = format!("-{name}");
                if flag == "-P" {
                    self.in_policy = true;
                }
                self.token(Tok::Flag(flag))
            }
            c if is_word_start(c) => {
                let start = self.pos - c.len_utf8();
                self.take_while(is_word_char);
                let word = self.src[start..self.pos].to_string();
                self.token(Tok::Word(word))
            }
            c => self.error("Syntax error", c.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<(Tok, u32)> {
        Lexer::new(src)
            .map(|t| t.map(|t| (t.tok, t.line)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn an_add_command_splits_into_words_flags_and_semi() {
        let t = toks("add 10.0.0.1 10.0.0.2 esp 0x1000\n  -E aes-cbc \"0123456789abcdef\";");
        assert_eq!(
            t,
            vec![
                (w("add"), 1),
                (w("10.0.0.1"), 1),
                (w("10.0.0.2"), 1),
                (w("esp"), 1),
                (w("0x1000"), 1),
                (Tok::Flag("-E".into()), 2),
                (w("aes-cbc"), 2),
                (Tok::Quoted("0123456789abcdef".into()), 2),
                (Tok::Semi, 2),
            ]
        );
    }

    #[test]
    fn comments_are_skipped_and_lines_counted() {
        let t = toks("# first\n\n flush ; # trailing\nspddump;");
        assert_eq!(
            t,
            vec![
                (w("flush"), 3),
                (Tok::Semi, 3),
                (w("spddump"), 4),
                (Tok::Semi, 4)
            ]
        );
    }

    #[test]
    fn the_policy_is_one_token_up_to_the_semicolon() {
        let t = toks("spdadd 10.0.0.0/24[any] ::1 any -P out ipsec\n esp/transport//require;");
        assert_eq!(t[1].0, w("10.0.0.0"));
        assert_eq!(t[2].0, Tok::Slash);
        assert_eq!(t[3].0, w("24"));
        assert_eq!(t[4].0, Tok::LBracket);
        assert_eq!(t[5].0, w("any"));
        assert_eq!(t[6].0, Tok::RBracket);
        assert_eq!(t[7].0, w("::1"));
        assert_eq!(t[9].0, Tok::Flag("-P".into()));
        assert_eq!(
            t[10],
            (Tok::Policy(" out ipsec\n esp/transport//require".into()), 2)
        );
        assert_eq!(t[11], (Tok::Semi, 2));
    }

    #[test]
    fn a_stray_character_is_a_syntax_error_with_its_line() {
        let mut l = Lexer::new("flush;\n\n  @");
        assert!(l.next().unwrap().is_ok());
        assert!(l.next().unwrap().is_ok());
        let e = l.next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "line 3: Syntax error at [@]");
    }

    #[test]
    fn an_unterminated_string_is_an_error() {
        let e = Lexer::new("add \"abc").nth(1).unwrap().unwrap_err();
        assert_eq!(e.msg, "unterminated string");
    }
}
