//! URLs of the Alloy API endpoints, relative to a configurable base URL.
//!
//! The base may carry a path prefix (`https://host/2024-03`) and a trailing slash. Path segments
//! taken from users (usernames, ids, integration names) are percent-encoded here with a strict
//! set (everything but RFC 3986 unreserved characters), because usernames may contain `@`, `/`,
//! spaces or `%`. `.` and `..` are refused: URL parsers normalise them (even as `%2E%2E`) into
//! "parent directory", which would silently turn `DELETE /users/..` into a different request.

use url::Url;

use super::error::Error;

/// Validated base URL from which every request URL is derived.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    base: Url,
    /// The base path without its trailing slash ("" for a bare host).
    prefix: String,
}

impl Endpoints {
    pub fn new(base: &Url) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config {
            message: format!("base_url {why}"),
        };
        match base.scheme() {
            "http" | "https" => {}
            other => return Err(bad(&format!("must use http or https, not {other:?}"))),
        }
        if base.cannot_be_a_base() || base.host_str().is_none_or(str::is_empty) {
            return Err(bad("must be an absolute URL with a host"));
        }
        // Credentials in the URL would end up in error messages (reqwest quotes the URL).
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("must not contain credentials; set the API key instead"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("must not contain a query string or fragment"));
        }
        let prefix = base.path().trim_end_matches('/').to_owned();
        Ok(Endpoints {
            base: base.clone(),
            prefix,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn with_path(&self, rest: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.prefix, rest));
        url
    }

    pub fn users(&self) -> Url {
        self.with_path("/users")
    }

    pub fn user(&self, op: &'static str, id: &str) -> Result<Url, Error> {
        Ok(self.with_path(&format!("/users/{}", segment(op, id)?)))
    }

    pub fn user_token(&self, op: &'static str, id: &str) -> Result<Url, Error> {
        Ok(self.with_path(&format!("/users/{}/token", segment(op, id)?)))
    }

    pub fn integrations(&self, op: &'static str, user: &str) -> Result<Url, Error> {
        let mut url = self.with_path("/integrations");
        url.query_pairs_mut()
            .append_pair("userId", non_empty(op, "user", user)?);
        Ok(url)
    }

    pub fn integration(
        &self,
        op: &'static str,
        integration: &str,
        user: &str,
    ) -> Result<Url, Error> {
        let mut url = self.with_path(&format!("/integrations/{}", segment(op, integration)?));
        url.query_pairs_mut()
            .append_pair("userId", non_empty(op, "user", user)?);
        Ok(url)
    }

    /// `/workflows/{id}/users`.
    pub fn workflow_users(&self, op: &'static str, workflow: &str) -> Result<Url, Error> {
        Ok(self.with_path(&format!("/workflows/{}/users", segment(op, workflow)?)))
    }

    /// `/workflows/activate` or `/workflows/deactivate`.
    pub fn workflow_activation(&self, active: bool) -> Url {
        self.with_path(if active {
            "/workflows/activate"
        } else {
            "/workflows/deactivate"
        })
    }

    /// `/workflows/{id}/upgrade?userId=...`.
    pub fn workflow_upgrade(
        &self,
        op: &'static str,
        workflow: &str,
        user: &str,
    ) -> Result<Url, Error> {
        let mut url = self.with_path(&format!("/workflows/{}/upgrade", segment(op, workflow)?));
        url.query_pairs_mut()
            .append_pair("userId", non_empty(op, "user", user)?);
        Ok(url)
    }

    /// `/workflows/{id}?userId=...`.
    pub fn user_workflow(
        &self,
        op: &'static str,
        workflow: &str,
        user: &str,
    ) -> Result<Url, Error> {
        let mut url = self.with_path(&format!("/workflows/{}", segment(op, workflow)?));
        url.query_pairs_mut()
            .append_pair("userId", non_empty(op, "user", user)?);
        Ok(url)
    }
}

impl Endpoints {
    /// `/headless/credentials`.
    pub fn credentials(&self) -> Url {
        self.with_path("/headless/credentials")
    }

    /// `/credentials/users/{id}`: a user's credentials.
    pub fn user_credentials(&self, op: &'static str, user: &str) -> Result<Url, Error> {
        Ok(self.with_path(&format!("/credentials/users/{}", segment(op, user)?)))
    }

    /// `/users/{id}/credentials/{credentialId}`.
    pub fn user_credential(
        &self,
        op: &'static str,
        user: &str,
        credential: &str,
    ) -> Result<Url, Error> {
        Ok(self.with_path(&format!(
            "/users/{}/credentials/{}",
            segment(op, user)?,
            segment(op, credential)?
        )))
    }

    /// `/metadata/credentials`, or `/metadata/credentials/{name}` for one type.
    pub fn credential_metadata(&self, op: &'static str, name: Option<&str>) -> Result<Url, Error> {
        Ok(match name {
            None => self.with_path("/metadata/credentials"),
            Some(n) => self.with_path(&format!("/metadata/credentials/{}", segment(op, n)?)),
        })
    }

    /// `/users/{id}/logs?userId=...` (the docs list the user both in the path and the query).
    pub fn user_logs(&self, op: &'static str, user: &str) -> Result<Url, Error> {
        let mut url = self.with_path(&format!("/users/{}/logs", segment(op, user)?));
        url.query_pairs_mut().append_pair("userId", user);
        Ok(url)
    }
}

fn non_empty<'a>(op: &'static str, what: &str, value: &'a str) -> Result<&'a str, Error> {
    if value.is_empty() {
        Err(Error::InvalidArgument {
            op,
            message: format!("the {what} id or name is empty"),
        })
    } else {
        Ok(value)
    }
}

/// Percent-encodes one path segment, refusing values no URL can carry as a single segment.
fn segment(op: &'static str, value: &str) -> Result<String, Error> {
    non_empty(op, "path", value)?;
    if value == "." || value == ".." {
        return Err(Error::InvalidArgument {
            op,
            message: format!(
                "{value:?} cannot be used as an id or username in a URL path; use the userId"
            ),
        });
    }
    Ok(encode_segment(value))
}

fn encode_segment(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(base: &str) -> Endpoints {
        Endpoints::new(&Url::parse(base).unwrap()).unwrap()
    }

    #[test]
    fn bare_host_with_and_without_trailing_slash() {
        for base in ["http://127.0.0.1:8787", "http://127.0.0.1:8787/"] {
            let e = ep(base);
            assert_eq!(e.users().as_str(), "http://127.0.0.1:8787/users");
            assert_eq!(
                e.user("op", "abc").unwrap().as_str(),
                "http://127.0.0.1:8787/users/abc"
            );
        }
    }

    #[test]
    fn path_prefix_is_kept() {
        for base in ["https://host.test/2024-03", "https://host.test/2024-03/"] {
            let e = ep(base);
            assert_eq!(e.users().as_str(), "https://host.test/2024-03/users");
            assert_eq!(
                e.user_token("op", "u1").unwrap().as_str(),
                "https://host.test/2024-03/users/u1/token"
            );
        }
        let e = ep("https://host.test/a/b//");
        assert_eq!(e.users().as_str(), "https://host.test/a/b/users");
    }

    #[test]
    fn segments_are_percent_encoded() {
        let e = ep("http://127.0.0.1:1");
        let u = e.user("op", "jane doe@x.com/../50%?#").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/users/jane%20doe%40x.com%2F..%2F50%25%3F%23"
        );
        assert_eq!(u.path_segments().unwrap().count(), 2);
        let u = e.user("op", "ünï").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:1/users/%C3%BCn%C3%AF");
        let u = e.user("op", "a.b_c~d-e").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:1/users/a.b_c~d-e");
    }

    #[test]
    fn dot_segments_and_empty_are_refused() {
        let e = ep("http://127.0.0.1:1");
        for bad in ["", ".", ".."] {
            let err = e.user("get user", bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument { op: "get user", .. }),
                "{err}"
            );
        }
        assert!(e.user("op", "...").is_ok());
        assert!(e.integrations("op", "").is_err());
    }

    #[test]
    fn integration_urls_carry_user_query() {
        let e = ep("http://127.0.0.1:1/v/");
        assert_eq!(
            e.integrations("op", "jane doe@x.com&a=b").unwrap().as_str(),
            "http://127.0.0.1:1/v/integrations?userId=jane+doe%40x.com%26a%3Db"
        );
        assert_eq!(
            e.integration("op", "Magento 2", "u1").unwrap().as_str(),
            "http://127.0.0.1:1/v/integrations/Magento%202?userId=u1"
        );
    }

    #[test]
    fn workflow_urls() {
        let e = ep("http://127.0.0.1:1/v/");
        assert_eq!(
            e.workflow_users("op", "w 1").unwrap().as_str(),
            "http://127.0.0.1:1/v/workflows/w%201/users"
        );
        assert_eq!(
            e.workflow_activation(true).as_str(),
            "http://127.0.0.1:1/v/workflows/activate"
        );
        assert_eq!(
            e.workflow_activation(false).as_str(),
            "http://127.0.0.1:1/v/workflows/deactivate"
        );
        assert_eq!(
            e.workflow_upgrade("op", "w1", "jane@x.com")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:1/v/workflows/w1/upgrade?userId=jane%40x.com"
        );
        assert_eq!(
            e.user_workflow("op", "w1", "u1").unwrap().as_str(),
            "http://127.0.0.1:1/v/workflows/w1?userId=u1"
        );
        for bad in [
            e.user_workflow("op", "..", "u1"),
            e.workflow_upgrade("op", "w1", ""),
        ] {
            assert!(matches!(bad, Err(Error::InvalidArgument { .. })));
        }
        assert!(e.workflow_users("op", "").is_err());
    }

    #[test]
    fn bad_base_urls_are_refused() {
        for base in [
            "ftp://host/",
            "http://user:pw@host/",
            "http://host/?x=1",
            "http://host/#f",
            "mailto:a@b.c",
        ] {
            let url = Url::parse(base).unwrap();
            let err = Endpoints::new(&url).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{base}: {err}");
            if base.contains("pw") {
                assert!(!err.to_string().contains("pw"));
            }
        }
    }
}
