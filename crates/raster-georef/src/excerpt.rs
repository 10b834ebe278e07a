//! Short excerpts of a file's content for error messages: an error about a
//! file that is not what it should be (a world file that is a copy of
//! `/etc/passwd`, say) quotes at most [`EXCERPT_CHARS`] characters of it.

/// The most characters of a file's content an error message quotes.
pub const EXCERPT_CHARS: usize = 40;

/// `text` quoted as `{:?}` quotes it, cut to [`EXCERPT_CHARS`] characters
/// and `…` when longer.
pub fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}", head + "…")
    } else {
        format!("{head:?}")
    }
}

/// A parser's error message (serde's `invalid type: string "…"`, `unknown
/// variant `…``) with every quoted run longer than [`EXCERPT_CHARS`]
/// characters cut to that many and `…`.
pub fn shorten_quotes(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(256));
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' && c != '`' {
            continue;
        }
        let (mut n, mut escaped, mut closed) = (0, false, false);
        for d in chars.by_ref() {
            if d == c && !escaped {
                closed = true;
                break;
            }
            escaped = d == '\\' && !escaped;
            if n < EXCERPT_CHARS {
                out.push(d);
            }
            n += 1;
        }
        if n > EXCERPT_CHARS {
            out.push('…');
        }
        if closed {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("abc"), "\"abc\"");
        let long = "x".repeat(200);
        assert_eq!(excerpt(&long), format!("\"{}…\"", "x".repeat(40)));
        assert_eq!(excerpt(&"é".repeat(41)), format!("\"{}…\"", "é".repeat(40)));
    }

    #[test]
    fn shortened_quotes() {
        let long = "root:x:0:0:root:/root:/bin/bash".repeat(5);
        let msg = format!("invalid type: string \"{long}\", expected u32 and `{long}`");
        let short = shorten_quotes(&msg);
        assert_eq!(
            short,
            format!(
                "invalid type: string \"{0}…\", expected u32 and `{0}…`",
                &long[..40]
            )
        );
        assert_eq!(shorten_quotes("unknown field `x`"), "unknown field `x`");
        assert_eq!(shorten_quotes("open \"abc"), "open \"abc");
    }
}
