//! IPVS's SCTP state machine as data (Linux `ip_vs_proto_sctp.c`, 3.11
//! and later): the chunk that decides a packet's event, three transition
//! tables (INPUT, OUTPUT, INPUT-ONLY) indexed by event and current state,
//! and the timeouts of each state.
//!
//! The states are as the real server sees the association: a client's INIT
//! makes INIT1 (a short timeout for an INIT that is never answered), its
//! retransmission INIT, the server's INIT ACK COOKIE_SENT, the client's
//! COOKIE ECHO COOKIE_REPLIED, the server's COOKIE ACK ESTABLISHED. DR and
//! TUN see only the client's side (INPUT-ONLY): there the COOKIE ECHO
//! makes ESTABLISHED. Only ESTABLISHED counts in ActiveConn.

#![forbid(unsafe_code)]

use super::state::{Direction, State, SCTP_STATES};
use crate::wire::sctp::chunk;

/// What a packet's chunk says (IPVS's `IP_VS_SCTP_*` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and every type not below.
    Data = 0,
    Init = 1,
    InitAck = 2,
    CookieEcho = 3,
    CookieAck = 4,
    Shutdown = 5,
    ShutdownAck = 6,
    ShutdownComplete = 7,
    Error = 8,
    Abort = 9,
}

/// Every event, in order.
pub const EVENTS: [Event; 10] = [
    Event::Data,
    Event::Init,
    Event::InitAck,
    Event::CookieEcho,
    Event::CookieAck,
    Event::Shutdown,
    Event::ShutdownAck,
    Event::ShutdownComplete,
    Event::Error,
    Event::Abort,
];

impl Event {
    /// The event numbered `n` (as a flow carries it); DATA past the last.
    #[inline]
    pub fn from_u8(n: u8) -> Event {
        EVENTS.get(usize::from(n)).copied().unwrap_or(Event::Data)
    }

    /// The event of a packet whose first chunk is `first` and second (when
    /// whole) `second`: an ABORT bundled after a COOKIE ECHO or COOKIE ACK
    /// decides (RFC 9260 §3.3.7 lets control chunks precede an ABORT).
    pub fn of(first: u8, second: Option<u8>) -> Event {
        let ty = match (first, second) {
            (chunk::COOKIE_ECHO | chunk::COOKIE_ACK, Some(chunk::ABORT)) => chunk::ABORT,
            _ => first,
        };
        match ty {
            chunk::INIT => Event::Init,
            chunk::INIT_ACK => Event::InitAck,
            chunk::COOKIE_ECHO => Event::CookieEcho,
            chunk::COOKIE_ACK => Event::CookieAck,
            chunk::SHUTDOWN => Event::Shutdown,
            chunk::SHUTDOWN_ACK => Event::ShutdownAck,
            chunk::SHUTDOWN_COMPLETE => Event::ShutdownComplete,
            chunk::ERROR => Event::Error,
            chunk::ABORT => Event::Abort,
            _ => Event::Data,
        }
    }
}

use State::{
    SctpClosed as CL, SctpCookie as CO, SctpCookieEchoed as CE, SctpCookieReplied as CR,
    SctpCookieSent as CS, SctpCookieWait as CW, SctpEstablished as ES, SctpInit as IN,
    SctpInit1 as I1, SctpRejected as RJ, SctpShutdownAckSent as SA, SctpShutdownReceived as SR,
    SctpShutdownSent as SS,
};

/// Rows: the events in [`Event`]'s order. Columns: NO I1 IN CS CR CW CO CE
/// ES SS SR SA RJ CL.
type Table = [[State; SCTP_STATES]; 10];

const INPUT: Table = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
    [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];

const OUTPUT: Table = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
    [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
    [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
];

const INPUT_ONLY: Table = [
    [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
    [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];

/// The state after `event` in `direction` from SCTP state `current` (a
/// state of another protocol is taken as SCTP's NONE).
pub fn transition(direction: Direction, current: State, event: Event) -> State {
    let table = match direction {
        Direction::Input => &INPUT,
        Direction::Output => &OUTPUT,
        Direction::InputOnly => &INPUT_ONLY,
    };
    let col = if current.is_sctp() {
        usize::from(current.ipvs_number())
    } else {
        0
    };
    table[event as usize][col]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::state::Timeouts;
    use Direction::*;

    fn walk(steps: &[(Direction, Event)]) -> Vec<(&'static str, u32, bool)> {
        let t = Timeouts::default();
        let mut s = State::SctpNone;
        steps
            .iter()
            .map(|&(d, e)| {
                s = transition(d, s, e);
                (s.name(), t.of(s), s.is_active())
            })
            .collect()
    }

    /// NAT sees both sides of the four-way handshake and the shutdown.
    #[test]
    fn nat_association_life() {
        let got = walk(&[
            (Input, Event::Init),
            (Output, Event::InitAck),
            (Input, Event::CookieEcho),
            (Output, Event::CookieAck),
            (Input, Event::Data),
            (Output, Event::Data),
            (Input, Event::Shutdown),
            (Output, Event::ShutdownAck),
            (Input, Event::ShutdownComplete),
        ]);
        assert_eq!(
            got,
            [
                ("INIT1", 4, false),
                ("C-SENT", 61, false),
                ("C-REPLIED", 61, false),
                ("ESTABLISHED", 900, true),
                ("ESTABLISHED", 900, true),
                ("ESTABLISHED", 900, true),
                ("S-RECEIVED", 61, false),
                ("S-ACK-SENT", 61, false),
                ("CLOSED", 61, false),
            ]
        );
        // The server's SHUTDOWN ACK after its own SHUTDOWN closes.
        assert_eq!(
            transition(Output, State::SctpEstablished, Event::Shutdown),
            SS
        );
        assert_eq!(transition(Input, SS, Event::ShutdownAck), CL);
    }

    /// DR and TUN see the client only: its COOKIE ECHO establishes, its
    /// SHUTDOWN COMPLETE after a SHUTDOWN (received from the server, but
    /// the state says the client's) closes.
    #[test]
    fn dr_association_life() {
        let got = walk(&[
            (InputOnly, Event::Init),
            (InputOnly, Event::Init),
            (InputOnly, Event::CookieEcho),
            (InputOnly, Event::Data),
            (InputOnly, Event::Shutdown),
            (InputOnly, Event::ShutdownComplete),
        ]);
        let names: Vec<_> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            names,
            [
                "INIT1",
                "INIT",
                "ESTABLISHED",
                "ESTABLISHED",
                "S-RECEIVED",
                "CLOSED"
            ]
        );
        assert_eq!(got[0].1, 4, "an unanswered INIT goes in 4 s");
        assert_eq!(got[5].1, 61);
    }

    /// An INIT answered with ABORT (NAT: the server's) is REJECTED for 4
    /// s; an ABORT anywhere else closes.
    #[test]
    fn aborts() {
        assert_eq!(transition(Output, I1, Event::Abort), RJ);
        assert_eq!(Timeouts::default().of(RJ), 4);
        for d in [Input, Output, InputOnly] {
            assert_eq!(transition(d, ES, Event::Abort), CL);
        }
        // A new INIT on a REJECTED or CLOSED entry starts again.
        assert_eq!(transition(Input, RJ, Event::Init), IN);
        assert_eq!(transition(InputOnly, CL, Event::Init), IN);
    }

    /// Which chunk decides, as IPVS reads it.
    #[test]
    fn events_from_chunks() {
        assert_eq!(Event::of(chunk::INIT, None), Event::Init);
        assert_eq!(Event::of(chunk::SACK, Some(chunk::DATA)), Event::Data);
        assert_eq!(Event::of(chunk::HEARTBEAT, None), Event::Data);
        assert_eq!(Event::of(0x80, None), Event::Data, "unknown types are data");
        assert_eq!(
            Event::of(chunk::COOKIE_ECHO, Some(chunk::ABORT)),
            Event::Abort
        );
        assert_eq!(
            Event::of(chunk::COOKIE_ACK, Some(chunk::ABORT)),
            Event::Abort
        );
        assert_eq!(
            Event::of(chunk::COOKIE_ECHO, Some(chunk::DATA)),
            Event::CookieEcho
        );
        assert_eq!(Event::of(chunk::SACK, Some(chunk::ABORT)), Event::Data);
        assert_eq!(
            Event::of(chunk::SHUTDOWN_COMPLETE, None),
            Event::ShutdownComplete
        );
    }

    /// Every state maps to its IPVS number and back, and the tables only
    /// ever lead to SCTP states.
    #[test]
    fn numbering_and_closure() {
        for n in 0..SCTP_STATES as u8 {
            let s = State::sctp(n).unwrap();
            assert!(s.is_sctp());
            assert_eq!(s.ipvs_number(), n);
            for d in [Input, Output, InputOnly] {
                for (i, e) in EVENTS.into_iter().enumerate() {
                    assert_eq!(Event::from_u8(i as u8), e);
                    assert!(transition(d, s, e).is_sctp());
                }
            }
        }
        assert_eq!(State::sctp(14), None);
        assert_eq!(State::SctpEstablished.ipvs_number(), 8);
    }
}
