//! Invoice events of one tenant, fanned out in process to its subscribers.
//!
//! One broadcast channel per tenant with subscribers, created on the first
//! subscription and removed with the last one: a tenant nobody watches costs
//! nothing, and an event can only ever reach receivers of its own tenant's
//! channel. The channel is a bounded ring shared by the tenant's receivers; a
//! receiver that falls more than its capacity behind is told it lagged and is
//! dropped by its subscription (see `resolvers::erp::subscriptions`), so a slow
//! consumer never makes memory grow.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::broadcast;

use crate::erp::{invoices::Invoice, payments::Payment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InvoiceChange {
    Created,
    Paid,
    Changed,
}

/// What happened to one invoice, with the invoice as it is now.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InvoiceEvent {
    pub change: InvoiceChange,
    pub invoice: Invoice,
    /// The payment that made a `Paid` event.
    pub payment: Option<Payment>,
    /// The W3C `traceparent` of the write that caused it (when traced): each
    /// delivery's span links to it, on every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<InvoiceEvent>>>>>;

pub struct EventBus {
    channels: Channels,
    capacity: usize,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        EventBus {
            channels: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    /// Hands `event` to every current subscriber of `tenant_id` in this process.
    pub fn publish(&self, tenant_id: &str, event: Arc<InvoiceEvent>) {
        let channels = self.channels.lock().expect("event channels lock");
        if let Some(sender) = channels.get(tenant_id) {
            // No receiver left is not an error: nobody is watching.
            let _ = sender.send(event);
        }
    }

    pub fn subscribe(&self, tenant_id: &str) -> TenantEvents {
        let mut channels = self.channels.lock().expect("event channels lock");
        let receiver = channels
            .entry(tenant_id.to_string())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        TenantEvents {
            tenant_id: tenant_id.to_string(),
            receiver,
            channels: self.channels.clone(),
        }
    }

    pub fn has_subscribers(&self, tenant_id: &str) -> bool {
        self.channels
            .lock()
            .expect("event channels lock")
            .contains_key(tenant_id)
    }

    /// Tenants with at least one subscriber in this process.
    pub fn watched_tenants(&self) -> usize {
        self.channels.lock().expect("event channels lock").len()
    }
}

/// One subscriber's view of its tenant's events.
pub struct TenantEvents {
    tenant_id: String,
    receiver: broadcast::Receiver<Arc<InvoiceEvent>>,
    channels: Channels,
}

impl TenantEvents {
    /// The next event; `Lagged` when this receiver fell behind the ring.
    pub async fn recv(&mut self) -> Result<Arc<InvoiceEvent>, broadcast::error::RecvError> {
        self.receiver.recv().await
    }

    /// Drops whatever is queued for this receiver (it will read the state anew).
    pub fn skip_queued(&mut self) {
        self.receiver = self.receiver.resubscribe();
    }
}

impl Drop for TenantEvents {
    fn drop(&mut self) {
        let mut channels = self.channels.lock().expect("event channels lock");
        if let Some(sender) = channels.get(&self.tenant_id) {
            // This receiver is still counted: it goes away after this body.
            if sender.receiver_count() <= 1 {
                channels.remove(&self.tenant_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::erp::{invoices::InvoiceKind, Cents};

    fn event(id: i64) -> InvoiceEvent {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        InvoiceEvent {
            change: InvoiceChange::Created,
            invoice: Invoice {
                id,
                company_id: 1,
                partner_id: 1,
                number: format!("S1-2026-{id:06}"),
                kind: InvoiceKind::Sale,
                issue_date: day,
                due_date: day,
                net: Cents(100),
                vat: Cents(0),
                total: Cents(100),
                paid: Cents(0),
            },
            payment: None,
            cause: None,
        }
    }

    #[tokio::test]
    async fn events_reach_only_their_tenant_and_channels_end_with_their_last_subscriber() {
        let bus = EventBus::new(8);
        let mut acme = bus.subscribe("acme-id");
        let mut globex = bus.subscribe("globex-id");
        bus.publish("acme-id", Arc::new(event(1)));
        assert_eq!(acme.recv().await.unwrap().invoice.id, 1);
        assert!(globex.receiver.try_recv().is_err());
        assert_eq!(bus.watched_tenants(), 2);
        drop(globex);
        assert_eq!(bus.watched_tenants(), 1);
        let second = bus.subscribe("acme-id");
        drop(acme);
        assert_eq!(bus.watched_tenants(), 1);
        drop(second);
        assert_eq!(bus.watched_tenants(), 0);
        bus.publish("acme-id", Arc::new(event(2)));
    }

    #[tokio::test]
    async fn a_receiver_behind_the_ring_is_told_it_lagged() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe("acme-id");
        for id in 0..10 {
            bus.publish("acme-id", Arc::new(event(id)));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(6))
        ));
    }
}
