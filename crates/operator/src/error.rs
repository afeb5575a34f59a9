//! Errors of the operator library. Validation problems are not errors: they become
//! conditions. These are the failures of talking to the API server, reading files and
//! running the process, each naming what was being done.

/// An operator error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("{object} has no {field}")]
    MissingField { object: String, field: &'static str },
    #[error("serialising {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Boxed: the manifest error carries several strings and would bloat every `Result`.
    #[error(transparent)]
    Manifest(Box<vmcp_api::manifest::ManifestError>),
    /// `vmcp render` input defining one object twice (the cluster would keep only the last).
    #[error("{object} is defined twice: in {first} and again in {second}")]
    Duplicate {
        object: String,
        first: String,
        second: String,
    },
    /// Objects no longer rendered that could not be deleted; each entry is (object, error).
    /// The status already names them (`OrphansPruned`); this error is what gets the
    /// reconcile retried with backoff.
    #[error("pruning for {owner}: {}", failed.iter().map(|(o, e)| format!("{o}: {e}")).collect::<Vec<_>>().join("; "))]
    Prune {
        owner: String,
        failed: Vec<(String, String)>,
    },
    #[error("leader election: {0}")]
    Leadership(String),
    #[error("health server on {addr}: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A closure wrapping a kube error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }

    /// The API server's message when it refused the object itself (422 Invalid, 400 Bad
    /// Request, or one of the two 500s that server-side apply answers when a value does not fit
    /// its type: "failed to create typed patch object", "failed to convert new object", e.g. a
    /// resource quantity that does not parse): a retry of the same write fails the same way.
    pub fn rejected_object(&self) -> Option<(&str, &str)> {
        match self {
            Error::Kube {
                action,
                source: kube::Error::Api(s),
            } if s.code == 422
                || s.code == 400
                || (s.code == 500
                    && (s.message.starts_with("failed to create typed patch object")
                        || s.message.starts_with("failed to convert new object"))) =>
            {
                Some((action.as_str(), s.message.as_str()))
            }
            _ => None,
        }
    }

    /// Whether the API answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(s), .. } if s.code == 404)
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } | Error::Prune { .. } => "kube",
            Error::MissingField { .. } => "missing_field",
            Error::Serialize { .. } => "serialize",
            Error::Io { .. } => "io",
            Error::Manifest(_) | Error::Duplicate { .. } => "manifest",
            Error::Leadership(_) => "leadership",
            Error::Serve { .. } => "serve",
        }
    }
}

impl From<vmcp_api::manifest::ManifestError> for Error {
    fn from(e: vmcp_api::manifest::ManifestError) -> Self {
        Error::Manifest(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The name and namespace of a namespaced object, or the error saying which one is missing.
pub fn name_and_namespace<K>(obj: &K) -> Result<(String, String)>
where
    K: kube::Resource<DynamicType = ()>,
{
    let kind = K::kind(&());
    let name = obj.meta().name.clone().ok_or_else(|| Error::MissingField {
        object: kind.to_string(),
        field: "metadata.name",
    })?;
    let ns = obj
        .meta()
        .namespace
        .clone()
        .ok_or_else(|| Error::MissingField {
            object: format!("{kind} {name}"),
            field: "metadata.namespace",
        })?;
    Ok((name, ns))
}
