//! Target for the SAML response pre-checks (size, encoding, DTD, comments, assertion count)
//! that run before any XML parser sees an attacker's document.

use base64::Engine;
use proptest::prelude::*;
use proptest::sample::select;

use super::run;
use super::text::{insert_at, nasty_piece};
use crate::federation::saml::verify::{MAX_RESPONSE_BYTES, decode_response, precheck};

const BODY: &str = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
    xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"r1\" Version=\"2.0\">\
    <saml:Issuer>https://idp.example</saml:Issuer><saml:Assertion ID=\"a1\"><saml:Subject>\
    <saml:NameID>alice@example.com</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>";

/// UTF-16LE bytes of ASCII text, as a Rust string (NULs included).
fn utf16ish(text: &str) -> String {
    text.chars().flat_map(|c| [c, '\0']).collect()
}

fn declaration() -> impl Strategy<Value = String> {
    let version = select(
        &[
            "version=\"1.0\"",
            "version='1.0'",
            "version = \"1.1\"",
            "version=\"1.0encoding\"",
            "",
        ][..],
    );
    let name = select(&["encoding", "encoding", "ENCODING", "encodingx", "xencoding"][..]);
    let eq = select(&["=", " = ", "\t=\n", "==", ""][..]);
    let value = select(
        &[
            "UTF-8",
            "utf-8",
            "utf8",
            "UTF-7",
            "utf-7",
            "UTF-16",
            "UTF-16LE",
            "ISO-8859-1",
            "UTF-8 ",
            " UTF-7",
            "EBCDIC-US",
            "UCS-4",
            "x",
            "",
        ][..],
    );
    let quote = select(&[("\"", "\""), ("'", "'"), ("\"", "'"), ("", "")][..]);
    let encoding =
        (name, eq, value, quote).prop_map(|(n, e, v, (q1, q2))| format!("{n}{e}{q1}{v}{q2}"));
    let standalone = select(&["", "standalone=\"yes\"", "standalone='no'"][..]);
    let gap = select(&[" ", "", "\n", "  "][..]);
    let close = select(&["?>", "?>", " ?>", "", ">"][..]);
    let parts = (
        version,
        prop::collection::vec(encoding, 0..3),
        standalone,
        gap,
        close,
        any::<bool>(),
    );
    parts.prop_map(|(v, encodings, s, g, c, swap)| {
        let mut attrs: Vec<String> = vec![v.to_string()];
        attrs.extend(encodings);
        attrs.push(s.to_string());
        if swap {
            attrs.reverse();
        }
        format!("<?xml {}{c}", attrs.join(g))
    })
}

/// Markup the pre-checks exist to refuse, in the spellings an attacker would try.
fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["<!DOCTYPE r [<!ENTITY e \"x\">]>", "<!doctype r>", "<!DocType r SYSTEM \"http://x\">",
            "<!ENTITY e SYSTEM \"file:///etc/passwd\">", "<!entity % p \"x\">", "<!--x-->", "<!---->",
            "<saml:Assertion ID=\"a2\"/>", "<Assertion>", "<ds:Assertion\n/>", "<saml2:EncryptedAssertion/>",
            "+ADw-!DOCTYPE r+AD4-", "<![CDATA[<!DOCTYPE]]>", "<?pi x?>", "&e;", "<!",
            "<!\u{0}DOCTYPE r>"][..]).prop_map(str::to_string),
        1 => select(&["<!DOCTYPE r>", "<!ENTITY e 'x'>", "<saml:Assertion/>"][..]).prop_map(utf16ish),
        1 => nasty_piece(),
    ]
}

fn document() -> impl Strategy<Value = String> {
    let prefix = select(
        &[
            "",
            "",
            "\u{feff}",
            " ",
            "\n",
            "\u{feff}\u{feff}",
            "\u{3000}",
            "\u{fffe}",
        ][..],
    );
    let decl = prop_oneof![1 => Just(String::new()), 3 => declaration()];
    let insertions = prop::collection::vec((any::<usize>(), hostile_piece()), 0..3);
    (prefix, decl, insertions, any::<bool>()).prop_map(|(prefix, decl, insertions, in_decl)| {
        let mut doc = format!("{decl}{BODY}");
        for (at, piece) in insertions {
            doc = if in_decl && !decl.is_empty() {
                insert_at(&doc, at % (decl.len() + 1), &piece)
            } else {
                insert_at(&doc, at, &piece)
            };
        }
        format!("{prefix}{doc}")
    })
}

/// Every `encoding` pseudo-attribute value in the XML declaration, however it is spaced
/// or quoted (a model of what libxml2 might read, broader than the grammar).
fn declared_encodings(xml: &str) -> Vec<String> {
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    // libxml2 reads a declaration only where `<?xml` is followed by a blank.
    let Some(decl) = body
        .trim_start()
        .strip_prefix("<?xml")
        .filter(|d| d.starts_with([' ', '\t', '\r', '\n']))
    else {
        return Vec::new();
    };
    let decl = decl.split_once('>').map_or(decl, |(d, _)| d);
    let mut out = Vec::new();
    let lower = decl.to_ascii_lowercase();
    for (i, _) in lower.match_indices("encoding") {
        let rest = decl[i + "encoding".len()..]
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c.is_whitespace());
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let value: String = rest
            .trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | '?' | ' ' | '>'))
            .collect();
        out.push(value);
    }
    out
}

fn assertion_tags(xml: &str) -> usize {
    xml.match_indices("Assertion")
        .filter(|(i, _)| {
            let before = &xml[..*i];
            let after = &xml[i + "Assertion".len()..];
            let is_tag_start = before.ends_with('<')
                || before.rfind('<').is_some_and(|lt| {
                    let name = &before[lt + 1..];
                    name.ends_with(':')
                        && !name.contains(|c: char| c.is_whitespace() || c == '>' || c == '/')
                });
            is_tag_start && after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
        })
        .count()
}

#[test]
fn fuzz_saml_precheck() {
    run(
        "saml_precheck",
        (document(), any::<bool>()),
        |(xml, via_base64)| {
            let checked = if via_base64 {
                let encoded = base64::engine::general_purpose::STANDARD.encode(&xml);
                let decoded = decode_response(&encoded);
                prop_assert_eq!(decoded.as_deref().ok(), Some(xml.as_str()));
                precheck(&xml)
            } else {
                precheck(&xml)
            };
            if checked.is_err() {
                return Ok(());
            }
            let upper = xml.to_ascii_uppercase();
            prop_assert!(
                !upper.contains("<!DOCTYPE") && !upper.contains("<!ENTITY"),
                "DTD passed: {xml:?}"
            );
            prop_assert!(!xml.contains("<!--"), "comment passed");
            prop_assert!(!xml.contains('\0'), "NUL passed");
            prop_assert_eq!(assertion_tags(&xml), 1, "assertion count");
            for enc in declared_encodings(&xml) {
                prop_assert!(
                    enc.eq_ignore_ascii_case("utf-8") || enc.eq_ignore_ascii_case("utf8"),
                    "declared encoding {enc:?} passed: {xml:?}"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_saml_decode() {
    let input = prop_oneof![
        "[A-Za-z0-9+/= \n\t]{0,64}",
        prop::collection::vec(any::<u8>(), 0..48)
            .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        Just("A".repeat(MAX_RESPONSE_BYTES + 4)),
    ];
    run("saml_decode", input, |encoded| {
        if let Ok(doc) = decode_response(&encoded) {
            prop_assert!(encoded.len() <= MAX_RESPONSE_BYTES);
            prop_assert!(doc.len() <= MAX_RESPONSE_BYTES);
        }
        Ok(())
    });
}
