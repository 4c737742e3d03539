//! Who may look: loopback by default; any other address only behind a token, compared in
//! constant time.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use nerve_store::{StoreError, StoreResult};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::Console;

/// The cookie a browser keeps the token in, once it opened a page with `?token=…`.
const COOKIE: &str = "nerve_console_token";

/// Refuses to serve at `address` when other hosts can reach it (any address but loopback)
/// and no `token` guards it, or the token is empty.
///
/// # Errors
/// [`StoreError::InvalidInput`] (`address`, or `token` for an empty one), saying what to do.
pub fn check_bind(address: SocketAddr, token: Option<&str>) -> StoreResult<()> {
    if token.is_some_and(str::is_empty) {
        return Err(StoreError::invalid(
            "token",
            "an empty token guards nothing",
        ));
    }
    if address.ip().is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(StoreError::invalid(
        "address",
        format!(
            "{address} can be reached from other hosts, and the console shows everything the \
             store holds: give it a token (every request then carries it), or serve it on \
             loopback (127.0.0.1) and reach it through a tunnel"
        ),
    ))
}

/// The SHA-256 of the token: what a request's token is compared with, so that the
/// comparison takes the same time whatever the two hold and however long they are.
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    pub(crate) fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    fn matches(&self, offered: &str) -> bool {
        let offered: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        bool::from(self.0.ct_eq(&offered))
    }
}

/// The token a request carries: `Authorization: Bearer …`, or the console's cookie.
fn offered(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .find_map(|cookie| cookie.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

/// The token of `?token=…` in a query string.
fn in_query(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// Lets a request through when the console asks no token, or the request carries it. A
/// page opened with the right `?token=…` sets the cookie and sends the browser to the same
/// page without it (so that the token is not left in its history); anything else without
/// it is `401`, saying how to give it.
pub(crate) async fn require_token(
    State(console): State<Console>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &console.token else {
        return next.run(request).await;
    };
    if offered(request.headers()).is_some_and(|offered| token.matches(offered)) {
        return next.run(request).await;
    }
    if let Some(given) = in_query(request.uri().query())
        && token.matches(given)
    {
        let rest: Vec<&str> = request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.starts_with("token="))
            .collect();
        let to = match rest.is_empty() {
            true => request.uri().path().to_owned(),
            false => format!("{}?{}", request.uri().path(), rest.join("&")),
        };
        let cookie = format!("{COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/");
        return ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        "this console asks for its token: open it with ?token=…, or send Authorization: Bearer …\n",
    )
        .into_response()
}
