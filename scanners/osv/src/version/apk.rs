//! apk-tools version ordering (Alpine): `{digit}{.digit}…{letter}{_suffix{#}}…{-r#}`, where
//! the pre-release suffixes `_alpha`, `_beta`, `_pre`, `_rc` sort before no suffix and the
//! post-release suffixes `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it. A component after a dot
//! with leading zeros compares as a fraction (`1.02` < `1.1`), as apk-tools does.
//!
//! This is a token machine following apk-tools 2.x `version.c`, written from its rules.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Invalid,
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

impl Token {
    /// apk-tools' numeric order of token kinds (Invalid = -1 … End = 6).
    fn rank(self) -> i8 {
        match self {
            Token::Invalid => -1,
            Token::DigitOrZero => 0,
            Token::Digit => 1,
            Token::Letter => 2,
            Token::Suffix => 3,
            Token::SuffixNo => 4,
            Token::RevisionNo => 5,
            Token::End => 6,
        }
    }
}

const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

struct Cursor<'a> {
    s: &'a [u8],
}

impl Cursor<'_> {
    /// Decide the kind of the next token from the separator at the cursor, consuming it.
    fn next_token(&mut self, ty: &mut Token) {
        let mut n = Token::Invalid;
        match self.s.first().copied() {
            None | Some(0) => n = Token::End,
            Some(c) if matches!(*ty, Token::Digit | Token::DigitOrZero) && c.is_ascii_lowercase() => n = Token::Letter,
            Some(c) if *ty == Token::Letter && c.is_ascii_digit() => n = Token::Digit,
            Some(c) if *ty == Token::Suffix && c.is_ascii_digit() => n = Token::SuffixNo,
            Some(c) => {
                match c {
                    b'.' => n = Token::DigitOrZero,
                    b'_' => n = Token::Suffix,
                    b'-' if self.s.get(1) == Some(&b'r') => {
                        n = Token::RevisionNo;
                        self.s = &self.s[1..];
                    }
                    _ => {}
                }
                self.s = &self.s[1..];
            }
        }
        if n.rank() < ty.rank()
            && !((n == Token::DigitOrZero && *ty == Token::Digit)
                || (n == Token::Suffix && *ty == Token::SuffixNo)
                || (n == Token::Digit && *ty == Token::Letter))
        {
            n = Token::Invalid;
        }
        *ty = n;
    }

    /// Read the token of kind `ty` at the cursor, return its value, and advance `ty` to the
    /// kind of the following token.
    fn get_token(&mut self, ty: &mut Token) -> i64 {
        if self.s.is_empty() {
            *ty = Token::End;
            return 0;
        }
        let mut v: i64 = 0;
        let mut i = 0usize;
        let mut nt = Token::Invalid;
        let digits = |s: &[u8], i: &mut usize, v: &mut i64| {
            while *i < s.len() && s[*i].is_ascii_digit() {
                *v = v.saturating_mul(10).saturating_add(i64::from(s[*i] - b'0'));
                *i += 1;
            }
        };
        match *ty {
            Token::DigitOrZero if self.s[0] == b'0' => {
                // Leading zeros after a dot: the more zeros, the smaller.
                while i < self.s.len() && self.s[i] == b'0' {
                    i += 1;
                }
                nt = Token::Digit;
                v = -(i as i64);
            }
            Token::DigitOrZero | Token::Digit | Token::SuffixNo | Token::RevisionNo => digits(self.s, &mut i, &mut v),
            Token::Letter => {
                v = i64::from(self.s[0]);
                i = 1;
            }
            Token::Suffix => {
                let found = PRE_SUFFIXES
                    .iter()
                    .enumerate()
                    .map(|(k, s)| (k as i64 - PRE_SUFFIXES.len() as i64, s))
                    .chain(POST_SUFFIXES.iter().enumerate().map(|(k, s)| (k as i64, s)))
                    .find(|(_, s)| self.s.starts_with(s.as_bytes()));
                match found {
                    Some((val, s)) => {
                        v = val;
                        i = s.len();
                    }
                    None => {
                        *ty = Token::Invalid;
                        return -1;
                    }
                }
            }
            _ => {
                *ty = Token::Invalid;
                return -1;
            }
        }
        self.s = &self.s[i..];
        if self.s.is_empty() {
            *ty = Token::End;
        } else if nt != Token::Invalid {
            *ty = nt;
        } else {
            self.next_token(ty);
        }
        v
    }
}

/// Whether `s` is a valid apk version.
pub fn is_valid(s: &str) -> bool {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return false;
    }
    let mut c = Cursor { s: s.as_bytes() };
    let mut t = Token::Digit;
    while t != Token::End && t != Token::Invalid {
        c.get_token(&mut t);
    }
    t == Token::End
}

/// apk-tools' comparison, applied to any input (as `apk version -t` does).
pub fn compare_raw(a: &str, b: &str) -> Ordering {
    let (mut ca, mut cb) = (Cursor { s: a.as_bytes() }, Cursor { s: b.as_bytes() });
    let (mut at, mut bt) = (Token::Digit, Token::Digit);
    let (mut av, mut bv) = (0i64, 0i64);
    while at == bt && at != Token::End && at != Token::Invalid && av == bv {
        av = ca.get_token(&mut at);
        bv = cb.get_token(&mut bt);
    }
    if av != bv {
        return av.cmp(&bv);
    }
    if at == bt {
        return Ordering::Equal;
    }
    // Leading components are equal: the longer version is greater unless what follows is a
    // pre-release suffix.
    let mut tt = at;
    if at == Token::Suffix && ca.get_token(&mut tt) < 0 {
        return Ordering::Less;
    }
    let mut tt = bt;
    if bt == Token::Suffix && cb.get_token(&mut tt) < 0 {
        return Ordering::Greater;
    }
    bt.rank().cmp(&at.rank())
}

/// Compare two apk versions; `None` if either is not a valid apk version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (a.trim(), b.trim());
    (is_valid(a) && is_valid(b)).then(|| compare_raw(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(compare("1.2.3-r0", "1.2.3-r1"), Some(Ordering::Less));
        assert_eq!(compare("1.2.3_rc1", "1.2.3"), Some(Ordering::Less));
        assert_eq!(compare("1.2.3_p1", "1.2.3"), Some(Ordering::Greater));
        assert_eq!(compare("1.2.3_git20240101", "1.2.3_p1"), Some(Ordering::Less));
        assert_eq!(compare("3.0.15-r0", "3.0.15-r0"), Some(Ordering::Equal));
        assert!(is_valid("1.0.0_pre20191002222144-r0"));
        assert!(!is_valid("1.0bc"));
        assert!(!is_valid("abc"));
        assert_eq!(compare("1.0-foo", "1.0"), None);
    }
}
