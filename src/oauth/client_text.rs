//! Free text a client chooses and our pages show (`client_name`, contacts, software
//! ids): no control characters and no Unicode bidi controls (UAX #9 Bidi_Control: a name
//! with U+202E reads backwards, so "Safe\u{202E}exe.tnemucod" shows as another name), and a
//! bounded length. Registration refuses such text; pages show stored text neutralised.

/// The longest client name accepted, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// UAX #9 Bidi_Control: embeddings and overrides (U+202A–U+202E), isolates
/// (U+2066–U+2069) and the marks (U+061C, U+200E, U+200F).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Checks one free-text value: at most `max_chars` characters, none of them unsafe.
pub fn check(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    if value.chars().any(is_unsafe) {
        return Err(format!(
            "{field} has control or bidirectional-override characters"
        ));
    }
    Ok(())
}

/// Client text as pages show it: unsafe characters replaced by U+FFFD and the length
/// capped, for names stored before registration refused them or set by an admin.
pub fn for_display(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_CLIENT_NAME_CHARS)
        .map(|c| if is_unsafe(c) { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().nth(MAX_CLIENT_NAME_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bidi_and_control_characters_and_long_text() {
        for bad in [
            "a\u{202A}b",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{2069}b",
            "a\u{200F}b",
            "a\u{0}b",
            "a\u{7F}b",
            "a\u{9B}b",
            "a\tb",
        ] {
            assert!(check("client_name", bad, 100).is_err(), "{bad:?}");
        }
        assert!(check("client_name", &"x".repeat(101), 100).is_err());
        assert!(check("client_name", &"é".repeat(100), 100).is_ok());
        assert!(check("client_name", "Claude Desktop (日本)", 100).is_ok());
    }

    #[test]
    fn display_neutralises_what_registration_would_refuse() {
        assert_eq!(
            for_display("Safe\u{202E}exe.tnemucod"),
            "Safe\u{FFFD}exe.tnemucod"
        );
        assert_eq!(for_display("a\u{0}\nb"), "a\u{FFFD}\u{FFFD}b");
        let long = for_display(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_CLIENT_NAME_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(for_display("VS Code"), "VS Code");
    }
}
