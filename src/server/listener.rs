//! The accept loop: hyper's HTTP/1 server with the timeouts a public listener
//! needs, which `axum::serve` leaves unset. A client that sends its headers
//! slowly, or keeps an idle connection open without sending the next request,
//! is disconnected after `header` (hyper times the wait for a request head,
//! the first one and each one after it). Bodies are timed where they are read
//! (`body`).
use std::{net::SocketAddr, time::Duration};

use axum::{body::Body, extract::connect_info::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a connection may take to send a request head (or wait idle
/// between requests).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then lets open connections
/// finish their requests for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
    grace: Duration,
) {
    // Every connection task holds a receiver: when the last one is dropped,
    // `closed()` below returns (the drop-the-last-sender trick, reversed).
    let (open_connections, watch_connections) = tokio::sync::watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.header)
            .serve_connection(TokioIo::new(stream), service(router.clone(), peer))
            .with_upgrades();
        let stop = shutdown.clone();
        let open = watch_connections.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                () = stop.cancelled() => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(watch_connections);
    tokio::select! {
        () = open_connections.closed() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period over; dropping open connections");
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The router as hyper's service for one connection, with the peer's address
/// where axum's `ConnectInfo` extractor looks for it.
fn service(
    router: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    })
}
