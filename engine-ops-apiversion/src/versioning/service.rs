use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::ResponseFuture;
use crate::body::VersionedBody;
use crate::macros::inner_service_accessors;
use crate::policy::Now;
use crate::policy::Policy;
use crate::resolution::Resolution;
use crate::resolution::resolve_with;
use crate::usage::Outcome;

/// The middleware service. See the [module docs](super).
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiVersion<S> {
    inner: S,
    policy: Policy,
    rewrite_path: bool,
}

impl<S> ApiVersion<S> {
    /// Wraps `inner` with `policy`, path rewriting on.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{Policy, Scheme, Version};
    /// use engine_ops_apiversion::versioning::ApiVersion;
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let service = ApiVersion::new(tower::service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }), policy);
    /// # let _ = service;
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn new(inner: S, policy: Policy) -> Self {
        ApiVersion {
            inner,
            policy,
            rewrite_path: true,
        }
    }

    /// Whether to strip the version segment from the path (on by default).
    pub fn rewrite_path(mut self, rewrite: bool) -> Self {
        self.rewrite_path = rewrite;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    inner_service_accessors!();
}

fn record_span(resolution: Option<&Resolution>, outcome: Outcome) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    span.record("api.version.outcome", outcome.as_str());
    if let Some(r) = resolution {
        span.record("api.version", tracing::field::display(r.version()));
        span.record(
            "api.version.source",
            r.source().map_or("default", |s| s.as_str()),
        );
        span.record("api.version.defaulted", r.is_defaulted());
        span.record("api.version.lifecycle", r.lifecycle().as_str());
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiVersion<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<VersionedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = &*self.policy.inner;
        let (mut parts, body) = request.into_parts();
        let result = resolve_with(&parts, &self.policy, Now::Clock(&*inner.clock));
        let outcome = inner.usage.record(&inner.versions, &result);
        record_span(result.as_ref().ok(), outcome);
        match result {
            Ok(resolution) => {
                if self.rewrite_path
                    && let Some(rewrite) = resolution.rewrite()
                    && let Ok(uri) = rewrite.apply_to_uri(&parts.uri)
                {
                    parts.uri = uri;
                }
                parts.extensions.insert(resolution);
                let future = self.inner.call(Request::from_parts(parts, body));
                ResponseFuture::inner(future, self.policy.clone(), resolution)
            }
            Err(error) => {
                tracing::debug!(error = %error, path = parts.uri.path(), "api version rejected");
                let response = self.policy.problem(&error).map(VersionedBody::full);
                ResponseFuture::ready(response)
            }
        }
    }
}
