//! One request: `POST /statusgo/<Endpoint>` with the endpoint's argument as
//! the body, answered with what the C ABI answers and the HTTP status of its
//! error code; `GET /health`.

use std::io::{Read, Write};

use status::api::{ApiError, Arg, ArgKind, Endpoint, OK};
use status::guard::{self, MAX_REQUEST_BYTES};
use tiny_http::{Header, Method, Request, Response};

/// A `Content-Length` this far over the limit is answered without letting
/// tiny_http drain the body (its drain allocates the announced length at once).
const ABSURD_BODY_BYTES: usize = 64 * MAX_REQUEST_BYTES;

/// Routes and answers one request.
pub(super) fn serve(mut request: Request) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    if path == "/health" {
        return match request.method() {
            Method::Get | Method::Head => answer(request, 200, OK.into(), None),
            _ => method_not_allowed(request, "GET, HEAD"),
        };
    }
    let Some(name) = path.strip_prefix("/statusgo/") else {
        let error = ApiError::invalid_request(format!("no such path: {path}; use POST /statusgo/<Endpoint>"));
        return answer(request, 404, guard::error_json(&error), None);
    };
    let Some(endpoint) = Endpoint::from_name(name) else {
        let error = ApiError::invalid_request(format!("unknown endpoint `{name}`"));
        return answer(request, 404, guard::error_json(&error), None);
    };
    if *request.method() != Method::Post {
        return method_not_allowed(request, "POST");
    }
    let body = match read_body(&mut request) {
        Ok(body) => body,
        Err(BodyError::TooLarge(size)) => return too_large(request, size),
        Err(BodyError::Io(e)) => {
            let error = ApiError::invalid_request(format!("cannot read the request body: {e}"));
            return answer(request, 400, guard::error_json(&error), None);
        }
    };
    let response = guard::run(endpoint, || decode_arg(endpoint, &body));
    answer(request, response.http_status(), response.json.into_owned(), None);
}

enum BodyError {
    /// The announced or read size, when known.
    TooLarge(Option<usize>),
    Io(std::io::Error),
}

/// The body, at most [`MAX_REQUEST_BYTES`]: `Content-Length` is checked
/// before reading, and the read is capped (chunked bodies have no length).
fn read_body(request: &mut Request) -> Result<Vec<u8>, BodyError> {
    let announced = request.body_length();
    if let Some(length) = announced.filter(|&n| n > MAX_REQUEST_BYTES) {
        return Err(BodyError::TooLarge(Some(length)));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0));
    request.as_reader().take(MAX_REQUEST_BYTES as u64 + 1).read_to_end(&mut body).map_err(BodyError::Io)?;
    if body.len() > MAX_REQUEST_BYTES {
        return Err(BodyError::TooLarge(None));
    }
    Ok(body)
}

/// The endpoint's argument from the body, read inside the guard: invalid
/// UTF-8 or a bad number is the guard's `invalid-request`, as over the C ABI.
fn decode_arg(endpoint: Endpoint, body: &[u8]) -> Result<Arg<'_>, ApiError> {
    let text = || guard::text_arg(body);
    match endpoint.arg_kind() {
        ArgKind::None if body.iter().all(u8::is_ascii_whitespace) => Ok(Arg::None),
        ArgKind::None => Err(ApiError::invalid_request(format!(
            "{} takes no argument: send an empty body",
            endpoint.name()
        ))),
        ArgKind::Json | ArgKind::Text => text().map(Arg::Str),
        ArgKind::Int => text()?.trim().parse::<i64>().map(Arg::Int).map_err(|_| {
            ApiError::invalid_request(format!("{} takes an integer as the body", endpoint.name()))
        }),
    }
}

fn method_not_allowed(request: Request, allow: &str) {
    let error =
        ApiError::invalid_request(format!("method {} is not allowed here; use {allow}", request.method()));
    answer(request, 405, guard::error_json(&error), Some(("Allow", allow)));
}

fn too_large(request: Request, size: Option<usize>) {
    let body = guard::error_json(&guard::too_large(size));
    if size.is_some_and(|n| n > ABSURD_BODY_BYTES) {
        // Dropping a request makes tiny_http read the rest of its body into one
        // buffer of the announced size: for an absurd Content-Length that
        // allocation fails and aborts the process (tiny_http 0.12). So take the
        // raw stream (an "upgrade": tiny_http writes the head without a length),
        // write the body, and leak the stream (a descriptor and tiny_http's
        // thread for that connection) rather than let it drain: the client sees
        // the 413 and its body, and must close the connection itself.
        let response = json_response(413, String::new(), None);
        let mut stream = request.upgrade("none", response);
        let _ = stream.write_all(body.as_bytes());
        let _ = stream.flush();
        std::mem::forget(stream);
        return;
    }
    answer(request, 413, body, None);
}

fn json_response(
    status: u16,
    body: String,
    extra: Option<(&str, &str)>,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body).with_status_code(status);
    response.add_header(header("Content-Type", "application/json"));
    if let Some((name, value)) = extra {
        response.add_header(header(name, value));
    }
    response
}

fn answer(request: Request, status: u16, body: String, extra: Option<(&str, &str)>) {
    // An error here is the client having gone away: nothing to do.
    let _ = request.respond(json_response(status, body, extra));
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names and values are valid")
}
