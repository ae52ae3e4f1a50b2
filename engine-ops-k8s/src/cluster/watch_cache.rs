//! What a watch keeps and reports, shared by [`AppWatch`](super::AppWatch)
//! and [`EndpointsWatch`](super::EndpointsWatch): a watch's objects by name
//! across relists ([`Cache`], which also decides which events are changes
//! to report), and what a watch error means ([`classify_watch_error`]).
//! No I/O.

use std::collections::BTreeMap;

use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt as _};

use super::error::{self, Error, from_kube};

/// A watch's objects by name, and those of a relist in progress.
pub(crate) struct Cache<K> {
    pub(crate) live: BTreeMap<String, K>,
    relist: BTreeMap<String, K>,
    pub(crate) ready: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Self {
            live: BTreeMap::new(),
            relist: BTreeMap::new(),
            ready: false,
        }
    }
}

impl<K: Resource> Cache<K> {
    /// Applies one event; returns the object's name when it is a change
    /// to report (not the initial listing).
    pub(crate) fn apply(&mut self, event: Event<K>) -> Option<String> {
        match event {
            Event::Init => {
                self.relist.clear();
                None
            }
            Event::InitApply(k) => {
                self.relist.insert(k.name_any(), k);
                None
            }
            Event::InitDone => {
                self.live = std::mem::take(&mut self.relist);
                let was_ready = std::mem::replace(&mut self.ready, true);
                // A relist after a lost watch may hide changes: report it.
                was_ready.then(|| "(relisted)".to_owned())
            }
            Event::Apply(k) => {
                let name = k.name_any();
                self.live.insert(name.clone(), k);
                Some(name)
            }
            Event::Delete(k) => {
                let name = k.name_any();
                self.live.remove(&name);
                Some(name)
            }
        }
    }
}

/// A watch error as an [`Error`], and whether it is a refusal (retrying
/// will not fix it).
pub(crate) fn classify_watch_error(
    kind: &str,
    namespace: &str,
    e: watcher::Error,
) -> (Error, bool) {
    let target = error::Target {
        verb: "watch",
        kind,
        namespace,
        name: "",
    };
    let mapped = match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => from_kube(k, target),
        other => Error::Watch {
            what: target.object(),
            source: other,
        },
    };
    let refused = matches!(
        mapped,
        Error::Forbidden { .. } | Error::NamespaceNotFound { .. } | Error::NotFound { .. }
    );
    (mapped, refused)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn object(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn names(cache: &Cache<ConfigMap>) -> Vec<&str> {
        cache.live.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_first_listing_is_not_a_change_but_later_events_and_relists_are() {
        let mut cache = Cache::default();
        assert_eq!(cache.apply(Event::Init), None);
        assert_eq!(cache.apply(Event::InitApply(object("a"))), None);
        assert_eq!(cache.apply(Event::InitApply(object("b"))), None);
        // Not ready, and nothing live, until the listing is complete.
        assert!(!cache.ready);
        assert!(names(&cache).is_empty());
        assert_eq!(cache.apply(Event::InitDone), None);
        assert!(cache.ready);
        assert_eq!(names(&cache), ["a", "b"]);

        assert_eq!(cache.apply(Event::Apply(object("c"))), Some("c".to_owned()));
        assert_eq!(
            cache.apply(Event::Delete(object("a"))),
            Some("a".to_owned())
        );
        assert_eq!(names(&cache), ["b", "c"]);

        // A lost watch relists: the old objects stay visible until the new
        // listing is complete, which replaces them and is reported.
        assert_eq!(cache.apply(Event::Init), None);
        assert_eq!(cache.apply(Event::InitApply(object("d"))), None);
        assert_eq!(names(&cache), ["b", "c"]);
        assert_eq!(cache.apply(Event::InitDone), Some("(relisted)".to_owned()));
        assert_eq!(names(&cache), ["d"]);
    }

    #[test]
    fn refusals_are_told_apart_from_errors_a_retry_may_fix() {
        let status = |code: u16, reason: &str| {
            kube::Error::Api(Box::new(kube::core::Status {
                status: None,
                code,
                message: format!("{reason} for the test"),
                metadata: None,
                reason: reason.to_owned(),
                details: None,
            }))
        };
        let (e, refused) = classify_watch_error(
            "Service",
            "prod",
            watcher::Error::InitialListFailed(status(403, "Forbidden")),
        );
        assert!(refused);
        assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
        let (e, refused) = classify_watch_error(
            "Service",
            "prod",
            watcher::Error::WatchFailed(status(500, "InternalError")),
        );
        assert!(!refused);
        assert!(matches!(e, Error::Api { code: 500, .. }), "{e:?}");
        let (e, refused) =
            classify_watch_error("Service", "prod", watcher::Error::NoResourceVersion);
        assert!(!refused);
        assert!(matches!(e, Error::Watch { .. }), "{e:?}");
    }
}
