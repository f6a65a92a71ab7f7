//! Text from nodes and the journal, made safe to show a person. Imports nothing of ours.

use std::borrow::Cow;

/// `text` made safe to print for people: control characters (C0, DEL and
/// C1, such as ESC or a line break) and the invisible bidirectional
/// formatting characters are shown as escapes (`\n`, `\r`, `\t`,
/// otherwise `\u{1b}`), so text from a node or the journal cannot clear
/// the screen, recolour it, forge extra lines or reorder what is shown.
/// Anything else is unchanged, and text with nothing to escape is borrowed.
///
/// JSON output does not use it: serde_json escapes control characters
/// itself and keeps the exact text.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if needs_escape(c) => shown.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// How many characters of a long text [`shorten`] keeps.
pub const SHORTENED_CHARS: usize = 64;

/// `text` escaped (see [`escape`]) and, past [`SHORTENED_CHARS`] characters,
/// cut there with its length in bytes: `abc… (2000 bytes)`. For echoing a
/// value in an error without printing all of a huge one.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match escape(text) {
        Cow::Borrowed(shown) => cut(shown, text.len()),
        Cow::Owned(shown) => Cow::Owned(cut(&shown, text.len()).into_owned()),
    }
}

/// `shown` (text already made safe to print) cut after [`SHORTENED_CHARS`]
/// characters, with `bytes`, the length of the text it shows, after it.
pub fn cut(shown: &str, bytes: usize) -> Cow<'_, str> {
    match shown.char_indices().nth(SHORTENED_CHARS) {
        None => Cow::Borrowed(shown),
        Some((at, _)) => Cow::Owned(format!("{}… ({bytes} bytes)", &shown[..at])),
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_long_text_and_gives_its_length() {
        assert!(matches!(shorten("short"), Cow::Borrowed("short")));
        let long = "x".repeat(2000);
        let shown = shorten(&long);
        assert_eq!(
            shown,
            format!("{}… (2000 bytes)", "x".repeat(SHORTENED_CHARS))
        );
        assert_eq!(shorten(&format!("\n{long}")).matches("bytes").count(), 1);
        assert!(shorten(&format!("\u{1b}{long}")).starts_with("\\u{1b}"));
    }

    #[test]
    fn escape_shows_control_and_bidi_characters_visibly() {
        assert!(matches!(escape("plain: text é"), Cow::Borrowed(_)));
        assert_eq!(
            escape("\u{1b}[2J\u{1b}[31mFAKE\nline\r\t\u{7f}\u{9b}\u{202e}x"),
            "\\u{1b}[2J\\u{1b}[31mFAKE\\nline\\r\\t\\u{7f}\\u{9b}\\u{202e}x"
        );
    }
}
