//! Who may use the agent once signed in: allow-lists over the verified claims. Authentication
//! (the ALB's OIDC login) says who someone is; any account the identity provider issues can get
//! that far. These lists say which of them may read the account's CloudTrail.
//!
//! Each configured list must be satisfied (an e-mail domain list and a group list together mean
//! both); no list configured means every signed-in user is allowed.

use serde_json::{Map, Value};

/// The allow-lists.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// E-mail domains (lower case, without `@`); the `email` claim must end in one of them and
    /// must not be marked unverified.
    pub email_domains: Vec<String>,
    /// Groups; the groups claim must name at least one of them.
    pub groups: Vec<String>,
    /// The claim that lists the user's groups (e.g. `groups`, `cognito:groups`).
    pub groups_claim: String,
}

impl AllowList {
    /// Lists from configuration values: domains are compared without case and a leading `@`
    /// is ignored; empty entries are dropped.
    pub fn new(email_domains: &[String], groups: &[String], groups_claim: &str) -> Self {
        Self {
            email_domains: email_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            groups: groups
                .iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
            groups_claim: groups_claim.to_owned(),
        }
    }

    /// Whether lists are configured at all.
    pub fn is_open(&self) -> bool {
        self.email_domains.is_empty() && self.groups.is_empty()
    }

    /// `Ok` if the claims pass every configured list, else why not (a sentence for the user).
    pub fn check(&self, claims: &Map<String, Value>, email: Option<&str>) -> Result<(), String> {
        if !self.email_domains.is_empty() {
            let allowed = self.email_domains.join(", ");
            let Some(email) = email else {
                return Err(format!(
                    "the identity provider shared no e-mail address, and only addresses at {allowed} are allowed"
                ));
            };
            let unverified = match claims.get("email_verified") {
                Some(Value::Bool(verified)) => !verified,
                Some(Value::String(verified)) => verified.eq_ignore_ascii_case("false"),
                _ => false,
            };
            if unverified {
                return Err(format!("the e-mail address {email} is not verified"));
            }
            let domain = email
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            if !self.email_domains.contains(&domain) {
                return Err(format!(
                    "only e-mail addresses at {allowed} are allowed, not {email}"
                ));
            }
        }
        if !self.groups.is_empty() {
            let member = self.groups_of(claims);
            if !self.groups.iter().any(|g| member.contains(&g.as_str())) {
                return Err(format!(
                    "membership of one of the groups {} (claim `{}`) is required",
                    self.groups.join(", "),
                    self.groups_claim
                ));
            }
        }
        Ok(())
    }

    /// The groups the claims name: a JSON array of strings, or one string of names separated by
    /// commas or spaces (providers differ).
    fn groups_of<'a>(&self, claims: &'a Map<String, Value>) -> Vec<&'a str> {
        match claims.get(&self.groups_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(list)) => list
                .split([',', ' '])
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn no_lists_allow_everyone() {
        let open = AllowList::new(&[], &[], "groups");
        assert!(open.is_open());
        assert_eq!(open.check(&claims(json!({})), None), Ok(()));
    }

    #[test]
    fn email_domains_need_a_verified_address_in_a_listed_domain() {
        let list = AllowList::new(&["@Example.com".into(), " ".into()], &[], "groups");
        assert_eq!(list.email_domains, vec!["example.com"]);
        let ok = claims(json!({"email_verified": true}));
        assert_eq!(list.check(&ok, Some("alice@EXAMPLE.com")), Ok(()));
        let other = list.check(&ok, Some("mallory@example.com.evil.net"));
        assert!(other.is_err_and(|why| why.contains("not mallory@example.com.evil.net")));
        let unverified = claims(json!({"email_verified": "false"}));
        assert!(
            list.check(&unverified, Some("alice@example.com"))
                .is_err_and(|why| why.contains("not verified"))
        );
        assert!(
            list.check(&ok, None)
                .is_err_and(|why| why.contains("no e-mail"))
        );
    }

    #[test]
    fn groups_come_from_the_configured_claim_as_array_or_string() {
        let list = AllowList::new(&[], &["secops".into()], "cognito:groups");
        let array = claims(json!({"cognito:groups": ["dev", "secops"]}));
        assert_eq!(list.check(&array, None), Ok(()));
        let string = claims(json!({"cognito:groups": "dev, secops"}));
        assert_eq!(list.check(&string, None), Ok(()));
        let wrong_claim = claims(json!({"groups": ["secops"]}));
        assert!(
            list.check(&wrong_claim, None)
                .is_err_and(|why| why.contains("`cognito:groups`"))
        );
        let both = AllowList::new(&["example.com".into()], &["secops".into()], "groups");
        let in_group_wrong_domain = claims(json!({"groups": ["secops"]}));
        assert!(
            both.check(&in_group_wrong_domain, Some("a@other.org"))
                .is_err()
        );
    }
}
