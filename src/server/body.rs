//! Reading a request body within bounds of size and time.
//!
//! Past the size limit the server answers 413, but a client that writes its
//! whole body before reading (Python's urllib, many scripts) would see only a
//! reset connection if the server stopped reading and closed: so the rest is
//! read and thrown away, up to `DRAIN_BYTES` and within the same deadline
//! (a lingering close), and the client reads its 413.
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::time::Instant;

/// Bytes read and discarded after the limit before the connection is given up.
pub const DRAIN_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (the rest was drained, up to `DRAIN_BYTES`).
    TooLarge,
    /// Not all there within the body timeout.
    TimedOut,
    /// The connection failed while reading.
    Broken,
}

/// The whole body, if it is at most `limit` bytes and arrives within `timeout`.
pub async fn read(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    let deadline = Instant::now() + timeout;
    let mut frames = body.into_data_stream();
    let mut bytes = Vec::new();
    loop {
        let next = tokio::time::timeout_at(deadline, frames.next())
            .await
            .map_err(|_| BodyError::TimedOut)?;
        let Some(chunk) = next else {
            return Ok(Bytes::from(bytes));
        };
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if bytes.len() + chunk.len() > limit {
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    drop(bytes);
    let drain = async {
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = frames.next().await {
            drained += chunk.len();
            if drained > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, drain).await;
    Err(BodyError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize]) -> Body {
        let frames: Vec<Result<Bytes, std::io::Error>> = sizes
            .iter()
            .map(|n| Ok(Bytes::from(vec![b'x'; *n])))
            .collect();
        Body::from_stream(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn within_the_limit_the_body_is_whole() {
        let body = read(chunks(&[3, 4]), 7, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(body.len(), 7);
    }

    #[tokio::test]
    async fn over_the_limit_the_rest_is_drained() {
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = consumed.clone();
        let frames = futures_util::stream::iter(0..10).map(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 100]))
        });
        let err = read(Body::from_stream(frames), 150, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        assert_eq!(
            consumed.load(std::sync::atomic::Ordering::SeqCst),
            10,
            "every frame was read, so the client's writes complete"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_times_out() {
        let stalled =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))])
                .chain(futures_util::stream::pending());
        let err = read(Body::from_stream(stalled), 1000, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TimedOut);
    }
}
