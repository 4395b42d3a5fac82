//! Pairs commands with replies and tracks the connection's modes
//! (RESP version, pub/sub, MONITOR, CLIENT REPLY).

use std::collections::VecDeque;

use model::events::redis::{RedisAuth, RedisCommand, RedisEvent, RedisPush};
use model::{Direction, Timestamp};

use super::commands;
use super::parser::{text, text_owned, Message};
use crate::protocols::Ctx;

/// Commands waiting for their reply; beyond this the oldest is emitted
/// without one (Redis suggests batches of 10k).
const MAX_PENDING: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ReplyMode {
    #[default]
    On,
    Off,
    SkipNext,
}

struct Pending {
    ts: Timestamp,
    command: RedisCommand,
    expects_reply: bool,
    /// For the (un)subscribe commands: answered by confirmation pushes
    /// rather than a reply (or by an error reply, such as `NOAUTH`).
    confirm: Option<Confirm>,
    auth: Option<RedisAuth>,
}

/// Confirmations a (un)subscribe command still waits for.
struct Confirm {
    /// The push kind: the command name in lower case.
    kind: String,
    /// One per channel named; `None` (unsubscribe from all): until the
    /// count of remaining subscriptions is 0.
    left: Option<usize>,
}

#[derive(Default)]
pub struct Session {
    queue: VecDeque<Pending>,
    resp3: bool,
    /// A pub/sub command was sent (RESP2): arrays headed `message`,
    /// `subscribe`, … are pushes, not replies.
    pubsub: bool,
    /// `MONITOR` was answered: status lines with a timestamp are pushes.
    monitor: bool,
    reply_mode: ReplyMode,
    unmatched: u64,
    overflowed: bool,
}

/// First elements of RESP2 pub/sub messages.
const PUBSUB_KINDS: &[&[u8]] = &[
    b"message",
    b"pmessage",
    b"smessage",
    b"subscribe",
    b"psubscribe",
    b"ssubscribe",
    b"unsubscribe",
    b"punsubscribe",
    b"sunsubscribe",
];

impl Session {
    /// A client message: queue it as a command.
    pub fn command(&mut self, msg: Message, ts: Timestamp, ctx: &mut Ctx<'_>) {
        let mut items = msg.items.into_iter();
        let Some(mut first) = items.next() else {
            return; // `*0`, `*-1`: Redis ignores them
        };
        first.make_ascii_uppercase();
        let name = text_owned(first);
        let args: Vec<String> = items.map(text_owned).collect();
        let key = commands::key_index(&name, &args).and_then(|i| args.get(i).cloned());
        let expects_reply = self.expects_reply(&name, &args);
        let confirm = confirmation_kind(&name)
            .filter(|_| expects_reply)
            .map(|kind| Confirm {
                kind: kind.to_string(),
                left: (!args.is_empty()).then_some(args.len()),
            });
        let auth = auth_of(&name, &args);
        let command = RedisCommand {
            name,
            args,
            reply: None,
            success: None,
            key,
            inline: msg.kind == b' ',
            truncated: msg.items_truncated,
            reply_truncated: false,
        };
        if self.queue.len() >= MAX_PENDING {
            if !self.overflowed {
                self.overflowed = true;
                ctx.anomaly(
                    "redis",
                    "excessive_pipelining",
                    format!("more than {MAX_PENDING} commands without reply"),
                    Some(Direction::ToServer),
                );
            }
            if let Some(oldest) = self.queue.pop_front() {
                emit(oldest, ctx);
            }
        }
        self.queue.push_back(Pending {
            confirm,
            ts,
            command,
            expects_reply,
            auth,
        });
        self.flush_unanswerable(ctx);
    }

    /// Whether the server will answer this command in order, and the mode
    /// changes the command itself makes.
    fn expects_reply(&mut self, name: &str, args: &[String]) -> bool {
        let is_client_reply = name == "CLIENT"
            && args
                .first()
                .is_some_and(|s| s.eq_ignore_ascii_case("REPLY"));
        if is_client_reply {
            let mode = args.get(1).map(|s| s.to_ascii_uppercase());
            match mode.as_deref() {
                Some("ON") => {
                    self.reply_mode = ReplyMode::On;
                    return true;
                }
                Some("OFF") => {
                    self.reply_mode = ReplyMode::Off;
                    return false;
                }
                Some("SKIP") => {
                    if self.reply_mode == ReplyMode::On {
                        self.reply_mode = ReplyMode::SkipNext;
                    }
                    return false;
                }
                _ => {}
            }
        }
        match self.reply_mode {
            ReplyMode::Off => return false,
            ReplyMode::SkipNext => {
                self.reply_mode = ReplyMode::On;
                return false;
            }
            ReplyMode::On => {}
        }
        if confirmation_kind(name).is_some() {
            self.pubsub = true;
        }
        true
    }

    /// A server message: a push, or the reply to the oldest command that
    /// expects one.
    pub fn reply(&mut self, msg: Message, ctx: &mut Ctx<'_>) {
        if let Some(kind) = self.push_kind(&msg) {
            // The last element of a confirmation is how many subscriptions
            // remain.
            let none_left = msg.items.last().map(|c| c.as_slice()) == Some(b"0");
            let unsubscribe = matches!(
                kind.as_str(),
                "unsubscribe" | "punsubscribe" | "sunsubscribe"
            );
            if unsubscribe && none_left && !self.resp3 {
                self.pubsub = false;
            }
            let items = if kind == "monitor" {
                vec![msg.render]
            } else {
                msg.items
            };
            let push = RedisPush {
                kind,
                items: items.into_iter().map(text_owned).collect(),
                truncated: msg.items_truncated || msg.render_truncated,
            };
            self.confirmed(&push.kind, none_left, ctx);
            ctx.emit(RedisEvent::Push(push));
            return;
        }
        // Commands before the answered one got no reply: emit them first.
        let Some(at) = self.queue.iter().position(|p| p.expects_reply) else {
            self.unmatched += 1;
            if self.unmatched == 1 {
                ctx.anomaly(
                    "redis",
                    "unmatched_reply",
                    "a reply without a pending command",
                    Some(Direction::ToClient),
                );
            }
            return;
        };
        for _ in 0..at {
            if let Some(p) = self.queue.pop_front() {
                emit(p, ctx);
            }
        }
        let Some(mut p) = self.queue.pop_front() else {
            return;
        };
        let success = !msg.is_error;
        let reply = text(&msg.render);
        self.after_reply(&p.command, &msg, success);
        if let Some(auth) = p.auth.as_mut() {
            auth.success = Some(success);
            if !success {
                auth.error = Some(reply.clone());
            }
        }
        p.command.success = Some(success);
        p.command.reply = Some(reply);
        p.command.reply_truncated = msg.render_truncated;
        emit(p, ctx);
        self.flush_unanswerable(ctx);
    }

    /// A (un)subscribe confirmation arrived: the command waiting for it is
    /// done once all its confirmations came. Such commands keep `reply` and
    /// `success` null, as Zeek logs them.
    fn confirmed(&mut self, kind: &str, none_left: bool, ctx: &mut Ctx<'_>) {
        let Some(at) = self.queue.iter().position(|p| p.expects_reply) else {
            return;
        };
        let Some(confirm) = self.queue.get_mut(at).and_then(|p| p.confirm.as_mut()) else {
            return;
        };
        if confirm.kind != kind {
            return;
        }
        let done = match confirm.left.as_mut() {
            Some(left) => {
                *left = left.saturating_sub(1);
                *left == 0
            }
            None => none_left,
        };
        if done {
            for _ in 0..=at {
                if let Some(p) = self.queue.pop_front() {
                    emit(p, ctx);
                }
            }
            self.flush_unanswerable(ctx);
        }
    }

    /// Mode changes a command makes once the server accepted it.
    fn after_reply(&mut self, command: &RedisCommand, msg: &Message, success: bool) {
        if !success {
            return;
        }
        match command.name.as_str() {
            "HELLO" => {
                if let Some(v) = command.args.first() {
                    self.resp3 = v == "3";
                }
            }
            "MONITOR" => self.monitor = true,
            "RESET" => {
                self.resp3 = false;
                self.pubsub = false;
                self.monitor = false;
                self.reply_mode = ReplyMode::On;
            }
            _ => {}
        }
        // A map reply can only come from a RESP3 connection.
        if msg.kind == b'%' {
            self.resp3 = true;
        }
    }

    /// What kind of push `msg` is, if it answers no command.
    fn push_kind(&self, msg: &Message) -> Option<String> {
        if msg.kind == b'>' {
            let kind = msg.items.first().map(|k| text(k).to_ascii_lowercase());
            return Some(kind.unwrap_or_default());
        }
        if self.pubsub && !self.resp3 && msg.kind == b'*' {
            let first = msg.items.first()?;
            if PUBSUB_KINDS.iter().any(|k| first.eq_ignore_ascii_case(k)) {
                return Some(text(first).to_ascii_lowercase());
            }
        }
        if self.monitor && msg.kind == b'+' && is_monitor_line(&msg.render) {
            return Some("monitor".to_string());
        }
        None
    }

    /// Emits commands at the head of the queue that will get no reply.
    fn flush_unanswerable(&mut self, ctx: &mut Ctx<'_>) {
        while self.queue.front().is_some_and(|p| !p.expects_reply) {
            if let Some(p) = self.queue.pop_front() {
                emit(p, ctx);
            }
        }
    }

    /// Bytes are missing in `dir`: replies lost with them would pair with
    /// the wrong commands, so what is pending goes out without a reply.
    pub fn gap(&mut self, dir: Direction, ctx: &mut Ctx<'_>) {
        if dir == Direction::ToClient {
            self.close(ctx);
        }
    }

    pub fn close(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(p) = self.queue.pop_front() {
            emit(p, ctx);
        }
    }
}

/// The push kind confirming a (un)subscribe command.
fn confirmation_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "SUBSCRIBE" => "subscribe",
        "PSUBSCRIBE" => "psubscribe",
        "SSUBSCRIBE" => "ssubscribe",
        "UNSUBSCRIBE" => "unsubscribe",
        "PUNSUBSCRIBE" => "punsubscribe",
        "SUNSUBSCRIBE" => "sunsubscribe",
        _ => return None,
    })
}

fn emit(p: Pending, ctx: &mut Ctx<'_>) {
    ctx.emit_at(p.ts, RedisEvent::Command(p.command));
    if let Some(auth) = p.auth {
        ctx.emit_at(p.ts, RedisEvent::Auth(auth));
    }
}

/// Credentials carried by `AUTH [user] password` or
/// `HELLO protover AUTH user password`.
fn auth_of(name: &str, args: &[String]) -> Option<RedisAuth> {
    let (user, password) = match name {
        "AUTH" => match args {
            [password] => (None, password),
            [user, password, ..] => (Some(user.clone()), password),
            [] => return None,
        },
        "HELLO" => {
            let at = args.iter().position(|a| a.eq_ignore_ascii_case("AUTH"))?;
            (Some(args.get(at + 1)?.clone()), args.get(at + 2)?)
        }
        _ => return None,
    };
    Some(RedisAuth {
        user,
        password: password.clone(),
        success: None,
        error: None,
        command: name.to_string(),
    })
}

/// `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`
fn is_monitor_line(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && line.get(digits) == Some(&b'.') && memchr::memmem::find(line, b" [").is_some()
}
