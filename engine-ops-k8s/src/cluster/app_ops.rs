//! [`AppOps`]: the handle every cluster operation hangs on (client,
//! namespace, app, field manager, anchor, event recorder), its name checks
//! and the preflight. The operations themselves are `impl AppOps` blocks in
//! the sibling files, one per concern; this file imports none of them.

use std::sync::{Arc, OnceLock};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::api::{Api, DynamicObject};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, Resource};

use super::anchor::Anchor;
use super::error::{self, Error, Target, from_kube};
use crate::manifest::labels::{INSTANCE, MANAGER};

/// The cluster operations on one application: a name in a namespace.
///
/// Cheap to clone (the client and the event recorder are shared). Writes
/// use the field manager `engine-ops` unless told otherwise
/// ([`field_manager`](Self::field_manager)).
///
/// # Examples
///
/// ```no_run
/// use engine_ops_k8s::cluster::{Anchor, AppOps, Reporter};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// // A rolling app keeps its state on its Deployment.
/// let ops = AppOps::new(client, "prod", "shop")?
///     .anchor(Anchor::deployment())
///     .events(Some(Reporter { controller: "engine-ops".into(), instance: Some("ci-job-4711".into()) }));
/// assert_eq!(ops.anchor_object(), "Deployment prod/shop");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AppOps {
    pub(super) client: Client,
    pub(super) namespace: String,
    pub(super) app: String,
    pub(super) manager: String,
    pub(super) anchor: Anchor,
    pub(super) recorder: Option<Recorder>,
    pub(super) anchor_ref: Arc<OnceLock<ObjectReference>>,
}

impl std::fmt::Debug for AppOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOps")
            .field("namespace", &self.namespace)
            .field("app", &self.app)
            .field("manager", &self.manager)
            .field("anchor", &self.anchor)
            .field("events", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

/// Longest app name: the manifests' limit, so that `<app>-<track>` and
/// `<app>-preview` stay valid names.
const MAX_APP: usize = crate::manifest::MAX_NAME_LEN;

impl AppOps {
    /// Operations on `app` in `namespace` through `client`, with the
    /// default [`Anchor`] (the PodTemplate named like the app) and Events
    /// recorded as `engine-ops`.
    ///
    /// Sends nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] when `namespace` or `app` is not a DNS label
    /// (see [`check_names`](Self::check_names)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use engine_ops_k8s::cluster::AppOps;
    ///
    /// let ops = AppOps::new(kube::Client::try_default().await?, "prod", "shop")?;
    /// assert_eq!(ops.anchor_object(), "PodTemplate prod/shop");
    /// # Ok(()) }
    /// ```
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        app: impl Into<String>,
    ) -> Result<Self, Error> {
        let (namespace, app) = (namespace.into(), app.into());
        Self::check_names(&namespace, &app)?;
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.to_owned(),
                instance: None,
            },
        );
        Ok(Self {
            client,
            namespace,
            app,
            manager: MANAGER.to_owned(),
            anchor: Anchor::pod_template(),
            recorder: Some(recorder),
            anchor_ref: Arc::default(),
        })
    }

    /// Checks a namespace and app name as [`new`](Self::new) does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] naming which of the two is wrong and why.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::cluster::{AppOps, Error};
    ///
    /// assert!(AppOps::check_names("prod", "shop").is_ok());
    /// let e = AppOps::check_names("prod", "Shop").unwrap_err();
    /// assert!(matches!(e, Error::InvalidName { what: "app name", .. }));
    /// ```
    pub fn check_names(namespace: &str, app: &str) -> Result<(), Error> {
        check_dns_label("namespace", namespace, 63)?;
        check_dns_label("app name", app, MAX_APP)
    }

    /// Writes with this field manager instead of `engine-ops`.
    #[must_use]
    pub fn field_manager(mut self, manager: impl Into<String>) -> Self {
        self.manager = manager.into();
        self
    }

    /// Keeps the state in, and hangs the tracks and Events on, this object.
    #[must_use]
    pub fn anchor(mut self, anchor: Anchor) -> Self {
        self.anchor = anchor;
        self.anchor_ref = Arc::default();
        self
    }

    /// Records Kubernetes Events as `reporter` (its `controller`, e.g.
    /// `engine-ops`, and `instance`, e.g. the CI job), or none at all with
    /// `None`.
    #[must_use]
    pub fn events(mut self, reporter: Option<Reporter>) -> Self {
        self.recorder = reporter.map(|r| Recorder::new(self.client.clone(), r));
        self
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The application's name.
    #[must_use]
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The field manager of every write.
    #[must_use]
    pub fn manager(&self) -> &str {
        &self.manager
    }

    /// The anchor object's kind and name.
    #[must_use]
    pub fn anchor_object(&self) -> String {
        error::object(
            self.anchor.kind(),
            &self.namespace,
            self.anchor.name(&self.app),
        )
    }

    /// Checks, before anything is changed, that the namespace, the anchor
    /// and each of `services` exist, so that bad input is refused with a
    /// clear error and nothing written. The namespace check is skipped when
    /// the identity may not read namespaces.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`], [`Error::NotFound`] naming the missing
    /// object, [`Error::Forbidden`], or another error of the requests.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// ops.preflight(&["shop", "shop-preview"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn preflight(&self, services: &[&str]) -> Result<(), Error> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces.get_opt(&self.namespace).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Error::NamespaceNotFound {
                    namespace: self.namespace.clone(),
                });
            }
            Err(e) if error::is_code(&e, 403) => {}
            Err(e) => {
                return Err(from_kube(
                    e,
                    Target {
                        verb: "get",
                        kind: "Namespace",
                        namespace: &self.namespace,
                        name: &self.namespace,
                    },
                ));
            }
        }
        self.read_anchor_ref().await?;
        let api: Api<k8s_openapi::api::core::v1::Service> = self.api();
        for s in services {
            let t = self.target("get", "Service", s);
            match api.get_opt(s).await.map_err(|e| from_kube(e, t))? {
                Some(_) => {}
                None => {
                    return Err(Error::NotFound {
                        object: t.object(),
                        hint: "apply the app's manifests (its Services) first, or fix the name"
                            .to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(crate) fn anchor_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &self.anchor.resource)
    }

    pub(crate) fn anchor_name(&self) -> &str {
        self.anchor.name(&self.app)
    }

    pub(crate) fn anchor_target<'a>(&'a self, verb: &'a str) -> Target<'a> {
        Target {
            verb,
            kind: self.anchor.kind(),
            namespace: &self.namespace,
            name: self.anchor_name(),
        }
    }

    pub(crate) fn target<'a>(&'a self, verb: &'a str, kind: &'a str, name: &'a str) -> Target<'a> {
        Target {
            verb,
            kind,
            namespace: &self.namespace,
            name,
        }
    }

    /// The label selector of every object of the app.
    pub(crate) fn instance_selector(&self) -> String {
        format!("{INSTANCE}={}", self.app)
    }

    /// A reference to the anchor (with its uid, so `kubectl describe`
    /// shows the Events), read once.
    pub(crate) async fn anchor_ref(&self) -> Result<ObjectReference, Error> {
        if let Some(r) = self.anchor_ref.get() {
            return Ok(r.clone());
        }
        self.read_anchor_ref().await
    }

    /// A reference to the anchor as it is now (a recreated anchor has a new
    /// uid: an owner reference to the old one would have the garbage
    /// collector delete what it owns).
    pub(crate) async fn read_anchor_ref(&self) -> Result<ObjectReference, Error> {
        let t = self.anchor_target("get");
        let o = self
            .anchor_api()
            .get_opt(self.anchor_name())
            .await
            .map_err(|e| from_kube(e, t))?
            .ok_or_else(|| Error::NotFound {
                object: t.object(),
                hint: "apply the app's manifests first: this object holds the rollout state and \
                       owns the tracks"
                    .to_owned(),
            })?;
        let r = o.object_ref(&self.anchor.resource);
        let _ = self.anchor_ref.set(r.clone());
        Ok(r)
    }
}

/// A DNS-1123 label of at most `max` characters.
pub(crate) fn check_dns_label(what: &'static str, value: &str, max: usize) -> Result<(), Error> {
    crate::manifest::validate::dns_label(what, value, max, false).map_err(|e| {
        let why = match e {
            crate::manifest::Error::InvalidName { reason, .. } => reason,
            other => other.to_string(),
        };
        Error::InvalidName {
            what,
            value: value.to_owned(),
            why: format!(
                "{why}; use 1 to {max} lowercase letters, digits and '-', alphanumeric at both ends"
            ),
        }
    })
}
