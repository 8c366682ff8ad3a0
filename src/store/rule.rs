//! A scope rule's effect and conditions (DESIGN.md "Scopes and rules"), parsed once when
//! the rule is planned or read. Conditions stay stored as the JSON object they always were:
//! `{"group": g}`, `{"email_domain": d}`, `{"attribute": a, "equals": v}`, `{"any": true}`,
//! several keys meaning all must hold.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Whether a rule adds its scopes or removes them (a deny wins over any allow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleEffect {
    Allow,
    Deny,
}

impl RuleEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Allow, Self::Deny]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for RuleEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition on the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A member of this group, compared exactly (Entra sends group object ids).
    Group(String),
    /// A verified email in this domain (lowercase), which belongs to the sign-in organization.
    EmailDomain(String),
    /// An upstream attribute (string or array of strings) holding this value.
    Attribute { name: String, equals: String },
    /// Anyone who signed in.
    Any,
}

/// A rule's conditions: at least one, at most one of each kind, all must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions(Vec<Condition>);

impl Conditions {
    /// Conditions from their parts; `None` when there are none or one kind repeats (the
    /// stored shape is a JSON object, one key per kind).
    pub fn new(conditions: Vec<Condition>) -> Option<Self> {
        let key = |c: &Condition| std::mem::discriminant(c);
        let is_unique = conditions
            .iter()
            .enumerate()
            .all(|(i, c)| conditions[..i].iter().all(|d| key(d) != key(c)));
        (!conditions.is_empty() && is_unique).then_some(Self(conditions))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.0.iter()
    }

    /// The group named, if a group condition is set.
    pub fn group(&self) -> Option<&str> {
        self.iter().find_map(|c| match c {
            Condition::Group(g) => Some(g.as_str()),
            _ => None,
        })
    }

    /// The email domain named, if an email domain condition is set.
    pub fn email_domain(&self) -> Option<&str> {
        self.iter().find_map(|c| match c {
            Condition::EmailDomain(d) => Some(d.as_str()),
            _ => None,
        })
    }

    /// The attribute name and value, if an attribute condition is set.
    pub fn attribute(&self) -> Option<(&str, &str)> {
        self.iter().find_map(|c| match c {
            Condition::Attribute { name, equals } => Some((name.as_str(), equals.as_str())),
            _ => None,
        })
    }

    pub fn is_any(&self) -> bool {
        self.iter().any(|c| *c == Condition::Any)
    }

    /// The stored JSON object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for c in &self.0 {
            match c {
                Condition::Group(g) => {
                    m.insert("group".into(), Value::from(g.as_str()));
                }
                Condition::EmailDomain(d) => {
                    m.insert("email_domain".into(), Value::from(d.as_str()));
                }
                Condition::Attribute { name, equals } => {
                    m.insert("attribute".into(), Value::from(name.as_str()));
                    m.insert("equals".into(), Value::from(equals.as_str()));
                }
                Condition::Any => {
                    m.insert("any".into(), Value::Bool(true));
                }
            }
        }
        Value::Object(m)
    }

    /// Reads the stored JSON object; what it cannot read is an error naming the key.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let map = value
            .as_object()
            .ok_or_else(|| format!("conditions must be an object, not {value}"))?;
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("`{key}` must be a string, not {other}")),
            None => Err(format!("`{key}` is missing")),
        };
        let mut out = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "group" => out.push(Condition::Group(text(key)?)),
                "email_domain" => out.push(Condition::EmailDomain(text(key)?)),
                "attribute" => out.push(Condition::Attribute {
                    name: text("attribute")?,
                    equals: text("equals")?,
                }),
                "equals" if map.contains_key("attribute") => {}
                "equals" => return Err("`equals` without `attribute`".into()),
                "any" if *value == Value::Bool(true) => out.push(Condition::Any),
                "any" => return Err(format!("`any` must be true, not {value}")),
                other => return Err(format!("unknown condition `{other}`")),
            }
        }
        Self::new(out).ok_or_else(|| "no condition".into())
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn effects_keep_their_stored_names() {
        assert_eq!(RuleEffect::parse("allow"), Some(RuleEffect::Allow));
        assert_eq!(RuleEffect::parse("deny"), Some(RuleEffect::Deny));
        assert_eq!(RuleEffect::Deny.as_str(), "deny");
        for bad in ["", "Allow", "DENY", "maybe"] {
            assert_eq!(RuleEffect::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn conditions_round_trip_in_the_stored_shape() {
        for stored in [
            json!({ "group": "jira-admins" }),
            json!({ "email_domain": "example.com" }),
            json!({ "attribute": "department", "equals": "eng" }),
            json!({ "any": true }),
            json!({ "group": "g", "email_domain": "example.com", "attribute": "a",
                    "equals": "v", "any": true }),
        ] {
            let parsed = Conditions::from_json(&stored).unwrap();
            assert_eq!(parsed.to_json(), stored);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), stored);
        }
        let c = Conditions::from_json(&json!({ "attribute": "a", "equals": "v", "group": "g" }))
            .unwrap();
        assert_eq!(c.attribute(), Some(("a", "v")));
        assert_eq!(c.group(), Some("g"));
        assert!(!c.is_any());
    }

    #[test]
    fn malformed_conditions_are_errors_naming_what_is_wrong() {
        for (stored, wanted) in [
            (json!([]), "must be an object"),
            (json!("any"), "must be an object"),
            (json!({}), "no condition"),
            (json!({ "any": false }), "`any` must be true"),
            (json!({ "any": "yes" }), "`any` must be true"),
            (json!({ "group": 7 }), "`group` must be a string"),
            (
                json!({ "email_domain": null }),
                "`email_domain` must be a string",
            ),
            (json!({ "attribute": "a" }), "`equals` is missing"),
            (json!({ "equals": "v" }), "`equals` without `attribute`"),
            (
                json!({ "attribute": "a", "equals": ["v"] }),
                "`equals` must be a string",
            ),
            (json!({ "role": "admin" }), "unknown condition `role`"),
            (
                json!({ "any": true, "role": "admin" }),
                "unknown condition `role`",
            ),
        ] {
            let e = Conditions::from_json(&stored).unwrap_err();
            assert!(e.contains(wanted), "{stored}: {e}");
        }
    }

    #[test]
    fn conditions_need_one_of_each_kind_at_most() {
        assert!(Conditions::new(vec![]).is_none());
        assert!(Conditions::new(vec![Condition::Any, Condition::Any]).is_none());
        assert!(
            Conditions::new(vec![
                Condition::Group("a".into()),
                Condition::Group("b".into())
            ])
            .is_none()
        );
        assert!(Conditions::new(vec![Condition::Group("a".into()), Condition::Any]).is_some());
    }
}
