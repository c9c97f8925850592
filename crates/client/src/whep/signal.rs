//! The HTTP half of WHEP: `POST` the offer, get the answer and the session's resource; `DELETE` it at the end.
//! One `reqwest::Client` serves any number of sessions (its connection pool is shared).

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};

use super::WhepError;

/// Longest refusal body kept in [`WhepError::Refused`].
const MAX_REASON: usize = 300;

/// The server's `201 Created`: the answer and the session's URL (its `Location`, resolved against the
/// request URL; `None` when the server gave none).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The SDP answer.
    pub sdp: String,
    /// Where to `DELETE` the session.
    pub resource: Option<Url>,
}

/// `POST`s `offer` to the WHEP endpoint `url`. Anything but `201 Created` is a [`WhepError::Refused`] with the
/// server's reason.
pub async fn post_offer(
    http: &reqwest::Client,
    url: &str,
    offer: String,
) -> Result<Answer, WhepError> {
    let failed = |e: reqwest::Error| WhepError::Http {
        what: "POST",
        url: url.to_string(),
        reason: crate::error_chain(&e),
    };
    let response = http
        .post(url)
        .header(CONTENT_TYPE, "application/sdp")
        .body(offer)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let resource = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    let body = response.text().await.map_err(failed)?;
    if status != StatusCode::CREATED {
        return Err(WhepError::Refused {
            status: status.as_u16(),
            body: one_line(&body),
        });
    }
    Ok(Answer {
        sdp: body,
        resource,
    })
}

/// `DELETE`s the session's resource; the status the server answered (200, or 404 for one already ended).
pub async fn delete(http: &reqwest::Client, resource: &Url) -> Result<u16, WhepError> {
    let response = http
        .delete(resource.clone())
        .send()
        .await
        .map_err(|e| WhepError::Http {
            what: "DELETE",
            url: resource.to_string(),
            reason: crate::error_chain(&e),
        })?;
    Ok(response.status().as_u16())
}

/// `body` on one line, cut to [`MAX_REASON`] characters.
fn one_line(body: &str) -> String {
    let line: String = body
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect();
    line
}
