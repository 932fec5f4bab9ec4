//! `-i IFACE`: the access-point step of the original program. A name, an
//! index or an address picks an interface; `?` shows a menu; nothing means
//! automatic selection.

use std::io::{self, IsTerminal, Read, Write};

use log::info;
use mcast::{
    check, find, interfaces, select, Family, Interface, Purpose, Rejection, Selection, Verdict,
};

use super::output::CliError;
use super::signals;

/// The purpose `--broadcast` asks for.
pub(crate) fn purpose(broadcast: bool) -> Purpose {
    if broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    }
}

/// This host's interfaces, or the failure to list them.
pub(crate) fn list() -> Result<Vec<Interface>, CliError> {
    interfaces().map_err(|e| CliError::failure(format!("cannot list the network interfaces: {e}")))
}

/// What the person asked for with `-i`.
pub(crate) fn choose(
    spec: Option<&str>,
    family: Family,
    purpose: Purpose,
) -> Result<Interface, CliError> {
    let list = list()?;
    let what = match purpose {
        Purpose::Multicast => format!("{family} multicast"),
        Purpose::Broadcast => "IPv4 broadcast".to_owned(),
    };
    match spec {
        None => {
            let selection = select(&list, family, purpose);
            match selection.chosen() {
                Some(i) => {
                    info!("selected {i}: {}", selection.reason());
                    Ok(i.clone())
                }
                None => Err(CliError::usage(format!(
                    "no interface qualifies for {what} ({}); name one with -i, e.g. -i lo",
                    verdict_list(&selection)
                ))),
            }
        }
        Some("?") => {
            let stdin = io::stdin();
            if !stdin.is_terminal() {
                return Err(CliError::usage(
                    "-i ? shows a menu and needs a terminal; give a name, an index or an address instead (see `mcast ifaces`)",
                ));
            }
            let eligible: Vec<&Interface> = list
                .iter()
                .filter(|i| check(i, family, purpose, true).is_ok())
                .collect();
            let default = select(&list, family, purpose)
                .chosen()
                .map(Interface::index);
            let mut input = stdin.lock();
            let i = menu(
                &eligible,
                default,
                &what,
                &mut || typed_line(&mut input, &signals::interrupted),
                &mut io::stderr(),
            )?;
            info!("selected {i} from the menu");
            Ok(i.clone())
        }
        Some(spec) => {
            let iface = find(&list, spec).map_err(CliError::usage)?;
            check(iface, family, purpose, true).map_err(|r| {
                CliError::usage(format!(
                    "interface {iface} cannot be used for {what}: {}",
                    rejection_text(&r, iface.name())
                ))
            })?;
            info!("using {iface}, as named");
            Ok(iface.clone())
        }
    }
}

/// Why the interface named `iface` cannot be used, as a person reads it:
/// the library's [`Rejection::describe`], and for loopback how to name it
/// here (`-i lo`), which only the CLI knows.
pub(crate) fn rejection_text(r: &Rejection, iface: &str) -> String {
    let mut text = r.describe(iface);
    if matches!(r, Rejection::Loopback) {
        text.push_str(" (-i lo)");
    }
    text
}

/// Every interface of `selection` with why it was not picked:
/// `lo: loopback is used only when named (-i lo); wlan0: it is down (…)`.
pub(crate) fn verdict_list(selection: &Selection<'_>) -> String {
    let why: Vec<String> = selection
        .verdicts()
        .iter()
        .map(|(i, v)| match v {
            Verdict::Rejected(r) => format!("{}: {}", i.name(), rejection_text(r, i.name())),
            Verdict::Chosen => i.name().to_owned(),
        })
        .collect();
    why.join("; ")
}

/// What was typed at the prompt.
#[derive(Debug, PartialEq, Eq)]
enum Typed {
    /// A line (without its newline).
    Line(String),
    /// End of input: Ctrl-D on a terminal.
    End,
    /// Ctrl-C (or SIGTERM) while waiting.
    Interrupted,
}

/// Reads one line. Unlike `read_line`, which retries when a signal
/// interrupts the read, it gives up at once when `stop()` says a signal
/// came: so Ctrl-C at the prompt ends mcast without waiting for Enter.
fn typed_line(input: &mut dyn Read, stop: &dyn Fn() -> bool) -> Typed {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) if line.is_empty() => return Typed::End,
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if stop() {
                    return Typed::Interrupted;
                }
            }
            Err(_) => return Typed::End,
        }
    }
    Typed::Line(String::from_utf8_lossy(&line).into_owned())
}

/// Shows the numbered menu on `out` and reads the choice with `read`.
/// Enter takes the automatic choice; Ctrl-C ends mcast (exit code 130),
/// Ctrl-D is bad input (exit code 2), each on a line of its own.
fn menu<'a>(
    eligible: &[&'a Interface],
    default: Option<mcast::InterfaceIndex>,
    what: &str,
    read: &mut dyn FnMut() -> Typed,
    out: &mut dyn Write,
) -> Result<&'a Interface, CliError> {
    if eligible.is_empty() {
        return Err(CliError::usage(format!(
            "no interface can be used for {what}; see `mcast ifaces`"
        )));
    }
    let default_pos = eligible.iter().position(|i| Some(i.index()) == default);
    let _ = writeln!(out, "Choose the interface for {what}:");
    for (n, i) in eligible.iter().enumerate() {
        let addrs: Vec<String> = i.addresses().iter().map(ToString::to_string).collect();
        let mark = if Some(n) == default_pos {
            "  (automatic choice)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:>2}) {:<12} [{}]  {}{mark}",
            n + 1,
            i.name(),
            i.flags().names().join(","),
            addrs.join(", ")
        );
    }
    for _ in 0..3 {
        match default_pos {
            Some(d) => {
                let _ = write!(out, "Number [{}]: ", d + 1);
            }
            None => {
                let _ = write!(out, "Number: ");
            }
        }
        let _ = out.flush();
        let answer = match read() {
            Typed::Line(l) => l,
            Typed::End => {
                // The error goes on a line of its own, not after the prompt.
                let _ = writeln!(out);
                return Err(CliError::usage("no interface chosen (end of input)"));
            }
            Typed::Interrupted => {
                let _ = writeln!(out);
                return Err(CliError::interrupted());
            }
        };
        let answer = answer.trim();
        if answer.is_empty() {
            if let Some(d) = default_pos {
                return Ok(eligible[d]);
            }
        } else if let Some(i) = answer
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| eligible.get(n))
        {
            return Ok(i);
        } else if let Some(i) = eligible.iter().find(|i| i.name() == answer) {
            return Ok(i);
        }
        let _ = writeln!(out, "'{answer}' is not one of 1-{}", eligible.len());
    }
    Err(CliError::usage("no valid interface chosen"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcast::{Address, Flags, InterfaceIndex};

    fn list() -> Vec<Interface> {
        let lan = Flags::UP | Flags::RUNNING | Flags::MULTICAST | Flags::BROADCAST;
        vec![
            Interface::new(
                InterfaceIndex::new(1).unwrap(),
                "lo",
                Flags::UP | Flags::LOOPBACK,
            )
            .with_address(Address::new("127.0.0.1".parse().unwrap(), 8)),
            Interface::new(InterfaceIndex::new(3).unwrap(), "wlan0", lan)
                .with_address(Address::new("198.18.1.10".parse().unwrap(), 24)),
        ]
    }

    fn pick(answers: &str) -> (Result<String, String>, String) {
        let l = list();
        let refs: Vec<&Interface> = l.iter().collect();
        let mut out = Vec::new();
        let mut input = answers.as_bytes();
        let r = menu(
            &refs,
            InterfaceIndex::new(3),
            "IPv4 multicast",
            &mut || typed_line(&mut input, &|| false),
            &mut out,
        )
        .map(|i| i.name().to_owned())
        .map_err(|e| e.msg);
        (r, String::from_utf8(out).unwrap())
    }

    /// Reads like a terminal whose read a signal interrupts, `times` times.
    struct Interrupting {
        times: usize,
        then: &'static [u8],
    }

    impl Read for Interrupting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.times > 0 {
                self.times -= 1;
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            self.then.read(buf)
        }
    }

    #[test]
    fn ctrl_c_ends_the_prompt_at_once_and_ctrl_d_says_so_on_a_new_line() {
        let l = list();
        let refs: Vec<&Interface> = l.iter().collect();
        let mut out = Vec::new();
        let mut input = Interrupting {
            times: 1,
            then: b"1\n",
        };
        let e = menu(
            &refs,
            None,
            "IPv4 multicast",
            &mut || typed_line(&mut input, &|| true),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(e.code, 130);
        assert!(e.msg.is_empty());
        assert!(String::from_utf8(out).unwrap().ends_with("Number: \n"));
        // A signal that is not Ctrl-C (SIGWINCH, say) does not end it.
        let mut input = Interrupting {
            times: 2,
            then: b"2\n",
        };
        assert_eq!(
            typed_line(&mut input, &|| false),
            Typed::Line("2".to_owned())
        );
        let (r, out) = pick("");
        assert!(r.unwrap_err().contains("end of input"));
        assert!(out.ends_with("Number [2]: \n"), "{out:?}");
        // Ctrl-D after a few characters ends the line, as a shell does.
        assert_eq!(
            typed_line(&mut &b"wlan0"[..], &|| false),
            Typed::Line("wlan0".to_owned())
        );
    }

    #[test]
    fn menu_lists_and_reads_a_number() {
        let (r, out) = pick("1\n");
        assert_eq!(r.unwrap(), "lo");
        assert!(out.contains(" 1) lo"), "{out}");
        assert!(
            out.contains(" 2) wlan0") && out.contains("(automatic choice)"),
            "{out}"
        );
        assert!(out.contains("198.18.1.10/24"), "{out}");
        assert!(out.contains("Number [2]: "), "{out}");
    }

    #[test]
    fn menu_enter_takes_the_automatic_choice_and_names_work() {
        assert_eq!(pick("\n").0.unwrap(), "wlan0");
        assert_eq!(pick("wlan0\n").0.unwrap(), "wlan0");
    }

    #[test]
    fn menu_retries_then_gives_up() {
        let (r, out) = pick("9\nx\n1\n");
        assert_eq!(r.unwrap(), "lo");
        assert!(out.contains("'9' is not one of 1-2"), "{out}");
        assert!(pick("9\n9\n9\n").0.is_err());
        assert!(pick("").0.unwrap_err().contains("end of input"));
    }
}
