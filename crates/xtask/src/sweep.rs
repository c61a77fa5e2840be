//! `xtask sweep --prefix tfacc-`: finds the users left behind by acceptance tests or the probe
//! (usernames starting with a prefix) in the environment the key belongs to, lists them, and
//! with `--yes` deletes them.
//!
//! Dry run by default, because a sweep is irreversible on a real account. The prefix must be at
//! least [`MIN_PREFIX_LEN`] characters: an empty or one-letter prefix (a typo, an unset shell
//! variable) would select real customers' users, whose usernames are e-mail addresses and ids.
//! Five is short enough for any test-run prefix worth having (`tfacc-` is six) and long enough
//! that no ordinary username is likely to start with it by chance.
//!
//! Deletes go through the provider's own client, which retries rate limits and server errors
//! and treats a user already gone as deleted.

use std::io;
use std::time::Duration;

use super::account::Account;
use super::{Error, Result};
use alloy_client::{AlloyClient, ClientConfig};

/// The shortest prefix the sweeper accepts.
pub const MIN_PREFIX_LEN: usize = 5;

/// What a sweep found and did.
#[derive(Debug, Default)]
pub struct Swept {
    /// (userId, username) of every matching user, sorted by username.
    pub matched: Vec<(String, String)>,
    pub deleted: usize,
    /// One sentence per user that could not be deleted.
    pub failed: Vec<String>,
}

/// Refuses a prefix that could select users other than test users.
pub fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.trim() != prefix || prefix.chars().count() < MIN_PREFIX_LEN {
        return Err(Error::Invalid(format!(
            "refusing to sweep with prefix {prefix:?}: it must be at least {MIN_PREFIX_LEN} \
             characters without surrounding spaces (e.g. tfacc-), so it cannot match real users"
        )));
    }
    Ok(())
}

/// Lists the users whose username starts with `prefix` and, when `delete`, deletes them.
pub async fn sweep(account: &Account, prefix: &str, delete: bool) -> Result<Swept> {
    check_prefix(prefix)?;
    // Our own preflight first: its messages name the variables to fix.
    account.preflight(&account.http()?).await?;
    let mut cfg = ClientConfig::new(
        account.base_url.clone(),
        account.api_version.clone(),
        account.key.clone(),
        concat!("terraform-provider-alloy-xtask/", env!("CARGO_PKG_VERSION")),
    );
    cfg.request_timeout = super::account::REQUEST_TIMEOUT;
    cfg.max_retries = 4;
    cfg.deadline = Duration::from_secs(120);
    let client = AlloyClient::new(cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    let users = client
        .list_users()
        .await
        .map_err(|e| Error::Invalid(format!("cannot list users: {e}")))?;
    let mut matched: Vec<(String, String)> = users
        .into_iter()
        .filter_map(|u| match u.username {
            Some(name) if name.starts_with(prefix) => Some((u.user_id, name)),
            _ => None,
        })
        .collect();
    matched.sort_by(|a, b| a.1.cmp(&b.1));
    let mut swept = Swept {
        matched,
        ..Swept::default()
    };
    if delete {
        for (id, name) in &swept.matched {
            match client.delete_user(id).await {
                Ok(()) => swept.deleted += 1,
                Err(alloy_client::Error::NotFound { .. }) => swept.deleted += 1,
                Err(e) => swept.failed.push(format!("{name} ({id}): {e}")),
            }
        }
    }
    Ok(swept)
}

/// `xtask sweep`: the sweep against the API the environment names, reported on `out`.
/// Ok(true) unless a delete failed.
pub fn sweep_command(
    account: Result<Account>,
    prefix: &str,
    delete: bool,
    out: &mut dyn io::Write,
) -> Result<bool> {
    check_prefix(prefix)?;
    let account = account?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start an async runtime: {e}")))?;
    let swept = rt.block_on(sweep(&account, prefix, delete))?;
    let env = account.environment.as_str();
    if swept.matched.is_empty() {
        let _ = writeln!(
            out,
            "sweep: no users whose username starts with {prefix:?} at {} ({env} key from {})",
            account.base_url, account.key_from
        );
        return Ok(true);
    }
    let verb = if delete { "deleting" } else { "would delete" };
    let _ = writeln!(
        out,
        "sweep: {} users whose username starts with {prefix:?} at {} ({env} key from {}); {verb}:",
        swept.matched.len(),
        account.base_url,
        account.key_from
    );
    for (id, name) in &swept.matched {
        let _ = writeln!(out, "  {id}  {name}");
    }
    if delete {
        let _ = writeln!(
            out,
            "sweep: deleted {} of {}",
            swept.deleted,
            swept.matched.len()
        );
        for f in &swept.failed {
            let _ = writeln!(out, "sweep: could not delete {f}");
        }
    } else {
        let _ = writeln!(out, "sweep: dry run; run again with --yes to delete them");
    }
    Ok(swept.failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_padded_prefixes_are_refused() {
        for bad in ["", "t", "tfac", " tfacc-", "tfacc- ", "    "] {
            let e = check_prefix(bad).expect_err(bad).to_string();
            assert!(e.contains("at least 5 characters"), "{e}");
        }
        for ok in ["tfacc", "tfacc-", "tfacc-1a2b3c4d-"] {
            check_prefix(ok).expect(ok);
        }
    }
}
