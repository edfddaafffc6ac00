//! Mail to people, over SMTP (lettre): today, invitations to a tenant.
//!
//! An invitation's token is a credential of the invitee's account, so it goes to
//! the invitee's own address and nowhere else — not to the inviting admin, the
//! log or the audit row. The operator configures the relay and the sender;
//! without them tenant admins cannot invite (platform operators still can add
//! users themselves).
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

/// How long one SMTP conversation may take before the invitation is withdrawn.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The operator's mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:port` (plain, for a local relay), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://host` (TLS), optionally with `user:password@`.
    pub smtp_url: SecretString,
    /// The sender, e.g. `tenantql <no-reply@example.com>`.
    pub from: String,
    /// Where the invitee accepts: a URL with `{token}` in it (the SPA's page).
    /// Without it the mail tells how to accept in GraphiQL.
    pub accept_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("TENANTQL_SMTP_URL is not a usable SMTP URL")]
    Url,
    #[error("TENANTQL_MAIL_FROM is not a mailbox (e.g. `tenantql <no-reply@example.com>`)")]
    From,
    #[error("TENANTQL_INVITATION_URL must contain `{{token}}`")]
    AcceptUrl,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    accept_url: Option<String>,
}

/// What the invitee needs to know, and nothing about other tenants.
pub struct InvitationMail<'a> {
    pub to: &'a str,
    pub tenant_name: &'a str,
    pub role: &'a str,
    pub token: &'a SecretString,
    pub expires_at: DateTime<Utc>,
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailConfigError> {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose_secret())
                .map_err(|_| MailConfigError::Url)?
                .timeout(Some(SEND_TIMEOUT))
                .build();
        let from = settings.from.parse().map_err(|_| MailConfigError::From)?;
        if let Some(url) = &settings.accept_url {
            if !url.contains("{token}") {
                return Err(MailConfigError::AcceptUrl);
            }
        }
        Ok(Mailer {
            transport,
            from,
            accept_url: settings.accept_url.clone(),
        })
    }

    /// Sends the invitation; a failure is INTERNAL for the client (the cause,
    /// never the token, goes to the log).
    pub async fn send_invitation(&self, mail: &InvitationMail<'_>) -> Result<(), AppError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| AppError::bad_input("email", "not an e-mail address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!(
                "You are invited to {} on tenantql",
                mail.tenant_name
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(self.invitation_text(mail))
            .map_err(AppError::internal)?;
        tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message))
            .await
            .map_err(|_| AppError::internal(anyhow::anyhow!("the SMTP relay timed out")))?
            .map_err(|e| AppError::internal(anyhow::anyhow!("SMTP: {e}")))?;
        Ok(())
    }

    /// Short ASCII lines, so the token is never folded by the transfer encoding.
    fn invitation_text(&self, mail: &InvitationMail<'_>) -> String {
        let token = mail.token.expose_secret();
        let how = match &self.accept_url {
            Some(url) => format!("Accept it here:\n\n{}\n", url.replace("{token}", token)),
            None => "Accept it in GraphiQL with the mutation\n\n  \
                     mutation {\n    acceptInvitation(token: \"<the token>\",\n      \
                     password: \"<your password>\") { tenant role }\n  }\n"
                .to_string(),
        };
        format!(
            "You have been invited to join {tenant} on tenantql as {role}.\n\n\
             Your invitation token:\n\n{token}\n\n{how}\n\
             Accepting sets the password you sign in with from then on\n\
             (choose your current one if you already have an account).\n\
             The invitation expires at {expires} UTC. If you did not\n\
             expect it, ignore this mail: nothing changes until you accept.\n",
            tenant = mail.tenant_name,
            role = mail.role,
            expires = mail.expires_at.format("%Y-%m-%d %H:%M"),
        )
    }
}
