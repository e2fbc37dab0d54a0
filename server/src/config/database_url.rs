//! The database URL, kept apart because it may carry a password.

use std::fmt;
use std::path::Path;

/// A database URL. It may carry a password, so `Debug` and `Display` show it
/// with the password replaced; only [`DatabaseUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub(super) String);

impl DatabaseUrl {
    /// The default: a SQLite file in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self(format!("sqlite:{}", data_dir.join("auditstore.db").display()))
    }

    /// The full URL, password included, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password (in the user info or a `password=` query
    /// parameter) replaced by `***`.
    pub fn redacted(&self) -> String {
        let redacted = self.redact_userinfo();
        match redacted.split_once('?') {
            Some((base, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _))
                            if key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword") =>
                        {
                            format!("{key}=***")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", query.join("&"))
            }
            None => redacted,
        }
    }

    fn redact_userinfo(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else { return url.clone() };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let Some(at) = authority.rfind('@') else { return url.clone() };
        let userinfo = &authority[..at];
        match userinfo.find(':') {
            Some(colon) => format!("{}://{}:***{}", &url[..scheme_end], &userinfo[..colon], &rest[at..]),
            None => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_show() {
        let url = DatabaseUrl("postgres://app:s3cret@db.internal:5432/audit?sslmode=require".into());
        assert_eq!(url.to_string(), "postgres://app:***@db.internal:5432/audit?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
        let in_query = DatabaseUrl("postgres://app@db/audit?sslmode=require&password=s3cret".into());
        assert_eq!(in_query.to_string(), "postgres://app@db/audit?sslmode=require&password=***");
        let no_password = DatabaseUrl("postgres://app@db/audit".into());
        assert_eq!(no_password.to_string(), "postgres://app@db/audit");
    }
}
