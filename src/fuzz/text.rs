//! Text generators shared by the targets: pieces an attacker would try (controls, bidi
//! overrides, separators, percent escapes, look-alike hosts), joined at random.

use proptest::prelude::*;
use proptest::sample::select;

/// Single characters that parsers treat specially somewhere.
const NASTY: &[&str] = &[
    "\u{0}",
    "\t",
    "\n",
    "\r",
    " ",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{9b}",
    "\u{200e}",
    "\u{200f}",
    "\u{202a}",
    "\u{202e}",
    "\u{2066}",
    "\u{2069}",
    "\u{061c}",
    "\u{feff}",
    "\u{fffe}",
    "\u{3000}",
    "\u{2028}",
    "é",
    "日",
    "\u{1F600}",
    "%",
    "%00",
    "%0a",
    "%2e",
    "%2E",
    "%2f",
    "%5c",
    "%41",
    "%+4",
    "%4",
    "%zz",
    "+",
    "&",
    "=",
    ";",
    "#",
    "?",
    "/",
    "\\",
    "@",
    ":",
    "[",
    "]",
    "'",
    "\"",
    "<",
    ">",
    "!",
    "*",
    ".",
    "..",
    "-",
    "_",
    "~",
];

/// A character or piece from [`NASTY`], or any char.
pub fn nasty_piece() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => select(NASTY).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Z0-9]{1,6}",
    ]
}

/// Short text made of nasty pieces.
pub fn nasty_text(max_pieces: usize) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(nasty_piece(), 0..=max_pieces).prop_map(|v| v.concat())
}

/// Text that is usually plain, sometimes nasty.
pub fn mostly_plain_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => "[A-Za-z0-9 ._-]{0,20}",
        1 => nasty_text(8),
        1 => "[a-z]{95,105}",
    ]
}

/// Inserts `piece` into `text` at a char boundary chosen by `at` (any number).
pub fn insert_at(text: &str, at: usize, piece: &str) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let i = bounds[at % bounds.len()];
    format!("{}{piece}{}", &text[..i], &text[i..])
}
