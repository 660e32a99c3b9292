//! Who may read `/metrics` over HTTPS, as MetalLB's metrics server decides
//! (controller-runtime's authentication and authorization filter): the
//! scraper's bearer token is checked with a TokenReview, then its user asked
//! a SubjectAccessReview for `get` on the non-resource URL `/metrics`. A
//! Prometheus whose ServiceAccount is bound to a ClusterRole allowing that
//! (deploy/'s `ferrolb-metrics-reader`) may scrape; nobody else.
//!
//! Verdicts are kept for a minute per token (as the filter caches them), so
//! a scrape every few seconds costs the API server two requests a minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// How long a token's verdict is kept.
const KEEP: Duration = Duration::from_secs(60);
/// At most this many tokens' verdicts are kept (a scraper has one).
const MAX_KEPT: usize = 1024;

/// Whether a request may read the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// The token's user may `get` the path.
    Allowed,
    /// No bearer token, or one the API server does not know (HTTP 401).
    Unauthenticated,
    /// The user may not (HTTP 403), with who it is.
    Forbidden(String),
}

/// Asks the API server, through the process's own credentials (which need
/// `create` on tokenreviews and subjectaccessreviews).
pub struct MetricsAccess {
    client: kube::Client,
    kept: Mutex<HashMap<String, (Instant, Access)>>,
}

impl MetricsAccess {
    /// Checks with the API server `client` talks to.
    pub fn new(client: kube::Client) -> MetricsAccess {
        MetricsAccess { client, kept: Mutex::new(HashMap::new()) }
    }

    /// May the request with the `Authorization` header `authorization` `get`
    /// `path`? An API server that cannot be asked refuses (nothing is read
    /// unchecked).
    pub async fn check(&self, authorization: Option<&str>, path: &str) -> Access {
        let Some(token) = authorization.and_then(bearer) else { return Access::Unauthenticated };
        let key = format!("{path} {token}");
        if let Some(access) = self.kept(&key) {
            return access;
        }
        let access = match self.review(token, path).await {
            Ok(access) => access,
            Err(e) => {
                tracing::warn!(error = %e, "metrics access: the API server cannot be asked; refused");
                return Access::Unauthenticated;
            }
        };
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            let now = Instant::now();
            kept.retain(|_, (at, _)| now.duration_since(*at) < KEEP);
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
        }
        kept.insert(key, (Instant::now(), access.clone()));
        access
    }

    fn kept(&self, key: &str) -> Option<Access> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.get(key).filter(|(at, _)| at.elapsed() < KEEP).map(|(_, access)| access.clone())
    }

    /// A TokenReview of `token`, then a SubjectAccessReview of its user.
    async fn review(&self, token: &str, path: &str) -> Result<Access, kube::Error> {
        let review = TokenReview {
            spec: TokenReviewSpec { token: token.to_owned(), ..TokenReviewSpec::default() },
            ..TokenReview::default()
        };
        let reviewed =
            Api::<TokenReview>::all(self.client.clone()).create(&PostParams::default(), &review).await?;
        let status = reviewed.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Ok(Access::Unauthenticated);
        };
        let name = user.username.clone().unwrap_or_default();
        let question = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answered = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &question)
            .await?;
        Ok(match answered.status.is_some_and(|s| s.allowed) {
            true => Access::Allowed,
            false => Access::Forbidden(name),
        })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_token_is_taken() {
        assert_eq!(bearer("Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
