//! The errors of building, rendering and parsing manifests.

/// A boxed error from the YAML library, kept opaque so that its version is
/// not part of this crate's API.
pub type YamlError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors returned while describing an application ([`AppBuilder::build`],
/// [`Rolling`] and [`BlueGreen`] checks), rendering its objects, or reading
/// rendered YAML / JSON back.
///
/// Every variant names the field at fault: a builder path such as
/// `readiness.path` for an [`App`] being built, or the object and its field
/// path (`Deployment/shop spec.template.spec.containers[0].image`) for a set
/// read back from YAML.
///
/// [`AppBuilder::build`]: super::AppBuilder::build
/// [`App`]: super::App
/// [`Rolling`]: super::Rolling
/// [`BlueGreen`]: super::BlueGreen
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container image is named by a tag, which can be moved to other
    /// bytes at any time, instead of by digest.
    #[error(
        "{field}: image {image:?} is not pinned by digest; use name@sha256:<64 hex digits> \
         (a tag can be moved to other bytes, so two pods of one revision could run different \
         code), or call dangerous_allow_mutable_tag() to accept a tag"
    )]
    MutableImage {
        /// Where the image was given.
        field: String,
        /// The image reference as given.
        image: String,
    },

    /// The image reference is malformed (empty, whitespace, bad digest).
    #[error("{field}: image {image:?} is not a valid image reference: {reason}")]
    InvalidImage {
        /// Where the image was given.
        field: String,
        /// The image reference as given.
        image: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `maxSurge` and `maxUnavailable` are both zero: the rolling update
    /// could never replace a pod (the API server refuses it too).
    #[error(
        "{field}: maxSurge and maxUnavailable are both zero, so a rolling update could never \
         replace a pod; allow a surge (e.g. maxSurge 1) or some unavailability (e.g. \
         maxUnavailable 1)"
    )]
    NoRollingProgress {
        /// The strategy's field path.
        field: String,
    },

    /// An HTTP probe path does not start with `/`.
    #[error(
        "{field}: probe path {path:?} does not start with '/'; give the request path the \
         application serves, such as /api/v1/health/ready"
    )]
    ProbePath {
        /// The probe's field path.
        field: String,
        /// The path as given.
        path: String,
    },

    /// A port number is outside 1..=65535.
    #[error("{field}: port {port} is out of range; use a port from 1 to 65535")]
    PortOutOfRange {
        /// The port's field path.
        field: String,
        /// The number as given.
        port: i64,
    },

    /// A name that must be a DNS-1123 label (or, for names that become a
    /// Service name, an RFC 1035 label) is not one.
    #[error(
        "{field}: {value:?} is not a valid name ({reason}); use 1 to {max_len} lowercase \
         letters, digits and '-', starting with a letter and ending with a letter or digit"
    )]
    InvalidName {
        /// The name's field path.
        field: String,
        /// The name as given.
        value: String,
        /// What is wrong with it.
        reason: String,
        /// The longest name allowed in this place.
        max_len: usize,
    },

    /// The replica count (or the autoscaler's minimum) is below the
    /// PodDisruptionBudget's `minAvailable`: the budget could never be met,
    /// so every voluntary eviction (node drain) would be refused.
    #[error(
        "{field}: {replicas} replicas are fewer than the PodDisruptionBudget's minAvailable \
         {min_available}, so the budget could never be met and every node drain would hang; \
         lower minAvailable or raise the replicas"
    )]
    ReplicasBelowMinAvailable {
        /// The replica count's field path.
        field: String,
        /// The replica count (the autoscaler's minimum when autoscaling).
        replicas: u32,
        /// The budget's absolute `minAvailable`.
        min_available: u32,
    },

    /// Any other invalid value; the message says what is expected.
    #[error("{field}: {message}")]
    Invalid {
        /// The field path.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// Two objects of a set disagree (a selector that does not select the
    /// pod template, an autoscaler aimed at another object, a stale config
    /// checksum, ...). Reported for sets read back from YAML or JSON.
    #[error("{object}: {message}")]
    Inconsistent {
        /// The object at fault, as `Kind/name`.
        object: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// An object could not be written as YAML.
    #[error("could not write {object} as YAML")]
    WriteYaml {
        /// The object, as `Kind/name`.
        object: String,
        /// The YAML library's error.
        #[source]
        source: YamlError,
    },

    /// The set could not be written as JSON.
    #[error("could not write the manifest set as JSON")]
    WriteJson {
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// The input is not valid YAML.
    #[error("the manifest YAML cannot be read; fix the YAML syntax it points at")]
    ReadYaml {
        /// The YAML library's error (with line and column).
        #[source]
        source: YamlError,
    },

    /// The input is not valid JSON, or not a `v1` `List` of objects.
    #[error("the manifest JSON cannot be read: {reason}")]
    ReadJson {
        /// What is wrong with it.
        reason: String,
    },

    /// A document (1-based) is not a valid object of the kind it declares.
    #[error("document {document} ({kind}) is not a valid {kind}; fix or remove the field it names")]
    ReadObject {
        /// The document's 1-based position in the input.
        document: usize,
        /// The `kind` the document declares.
        kind: String,
        /// The deserialiser's error.
        #[source]
        source: serde_json::Error,
    },

    /// A document declares an `apiVersion` / `kind` this set does not hold.
    #[error(
        "document {document} is {api_version} {kind}, which a {set} does not hold; remove it \
         or keep it in a separate file"
    )]
    UnexpectedObject {
        /// The document's 1-based position in the input.
        document: usize,
        /// Its `apiVersion`, or `<none>`.
        api_version: String,
        /// Its `kind`, or `<none>`.
        kind: String,
        /// The set being read (`rolling set` or `blue-green set`).
        set: &'static str,
    },

    /// The input holds two objects where the set holds one.
    #[error("{object} appears twice; keep one")]
    DuplicateObject {
        /// The second object, as `Kind/name`.
        object: String,
    },

    /// The input lacks an object the set cannot do without.
    #[error("no {kind} in the input, but a {set} needs one")]
    MissingObject {
        /// The missing kind (and role, e.g. `preview Service`).
        kind: String,
        /// The set being read.
        set: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn inconsistent(object: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Inconsistent {
            object: object.into(),
            message: message.into(),
        }
    }
}
