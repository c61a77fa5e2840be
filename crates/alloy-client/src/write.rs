//! The write protocol for the two requests that are not idempotent: `POST /users` and
//! `DELETE /users/{id}`.
//!
//! Abandoning either half-way is how users get orphaned (a create whose id is never learnt) or
//! deletes get misreported, so they do not run under [`AlloyClient::guard`]. A stop or the
//! deadline interrupts only their *waits* — the throttle slot before an attempt, the backoff
//! before a retry, a lookup — and never a request already sent: that attempt is bounded by the
//! request timeout anyway, and its answer is the surest way to learn what happened. Both loops
//! pause through one step, [`AlloyClient::wait_or_settle`]: when a wait is interrupted and the
//! last attempt may have taken effect, the write is *settled* by one bounded lookup (see
//! [`AlloyClient::last_look`]) so the caller learns what exists.
//!
//! What differs between the two is what an ambiguous attempt leads to. A create looks the
//! username up before posting again (a second POST could make a duplicate) and adopts a user it
//! finds; a 422 after an ambiguous attempt is most likely that attempt's own user. A delete may
//! simply be sent again, and a 404 after an ambiguous attempt means that attempt deleted the
//! user. A success whose body cannot be read is resolved the same way: the user is looked up
//! rather than forgotten.

use std::future::Future;
use std::ops::ControlFlow::{self, Break, Continue};

use reqwest::Method;

use super::attempt::{Call, Ctx, Reply};
use super::classify::{Step, check_id, decode};
use super::client::{AlloyClient, OP_CREATE, OP_DELETE, json_body};
use super::error::Error;
use super::model::{CreateUserBody, Created, CreatedBody, DeleteBody, User};

impl AlloyClient {
    /// `POST /users` until it is known to have made the user, or not (see the module comment).
    pub(super) async fn create_inner(
        &self,
        ctx: &Ctx,
        username: &str,
        full_name: Option<&str>,
    ) -> Result<Created, Error> {
        let body = json_body(
            OP_CREATE,
            &CreateUserBody {
                username,
                full_name,
            },
        )?;
        let call = Call::new(
            OP_CREATE,
            Method::POST,
            "/users",
            self.inner.endpoints.users(),
        )
        .with_body(body);
        let settle = |interruption: Error| self.settle_create(ctx, username, interruption);
        // Set once an attempt may have created the user without us learning its id.
        let mut maybe_created = false;
        // The last attempt may have created the user and no lookup has answered since.
        let mut unresolved = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let step = match self
                .write_attempt(ctx, &call, attempts, unresolved, settle)
                .await
            {
                Continue(step) => step,
                Break(end) => return end,
            };
            match step {
                Step::Done(reply) => {
                    let created = decode::<CreatedBody>(&call, &reply).and_then(|c| {
                        check_id(&call, &reply, &c.user_id, "userId")?;
                        Ok(c)
                    });
                    return match created {
                        Ok(c) => Ok(Created {
                            user_id: c.user_id,
                            adopted: None,
                        }),
                        // The API took the create but its answer is unreadable: the user most
                        // likely exists, so find it rather than orphan it.
                        Err(unreadable) => self.resolve_unreadable(ctx, username, unreadable).await,
                    };
                }
                Step::Fail(e) if e.is_conflict() && maybe_created => {
                    // Most likely our own earlier attempt committed after all.
                    let lookup = self.lookup(ctx, username);
                    return match self.wait_or_settle(ctx, lookup, true, settle).await {
                        Continue(Some(user)) => Ok(adopted(user)),
                        Continue(None) => Err(e),
                        Break(end) => end,
                    };
                }
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    unresolved = ambiguous;
                    if ambiguous {
                        maybe_created = true;
                        let lookup = self.lookup(ctx, username);
                        match self.wait_or_settle(ctx, lookup, true, settle).await {
                            Continue(Some(user)) => return Ok(adopted(user)),
                            Continue(None) => {
                                unresolved = false;
                                tracing::debug!(
                                    op = OP_CREATE,
                                    "user not created by the failed attempt; posting again"
                                );
                            }
                            Break(end) => return end,
                        }
                    }
                    let wait = self.before_retry(ctx, attempts, retry_after, error);
                    if let Break(end) = self.wait_or_settle(ctx, wait, unresolved, settle).await {
                        return end;
                    }
                }
            }
        }
    }

    /// `DELETE /users/{id}` until the user is known to be gone, or the delete to have failed.
    pub(super) async fn delete_inner(&self, ctx: &Ctx, id_or_username: &str) -> Result<(), Error> {
        let url = self.inner.endpoints.user(OP_DELETE, id_or_username)?;
        let call = Call::new(OP_DELETE, Method::DELETE, "/users/{id}", url);
        let settle = |interruption: Error| self.settle_delete(ctx, id_or_username, interruption);
        // Some attempt may have deleted the user without us learning it.
        let mut ambiguous_before = false;
        // The last attempt may have deleted the user.
        let mut unresolved = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let step = match self
                .write_attempt(ctx, &call, attempts, unresolved, settle)
                .await
            {
                Continue(step) => step,
                Break(end) => return end,
            };
            match step {
                Step::Done(reply) => return self.deleted(ctx, &call, id_or_username, &reply).await,
                Step::Fail(e) if e.is_not_found() && ambiguous_before => {
                    tracing::debug!(
                        op = OP_DELETE,
                        "user already gone after an attempt with unknown outcome"
                    );
                    return Ok(());
                }
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    ambiguous_before |= ambiguous;
                    unresolved = ambiguous;
                    let wait = self.before_retry(ctx, attempts, retry_after, error);
                    if let Break(end) = self.wait_or_settle(ctx, wait, unresolved, settle).await {
                        return end;
                    }
                }
            }
        }
    }

    /// One attempt of a write: a throttle slot (an interruptible wait), then the request, which
    /// is never interrupted once sent, classified.
    async fn write_attempt<R, S>(
        &self,
        ctx: &Ctx,
        call: &Call,
        attempt: u32,
        unresolved: bool,
        settle: impl FnOnce(Error) -> S,
    ) -> ControlFlow<Result<R, Error>, Step>
    where
        S: Future<Output = Result<R, Error>>,
    {
        let http = match self
            .wait_or_settle(ctx, self.ready_slot(ctx), unresolved, settle)
            .await
        {
            Continue(http) => http,
            Break(end) => return Break(end),
        };
        let outcome = self.send(http, call, attempt).await;
        let step = self.step(call, outcome, attempt);
        self.inner.reach.after_attempt(ctx, step.failure());
        Continue(step)
    }

    /// The one place a write may be cut short. Runs `wait` under the stop signal and the
    /// deadline: its value lets the write go on; its error ends the write; an interruption ends
    /// it too, settled by `settle` when the last attempt may have taken effect (`unresolved`),
    /// since the caller must then learn what exists.
    async fn wait_or_settle<T, R, S>(
        &self,
        ctx: &Ctx,
        wait: impl Future<Output = Result<T, Error>>,
        unresolved: bool,
        settle: impl FnOnce(Error) -> S,
    ) -> ControlFlow<Result<R, Error>, T>
    where
        S: Future<Output = Result<R, Error>>,
    {
        match self.interruptible(ctx, wait).await {
            Ok(value) => Continue(value),
            Err(e) if unresolved && is_interruption(&e) => Break(settle(e).await),
            Err(e) => Break(Err(e)),
        }
    }

    /// A create was stopped (or ran out of time) when its last attempt may have created the
    /// user: one bounded lookup decides. A user that exists is returned, so the provider records
    /// it instead of orphaning it.
    async fn settle_create(
        &self,
        ctx: &Ctx,
        username: &str,
        interruption: Error,
    ) -> Result<Created, Error> {
        match self.last_look(ctx.op, username).await {
            Some(Ok(user)) => Ok(adopted(user)),
            _ => {
                tracing::warn!(
                    op = ctx.op,
                    "stopped with the outcome of a create unknown; the user may exist in Alloy"
                );
                Err(interruption)
            }
        }
    }

    /// A delete was stopped after an attempt whose outcome is unknown: one bounded `GET` tells
    /// whether that attempt deleted the user.
    async fn settle_delete(
        &self,
        ctx: &Ctx,
        id_or_username: &str,
        interruption: Error,
    ) -> Result<(), Error> {
        if let Some(Err(gone)) = self.last_look(ctx.op, id_or_username).await
            && gone.is_not_found()
        {
            return Ok(());
        }
        Err(interruption)
    }

    /// A 2xx answer to `POST /users` that cannot be read: look the username up.
    async fn resolve_unreadable(
        &self,
        ctx: &Ctx,
        username: &str,
        unreadable: Error,
    ) -> Result<Created, Error> {
        let found = match self.interruptible(ctx, self.lookup(ctx, username)).await {
            Err(e) if is_interruption(&e) => match self.last_look(ctx.op, username).await {
                Some(Ok(user)) => Ok(Some(user)),
                _ => Err(e),
            },
            other => other,
        };
        let after = match found {
            Ok(Some(user)) => return Ok(adopted(user)),
            Ok(None) => "no user with this username was found afterwards".to_owned(),
            Err(lookup) => format!(
                "looking the username up afterwards failed too: {}",
                lookup.summary()
            ),
        };
        match unreadable {
            Error::Decode { op, status, detail } => Err(Error::Decode {
                op,
                status,
                detail: format!("{detail}; {after}"),
            }),
            other => Err(other),
        }
    }

    /// The delete was accepted (2xx). An answer that cannot be read is checked with a `GET`:
    /// a user that is gone was deleted, whatever the answer looked like.
    async fn deleted(
        &self,
        ctx: &Ctx,
        call: &Call,
        id_or_username: &str,
        reply: &Reply,
    ) -> Result<(), Error> {
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let unreadable = match decode::<DeleteBody>(call, reply) {
            Ok(body) if body.success == Some(false) => {
                return Err(Error::Decode {
                    op: OP_DELETE,
                    status: reply.status.as_u16(),
                    detail: "the API answered \"success\": false".to_owned(),
                });
            }
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let check = async {
            let url = self.inner.endpoints.user(OP_DELETE, id_or_username)?;
            let get = Call::new(OP_DELETE, Method::GET, "/users/{id}", url);
            self.run(ctx, &get).await
        };
        match self.interruptible(ctx, check).await {
            Err(e) if e.is_not_found() => Ok(()),
            _ => Err(unreadable),
        }
    }

    /// `GET /users/{username}` on behalf of a create whose outcome is unknown (itself retried):
    /// `None` when the API has no such user.
    async fn lookup(&self, ctx: &Ctx, username: &str) -> Result<Option<User>, Error> {
        let url = self.inner.endpoints.user(OP_CREATE, username)?;
        let call = Call::new(OP_CREATE, Method::GET, "/users/{id}", url);
        let reply = match self.run(ctx, &call).await {
            Ok(reply) => reply,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let user: User = decode(&call, &reply)?;
        check_id(&call, &reply, &user.user_id, "userId")?;
        Ok(Some(user))
    }

    /// One `GET /users/{id or username}` after a stop or the deadline, to learn what a write
    /// whose outcome is unknown did: a single attempt, without throttle wait or retry, bounded
    /// by the request timeout. `None` when it got no usable answer.
    async fn last_look(
        &self,
        op: &'static str,
        id_or_username: &str,
    ) -> Option<Result<User, Error>> {
        let url = self.inner.endpoints.user(op, id_or_username).ok()?;
        let call = Call::new(op, Method::GET, "/users/{id}", url);
        let http = self.http().await.ok()?;
        let outcome = self.send(http, &call, 1).await;
        match self.step(&call, outcome, 1) {
            Step::Done(reply) => {
                let user: User = decode(&call, &reply).ok()?;
                check_id(&call, &reply, &user.user_id, "userId").ok()?;
                Some(Ok(user))
            }
            Step::Fail(e) if e.is_not_found() => Some(Err(e)),
            _ => None,
        }
    }
}

fn adopted(user: User) -> Created {
    tracing::debug!(
        op = OP_CREATE,
        "user found after an attempt with unknown outcome; adopting it"
    );
    Created {
        user_id: user.user_id.clone(),
        adopted: Some(user),
    }
}

/// Whether an error is the stop signal or the deadline rather than an answer.
fn is_interruption(e: &Error) -> bool {
    e.is_cancelled() || e.is_deadline()
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::super::testkit::{
        bad, client, client_for, count, emulator, html_server, relayed, scoped, usernames,
    };
    use alloy_emulator::{BadAnswer, Faults};

    #[tokio::test]
    async fn an_unreadable_create_answer_is_resolved_by_username() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        for kind in [
            BadAnswer::Html,
            BadAnswer::Truncated,
            BadAnswer::MissingField,
            BadAnswer::Empty,
        ] {
            emu.set_faults(scoped(&["POST /users"], bad(kind))).unwrap();
            let name = format!("unreadable-{kind}");
            let created = c.create_user(&name, None).await.unwrap();
            assert!(created.adopted.is_some(), "{kind}");
            emu.set_faults(Faults::default()).unwrap();
            let user = c.get_user(&created.user_id).await.unwrap();
            assert_eq!(user.username.as_deref(), Some(name.as_str()));
        }
        assert_eq!(count(&emu, "POST /users").await, 4, "never re-posted");
        assert_eq!(usernames(&emu).await.len(), 4, "no duplicate, no orphan");
    }

    #[tokio::test]
    async fn an_unreadable_create_answer_that_cannot_be_resolved_is_a_decode_error() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        // Every answer is unreadable, the lookup's too.
        emu.set_faults(bad(BadAnswer::Truncated)).unwrap();
        let e = c.create_user("lost-cause", None).await.unwrap_err();
        assert!(e.is_decode(), "{e}");
        assert_eq!(e.operation(), Some("create user"));
        let s = e.to_string();
        assert!(s.starts_with("create user: "), "{s}");
        assert!(
            s.contains("looking the username up afterwards failed"),
            "{s}"
        );
        assert_eq!(count(&emu, "POST /users").await, 1, "never re-posted");
    }

    // The stop tests below stop the client once the relay has received the request, and only
    // then let its answer through, so the stop always lands while that request is on the wire.

    #[tokio::test]
    async fn stopping_during_a_sent_create_returns_the_user() {
        let (emu, relay, stop, c) = relayed().await;
        let stopper = relay.stop_when_received("POST", &stop);
        let (created, ()) = tokio::join!(c.create_user("in-flight", None), stopper);
        let created = created.expect("the POST was sent: its answer is waited for");
        assert!(created.adopted.is_none());
        assert_eq!(usernames(&emu).await, vec!["in-flight".to_string()]);
        // Once stopped, nothing new starts.
        let e = c.create_user("after-stop", None).await.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(count(&emu, "POST /users").await, 1);
    }

    #[tokio::test]
    async fn stopping_during_the_lookup_after_a_lost_answer_still_finds_the_user() {
        let (emu, relay, stop, c) = relayed().await;
        // The POST commits and its answer is lost; the lookup that follows is held.
        emu.set_faults(Faults {
            lost_response_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
        let stopper = relay.stop_when_received("GET", &stop);
        let (created, ()) = tokio::join!(c.create_user("lost-then-stopped", None), stopper);
        let created = created.expect("a user that exists is returned, not orphaned");
        assert!(created.adopted.is_some());
        assert_eq!(usernames(&emu).await, vec!["lost-then-stopped".to_string()]);
        assert_eq!(count(&emu, "POST /users").await, 1, "no new attempt");
    }

    #[tokio::test]
    async fn stopping_starts_no_new_attempt_and_reports_cancelled_when_nothing_was_made() {
        let (emu, relay, stop, c) = relayed().await;
        emu.set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
        let stopper = relay.stop_when_received("POST", &stop);
        let (r, ()) = tokio::join!(c.create_user("never", None), stopper);
        let e = r.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(count(&emu, "POST /users").await, 1, "the sent POST only");
        assert!(usernames(&emu).await.is_empty());
    }

    #[tokio::test]
    async fn stopping_during_a_sent_delete_reports_what_happened() {
        let (emu, relay, stop, c) = relayed().await;
        let id = c.create_user("to-delete", None).await.unwrap().user_id;
        let stopper = relay.stop_when_received("DELETE", &stop);
        let (r, ()) = tokio::join!(c.delete_user(&id), stopper);
        r.expect("the DELETE was sent: it is reported as done");
        assert!(usernames(&emu).await.is_empty());
        assert_eq!(count(&emu, "DELETE /users/{id}").await, 1);
    }

    #[tokio::test]
    async fn an_unreadable_delete_answer_is_checked_with_a_get() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let id = c.create_user("del-html", None).await.unwrap().user_id;
        emu.set_faults(scoped(&["DELETE /users/{id}"], bad(BadAnswer::Html)))
            .unwrap();
        c.delete_user(&id).await.expect("the user is gone: deleted");
        assert!(usernames(&emu).await.is_empty());
        // A 200 page from something that is not the API, on every route: not a success.
        let proxy = client(&html_server(200).await);
        let e = proxy.delete_user(&id).await.unwrap_err();
        assert!(e.is_decode(), "{e}");
        assert!(e.to_string().starts_with("delete user: "), "{e}");
    }
}
