//! The endpoint set, written once: `Endpoint`, `Endpoint::ALL`, each name (the
//! C symbol, the HTTP path segment, the `endpoint` tag on events), the kind of
//! argument it takes, and the call tag a fatal-error report names. Below every
//! room that names an endpoint (the api, the event builder), above none.

/// The table. A test checks it against
/// `ffi.rs`, `jni.rs`, `cbindgen.toml` and the header; `bindings/README.md`
/// has the checklist for adding an endpoint.
macro_rules! endpoints {
    ($($name:ident: $kind:ident),* $(,)?) => {
        /// Every export.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint {
            $($name),*
        }

        impl Endpoint {
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$name),*];

            pub const fn name(self) -> &'static str {
                match self {
                    $(Endpoint::$name => stringify!($name)),*
                }
            }

            pub const fn arg_kind(self) -> ArgKind {
                match self {
                    $(Endpoint::$name => ArgKind::$kind),*
                }
            }
        }
    };
}

endpoints! {
    InitializeApplication: Json,
    ToggleCentralizedMetrics: Json,
    CentralizedMetricsInfo: None,
    IntendedPanic: Text,
    IntendedBackgroundPanic: Text,
    FlushPanicReports: Int,
    PanicReports: Json,
    DeletePanicReports: Json,
    NextPanicReport: Json,
    PanicReportOutcome: Json,
}

/// What an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Nothing.
    None,
    /// A JSON object, as text.
    Json,
    /// Plain text.
    Text,
    /// A number.
    Int,
}

/// An endpoint's argument, decoded from the host's representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    None,
    Str(&'a str),
    Int(i64),
}

impl Arg<'_> {
    /// The argument as text, for the API log.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Arg::None => None,
            Arg::Str(s) => Some((*s).to_owned()),
            Arg::Int(n) => Some(n.to_string()),
        }
    }
}

impl Endpoint {
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// 1 + the index in [`Endpoint::ALL`]: the call tag a fatal-error report
    /// names (see `panics::call_tag`).
    pub const fn tag(self) -> u8 {
        self as u8 + 1
    }

    /// The endpoint of a call tag.
    pub fn from_tag(tag: u32) -> Option<Endpoint> {
        Self::ALL.get((tag as usize).checked_sub(1)?).copied()
    }
}
