//! Members join a tenant by invitation, mailed to the invitee (an SMTP sink on
//! loopback stands for their inbox). A tenant admin never holds a credential of
//! an account, and learns nothing about accounts outside their tenant.
use serde_json::{json, Value};

use tenantql::control::entities::membership::MemberRole;

use crate::helpers::{two_tenants, ControlDb, SmtpSink, TestApp, PASSWORD};

const INVITE: &str = "mutation($e: String!, $r: MemberRole!) { addMember(email: $e, role: $r) { invitation { email role invitedBy createdAt expiresAt } } }";
const ACCEPT: &str = "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { email tenant role } }";

/// A token of an admin of globex (two_tenants makes bob a plain member).
async fn globex_admin(app: &TestApp) -> String {
    app.add_user("gina@globex.test", &[("globex", MemberRole::Admin)])
        .await;
    app.token("gina@globex.test", Some("globex")).await
}

fn token_mailed_to(sink: &SmtpSink, address: &str) -> String {
    let mails = sink.mails_to(address);
    let mail = mails
        .last()
        .unwrap_or_else(|| panic!("no mail to {address}"));
    mail.invitation_token().expect("the mail carries a token")
}

/// The answer without what differs by address or time.
fn shape(answer: &Value) -> Value {
    let mut invitation = answer["data"]["addMember"]["invitation"].clone();
    for volatile in ["email", "createdAt", "expiresAt"] {
        invitation[volatile] = Value::Null;
    }
    invitation
}

/// The review's attack, step by step: acme's admin invites an address of
/// globex's, later globex's admin adds the same address, and acme's admin
/// signs in to globex. Now acme's admin never sees a token, the invitee sets
/// the password, and the account joins globex only when its owner accepts.
#[tokio::test]
async fn a_tenant_admin_cannot_take_over_an_account_of_another_tenant() {
    let (app, sink) = TestApp::spawn_with_mail(ControlDb::Sqlite).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let bob = globex_admin(&app).await;

    // acme's admin invites the globex address: the answer holds no credential.
    let invited = app
        .gql(
            INVITE,
            json!({ "e": "newhire@globex.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    invited.assert_ok();
    let acme_token = token_mailed_to(&sink, "newhire@globex.test");
    let answer_text = invited.body.to_string();
    assert!(
        !answer_text.contains(&acme_token),
        "the admin saw the token"
    );
    assert!(!answer_text.contains("passwordSet"));
    // Nothing exists to sign in with until the invitee acts.
    for password in ["", PASSWORD, "acme-admin-choice-1"] {
        let login = app
            .login("newhire@globex.test", password, Some("acme"))
            .await;
        assert_eq!(login.code(), "UNAUTHENTICATED");
    }
    // acme's admin withdraws it (the review's "removes the membership").
    app.gql(
        "mutation { revokeInvitation(email: \"newhire@globex.test\") }",
        json!({}),
        Some(&alice),
    )
    .await
    .assert_ok();
    let stale = app
        .gql(
            ACCEPT,
            json!({ "t": acme_token, "p": "acme-admin-choice-1" }),
            None,
        )
        .await;
    assert_eq!(
        stale.code(),
        "BAD_USER_INPUT",
        "a revoked invitation is dead"
    );

    // globex's admin adds the address; the invitee accepts with their own password.
    app.gql(
        INVITE,
        json!({ "e": "newhire@globex.test", "r": "MEMBER" }),
        Some(&bob),
    )
    .await
    .assert_ok();
    let globex_token = token_mailed_to(&sink, "newhire@globex.test");
    let accepted = app
        .gql(
            ACCEPT,
            json!({ "t": globex_token, "p": "newhire-own-secret" }),
            None,
        )
        .await;
    assert_eq!(accepted.assert_ok()["acceptInvitation"]["tenant"], "globex");
    assert_eq!(accepted.body["data"]["acceptInvitation"]["role"], "MEMBER");
    app.login("newhire@globex.test", "newhire-own-secret", Some("globex"))
        .await
        .assert_ok();
    // acme's admin has no password that opens globex, and no membership in acme.
    let takeover = app
        .login("newhire@globex.test", "acme-admin-choice-1", Some("globex"))
        .await;
    assert_eq!(takeover.code(), "UNAUTHENTICATED");
    let in_acme = app
        .login("newhire@globex.test", "newhire-own-secret", Some("acme"))
        .await;
    assert!(in_acme.body.get("errors").is_some(), "{:#}", in_acme.body);
}

#[tokio::test]
async fn an_account_whose_password_someone_else_chose_is_reclaimed_by_its_owner() {
    let (app, sink) = TestApp::spawn_with_mail(ControlDb::Sqlite).await;
    // As the old flow left it: an account of a globex address whose password
    // acme's admin chose.
    app.add_user("legacy@globex.test", &[]).await;
    let bob = globex_admin(&app).await;
    app.gql(
        INVITE,
        json!({ "e": "legacy@globex.test", "r": "MEMBER" }),
        Some(&bob),
    )
    .await
    .assert_ok();
    let token = token_mailed_to(&sink, "legacy@globex.test");
    app.gql(
        ACCEPT,
        json!({ "t": token, "p": "legacy-owner-secret" }),
        None,
    )
    .await
    .assert_ok();
    let old = app
        .login("legacy@globex.test", PASSWORD, Some("globex"))
        .await;
    assert_eq!(
        old.code(),
        "UNAUTHENTICATED",
        "the password chosen by another is gone"
    );
    app.login("legacy@globex.test", "legacy-owner-secret", Some("globex"))
        .await
        .assert_ok();
    // The token is used up: once only.
    let again = app
        .gql(
            ACCEPT,
            json!({ "t": token, "p": "legacy-owner-secret" }),
            None,
        )
        .await;
    assert_eq!(again.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn an_admin_learns_nothing_about_accounts_outside_their_tenant() {
    let (app, sink) = TestApp::spawn_with_mail(ControlDb::Sqlite).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    // bob has an account (in globex); nobody@ has none: the answers match.
    let existing = app
        .gql(
            INVITE,
            json!({ "e": "bob@globex.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    let unknown = app
        .gql(
            INVITE,
            json!({ "e": "nobody@nowhere.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    assert_eq!(shape(&existing.body), shape(&unknown.body));
    assert_eq!(
        existing.body["data"]["addMember"]["invitation"]["invitedBy"],
        "alice@acme.test"
    );
    // bob is not in acme until he accepts: no login there, not listed as a member.
    let login = app.login("bob@globex.test", PASSWORD, Some("acme")).await;
    assert!(login.body.get("errors").is_some(), "{:#}", login.body);
    let members = app
        .gql(
            "{ tenantMembers { email } tenantInvitations { email role } }",
            json!({}),
            Some(&alice),
        )
        .await;
    let data = members.assert_ok();
    assert!(!data["tenantMembers"]
        .to_string()
        .contains("bob@globex.test"));
    let pending: Vec<&str> = data["tenantInvitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(pending.len(), 2, "{pending:?}");
    // Inviting again replaces the invitation; the first token stops working.
    let first = token_mailed_to(&sink, "bob@globex.test");
    app.gql(
        INVITE,
        json!({ "e": "bob@globex.test", "r": "ADMIN" }),
        Some(&alice),
    )
    .await
    .assert_ok();
    let second = token_mailed_to(&sink, "bob@globex.test");
    assert_ne!(first, second);
    let stale = app
        .gql(ACCEPT, json!({ "t": first, "p": PASSWORD }), None)
        .await;
    assert_eq!(stale.code(), "BAD_USER_INPUT");
    let accepted = app
        .gql(ACCEPT, json!({ "t": second, "p": PASSWORD }), None)
        .await;
    assert_eq!(accepted.assert_ok()["acceptInvitation"]["role"], "ADMIN");
    // A member of this tenant now: inviting them again is the one thing an admin learns.
    let twice = app
        .gql(
            INVITE,
            json!({ "e": "bob@globex.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    assert_eq!(twice.code(), "CONFLICT");
}

#[tokio::test]
async fn without_a_mail_relay_tenant_admins_cannot_invite_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    two_tenants(&app).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    let answer = app
        .gql(
            INVITE,
            json!({ "e": "frank@acme.test", "r": "MEMBER" }),
            Some(&alice),
        )
        .await;
    assert_eq!(answer.code(), "NOT_CONFIGURED", "{:#}", answer.body);
    let pending = app
        .gql("{ tenantInvitations { email } }", json!({}), Some(&alice))
        .await;
    assert_eq!(pending.assert_ok()["tenantInvitations"], json!([]));
    let rows = app.audit_rows().await;
    assert!(rows.iter().all(|r| r.action != "member.invite"));
}

#[tokio::test]
async fn invitations_on_postgres() {
    if crate::helpers::postgres_url().is_none() {
        return;
    }
    let (app, sink) = TestApp::spawn_with_mail(ControlDb::Postgres).await;
    let alice = app.token("alice@acme.test", Some("acme")).await;
    app.gql(
        INVITE,
        json!({ "e": "frank@acme.test", "r": "MEMBER" }),
        Some(&alice),
    )
    .await
    .assert_ok();
    let token = token_mailed_to(&sink, "frank@acme.test");
    // Two accepts at once: exactly one wins.
    let (a, b) = tokio::join!(
        app.gql(ACCEPT, json!({ "t": token, "p": "frank-secret-1" }), None),
        app.gql(ACCEPT, json!({ "t": token, "p": "frank-secret-2" }), None),
    );
    let wins = [&a, &b]
        .iter()
        .filter(|x| x.body.get("errors").is_none())
        .count();
    assert_eq!(wins, 1, "{:#} {:#}", a.body, b.body);
}
