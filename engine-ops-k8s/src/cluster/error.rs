//! The errors of cluster operations, and how API server answers map to them.

use std::time::Duration;

use kube::core::Status;

/// Errors returned by the cluster operations of [`AppOps`](super::AppOps)
/// and the types it hands out.
///
/// Every variant names the object concerned (`ReplicaSet prod/shop-green`)
/// and its message says what to do. The variants a driver branches on:
///
/// | variant | meaning | what a driver does |
/// |---|---|---|
/// | [`NotFound`](Self::NotFound), [`NamespaceNotFound`](Self::NamespaceNotFound) | the object or namespace does not exist | stop: bad input |
/// | [`Forbidden`](Self::Forbidden) | the credentials lack RBAC rights | stop: bad credentials |
/// | [`Invalid`](Self::Invalid) | the API server refused the object as written | stop: nothing was stored |
/// | [`Conflict`](Self::Conflict), [`TrafficMoved`](Self::TrafficMoved), [`SelectorOwned`](Self::SelectorOwned) | someone else wrote the object | re-observe and re-plan |
/// | [`StateConflict`](Self::StateConflict) | another writer saved the rollout state first | re-observe and re-plan |
/// | [`LeaseHeld`](Self::LeaseHeld), [`LeaseLost`](Self::LeaseLost) | another driver acts on this app | stop, or wait |
/// | [`Timeout`](Self::Timeout) | a bounded wait ran out | report, or wait again |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An object does not exist.
    #[error("{object} not found: {hint}")]
    NotFound {
        /// The object, e.g. `Service prod/shop`.
        object: String,
        /// What to do about it.
        hint: String,
    },

    /// The namespace does not exist.
    #[error(
        "namespace {namespace} does not exist: create it, or name the namespace the app lives in"
    )]
    NamespaceNotFound {
        /// The namespace.
        namespace: String,
    },

    /// The credentials may not perform the request (HTTP 403).
    #[error(
        "forbidden to {verb} {object}: {message}; grant this identity the RBAC rights (see the \
         crate docs for the list) or use credentials that have them"
    )]
    Forbidden {
        /// The object or collection, e.g. `ReplicaSet prod/shop-green`.
        object: String,
        /// The request's verb (`get`, `create`, `patch`, ...).
        verb: String,
        /// The API server's message (it names the user).
        message: String,
    },

    /// The API server refused the object as invalid (HTTP 422); nothing was
    /// stored.
    #[error(
        "{object} was refused as invalid, nothing was stored: {message}; fix the object and try again"
    )]
    Invalid {
        /// The object.
        object: String,
        /// The API server's message, with every field it refused.
        message: String,
    },

    /// A write lost an optimistic-concurrency race (a `resourceVersion`
    /// precondition or a server-side apply field conflict, HTTP 409).
    #[error(
        "{object} was changed by another writer: {message}; observe the cluster again and re-plan"
    )]
    Conflict {
        /// The object.
        object: String,
        /// The API server's message (for apply conflicts it names the
        /// other field managers and fields).
        message: String,
    },

    /// A track's ReplicaSet exists with another pod template than the one
    /// asked for, so creating the track again is not a no-op.
    #[error(
        "{object} already exists with template hash {existing}, not {wanted}: delete the track \
         first or give the new template another track name"
    )]
    TrackTemplateMismatch {
        /// The ReplicaSet.
        object: String,
        /// The template hash it carries.
        existing: String,
        /// The template hash asked for.
        wanted: String,
    },

    /// A switch was refused because its target track cannot take the
    /// traffic (see `SwitchParams::require_available`); nothing was written.
    #[error(
        "{object} cannot take the traffic: {why} ({available} available, {desired} asked for, \
         {required} required); wait for its pods or scale it up, then switch again"
    )]
    TrackNotReady {
        /// The track's ReplicaSet.
        object: String,
        /// Its available pods.
        available: u32,
        /// Its `spec.replicas`.
        desired: u32,
        /// The minimum the switch required.
        required: u32,
        /// Which condition failed.
        why: String,
    },

    /// Another field manager owns the Service's selector, so switching it
    /// would be undone by that tool's next apply.
    #[error(
        "{object}: spec.selector is owned by field manager(s) {managers:?}, not by {manager}; \
         switch it with that tool, re-apply it with field manager {manager}, or take it over \
         with SwitchParams::dangerous_take_over"
    )]
    SelectorOwned {
        /// The Service.
        object: String,
        /// The managers that own `spec.selector`.
        managers: Vec<String>,
        /// This client's field manager.
        manager: String,
    },

    /// While switching traffic, another writer pointed the Service elsewhere,
    /// so the switch's intent no longer holds.
    #[error(
        "{object}: traffic was moved by another writer while switching (expected selector \
         {expected}, found {found}); observe the cluster again and re-plan"
    )]
    TrafficMoved {
        /// The Service.
        object: String,
        /// The selector the switch started from.
        expected: String,
        /// The selector found.
        found: String,
    },

    /// Another writer saved the rollout state since it was loaded: the
    /// caller's decision was based on an outdated state.
    #[error(
        "{object}: the rollout state was saved by another writer (loaded write {expected}, now \
         {found}); load it again and re-plan"
    )]
    StateConflict {
        /// The object that holds the state.
        object: String,
        /// The write sequence number the caller loaded.
        expected: u64,
        /// The write sequence number found.
        found: u64,
    },

    /// The state annotation cannot be read as the caller's type.
    #[error(
        "{object}: the rollout state in annotation {annotation} cannot be read as the expected \
         type; it was written by another tool or version: save a fresh state to replace it"
    )]
    StateDecode {
        /// The object that holds the state.
        object: String,
        /// The annotation.
        annotation: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },

    /// The caller's state cannot be written as JSON.
    #[error("{object}: the rollout state cannot be written as JSON; check its Serialize impl")]
    StateEncode {
        /// The object that would hold the state.
        object: String,
        /// The encoding error.
        #[source]
        source: serde_json::Error,
    },

    /// Another driver holds the app's Lease.
    #[error(
        "{lease} is held by {holder:?} for another {}s at most: another driver is acting on \
         this app; wait for it to finish, or retry with a longer wait",
        expires_in.as_secs()
    )]
    LeaseHeld {
        /// The Lease.
        lease: String,
        /// Its holder's identity.
        holder: String,
        /// Time until it expires unless renewed.
        expires_in: Duration,
    },

    /// The Lease was lost (taken over after it expired, or its renewal
    /// failed): stop acting.
    #[error("{lease} is no longer held by {holder:?} ({why}); stop acting, then acquire it again")]
    LeaseLost {
        /// The Lease.
        lease: String,
        /// The identity that held it.
        holder: String,
        /// What happened.
        why: String,
    },

    /// A Deployment has no ReplicaSet of the revision asked for.
    #[error("{object} has no revision {revision} (revisions kept: {known:?}); pick one of those")]
    RevisionNotFound {
        /// The Deployment.
        object: String,
        /// The revision asked for.
        revision: u64,
        /// The revisions it still has.
        known: Vec<u64>,
    },

    /// A paused Deployment cannot be rolled back (as `kubectl rollout undo`
    /// refuses).
    #[error("{object} is paused: resume it before rolling it back")]
    DeploymentPaused {
        /// The Deployment.
        object: String,
    },

    /// A Deployment's rollout failed: `Progressing` is False with reason
    /// `ProgressDeadlineExceeded`.
    #[error(
        "{object} exceeded its progress deadline: {message}; look at its pods (kubectl describe), \
         then undo or fix the template"
    )]
    ProgressDeadlineExceeded {
        /// The Deployment.
        object: String,
        /// The condition's message.
        message: String,
    },

    /// A bounded wait ran out.
    #[error("timed out after {}s waiting for {what}; wait again, or look at what it waits for", after.as_secs_f32())]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
    },

    /// A name is not usable as a Kubernetes object name or label value.
    #[error("{what} {value:?} is not valid: {why}")]
    InvalidName {
        /// What the name is for.
        what: &'static str,
        /// The name.
        value: String,
        /// What is wrong with it.
        why: String,
    },

    /// Any other refusal of the API server (HTTP 429, 5xx, ...).
    #[error("{object}: the API server answered {code} {reason}: {message}; try again later")]
    Api {
        /// The object.
        object: String,
        /// HTTP status code.
        code: u16,
        /// The `Status` reason.
        reason: String,
        /// The `Status` message.
        message: String,
    },

    /// The request did not get an answer from the API server (connection,
    /// TLS, authentication setup, an undecodable response).
    #[error(
        "{object}: no usable answer from the API server; check the kubeconfig and that the server is reachable"
    )]
    Request {
        /// The object.
        object: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },

    /// A watch failed in a way that retrying will not fix.
    #[error("watching {what} failed; check the credentials may list and watch it")]
    Watch {
        /// What was watched.
        what: String,
        /// The watcher's error.
        #[source]
        source: kube::runtime::watcher::Error,
    },
}

impl Error {
    /// Whether the error is a lost race that re-observing and re-planning
    /// resolves ([`Conflict`](Self::Conflict),
    /// [`StateConflict`](Self::StateConflict),
    /// [`TrafficMoved`](Self::TrafficMoved)).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::cluster::Error;
    ///
    /// let e = Error::StateConflict { object: "PodTemplate prod/shop".into(), expected: 3, found: 4 };
    /// assert!(e.is_conflict());
    /// ```
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::StateConflict { .. } | Self::TrafficMoved { .. }
        )
    }

    /// Whether the object (or its namespace) does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::NamespaceNotFound { .. })
    }
}

/// What a request was about, to name it in an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// `get`, `list`, `create`, `patch`, ...
    pub(crate) verb: &'a str,
    /// `ReplicaSet`, `Service`, ...
    pub(crate) kind: &'a str,
    pub(crate) namespace: &'a str,
    /// Empty for a collection.
    pub(crate) name: &'a str,
}

impl Target<'_> {
    pub(crate) fn object(&self) -> String {
        object(self.kind, self.namespace, self.name)
    }
}

/// `Kind namespace/name`, or `Kinds in namespace` for a collection.
pub(crate) fn object(kind: &str, namespace: &str, name: &str) -> String {
    if name.is_empty() {
        format!("{kind}s in namespace {namespace}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

/// The API server's refusal, if the client error is one.
pub(crate) fn status(e: &kube::Error) -> Option<&Status> {
    match e {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

/// Whether the client error is an HTTP `code` answer.
pub(crate) fn is_code(e: &kube::Error, code: u16) -> bool {
    status(e).is_some_and(|s| s.code == code)
}

/// Maps a client error to the variant that says what happened to `target`.
pub(crate) fn from_kube(e: kube::Error, target: Target<'_>) -> Error {
    let Some(s) = status(&e) else {
        return Error::Request {
            object: target.object(),
            source: e,
        };
    };
    let object = target.object();
    match (s.code, s.reason.as_str()) {
        (404, _) => {
            // A write into a missing namespace names the namespace.
            let details = s.details.as_ref();
            if details.is_some_and(|d| d.kind == "namespaces") {
                Error::NamespaceNotFound {
                    namespace: details.map(|d| d.name.clone()).unwrap_or_default(),
                }
            } else {
                Error::NotFound {
                    object,
                    hint: format!(
                        "check the name and namespace, or apply the app's manifests first ({})",
                        s.message
                    ),
                }
            }
        }
        (403, _) => Error::Forbidden {
            object,
            verb: target.verb.to_owned(),
            message: s.message.clone(),
        },
        (422, _) | (400, "BadRequest" | "Invalid") => Error::Invalid {
            object,
            message: s.message.clone(),
        },
        (409, _) => Error::Conflict {
            object,
            message: s.message.clone(),
        },
        (504, _) | (_, "Timeout") => Error::Timeout {
            what: format!("the API server to {} {object} ({})", target.verb, s.message),
            after: Duration::from_secs(u64::from(
                s.details.as_ref().map_or(0, |d| d.retry_after_seconds),
            )),
        },
        (code, reason) => Error::Api {
            object,
            code,
            reason: reason.to_owned(),
            message: s.message.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::StatusDetails;

    fn api(code: u16, reason: &str, message: &str, kind: &str, name: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            status: None,
            code,
            message: message.to_owned(),
            metadata: None,
            reason: reason.to_owned(),
            details: Some(StatusDetails {
                name: name.to_owned(),
                group: String::new(),
                kind: kind.to_owned(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds: 0,
            }),
        }))
    }

    const T: Target<'static> = Target {
        verb: "create",
        kind: "ReplicaSet",
        namespace: "prod",
        name: "shop-green",
    };

    #[test]
    fn each_status_maps_to_its_variant_naming_the_object() {
        let e = from_kube(
            api(
                404,
                "NotFound",
                "namespaces \"prod\" not found",
                "namespaces",
                "prod",
            ),
            T,
        );
        assert!(matches!(&e, Error::NamespaceNotFound { namespace } if namespace == "prod"));
        let e = from_kube(
            api(404, "NotFound", "not found", "replicasets", "shop-green"),
            T,
        );
        assert!(
            e.to_string()
                .starts_with("ReplicaSet prod/shop-green not found")
        );
        let e = from_kube(api(403, "Forbidden", "User \"x\" cannot", "", ""), T);
        assert!(matches!(&e, Error::Forbidden { verb, .. } if verb == "create"));
        assert!(e.to_string().contains("User \"x\" cannot"));
        let e = from_kube(api(422, "Invalid", "spec.template: bad", "", ""), T);
        assert!(matches!(e, Error::Invalid { .. }));
        let e = from_kube(
            api(409, "Conflict", "the object has been modified", "", ""),
            T,
        );
        assert!(e.is_conflict());
        let e = from_kube(api(504, "Timeout", "slow", "", ""), T);
        assert!(matches!(e, Error::Timeout { .. }));
        let e = from_kube(api(500, "InternalError", "etcd", "", ""), T);
        assert!(matches!(e, Error::Api { code: 500, .. }));
    }

    #[test]
    fn messages_are_lowercase_and_say_what_to_do() {
        let e = Error::LeaseHeld {
            lease: "Lease prod/shop-rollout".into(),
            holder: "ci-42".into(),
            expires_in: Duration::from_secs(12),
        };
        let m = e.to_string();
        assert!(m.contains("\"ci-42\"") && m.contains("12s") && m.contains("wait"));
        let e = Error::Timeout {
            what: "x".into(),
            after: Duration::from_millis(1500),
        };
        assert!(e.to_string().starts_with("timed out after 1.5s"));
    }
}
