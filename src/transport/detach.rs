//! Gives a session-opening request's URI and headers their own memory.
//!
//! Every Engine.IO session keeps its handshake request (URI and headers, socketioxide's
//! `req_parts`) for its whole life. hyper parses both as slices of the connection's read
//! buffer, so those few hundred bytes would keep the whole buffer (8 KiB) allocated for as
//! long as the socket is connected; copies of them let it go.

use axum::extract::{OriginalUri, Request};
use http::{HeaderMap, HeaderValue, Uri};

/// The request with its URI and header values copied out of the read buffer.
pub fn detach_from_read_buffer(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    parts.uri = copy_uri(&parts.uri);
    // axum's router records the URI as it came in, before any middleware runs.
    if let Some(OriginalUri(original)) = parts.extensions.get_mut::<OriginalUri>() {
        *original = copy_uri(original);
    }
    parts.headers = copy_headers(&parts.headers);
    Request::from_parts(parts, body)
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
    use bytes::Bytes;

    fn shared_request(buffer: &Bytes) -> Request {
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..31)).expect("uri");
        let original = OriginalUri(request.uri().clone());
        request.extensions_mut().insert(original);
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
        let weak_probe = buffer.clone();
        let request = detach_from_read_buffer(shared_request(&buffer));
        drop(buffer);
        assert_eq!(request.uri(), "/socket.io/?EIO=4&transport=pol");
        let original = request.extensions().get::<OriginalUri>().expect("original uri");
        assert_eq!(original.0, "/socket.io/?EIO=4&transport=pol");
        let names: Vec<_> = request.headers().get_all("x-name").iter().collect();
        assert_eq!(names, ["alice", "second"]);
        // Only the probe still points at the buffer: the request holds copies.
        assert!(weak_probe.is_unique());
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
