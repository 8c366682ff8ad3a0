//! Planning an organization (`[[organizations]]`, and the admin's organization form): its
//! id (explicit, or derived from `external_id`, else `display_name`), its email domains
//! normalised and checked, and no collision with another organization's domain or
//! `external_id` (stored, or planned earlier from the same file).

use super::{Known, id_or_derived};
use crate::seed::SeedError;
use crate::seed::file::OrganizationEntry;
use crate::store::Organization;

/// The organization an entry describes, or the first rule it breaks (its connections are
/// planned apart, by `plan_connection`).
pub fn plan_organization(
    entry: &str,
    o: &OrganizationEntry,
    known: &Known,
) -> Result<Organization, SeedError> {
    if o.display_name.trim().is_empty() {
        return Err(SeedError::new(entry, "display_name", "must not be empty"));
    }
    let natural = o
        .external_id
        .clone()
        .unwrap_or_else(|| o.display_name.clone());
    let id = id_or_derived(entry, "org", &o.id, &natural)?;
    if let Some(external_id) = &o.external_id
        && known
            .organizations
            .iter()
            .any(|x| x.id != id && x.external_id.as_ref() == Some(external_id))
    {
        return Err(SeedError::conflict(
            entry,
            "external_id",
            "external_id already used by another organization",
        ));
    }
    let mut domains: Vec<String> = Vec::new();
    for d in &o.domains {
        let d = d.trim().to_ascii_lowercase();
        if d.is_empty() || d.contains(['@', '/', ' ']) || !d.contains('.') {
            return Err(SeedError::new(
                entry,
                "domains",
                format!("`{d}` is not a domain name"),
            ));
        }
        if let Some(other) = known
            .organizations
            .iter()
            .find(|x| x.id != id && x.domains.contains(&d))
        {
            let problem = if known.is_planned(&other.id) {
                format!("`{d}` is already listed for {}", other.id)
            } else {
                "domain already belongs to another organization".to_string()
            };
            return Err(SeedError::conflict(entry, "domains", problem));
        }
        if domains.contains(&d) {
            return Err(SeedError::new(
                entry,
                "domains",
                format!("`{d}` is listed twice"),
            ));
        }
        domains.push(d);
    }
    if let Some(uri) = &o.initiate_login_uri {
        super::check_url(entry, "initiate_login_uri", uri)?;
    }
    Ok(Organization {
        id,
        display_name: o.display_name.clone(),
        external_id: o.external_id.clone(),
        domains,
        is_enabled: o.enabled.unwrap_or(true),
        initiate_login_uri: o.initiate_login_uri.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, domains: &[&str]) -> OrganizationEntry {
        OrganizationEntry {
            display_name: name.into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        }
    }

    fn stored(id: &str, external_id: Option<&str>, domains: &[&str]) -> Organization {
        Organization {
            id: id.into(),
            display_name: id.into(),
            external_id: external_id.map(str::to_string),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            is_enabled: true,
            initiate_login_uri: None,
        }
    }

    fn refusal(r: Result<Organization, SeedError>) -> (bool, String, String) {
        match r {
            Err(SeedError::Invalid { key, problem, .. }) => (false, key, problem),
            Err(SeedError::Conflict { key, problem, .. }) => (true, key, problem),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn domains_are_lowercased_and_the_id_derived_from_the_name() {
        let o = plan_organization("o", &entry("Acme", &[" Acme.COM "]), &Known::default())
            .expect("valid");
        assert_eq!(o.domains, ["acme.com"]);
        assert!(o.id.starts_with("org_"));
        assert!(o.is_enabled);
    }

    #[test]
    fn an_empty_name_or_a_bad_domain_is_refused() {
        let k = Known::default();
        let (_, key, _) = refusal(plan_organization("o", &entry(" ", &[]), &k));
        assert_eq!(key, "display_name");
        for bad in ["", "a@b.com", "a/b.com", "a b.com", "localhost"] {
            let (is_conflict, key, _) = refusal(plan_organization("o", &entry("A", &[bad]), &k));
            assert_eq!((is_conflict, key.as_str()), (false, "domains"), "{bad}");
        }
        let (_, key, problem) =
            refusal(plan_organization("o", &entry("A", &["a.com", "A.com"]), &k));
        assert_eq!(
            (key.as_str(), problem.as_str()),
            ("domains", "`a.com` is listed twice")
        );
    }

    #[test]
    fn a_stored_organizations_domain_is_a_conflict_named_domains() {
        let k = Known::new(vec![stored("org_other", None, &["a.com"])], Vec::new());
        let (is_conflict, key, problem) =
            refusal(plan_organization("o", &entry("A", &["a.com"]), &k));
        assert!(is_conflict);
        assert_eq!(key, "domains");
        assert_eq!(problem, "domain already belongs to another organization");
    }

    #[test]
    fn a_domain_planned_earlier_in_the_file_names_its_organization() {
        let mut k = Known::default();
        k.plan_organization(stored("org_a", None, &["a.com"]));
        let (is_conflict, key, problem) =
            refusal(plan_organization("o", &entry("B", &["a.com"]), &k));
        assert!(is_conflict);
        assert_eq!(key, "domains");
        assert_eq!(problem, "`a.com` is already listed for org_a");
    }

    #[test]
    fn an_organization_keeps_its_own_domains_and_external_id() {
        let k = Known::new(vec![stored("org_a", Some("x-1"), &["a.com"])], Vec::new());
        let e = OrganizationEntry {
            id: Some("org_a".into()),
            external_id: Some("x-1".into()),
            ..entry("A", &["a.com"])
        };
        assert!(plan_organization("o", &e, &k).is_ok());
    }

    #[test]
    fn another_organizations_external_id_is_a_conflict_named_external_id() {
        let k = Known::new(vec![stored("org_a", Some("x-1"), &[])], Vec::new());
        let e = OrganizationEntry {
            id: Some("org_b".into()),
            external_id: Some("x-1".into()),
            ..entry("B", &[])
        };
        let (is_conflict, key, _) = refusal(plan_organization("o", &e, &k));
        assert!(is_conflict);
        assert_eq!(key, "external_id");
    }
}
