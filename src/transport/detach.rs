//! Gives a session-opening request's URI and headers their own memory.
//!
//! Every Engine.IO session keeps its handshake request (URI and headers, socketioxide's
//! `req_parts`) for its whole life. hyper parses both as slices of the connection's read
//! buffer, so those few hundred bytes would keep the whole buffer (8 KiB) allocated for as
//! long as the socket is connected; copies of them let it go. Of the request's extensions it
//! keeps the two that are read later (the peer address and hyper's WebSocket upgrade); the
//! router's own (matched route, URL parameters, original URI) would stay with every socket.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use http::{Extensions, HeaderMap, HeaderValue, Uri};
use hyper::upgrade::OnUpgrade;

/// The request with its URI and header values copied out of the read buffer, and only the
/// extensions that the sockets use.
pub fn detach_from_read_buffer(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    parts.uri = copy_uri(&parts.uri);
    parts.headers = copy_headers(&parts.headers);
    parts.extensions = kept_extensions(std::mem::take(&mut parts.extensions));
    Request::from_parts(parts, body)
}

fn kept_extensions(mut extensions: Extensions) -> Extensions {
    let mut kept = Extensions::new();
    if let Some(peer) = extensions.remove::<ConnectInfo<SocketAddr>>() {
        kept.insert(peer);
    }
    if let Some(upgrade) = extensions.remove::<OnUpgrade>() {
        kept.insert(upgrade);
    }
    kept
}

fn copy_uri(uri: &Uri) -> Uri {
    Uri::try_from(uri.to_string()).unwrap_or_else(|_| uri.clone())
}

fn copy_headers(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        copy.append(name.clone(), copy_value(value));
    }
    copy
}

fn copy_value(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copied) => {
            copied.set_sensitive(value.is_sensitive());
            copied
        }
        // hyper accepts a few bytes that `from_bytes` does not (obs-text); keep those shared.
        Err(_) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::OriginalUri;
    use bytes::Bytes;

    fn shared_request(buffer: &Bytes) -> Request {
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..31)).expect("uri");
        let original = OriginalUri(request.uri().clone());
        request.extensions_mut().insert(original);
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        request.headers_mut().insert(
            "x-name",
            HeaderValue::from_maybe_shared(buffer.slice(32..37)).expect("value"),
        );
        request
            .headers_mut()
            .append("x-name", HeaderValue::from_static("second"));
        request
    }

    #[test]
    fn copies_keep_every_value_and_release_the_buffer() {
        let buffer = Bytes::from(b"/socket.io/?EIO=4&transport=pol alice".to_vec());
        let probe = buffer.clone();
        let request = detach_from_read_buffer(shared_request(&buffer));
        drop(buffer);
        assert_eq!(request.uri(), "/socket.io/?EIO=4&transport=pol");
        // The router's copy of the URI (a slice of the buffer too) is gone, the peer stays.
        assert!(request.extensions().get::<OriginalUri>().is_none());
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
        assert_eq!(peer.map(|info| info.0.port()), Some(4000));
        let names: Vec<_> = request.headers().get_all("x-name").iter().collect();
        assert_eq!(names, ["alice", "second"]);
        // Only the probe still points at the buffer: the request holds copies.
        assert!(probe.is_unique());
    }

    #[test]
    fn sensitive_values_stay_sensitive() {
        let mut request = Request::new(Body::empty());
        let mut token = HeaderValue::from_static("Bearer x");
        token.set_sensitive(true);
        request.headers_mut().insert("authorization", token);
        let request = detach_from_read_buffer(request);
        assert!(request.headers()["authorization"].is_sensitive());
    }
}
