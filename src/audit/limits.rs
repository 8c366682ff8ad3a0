//! What outsiders can make the audit trail keep: every id and detail string capped and
//! marked, a detail of bounded size, and a per-minute budget for the refusals anyone can
//! cause without credentials, past which they are only counted.

use serde_json::{Value, json};

use crate::ids;
use crate::store::AuditRecord;

/// Longest id (client, user, organization, resource) an audit record keeps; outsiders
/// choose some of them (a client id at the token endpoint).
pub const MAX_ID_CHARS: usize = 200;
/// Largest detail (serialized JSON) an audit record keeps.
pub const MAX_DETAIL_BYTES: usize = 2_048;
const TRUNCATED: &str = "…[truncated]";

/// `text` cut to `max` characters, marked when cut.
pub fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}{TRUNCATED}", &text[..end]),
    }
}

/// Caps every outsider-sized part of a record: ids and each string in the detail to
/// `MAX_ID_CHARS`, and the whole detail to `MAX_DETAIL_BYTES`.
pub(super) fn bounded(mut r: AuditRecord) -> AuditRecord {
    for id in [
        &mut r.client_id,
        &mut r.user_id,
        &mut r.organization_id,
        &mut r.resource_id,
    ]
    .into_iter()
    .flatten()
    {
        *id = capped(id, MAX_ID_CHARS);
    }
    cap_strings(&mut r.detail, MAX_ID_CHARS);
    if r.detail.to_string().len() > MAX_DETAIL_BYTES {
        let preview = capped(&r.detail.to_string(), 512);
        r.detail = serde_json::json!({ "truncated": true, "preview": preview });
    }
    r
}

fn cap_strings(value: &mut Value, max: usize) {
    match value {
        Value::String(s) => *s = capped(s, max),
        Value::Array(items) => items.iter_mut().for_each(|v| cap_strings(v, max)),
        Value::Object(map) => map.values_mut().for_each(|v| cap_strings(v, max)),
        _ => {}
    }
}

/// Refusals anyone can cause without credentials (a made-up client at the token endpoint,
/// a refused registration or metadata document) are recorded up to this many per kind and
/// minute on each replica; the rest are counted in one `audit.suppressed` record, so an
/// outsider cannot grow the audit trail without bound.
pub const OUTSIDER_EVENTS_PER_MINUTE: u32 = 600;
const OUTSIDER_KINDS: &[&str] = &[
    "token.refused",
    "client.registration_refused",
    "client_metadata.refused",
];

/// Per kind: the minute counted, records kept in it, records suppressed in it.
#[derive(Debug, Default)]
pub(super) struct Budget(std::collections::HashMap<&'static str, (i64, u32, u64)>);

impl Budget {
    /// Whether a record of `kind` at `at` is kept, and a summary of the minute before when
    /// that minute suppressed records.
    pub(super) fn admit(&mut self, kind: &str, at: i64) -> (bool, Option<AuditRecord>) {
        let Some(&kind) = OUTSIDER_KINDS.iter().find(|k| **k == kind) else {
            return (true, None);
        };
        let minute = at.div_euclid(60);
        let entry = self.0.entry(kind).or_insert((minute, 0, 0));
        let mut summary = None;
        if entry.0 != minute {
            if entry.2 > 0 {
                summary = Some(suppressed(kind, entry.0, entry.2));
            }
            *entry = (minute, 0, 0);
        }
        if entry.1 < OUTSIDER_EVENTS_PER_MINUTE {
            entry.1 += 1;
            (true, summary)
        } else {
            entry.2 += 1;
            (false, summary)
        }
    }
}

fn suppressed(kind: &str, minute: i64, count: u64) -> AuditRecord {
    AuditRecord {
        id: ids::generate("evt"),
        at: minute * 60 + 59,
        kind: "audit.suppressed".into(),
        client_id: None,
        user_id: None,
        organization_id: None,
        resource_id: None,
        detail: json!({ "kind": kind, "suppressed": count, "minute_start": minute * 60 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;

    #[test]
    fn outsider_refusals_are_kept_up_to_the_budget_then_summarised() {
        let mut b = Budget::default();
        for _ in 0..OUTSIDER_EVENTS_PER_MINUTE {
            assert!(b.admit("token.refused", 600).0);
        }
        assert!(!b.admit("token.refused", 601).0);
        assert!(!b.admit("token.refused", 659).0);
        // Other kinds are never suppressed.
        assert!(b.admit("token.issued", 602).0);
        assert!(b.admit("client.registration_refused", 603).0);
        let (kept, summary) = b.admit("token.refused", 660);
        assert!(kept);
        let summary = summary.expect("a summary of the minute before");
        assert_eq!(summary.kind, "audit.suppressed");
        assert_eq!(summary.detail["suppressed"], 2);
        assert_eq!(summary.detail["kind"], "token.refused");
        assert!(
            b.admit("token.refused", 661).1.is_none(),
            "one summary per minute"
        );
    }

    #[test]
    fn capped_cuts_on_characters_and_marks_the_cut() {
        assert_eq!(capped("short", 10), "short");
        assert_eq!(capped("ééééé", 3), "ééé…[truncated]");
    }

    #[test]
    fn records_keep_bounded_ids_and_details() {
        let huge = "x".repeat(8_192);
        let r = bounded(
            AuditEvent::TokenRefused {
                grant: Some(huge.clone()),
                client_id: Some(format!("https://{huge}")),
                error: "invalid_client",
                reason: huge.clone(),
            }
            .into_record(1),
        );
        assert!(r.client_id.as_deref().unwrap().chars().count() <= MAX_ID_CHARS + 20);
        assert!(r.detail.to_string().len() <= MAX_DETAIL_BYTES);
        assert!(r.detail.to_string().contains(TRUNCATED));
        let many = bounded(
            AuditEvent::TokenIssued {
                grant: "refresh_token",
                client_id: "m2m_1".into(),
                subject: "usr_1".into(),
                organization_id: None,
                resource_id: "res_1".into(),
                scopes: vec![huge; 10],
                jti: "tkn_1".into(),
                issuer: "http://127.0.0.1".into(),
                xaa: None,
            }
            .into_record(1),
        );
        assert!(
            many.detail.to_string().len() <= MAX_DETAIL_BYTES,
            "{}",
            many.detail
        );
        assert_eq!(many.detail["truncated"], true);
    }
}
