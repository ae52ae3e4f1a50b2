//! [`Object`]: one Kubernetes object of a set, and the multi-document YAML
//! and `v1 List` JSON forms of a list of them.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplate, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::Error;

/// One object of a manifest set, as its k8s-openapi type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Object {
    /// `v1 ServiceAccount`.
    ServiceAccount(ServiceAccount),
    /// `v1 ConfigMap`.
    ConfigMap(ConfigMap),
    /// `v1 Service`.
    Service(Service),
    /// `v1 PodTemplate` (the blue-green pod template).
    PodTemplate(PodTemplate),
    /// `apps/v1 Deployment`.
    Deployment(Deployment),
    /// `apps/v1 ReplicaSet` (one blue-green track).
    ReplicaSet(ReplicaSet),
    /// `policy/v1 PodDisruptionBudget`.
    PodDisruptionBudget(PodDisruptionBudget),
    /// `autoscaling/v2 HorizontalPodAutoscaler`.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
}

macro_rules! each {
    ($self:ident, $o:ident => $e:expr) => {
        match $self {
            Object::ServiceAccount($o) => $e,
            Object::ConfigMap($o) => $e,
            Object::Service($o) => $e,
            Object::PodTemplate($o) => $e,
            Object::Deployment($o) => $e,
            Object::ReplicaSet($o) => $e,
            Object::PodDisruptionBudget($o) => $e,
            Object::HorizontalPodAutoscaler($o) => $e,
        }
    };
}

/// `(apiVersion, kind)` of a k8s-openapi type.
fn gvk<T: k8s_openapi::Resource>(_: &T) -> (&'static str, &'static str) {
    (T::API_VERSION, T::KIND)
}

impl Object {
    /// The object's `kind`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        each!(self, o => gvk(o).1)
    }

    /// The object's `apiVersion`.
    #[must_use]
    pub fn api_version(&self) -> &'static str {
        each!(self, o => gvk(o).0)
    }

    /// The object's metadata.
    #[must_use]
    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    /// The object's name (empty if unset).
    #[must_use]
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// `Kind/name`, as `kubectl` prints it.
    #[must_use]
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }

    /// The object as JSON (with `apiVersion` and `kind`).
    ///
    /// # Errors
    ///
    /// [`Error::WriteJson`] if serde_json refuses it (it does not for the
    /// objects this crate builds).
    pub fn to_json_value(&self) -> Result<Value, Error> {
        serde_json::to_value(self).map_err(|source| Error::WriteJson { source })
    }

    /// Reads one object from JSON, by its `apiVersion` and `kind`.
    /// `document` (1-based) is used in errors; `set` names the set being
    /// read. Fields the k8s-openapi type does not know are refused, as the
    /// API server's strict field validation would.
    pub(crate) fn from_json_value(
        document: usize,
        value: Value,
        set: &'static str,
    ) -> Result<Self, Error> {
        fn read<T: serde::de::DeserializeOwned + Serialize>(
            document: usize,
            kind: &str,
            value: &Value,
        ) -> Result<T, Error> {
            let typed: T =
                serde_json::from_value(value.clone()).map_err(|source| Error::ReadObject {
                    document,
                    kind: kind.to_owned(),
                    source,
                })?;
            let back =
                serde_json::to_value(&typed).map_err(|source| Error::WriteJson { source })?;
            if let Some(path) = first_unknown_field(value, &back, String::new()) {
                return Err(Error::Invalid {
                    field: format!("document {document} ({kind}) {path}"),
                    message: "unknown field (a typo, or a field of another Kubernetes version); \
                              the API server's strict validation would refuse it: fix or remove it"
                        .to_owned(),
                });
            }
            Ok(typed)
        }
        let s = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("<none>")
                .to_owned()
        };
        let (api_version, kind) = (s("apiVersion"), s("kind"));
        let v = &value;
        let object = match (api_version.as_str(), kind.as_str()) {
            ("v1", "ServiceAccount") => Self::ServiceAccount(read(document, &kind, v)?),
            ("v1", "ConfigMap") => Self::ConfigMap(read(document, &kind, v)?),
            ("v1", "Service") => Self::Service(read(document, &kind, v)?),
            ("v1", "PodTemplate") => Self::PodTemplate(read(document, &kind, v)?),
            ("apps/v1", "Deployment") => Self::Deployment(read(document, &kind, v)?),
            ("apps/v1", "ReplicaSet") => Self::ReplicaSet(read(document, &kind, v)?),
            ("policy/v1", "PodDisruptionBudget") => {
                Self::PodDisruptionBudget(read(document, &kind, v)?)
            }
            ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                Self::HorizontalPodAutoscaler(read(document, &kind, v)?)
            }
            _ => {
                return Err(Error::UnexpectedObject {
                    document,
                    api_version,
                    kind,
                    set,
                });
            }
        };
        Ok(object)
    }
}

/// The first path present (and not null) in `input` but absent from
/// `output`: a field the typed model dropped.
fn first_unknown_field(input: &Value, output: &Value, path: String) -> Option<String> {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => i.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match (v, o.get(k)) {
                (Value::Null, _) => None,
                (_, None) => Some(p),
                (v, Some(w)) => first_unknown_field(v, w, p),
            }
        }),
        (Value::Array(i), Value::Array(o)) => i
            .iter()
            .zip(o)
            .enumerate()
            .find_map(|(n, (v, w))| first_unknown_field(v, w, format!("{path}[{n}]"))),
        _ => None,
    }
}

/// Writes objects as multi-document YAML: each object after a `---` line,
/// in the given order, keys in k8s-openapi's fixed order and maps sorted.
///
/// # Errors
///
/// [`Error::WriteYaml`] if the YAML writer fails.
pub fn to_yaml(objects: &[Object]) -> Result<String, Error> {
    let mut out = String::new();
    for o in objects {
        // Long one-line strings (image references) stay on one line: folded
        // block scalars would be harder to read and to grep. Multi-line
        // strings (configuration files) still become literal blocks.
        let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
        let doc =
            serde_saphyr::to_string_with_options(o, options).map_err(|e| Error::WriteYaml {
                object: o.reference(),
                source: Box::new(e),
            })?;
        out.push_str("---\n");
        out.push_str(doc.strip_prefix("---\n").unwrap_or(&doc));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Writes objects as a pretty-printed `v1 List`, with a final newline.
///
/// # Errors
///
/// [`Error::WriteJson`] if serde_json fails.
pub fn to_json(objects: &[Object]) -> Result<String, Error> {
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects,
    });
    let mut s =
        serde_json::to_string_pretty(&list).map_err(|source| Error::WriteJson { source })?;
    s.push('\n');
    Ok(s)
}

/// Reads multi-document YAML (empty documents skipped).
pub(crate) fn from_yaml(yaml: &str, set: &'static str) -> Result<Vec<Object>, Error> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| Error::ReadYaml {
        source: Box::new(e),
    })?;
    docs.into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(i, v)| Object::from_json_value(i + 1, v, set))
        .collect()
}

/// Reads a `v1 List` (or a single object) of JSON.
pub(crate) fn from_json(json: &str, set: &'static str) -> Result<Vec<Object>, Error> {
    let value: Value = serde_json::from_str(json).map_err(|e| Error::ReadJson {
        reason: e.to_string(),
    })?;
    let items = match value {
        Value::Object(mut m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
            match m.remove("items") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(Error::ReadJson {
                        reason: "a List without an items array".to_owned(),
                    });
                }
            }
        }
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| Object::from_json_value(i + 1, v, set))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_found() {
        let input = serde_json::json!({"a": {"b": 1, "typo": 2}, "n": null});
        let output = serde_json::json!({"a": {"b": 1}});
        assert_eq!(
            first_unknown_field(&input, &output, String::new()).as_deref(),
            Some("a.typo")
        );
        let input = serde_json::json!({"l": [{"x": 1}, {"x": 1, "y": 2}]});
        let output = serde_json::json!({"l": [{"x": 1}, {"x": 1}]});
        assert_eq!(
            first_unknown_field(&input, &output, String::new()).as_deref(),
            Some("l[1].y")
        );
        assert_eq!(first_unknown_field(&output, &output, String::new()), None);
    }
}
