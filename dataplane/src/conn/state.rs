//! The IPVS TCP state machine as data (`spec/conn.md` §2): three constant
//! transition tables (INPUT, OUTPUT, INPUT-ONLY) indexed by event and current
//! state, and a timeout table. UDP has one state. SCTP's states follow
//! TCP's in [`State`]; their table is `sctp.rs`.

#![forbid(unsafe_code)]

/// Connection states, numbered as IPVS numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
    /// The single UDP state.
    Udp = 11,
    // SCTP's, IPVS's `IP_VS_SCTP_S_*` in its order from 12 on (the SCTP
    // number is `self as u8 - SCTP_BASE`).
    SctpNone = 12,
    SctpInit1 = 13,
    SctpInit = 14,
    SctpCookieSent = 15,
    SctpCookieReplied = 16,
    SctpCookieWait = 17,
    SctpCookie = 18,
    SctpCookieEchoed = 19,
    SctpEstablished = 20,
    SctpShutdownSent = 21,
    SctpShutdownReceived = 22,
    SctpShutdownAckSent = 23,
    SctpRejected = 24,
    SctpClosed = 25,
}

/// Where SCTP's states start in [`State`].
pub const SCTP_BASE: u8 = 12;
/// How many SCTP states IPVS has.
pub const SCTP_STATES: usize = 14;

pub const TCP_STATES: [State; 11] = [
    State::None,
    State::Established,
    State::SynSent,
    State::SynRecv,
    State::FinWait,
    State::TimeWait,
    State::Close,
    State::CloseWait,
    State::LastAck,
    State::Listen,
    State::SynAck,
];

impl State {
    /// The name ipvsadm prints.
    pub fn name(self) -> &'static str {
        match self {
            State::None => "NONE",
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait => "FIN_WAIT",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Listen => "LISTEN",
            State::SynAck => "SYNACK",
            State::Udp => "UDP",
            // The kernel's `sctp_state_name_table`.
            State::SctpNone => "NONE",
            State::SctpInit1 => "INIT1",
            State::SctpInit => "INIT",
            State::SctpCookieSent => "C-SENT",
            State::SctpCookieReplied => "C-REPLIED",
            State::SctpCookieWait => "C-WAIT",
            State::SctpCookie => "COOKIE",
            State::SctpCookieEchoed => "C-ECHOED",
            State::SctpEstablished => "ESTABLISHED",
            State::SctpShutdownSent => "S-SENT",
            State::SctpShutdownReceived => "S-RECEIVED",
            State::SctpShutdownAckSent => "S-ACK-SENT",
            State::SctpRejected => "REJECTED",
            State::SctpClosed => "CLOSED",
        }
    }

    /// Counted in ActiveConn (otherwise InActConn): SCTP only when
    /// ESTABLISHED (IPVS's `set_sctp_state`).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            State::Established
                | State::SynSent
                | State::SynRecv
                | State::SynAck
                | State::SctpEstablished
        )
    }

    /// An SCTP state.
    #[inline]
    pub fn is_sctp(self) -> bool {
        self as u8 >= SCTP_BASE
    }

    /// The SCTP state IPVS numbers `n` (0..14), `None` past them.
    pub fn sctp(n: u8) -> Option<State> {
        (usize::from(n) < SCTP_STATES).then(|| State::from_u8(SCTP_BASE + n))
    }

    /// The number IPVS gives the state within its protocol (sync
    /// messages): TCP's as they are, UDP's 0, SCTP's from 0.
    pub fn ipvs_number(self) -> u8 {
        match self {
            State::Udp => 0,
            s if s.is_sctp() => s as u8 - SCTP_BASE,
            s => s as u8,
        }
    }

    pub fn from_u8(v: u8) -> State {
        match v {
            0 => State::None,
            1 => State::Established,
            2 => State::SynSent,
            3 => State::SynRecv,
            4 => State::FinWait,
            5 => State::TimeWait,
            6 => State::Close,
            7 => State::CloseWait,
            8 => State::LastAck,
            9 => State::Listen,
            10 => State::SynAck,
            12 => State::SctpNone,
            13 => State::SctpInit1,
            14 => State::SctpInit,
            15 => State::SctpCookieSent,
            16 => State::SctpCookieReplied,
            17 => State::SctpCookieWait,
            18 => State::SctpCookie,
            19 => State::SctpCookieEchoed,
            20 => State::SctpEstablished,
            21 => State::SctpShutdownSent,
            22 => State::SctpShutdownReceived,
            23 => State::SctpShutdownAckSent,
            24 => State::SctpRejected,
            25 => State::SctpClosed,
            _ => State::Udp,
        }
    }
}

/// Which table a segment uses (`spec/conn.md` §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to real server, NAT.
    Input,
    /// Real server to client (NAT only).
    Output,
    /// Client to real server while no reply was seen: always for DR/TUN.
    InputOnly,
}

/// What a segment's flags say, first match wins: RST, SYN, FIN, ACK; a
/// segment with none of the four is [`Event::Null`] and closes the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Syn = 0,
    Fin = 1,
    Ack = 2,
    Rst = 3,
    Null = 4,
}

impl Event {
    pub fn classify(flags: u8) -> Event {
        use crate::wire::tcp::flags::*;
        if flags & RST != 0 {
            Event::Rst
        } else if flags & SYN != 0 {
            Event::Syn
        } else if flags & FIN != 0 {
            Event::Fin
        } else if flags & ACK != 0 {
            Event::Ack
        } else {
            Event::Null
        }
    }
}

use State::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

/// Rows: syn, fin, ack, rst. Columns: NO ES SS SR FW TW CL CW LA LI SA.
type Table = [[State; 11]; 4];

const INPUT: Table = [
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];

const OUTPUT: Table = [
    [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

const INPUT_ONLY: Table = [
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

// `secure_tcp`'s table (the kernel's `tcp_states_dos`): NAT's ESTABLISHED
// waits for the whole handshake (an INPUT ack in SR stays SR, the real
// server's SYN+ACK in SR makes SA), DR/TUN's first SYN makes SA.
const INPUT_DOS: Table = [
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
    [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

const OUTPUT_DOS: Table = [
    [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

const INPUT_ONLY_DOS: Table = [
    [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The state after `event` in `direction` from TCP state `current`.
pub fn tcp_transition(direction: Direction, current: State, event: Event) -> State {
    tcp_transition_in(false, direction, current, event)
}

/// The same, by the secure table when `secure` (`secure_tcp` in force).
#[inline]
pub fn tcp_transition_in(
    secure: bool,
    direction: Direction,
    current: State,
    event: Event,
) -> State {
    debug_assert!(
        current != State::Udp && !current.is_sctp(),
        "UDP and SCTP entries have no TCP transitions"
    );
    if event == Event::Null {
        return State::Close;
    }
    let table = match (secure, direction) {
        (false, Direction::Input) => &INPUT,
        (false, Direction::Output) => &OUTPUT,
        (false, Direction::InputOnly) => &INPUT_ONLY,
        (true, Direction::Input) => &INPUT_DOS,
        (true, Direction::Output) => &OUTPUT_DOS,
        (true, Direction::InputOnly) => &INPUT_ONLY_DOS,
    };
    let col = (current as usize).min(10);
    table[event as usize][col]
}

/// The 61 s of IPVS's `IP_VS_SCTP_MAX_RTO` (RTO.Max 60 s, plus one).
const MAX_RTO_S: u32 = 61;

/// Idle timeouts in seconds by SCTP state number (IPVS's `sctp_timeouts`;
/// the states and their table are `super::sctp`'s).
pub const SCTP_TIMEOUTS_S: [u32; SCTP_STATES] = [
    2,         // NONE
    4,         // INIT1
    MAX_RTO_S, // INIT
    MAX_RTO_S, // COOKIE_SENT
    MAX_RTO_S, // COOKIE_REPLIED
    MAX_RTO_S, // COOKIE_WAIT
    MAX_RTO_S, // COOKIE
    MAX_RTO_S, // COOKIE_ECHOED
    15 * 60,   // ESTABLISHED
    MAX_RTO_S, // SHUTDOWN_SENT
    MAX_RTO_S, // SHUTDOWN_RECEIVED
    MAX_RTO_S, // SHUTDOWN_ACK_SENT
    4,         // REJECTED
    MAX_RTO_S, // CLOSED
];

/// Idle timeouts per state, in seconds (`ipvsadm --set` changes ESTABLISHED,
/// FIN_WAIT and UDP; SCTP's are IPVS's fixed `sctp_timeouts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_s: [u32; 11],
    pub udp_s: u32,
    pub sctp_s: [u32; SCTP_STATES],
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            //      NO  ES   SS   SR  FW   TW   CL  CW  LA  LI   SA
            tcp_s: [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120],
            udp_s: 300,
            sctp_s: SCTP_TIMEOUTS_S,
        }
    }
}

impl Timeouts {
    pub fn of(&self, state: State) -> u32 {
        match state {
            State::Udp => self.udp_s,
            s if s.is_sctp() => self.sctp_s[usize::from(s.ipvs_number())],
            s => self.tcp_s[s as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `secure_tcp`'s table: the cells `spec/conn.md` §2.3 names, and the
    /// rest as the normal table where the kernel's two agree.
    #[test]
    fn the_secure_table_delays_established() {
        use Direction::*;
        use Event::*;
        // NAT: the client's ACK in SYN_RECV stays there until the real
        // server's SYN+ACK is seen (SYNACK), then ESTABLISHED.
        assert_eq!(tcp_transition_in(true, Input, SR, Ack), SR);
        assert_eq!(tcp_transition(Input, SR, Ack), ES);
        assert_eq!(tcp_transition_in(true, Output, SR, Syn), SA);
        assert_eq!(tcp_transition_in(true, Input, SA, Ack), SA);
        assert_eq!(tcp_transition_in(true, Output, SA, Ack), ES);
        // DR/TUN: the first SYN makes SYNACK, the handshake's ACK ES.
        assert_eq!(tcp_transition_in(true, InputOnly, State::None, Syn), SA);
        assert_eq!(tcp_transition_in(true, InputOnly, SA, Ack), ES);
        // Both tables agree on the established and closing rows.
        for dir in [Input, Output, InputOnly] {
            for ev in [Fin, Ack, Rst] {
                for cur in [ES, FW, TW, CL, CW, LA] {
                    assert_eq!(
                        tcp_transition_in(true, dir, cur, ev),
                        tcp_transition(dir, cur, ev),
                        "{dir:?} {ev:?} {cur:?}"
                    );
                }
            }
        }
        assert_eq!(tcp_transition_in(true, Input, ES, Null), State::Close);
    }

    /// Every cell of the three tables, written out again from the spec's
    /// tables (`spec/conn.md` §2.3) as strings, walked one by one.
    #[test]
    fn every_cell_matches_the_spec() {
        let spec: [(Direction, [&str; 4]); 3] = [
            (
                Direction::Input,
                [
                    "SR ES ES SR SR SR SR SR SR SR SR",
                    "CL CW SS TW TW TW CL CW LA LI TW",
                    "ES ES SS ES FW TW CL CW CL LI ES",
                    "CL CL CL SR CL CL CL CL LA LI SR",
                ],
            ),
            (
                Direction::Output,
                [
                    "SS ES SS SR SS SS SS SS SS LI SR",
                    "TW FW SS TW FW TW CL TW LA LI TW",
                    "ES ES SS ES FW TW CL CW LA ES ES",
                    "CL CL SS CL CL TW CL CL CL CL CL",
                ],
            ),
            (
                Direction::InputOnly,
                [
                    "SR ES ES SR SR SR SR SR SR SR SR",
                    "CL FW SS TW FW TW CL CW LA LI TW",
                    "ES ES SS ES FW TW CL CW CL LI ES",
                    "CL CL CL SR CL CL CL CL LA LI CL",
                ],
            ),
        ];
        let abbrev = |s: State| match s {
            State::None => "NO",
            State::Established => "ES",
            State::SynSent => "SS",
            State::SynRecv => "SR",
            State::FinWait => "FW",
            State::TimeWait => "TW",
            State::Close => "CL",
            State::CloseWait => "CW",
            State::LastAck => "LA",
            State::Listen => "LI",
            State::SynAck => "SA",
            State::Udp => "UDP",
            s => s.name(),
        };
        let events = [Event::Syn, Event::Fin, Event::Ack, Event::Rst];
        let mut cells = 0;
        for (dir, rows) in spec {
            for (ev, row) in events.iter().zip(rows) {
                for (cur, want) in TCP_STATES.iter().zip(row.split(' ')) {
                    assert_eq!(
                        abbrev(tcp_transition(dir, *cur, *ev)),
                        want,
                        "{dir:?} {ev:?} from {cur:?}"
                    );
                    cells += 1;
                }
            }
            for cur in TCP_STATES {
                assert_eq!(tcp_transition(dir, cur, Event::Null), State::Close);
            }
        }
        assert_eq!(cells, 3 * 4 * 11);
    }

    #[test]
    fn classification_order() {
        use crate::wire::tcp::flags::*;
        assert_eq!(Event::classify(SYN | ACK), Event::Syn);
        assert_eq!(Event::classify(FIN | ACK), Event::Fin);
        assert_eq!(Event::classify(RST | ACK), Event::Rst);
        assert_eq!(Event::classify(RST | SYN), Event::Rst);
        assert_eq!(Event::classify(ACK | PSH), Event::Ack);
        assert_eq!(Event::classify(PSH), Event::Null);
    }

    #[test]
    fn dr_trace_of_the_spec() {
        // spec/conn.md §2.4, DR: SYN, ACK, FIN+ACK, ACK.
        let t = Timeouts::default();
        let mut s = State::None;
        let mut trace = vec![];
        for ev in [Event::Syn, Event::Ack, Event::Fin, Event::Ack] {
            s = tcp_transition(Direction::InputOnly, s, ev);
            trace.push((s, t.of(s), s.is_active()));
        }
        assert_eq!(
            trace,
            vec![
                (State::SynRecv, 60, true),
                (State::Established, 900, true),
                (State::FinWait, 120, false),
                (State::FinWait, 120, false),
            ]
        );
    }
}
