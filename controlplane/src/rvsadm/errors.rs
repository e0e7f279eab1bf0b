//! The dataplane's refusals in ipvsadm's words.
//!
//! Contract: [`error_text`] maps an [`ApiError`] to what ipvsadm's
//! `ipvs_strerror()` prints for the same errno from the same call: first the
//! per-command texts ("Service already exists", "No such destination", ...),
//! then ERANGE's for a dest whose lower threshold is above its upper one
//! (the kernel's check), then the generic ones, else the C library's `strerror` text. Where the
//! dataplane explains an `Invalid`, `NotSupported` or `NoMemory` refusal, its
//! explanation is more useful than the generic text and is printed instead.
//! `Version` and `BadRequest` have no errno; they get rvsadm's own texts.

use rvs_api::{ApiError, ErrorKind, Request};

use super::command::Command;

/// What ipvsadm would print for `err` answering `command`.
pub fn error_text(command: &Command, err: &ApiError) -> String {
    use ErrorKind as K;
    use Request as R;
    let specific = match (command, err.kind) {
        (Command::List { .. }, K::NoService) => Some("No such service"),
        (Command::Change(request), kind) => match (request, kind) {
            (R::AddService { .. }, K::Exists) => Some("Service already exists"),
            (R::AddService { .. } | R::EditService { .. }, K::NotFound) => {
                Some("Scheduler or persistence engine not found")
            }
            (R::EditService { .. } | R::DelService { .. } | R::Zero { .. }, K::NoService) => {
                Some("No such service")
            }
            (R::AddDest { .. } | R::EditDest { .. } | R::DelDest { .. }, K::NoService) => {
                Some("Service not defined")
            }
            (R::AddDest { .. }, K::Exists) => Some("Destination already exists"),
            (R::EditDest { .. } | R::DelDest { .. }, K::NotFound) => Some("No such destination"),
            (R::AddMarkRule(_), K::Exists) => Some("Rule already exists"),
            (R::DelMarkRule(_) | R::DelMarkRules { .. }, K::NotFound) => Some("No such rule"),
            _ => None,
        },
        _ => None,
    };
    if let Some(text) = specific {
        return text.to_string();
    }
    // The kernel refuses a lower threshold above the upper one with ERANGE,
    // which ipvs_strerror() leaves to strerror().
    if let (Command::Change(R::AddDest { dest, .. } | R::EditDest { dest, .. }), K::Invalid) =
        (command, err.kind)
    {
        if dest.l_threshold > dest.u_threshold {
            return "Numerical result out of range".to_string();
        }
    }
    let explained = !err.message.is_empty();
    match err.kind {
        K::Invalid | K::NotSupported | K::NoMemory if explained => err.message.clone(),
        K::Invalid => {
            "Invalid operation.  Possibly wrong module version, address not unicast, ...".into()
        }
        K::NotSupported => "Operation not supported with IPv6".into(),
        K::NoMemory => "Memory allocation problem".into(),
        K::Exists => "File exists".into(),
        K::NoService => "No such process".into(),
        K::NotFound => "No such file or directory".into(),
        K::Version => format!(
            "rvsadm: the dataplane speaks another admin API version: {}",
            err.message
        ),
        K::BadRequest => format!(
            "rvsadm: the dataplane could not read the request: {}",
            err.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rvs_api::{DestConfig, Forward, Protocol, ServiceConfig, ServiceKey};

    use super::*;

    fn key() -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: SocketAddr::from(([192, 0, 2, 1], 80)),
        }
    }

    fn config() -> ServiceConfig {
        ServiceConfig::new("wlc")
    }

    fn dest() -> DestConfig {
        DestConfig {
            addr: SocketAddr::from(([192, 0, 2, 11], 80)),
            forward: Forward::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Default::default(),
        }
    }

    fn text(command: &Command, kind: ErrorKind, message: &str) -> String {
        error_text(command, &ApiError::new(kind, message))
    }

    #[test]
    fn per_command_texts() {
        let add = Command::Change(Request::AddService {
            key: key(),
            config: config(),
        });
        let edit = Command::Change(Request::EditService {
            key: key(),
            config: config(),
        });
        let del = Command::Change(Request::DelService { key: key() });
        let zero = Command::Change(Request::Zero {
            service: Some(key()),
        });
        let add_dest = Command::Change(Request::AddDest {
            service: key(),
            dest: dest(),
        });
        let edit_dest = Command::Change(Request::EditDest {
            service: key(),
            dest: dest(),
        });
        let del_dest = Command::Change(Request::DelDest {
            service: key(),
            addr: dest().addr,
        });
        // The dataplane's message does not replace these texts.
        let cases = [
            (&add, ErrorKind::Exists, "Service already exists"),
            (
                &add,
                ErrorKind::NotFound,
                "Scheduler or persistence engine not found",
            ),
            (
                &edit,
                ErrorKind::NotFound,
                "Scheduler or persistence engine not found",
            ),
            (&edit, ErrorKind::NoService, "No such service"),
            (&del, ErrorKind::NoService, "No such service"),
            (&zero, ErrorKind::NoService, "No such service"),
            (&add_dest, ErrorKind::NoService, "Service not defined"),
            (&edit_dest, ErrorKind::NoService, "Service not defined"),
            (&del_dest, ErrorKind::NoService, "Service not defined"),
            (&add_dest, ErrorKind::Exists, "Destination already exists"),
            (&edit_dest, ErrorKind::NotFound, "No such destination"),
            (&del_dest, ErrorKind::NotFound, "No such destination"),
        ];
        for (command, kind, want) in cases {
            assert_eq!(text(command, kind, "detail"), want, "{command:?} {kind:?}");
        }
    }

    #[test]
    fn generic_texts_and_dataplane_messages() {
        let add = Command::Change(Request::AddService {
            key: key(),
            config: config(),
        });
        let clear = Command::Change(Request::Clear);
        let del = Command::Change(Request::DelService { key: key() });
        let cases = [
            (
                &add,
                ErrorKind::Invalid,
                "",
                "Invalid operation.  Possibly wrong module version, address not unicast, ...",
            ),
            (
                &add,
                ErrorKind::Invalid,
                "weight over 65535",
                "weight over 65535",
            ),
            (
                &add,
                ErrorKind::NotSupported,
                "",
                "Operation not supported with IPv6",
            ),
            (&add, ErrorKind::NotSupported, "no GRE yet", "no GRE yet"),
            (&add, ErrorKind::NoMemory, "", "Memory allocation problem"),
            (
                &add,
                ErrorKind::NoMemory,
                "service table full",
                "service table full",
            ),
            (&clear, ErrorKind::NoService, "x", "No such process"),
            (&del, ErrorKind::NotFound, "x", "No such file or directory"),
            (&clear, ErrorKind::Exists, "x", "File exists"),
        ];
        for (command, kind, message, want) in cases {
            assert_eq!(text(command, kind, message), want, "{command:?} {kind:?}");
        }
        assert!(text(&add, ErrorKind::Version, "v2").contains("v2"));
        assert!(text(&add, ErrorKind::BadRequest, "eof").contains("eof"));
    }
}
