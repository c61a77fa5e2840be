//! The write protocol: requests that change something and must not be abandoned or repeated
//! blindly — `POST /users`, `DELETE /users/{id}`, and a user's workflow activation, upgrade and
//! uninstall.
//!
//! Abandoning a write half-way is how users get orphaned (a create whose id is never learnt) or
//! changes get misreported, so writes do not run under [`AlloyClient::guard`]. A stop or the
//! deadline interrupts only their *waits* — the throttle slot before an attempt, the backoff
//! before a retry, a read-back — and never a request already sent: that attempt is bounded by
//! the request timeout anyway, and its answer is the surest way to learn what happened. The loop
//! pauses through one step, [`AlloyClient::wait_or_settle`]: when a wait is interrupted and the
//! last attempt may have taken effect, the write is *settled* by one bounded read-back (see
//! [`AlloyClient::last_look`]) so the caller learns what exists.
//!
//! One loop, [`AlloyClient::checked_write`], serves every write; a [`Checked`] says what differs:
//! - how to read back whether the write has taken effect (the user by username after a create;
//!   the user after a delete; the user's workflow, through `GET /integrations?userId=`, after an
//!   activation, upgrade or uninstall);
//! - whether an attempt whose outcome is unknown (lost answer, 5xx, timeout) may simply be sent
//!   again: only a user delete, which repeats harmlessly. Every other write is read back first,
//!   and one found done is never sent again (a second `POST /users` could make a duplicate; an
//!   upgrade is never sent twice blind);
//! - what a refusal after such an attempt means: a username taken after a create is most likely
//!   that attempt's own user (read back); a 404 after a delete or an uninstall means that attempt
//!   did it (done).
//!
//! A success whose body cannot be read is resolved the same way: read back rather than assumed.

use std::future::Future;
use std::ops::ControlFlow::{self, Break, Continue};

use reqwest::Method;

use super::attempt::{Call, Ctx, Reply};
use super::classify::{Step, check_id, decode};
use super::client::{AlloyClient, OP_CREATE, OP_DELETE, json_body};
use super::error::Error;
use super::model::{CreateUserBody, Created, CreatedBody, DeleteBody, User};

/// What a 2xx answer to a write says.
pub(super) enum Accepted<T> {
    /// The write is done.
    Done(T),
    /// The body cannot be read, or contradicts the write: reading back decides.
    Unreadable(Error),
    /// The body says the write failed.
    Refused(Error),
}

/// What a refusal means after an earlier attempt whose outcome is unknown.
pub(super) enum Own<T> {
    /// That attempt did it: the write is done.
    Done(T),
    /// It may be that attempt's doing: reading back decides.
    Perhaps,
    /// A refusal like any other.
    No,
}

/// What differs between writes (see the module comment); the loop is
/// [`AlloyClient::checked_write`].
pub(super) trait Checked {
    type Output;
    /// How reading back is described in an error ("looking the username up").
    const LOOK: &'static str;
    /// What a read-back that shows no effect says in an error.
    const NO_EFFECT: &'static str;
    /// The request that makes the change.
    fn write(&self) -> &Call;
    /// Whether an attempt whose outcome is unknown may be sent again without reading back.
    fn resend_blind(&self) -> bool {
        false
    }
    /// What a 2xx answer says.
    fn accepted(&self, reply: &Reply) -> Accepted<Self::Output>;
    /// What `refusal` means after an earlier attempt whose outcome is unknown.
    fn own(&self, _refusal: &Error) -> Own<Self::Output> {
        Own::No
    }
    /// The request that reads back whether the write has taken effect.
    fn look(&self) -> Result<Call, Error>;
    /// What the read-back's answer (or failure) says: `Some` when the write has taken effect,
    /// `None` when it has not, an error when it cannot tell.
    fn effect(
        &self,
        look: &Call,
        answer: Result<Reply, Error>,
    ) -> Result<Option<Self::Output>, Error>;
}

impl AlloyClient {
    /// Runs a write as an operation: refused at once after a stop, and its failure judged for a
    /// process-wide verdict. Not under [`guard`](Self::guard): see the module comment.
    pub(super) async fn write_op<W: Checked>(&self, w: &W) -> Result<W::Output, Error> {
        let op = w.write().op;
        let ctx = self.ctx(op);
        if self.inner.stop.is_cancelled() {
            return Err(Error::Cancelled { op });
        }
        let outcome = self.checked_write(&ctx, w).await;
        if let Err(e) = &outcome {
            tracing::debug!(op, error = %e, "alloy api operation failed");
            self.inner.reach.judge(&ctx, e);
        }
        outcome
    }

    /// Sends `w`'s write until it is known to have taken effect, or not (see the module comment).
    async fn checked_write<W: Checked>(&self, ctx: &Ctx, w: &W) -> Result<W::Output, Error> {
        let call = w.write();
        let settle = |interruption: Error| self.settle(ctx, w, interruption);
        // Some attempt may have taken effect without us learning it.
        let mut maybe_done = false;
        // The last attempt may have taken effect and no read-back has answered since.
        let mut unresolved = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let step = match self
                .write_attempt(ctx, call, attempts, unresolved, settle)
                .await
            {
                Continue(step) => step,
                Break(end) => return end,
            };
            match step {
                Step::Done(reply) => {
                    return match w.accepted(&reply) {
                        Accepted::Done(out) => Ok(out),
                        Accepted::Refused(e) => Err(e),
                        // The API took the write but its answer is unreadable: it most likely
                        // took effect, so read back rather than guess.
                        Accepted::Unreadable(e) => self.resolve_unreadable(ctx, w, e).await,
                    };
                }
                Step::Fail(e) if maybe_done => match w.own(&e) {
                    Own::Done(out) => {
                        tracing::debug!(
                            op = ctx.op,
                            "refused as already done after an attempt with unknown outcome"
                        );
                        return Ok(out);
                    }
                    Own::Perhaps => {
                        let look = self.read_back(ctx, w);
                        return match self.wait_or_settle(ctx, look, true, settle).await {
                            Continue(Some(out)) => Ok(found_done(ctx, out)),
                            Continue(None) => Err(e),
                            Break(end) => end,
                        };
                    }
                    Own::No => return Err(e),
                },
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    maybe_done |= ambiguous;
                    unresolved = ambiguous;
                    if ambiguous && !w.resend_blind() {
                        let look = self.read_back(ctx, w);
                        match self.wait_or_settle(ctx, look, true, settle).await {
                            Continue(Some(out)) => return Ok(found_done(ctx, out)),
                            Continue(None) => {
                                unresolved = false;
                                tracing::debug!(
                                    op = ctx.op,
                                    "the failed attempt took no effect; sending it again"
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

    /// Reads back whether `w` has taken effect, with the usual retries.
    async fn read_back<W: Checked>(&self, ctx: &Ctx, w: &W) -> Result<Option<W::Output>, Error> {
        let look = w.look()?;
        let answer = self.run(ctx, &look).await;
        w.effect(&look, answer)
    }

    /// A write was stopped (or ran out of time) when its last attempt may have taken effect:
    /// one bounded read-back decides. A change that was made is returned as made, so the
    /// provider records it instead of losing it.
    async fn settle<W: Checked>(
        &self,
        ctx: &Ctx,
        w: &W,
        interruption: Error,
    ) -> Result<W::Output, Error> {
        match self.last_look(w).await {
            Some(out) => Ok(found_done(ctx, out)),
            None => {
                tracing::warn!(
                    op = ctx.op,
                    "stopped with the outcome of a write unknown; it may have taken effect in Alloy"
                );
                Err(interruption)
            }
        }
    }

    /// A 2xx answer that cannot be read: read back.
    async fn resolve_unreadable<W: Checked>(
        &self,
        ctx: &Ctx,
        w: &W,
        unreadable: Error,
    ) -> Result<W::Output, Error> {
        let found = match self.interruptible(ctx, self.read_back(ctx, w)).await {
            Err(e) if is_interruption(&e) => match self.last_look(w).await {
                Some(out) => Ok(Some(out)),
                None => Err(e),
            },
            other => other,
        };
        let after = match found {
            Ok(Some(out)) => return Ok(found_done(ctx, out)),
            Ok(None) => W::NO_EFFECT.to_owned(),
            Err(look) => format!("{} afterwards failed too: {}", W::LOOK, look.summary()),
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

    /// One read-back after a stop or the deadline, to learn what a write whose outcome is
    /// unknown did: a single attempt, without throttle wait or retry, bounded by the request
    /// timeout. `None` when it got no usable answer or found no effect.
    async fn last_look<W: Checked>(&self, w: &W) -> Option<W::Output> {
        let look = w.look().ok()?;
        let http = self.http().await.ok()?;
        let outcome = self.send(http, &look, 1).await;
        let answer = match self.step(&look, outcome, 1) {
            Step::Done(reply) => Ok(reply),
            Step::Fail(e) => Err(e),
            Step::Retry { .. } => return None,
        };
        w.effect(&look, answer).ok().flatten()
    }
}

fn found_done<T>(ctx: &Ctx, out: T) -> T {
    tracing::debug!(
        op = ctx.op,
        "read back after an attempt with unknown outcome: the write took effect"
    );
    out
}

/// Whether an error is the stop signal or the deadline rather than an answer.
fn is_interruption(e: &Error) -> bool {
    e.is_cancelled() || e.is_deadline()
}

// ---------------------------------------------------------------- the user writes

/// `POST /users`: read back by looking the username up; a user found is adopted.
pub(super) struct CreateUser<'a> {
    call: Call,
    username: &'a str,
    client: &'a AlloyClient,
}

impl<'a> CreateUser<'a> {
    pub fn new(
        client: &'a AlloyClient,
        username: &'a str,
        full_name: Option<&str>,
    ) -> Result<Self, Error> {
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
            client.inner.endpoints.users(),
        )
        .with_body(body);
        Ok(CreateUser {
            call,
            username,
            client,
        })
    }
}

impl Checked for CreateUser<'_> {
    type Output = Created;
    const LOOK: &'static str = "looking the username up";
    const NO_EFFECT: &'static str = "no user with this username was found afterwards";

    fn write(&self) -> &Call {
        &self.call
    }

    fn accepted(&self, reply: &Reply) -> Accepted<Created> {
        let created = decode::<CreatedBody>(&self.call, reply).and_then(|c| {
            check_id(&self.call, reply, &c.user_id, "userId")?;
            Ok(c)
        });
        match created {
            Ok(c) => Accepted::Done(Created {
                user_id: c.user_id,
                adopted: None,
            }),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    /// A taken username after an attempt with unknown outcome is most likely that attempt's user.
    fn own(&self, refusal: &Error) -> Own<Created> {
        if refusal.is_conflict() {
            Own::Perhaps
        } else {
            Own::No
        }
    }

    fn look(&self) -> Result<Call, Error> {
        let url = self.client.inner.endpoints.user(OP_CREATE, self.username)?;
        Ok(Call::new(OP_CREATE, Method::GET, "/users/{id}", url))
    }

    fn effect(&self, look: &Call, answer: Result<Reply, Error>) -> Result<Option<Created>, Error> {
        let reply = match answer {
            Ok(reply) => reply,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let user: User = decode(look, &reply)?;
        check_id(look, &reply, &user.user_id, "userId")?;
        Ok(Some(Created {
            user_id: user.user_id.clone(),
            adopted: Some(user),
        }))
    }
}

/// `DELETE /users/{id}`: repeats harmlessly, so it is simply sent again; a 404 after an attempt
/// with unknown outcome means that attempt deleted the user. Read back (a `GET` answering 404)
/// only when its answer cannot be read or a stop cut it short.
pub(super) struct DeleteUser<'a> {
    call: Call,
    id_or_username: &'a str,
    client: &'a AlloyClient,
}

impl<'a> DeleteUser<'a> {
    pub fn new(client: &'a AlloyClient, id_or_username: &'a str) -> Result<Self, Error> {
        let url = client.inner.endpoints.user(OP_DELETE, id_or_username)?;
        Ok(DeleteUser {
            call: Call::new(OP_DELETE, Method::DELETE, "/users/{id}", url),
            id_or_username,
            client,
        })
    }
}

impl Checked for DeleteUser<'_> {
    type Output = ();
    const LOOK: &'static str = "checking whether the user is gone";
    const NO_EFFECT: &'static str = "the user was still there afterwards";

    fn write(&self) -> &Call {
        &self.call
    }

    fn resend_blind(&self) -> bool {
        true
    }

    fn accepted(&self, reply: &Reply) -> Accepted<()> {
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Accepted::Done(());
        }
        match decode::<DeleteBody>(&self.call, reply) {
            Ok(body) if body.success == Some(false) => Accepted::Refused(Error::Decode {
                op: OP_DELETE,
                status: reply.status.as_u16(),
                detail: "the API answered \"success\": false".to_owned(),
            }),
            Ok(_) => Accepted::Done(()),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    fn own(&self, refusal: &Error) -> Own<()> {
        if refusal.is_not_found() {
            Own::Done(())
        } else {
            Own::No
        }
    }

    fn look(&self) -> Result<Call, Error> {
        let url = self
            .client
            .inner
            .endpoints
            .user(OP_DELETE, self.id_or_username)?;
        Ok(Call::new(OP_DELETE, Method::GET, "/users/{id}", url))
    }

    fn effect(&self, look: &Call, answer: Result<Reply, Error>) -> Result<Option<()>, Error> {
        match answer {
            // Only the user itself says it is still there (not a proxy's page).
            Ok(reply) => decode::<User>(look, &reply).map(|_| None),
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(e),
        }
    }
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
