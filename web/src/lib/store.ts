import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate, timestampFromDate, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { type Chat, type Message, MessageSchema, PageDirection } from "../gen/parley/chat/v1/chat_pb";
import type { File as MediaFile } from "../gen/parley/media/v1/media_pb";
import type { Profile } from "../gen/parley/profile/v1/profile_pb";
import { chat, media, notifications, profiles, session, wsUrl } from "./api";
import { forgetDrafts, keepDrafts, keptDrafts } from "./drafts";
import { empty, patch, upsert, withLatest, type ChatMessages } from "./messages";
import { joinTexts, newKey, Outbox, resendOf, resendsFor, type Outgoing, type Resend } from "./outbox";
import { SignedOutError } from "./session";
import { Realtime, type ConnState, type Frame, type SocketLike } from "./realtime";

// The signed-in app's state, outside React so the WebSocket and the screens share it; screens
// read it with useSyncExternalStore.

export interface Presence {
  online: boolean;
  lastSeen?: string;
}

export interface State {
  me: Profile | null;
  conn: ConnState;
  chats: Chat[];
  messages: Record<string, ChatMessages>;
  /** chat id → the people typing in it now (an entry ends TYPING_MS after their last typing frame, or with their message) */
  typing: Record<string, string[]>;
  presence: Record<string, Presence>;
  unreadNotifications: number;
  /** bumped when friend lists or notifications changed, so open screens reload */
  friendsVersion: number;
  notificationsVersion: number;
  /** the latest things to read out to screen readers (newest last) */
  announcements: string[];
  activeChatId: string | null;
  /** chat id → what its composer holds for a new message (composingIn reads it) */
  composing: Record<string, Composing>;
  /** chat id → the messages on their way from its outbox, while there are any */
  sending: Record<string, Sending>;
}

/** A chat's messages on their way, oldest first; waiting: the oldest failed for now (no network,
 * the service unavailable) and is tried again soon, or as soon as the connection is back. */
export interface Sending {
  messages: Outgoing<MediaFile>[];
  waiting: boolean;
}

/** What is being written in a chat for a new message: kept while the chat is closed and another
 * is open, until it is sent or the person signs out. error is why the last send failed (its text
 * and attachments came back into text and files); resend is the messages that came back, oldest
 * first: sent again unchanged, each goes as it was written, under its own idempotency key. */
export interface Composing {
  text: string;
  files: MediaFile[];
  error?: unknown;
  resend?: Resend[];
}

const initial: State = {
  me: null,
  conn: "closed",
  chats: [],
  messages: {},
  typing: {},
  presence: {},
  unreadNotifications: 0,
  friendsVersion: 0,
  notificationsVersion: 0,
  announcements: [],
  activeChatId: null,
  composing: {},
  sending: {},
};

let state: State = initial;
const listeners = new Set<() => void>();

export function getState(): State {
  return state;
}

export function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function set(update: Partial<State> | ((s: State) => Partial<State>)): void {
  const u = typeof update === "function" ? update(state) : update;
  state = { ...state, ...u };
  for (const fn of listeners) fn();
}

function sortChats(chats: Chat[]): Chat[] {
  const at = (c: Chat) => (c.lastActivityAt ? timestampMs(c.lastActivityAt) : 0);
  return [...chats].sort((a, b) => at(b) - at(a));
}

export const realtime = new Realtime({
  url: wsUrl(),
  openSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
  token: () => session.token(),
  renewToken: async (refused) => (await session.renew(refused)).token,
  isSignedOut: (err) => err instanceof SignedOutError,
  cursors: () =>
    state.chats.map((c) => {
      const held = state.messages[c.chatId];
      return { chat_id: c.chatId, last_seq: held && held.list.length ? held.contiguous : Number(c.lastSeq) };
    }),
  onFrame: (f) => onFrame(f),
  onState: (conn) => {
    set({ conn });
    if (conn === "live") retrySends(); // whatever waits for the connection may go now
  },
  // After a reconnect or a resync, what sync does not replay (docs/realtime.md step 4).
  onCatchUp: () => void catchUp().catch(() => undefined),
  onRevoked: () => {
    session.signOut();
  },
});

// What a tab keeps for a reload (lib/drafts.ts), under the signed-in user: null while nobody is.
let draftsUser: string | null = null;

// A page opened signed out (a reopened tab whose person signed out elsewhere) keeps nothing.
if (!session.hasSession()) forgetDrafts();

session.subscribe((a) => {
  if (a && realtime.connState !== "closed") realtime.renewed(a.token);
  if (!a) {
    // Signed out, here or in another tab: nothing is kept from now on, not even what a send that
    // fails before stop() runs gives back.
    draftsUser = null;
    forgetDrafts();
  }
});

// The start-up under way; stop() aborts it, so a sign-out while it waits leaves nothing running.
let starting: AbortController | null = null;
/** How long "typing…" shows after a person's last typing frame (they come every 2 s while typing). */
export const TYPING_MS = 5000;
const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
let readTimer: ReturnType<typeof setTimeout> | null = null;

/** Everything the first screen needs, in one round of parallel calls, then the WebSocket. Resolves
 * without starting anything when stop() ran meanwhile. */
export async function start(userId: string): Promise<void> {
  stop();
  const ac = new AbortController();
  starting = ac;
  const signal = ac.signal;
  let me, chats, unread;
  try {
    [me, chats, unread] = await Promise.all([
      ownProfile(userId, signal),
      chat.listChats({ pageSize: 100 }, { signal }),
      notifications.getUnreadCount({}, { signal }),
    ]);
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  } finally {
    if (starting === ac) starting = null;
  }
  if (signal.aborted) return;
  // Signed out while the calls were answered (stop() comes with the next render): keep nothing.
  if (!session.current()) return;
  draftsUser = userId;
  forgetDrafts(userId); // another person's, left by a tab that missed their sign-out
  const kept = keptDrafts(userId);
  set({ me: me.profile ?? null, chats: sortChats(chats.chats), unreadNotifications: Number(unread.unreadCount), composing: kept.composing });
  // What was on its way when the tab was reloaded goes again, under the same keys: a message that
  // had been stored is not stored twice.
  for (const [chatId, drafts] of Object.entries(kept.sending)) {
    for (const d of drafts) outboxFor(chatId).submit(d.text, d.files, d.clientMsgId);
  }
  realtime.start();
  globalThis.addEventListener?.("offline", onOffline);
  globalThis.addEventListener?.("online", onOnline);
}

// A new account's profile is made by the profile service when it consumes UserRegistered, a
// moment after sign-up answered: the first screen of a brand-new account may ask too early.
async function ownProfile(userId: string, signal: AbortSignal) {
  for (const wait of [300, 700, 1500, 3000]) {
    try {
      return await profiles.getProfile({ userId }, { signal });
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === Code.NotFound) || signal.aborted) throw err;
    }
    await new Promise<void>((ok) => {
      const t = setTimeout(ok, wait);
      signal.addEventListener("abort", () => (clearTimeout(t), ok()), { once: true });
    });
  }
  return await profiles.getProfile({ userId }, { signal });
}

const onOffline = () => realtime.offline();
const onOnline = () => {
  realtime.online();
  retrySends();
};

export function stop(): void {
  starting?.abort();
  starting = null;
  globalThis.removeEventListener?.("offline", onOffline);
  globalThis.removeEventListener?.("online", onOnline);
  realtime.stop();
  for (const t of typingTimers.values()) clearTimeout(t);
  typingTimers.clear();
  if (readTimer) clearTimeout(readTimer);
  readTimer = null;
  for (const box of outboxes.values()) box.close();
  outboxes.clear();
  draftsUser = null; // what is kept stays, for the next start; a sign-out forgets it
  state = initial;
  for (const fn of listeners) fn();
}

/** The chat list again (read cursors, unread counts, chats the app did not know). */
async function reloadChats(): Promise<void> {
  const r = await chat.listChats({ pageSize: 100 });
  set({ chats: sortChats(r.chats) });
}

/** After a gap in the frames: the chat list and the notification count, and the friend and
 * notification screens reload if they are shown (their versions). Messages come by sync. */
async function catchUp(): Promise<void> {
  set((s) => ({ friendsVersion: s.friendsVersion + 1, notificationsVersion: s.notificationsVersion + 1 }));
  const [chats, unread] = await Promise.all([chat.listChats({ pageSize: 100 }), notifications.getUnreadCount({})]);
  set({ chats: sortChats(chats.chats), unreadNotifications: Number(unread.unreadCount) });
}

/** The person changed their friends (request, accept, block…): the People screen reloads. */
export function friendsChanged(): void {
  set((s) => ({ friendsVersion: s.friendsVersion + 1 }));
}

/** The unread notification count an answer carried (MarkNotificationsRead). */
export function setUnreadNotifications(n: bigint): void {
  set({ unreadNotifications: Number(n) });
}

async function waitForChatWith(userId: string): Promise<void> {
  for (const wait of [0, 300, 700, 1500, 3000, 6000]) {
    await new Promise((r) => setTimeout(r, wait));
    if (state.chats.some((c) => c.peer?.userId === userId)) return;
    await reloadChats().catch(() => undefined);
    if (state.chats.some((c) => c.peer?.userId === userId)) return;
  }
}

export function setMe(p: Profile): void {
  set({ me: p });
}

export async function openChat(chatId: string | null): Promise<void> {
  // Hold the chat from now on, so that messages arriving while its history loads are kept.
  set((s) => ({ activeChatId: chatId, messages: chatId && !s.messages[chatId] ? { ...s.messages, [chatId]: empty } : s.messages }));
  if (!chatId) return;
  if (!state.chats.some((c) => c.chatId === chatId)) {
    // Opened from People or a notification before the list knew it (a new chat, or past page one).
    const r = await chat.getChat({ by: { case: "chatId", value: chatId } });
    if (r.chat) set((s) => ({ chats: sortChats([...s.chats.filter((c) => c.chatId !== chatId), r.chat!]) }));
  }
  await loadLatest(chatId);
  await markRead(chatId);
}

/** The newest page of a chat, merged by seq with what arrived live meanwhile. `restart` (after
 * sync_required: too much was missed to replay) drops the held window older than the page. */
async function loadLatest(chatId: string, restart = false): Promise<void> {
  const r = await chat.listMessages({ chatId, direction: PageDirection.OLDER, fromSeq: 0n, pageSize: 50 });
  set((s) => ({ messages: { ...s.messages, [chatId]: withLatest(s.messages[chatId] ?? empty, r.messages, restart) } }));
}

export async function loadOlder(chatId: string): Promise<boolean> {
  const held = state.messages[chatId];
  if (!held || held.list.length === 0 || held.list[0].seq <= 1n) return false;
  const r = await chat.listMessages({ chatId, direction: PageDirection.OLDER, fromSeq: held.list[0].seq, pageSize: 50 });
  set((s) => ({ messages: { ...s.messages, [chatId]: upsert(s.messages[chatId] ?? empty, r.messages) } }));
  return r.messages.length > 0;
}

async function markRead(chatId: string): Promise<void> {
  const c = state.chats.find((x) => x.chatId === chatId);
  const held = state.messages[chatId];
  const upTo = held && held.list.length ? held.list[held.list.length - 1].seq : c?.lastSeq ?? 0n;
  if (!c || upTo <= c.readSeq) return;
  const r = await chat.markRead({ chatId, upToSeq: upTo });
  updateChat(chatId, (x) => ({ ...x, readSeq: r.readSeq, unreadCount: r.unreadCount }));
}

function markReadSoon(chatId: string): void {
  if (readTimer) clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    readTimer = null;
    if (state.activeChatId === chatId && document.visibilityState === "visible") void markRead(chatId).catch(() => undefined);
  }, 300);
}

export function addOwnMessage(m: Message): void {
  receiveMessage(m, false);
}

const outboxes = new Map<string, Outbox<MediaFile>>();

const nothingComposed: Composing = { text: "", files: [] };

/** What the chat's composer holds for a new message (the same object until it changes). */
export function composingIn(s: State, chatId: string): Composing {
  return s.composing[chatId] ?? nothingComposed;
}

/** s's composers with chatId's changed by change. */
function composed(s: State, chatId: string, change: (c: Composing) => Composing): Record<string, Composing> {
  const c = change(composingIn(s, chatId));
  // Emptied, it has nothing left that a send's error could be about.
  return { ...s.composing, [chatId]: c.text || c.files.length ? c : nothingComposed };
}

function compose(chatId: string, change: (c: Composing) => Composing): void {
  set((s) => ({ composing: composed(s, chatId, change) }));
}

// What is kept for a reload follows the state: saved whenever the composers or the messages on
// their way change, whatever changed them.
let savedDrafts: Pick<State, "composing" | "sending"> = initial;
subscribe(() => {
  if (!draftsUser || (state.composing === savedDrafts.composing && state.sending === savedDrafts.sending)) return;
  savedDrafts = state;
  const sending = Object.fromEntries(Object.entries(state.sending).map(([chatId, s]) => [chatId, s.messages]));
  keepDrafts(draftsUser, { composing: state.composing, sending });
});

export function setComposingText(chatId: string, text: string): void {
  compose(chatId, (c) => ({ ...c, text }));
}

/** Adds an uploaded attachment to the chat's next message; the composer need not be open still. */
export function addComposingFile(chatId: string, f: MediaFile): void {
  compose(chatId, (c) => ({ ...c, files: [...c.files, f] }));
}

export function removeComposingFile(chatId: string, fileId: string): void {
  compose(chatId, (c) => ({ ...c, files: c.files.filter((f) => f.fileId !== fileId) }));
}

/** Hands what the chat's composer holds to its outbox and empties the composer; false when it
 * holds nothing to send. */
export function submitComposing(chatId: string): boolean {
  const c = composingIn(state, chatId);
  const text = c.text.trim();
  if (!text && c.files.length === 0) return false;
  const again = resendsFor(c.resend, text, c.files.map((f) => f.fileId));
  const box = outboxFor(chatId);
  // Emptied just before it is queued (nothing left that could throw): a send that fails at once
  // puts it back.
  compose(chatId, () => nothingComposed);
  if (!again) {
    box.submit(text, c.files, newKey());
    return true;
  }
  // What came back, unchanged: the messages as they were written, so that one stored after all
  // (its answer lost) is that message again, not part of a new one.
  let next = 0;
  for (const r of again) {
    box.submit(r.text, c.files.slice(next, (next += r.fileIds.length)), r.clientMsgId);
  }
  return true;
}

/** Takes the chat's message that waits to be tried again, and those after it, back into its
 * composer (Outbox.cancel); false when none waits. */
export function cancelSending(chatId: string): boolean {
  return outboxes.get(chatId)?.cancel() ?? false;
}

/** The chat's outbox (lib/outbox.ts): the composer's messages, sent one at a time in order. A send
 * that fails for now (retryable) is tried again under the same key — after a wait, or once the
 * connection is back (retrySends) — and what waits is shown (State.sending). What is refused for
 * good goes back into the chat's composer at once, ahead of what was typed since, whether or not
 * the chat is open. stop() closes them all: nothing of one person's is sent, or shown, once they
 * signed out. */
export function outboxFor(chatId: string): Outbox<MediaFile> {
  let box = outboxes.get(chatId);
  if (!box) {
    const b = new Outbox<MediaFile>(
      async (d, signal) => {
        const r = await chat.sendMessage(
          { to: { case: "chatId", value: chatId }, clientMsgId: d.clientMsgId, text: d.text, attachmentFileIds: d.files.map((f) => f.fileId) },
          { signal, timeoutMs: SEND_TIMEOUT_MS },
        );
        if (signal.aborted) return; // signed out meanwhile
        // The listing has the attachments' URLs; the send response may not.
        if (r.message) addOwnMessage(r.message);
      },
      { retryable, retryDelaysMs: SEND_RETRY_DELAYS_MS },
    );
    b.subscribe(() => {
      const pending = b.pending();
      const u = b.takeUnsent();
      set((s) => {
        const { [chatId]: _, ...others } = s.sending;
        const sending = pending.length ? { ...others, [chatId]: { messages: pending, waiting: b.waiting } } : others;
        if (!u) return { sending };
        const composing = composed(s, chatId, (c) => ({
          text: joinTexts([...u.drafts.map((d) => d.text), c.text]),
          files: [...u.drafts.flatMap((d) => d.files), ...c.files],
          error: u.error,
          resend: resendOf(u.drafts, (f) => f.fileId),
        }));
        return { sending, composing };
      });
    });
    outboxes.set(chatId, b);
    box = b;
  }
  return box;
}

/** How long one SendMessage may take before it counts as failed for now (and is tried again). */
const SEND_TIMEOUT_MS = 20_000;
const SEND_RETRY_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];

/** How many tries a send gets when it fails in a way that may or may not last (below). */
const SEND_FEW_TRIES = 5;

/** Whether a failed send is tried again, under its key (so that a retry cannot store it twice).
 * Without a network (fetch's TypeError), or with the service down or too slow, it is tried until
 * it goes. An internal error (the chat service asks for a retry under the same key when a group
 * write was abandoned), a rate limit, an aborted transaction or an answer that is not Connect's
 * get a few tries, then come back to the composer with the error, as anything else does at once. */
function retryable(err: unknown, tries: number): boolean {
  if (!(err instanceof ConnectError)) return false;
  switch (err.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return true;
    case Code.Unknown:
      return err.cause instanceof TypeError || tries < SEND_FEW_TRIES;
    case Code.Internal:
    case Code.ResourceExhausted:
    case Code.Aborted:
      return tries < SEND_FEW_TRIES;
    default:
      return false;
  }
}

function retrySends(): void {
  for (const b of outboxes.values()) b.retryNow();
}

function announce(text: string): void {
  set((s) => ({ announcements: [...s.announcements.slice(-4), text] }));
}

function updateChat(chatId: string, fn: (c: Chat) => Chat): boolean {
  const i = state.chats.findIndex((c) => c.chatId === chatId);
  if (i < 0) return false;
  const chats = state.chats.slice();
  chats[i] = fn(chats[i]);
  set({ chats: sortChats(chats) });
  return true;
}

function receiveMessage(m: Message, replay: boolean): void {
  const chatId = m.chatId;
  // Only for the chat on screen: opening another loads its page, which carries the URLs.
  if (chatId === state.activeChatId && m.attachments.some((a) => !a.url)) void fillAttachmentUrls(m);
  set((s) => ({ messages: s.messages[chatId] ? { ...s.messages, [chatId]: upsert(s.messages[chatId], [m]) } : s.messages }));
  const mine = m.senderId === state.me?.userId;
  const known = updateChat(chatId, (c) => {
    if (m.seq <= c.lastSeq) return c;
    return {
      ...c,
      lastSeq: m.seq,
      lastMessage: m,
      lastActivityAt: m.sentAt ?? c.lastActivityAt,
      unreadCount: mine ? c.unreadCount : c.unreadCount + 1n,
      readSeq: mine ? m.seq : c.readSeq,
    };
  });
  if (!known) void reloadChats().catch(() => undefined);
  setTyping(chatId, m.senderId, false);
  if (!mine) {
    const c = state.chats.find((x) => x.chatId === chatId);
    if (!replay) {
      const who = c?.peer?.nickname ?? "someone";
      announce(`New message from ${who}: ${m.text || "(attachment)"}`);
    }
    if (state.activeChatId === chatId) markReadSoon(chatId);
  }
}

// Live frames carry attachments without URLs (they are per user and short-lived): ask for them.
async function fillAttachmentUrls(m: Message): Promise<void> {
  const files = await Promise.all(m.attachments.map((a) => (a.url ? null : media.getFile({ fileId: a.fileId }).catch(() => null))));
  const attachments = m.attachments.map((a, i) => {
    const f = files[i]?.file;
    return f ? { ...a, url: f.url, thumbnailUrl: f.thumbnail256Url || a.thumbnailUrl, width: f.width, height: f.height } : a;
  });
  set((s) => ({
    messages: s.messages[m.chatId] ? { ...s.messages, [m.chatId]: patch(s.messages[m.chatId], m.messageId, (x) => ({ ...x, attachments })) } : s.messages,
  }));
}

function onFrame(f: Frame): void {
  switch (f.type) {
    case "message": {
      const m = fromJson(MessageSchema, f.message as JsonValue, { ignoreUnknownFields: true });
      receiveMessage(m, f.replay === true);
      return;
    }
    case "message_edited":
    case "message_deleted": {
      const chatId = String(f.chat_id);
      const id = String(f.message_id);
      const at = timestampFromDate(new Date(String(f.type === "message_edited" ? f.edited_at : f.deleted_at)));
      const apply = (m: Message): Message =>
        f.type === "message_edited" ? { ...m, text: String(f.text ?? ""), editedAt: at } : { ...m, text: "", attachments: [], deleted: true, deletedAt: at };
      set((s) => ({ messages: s.messages[chatId] ? { ...s.messages, [chatId]: patch(s.messages[chatId], id, apply) } : s.messages }));
      updateChat(chatId, (c) => (c.lastMessage?.messageId === id ? { ...c, lastMessage: apply(c.lastMessage) } : c));
      return;
    }
    case "read": {
      const chatId = String(f.chat_id);
      const upTo = BigInt(Number(f.up_to_seq));
      if (f.reader_id === state.me?.userId) {
        updateChat(chatId, (c) => ({ ...c, readSeq: upTo > c.readSeq ? upTo : c.readSeq, unreadCount: c.lastSeq > upTo ? c.lastSeq - upTo : 0n }));
      } else {
        updateChat(chatId, (c) => ({ ...c, peerReadSeq: upTo > c.peerReadSeq ? upTo : c.peerReadSeq }));
      }
      return;
    }
    case "typing":
      setTyping(String(f.chat_id), String(f.user_id), true);
      return;
    case "presence":
      set((s) => ({ presence: { ...s.presence, [String(f.user_id)]: { online: f.online === true, lastSeen: f.last_seen as string | undefined } } }));
      return;
    case "presence_result": {
      const p: Record<string, Presence> = {};
      for (const x of (f.presence as { user_id: string; online: boolean; last_seen?: string }[]) ?? []) {
        p[x.user_id] = { online: x.online, lastSeen: x.last_seen };
      }
      set((s) => ({ presence: { ...s.presence, ...p } }));
      return;
    }
    case "notification": {
      const n = f.notification as { title?: string } | undefined;
      if (n?.title) announce(`Notification: ${n.title}`);
      set((s) => ({
        unreadNotifications: Number(f.unread_count ?? s.unreadNotifications),
        notificationsVersion: s.notificationsVersion + 1,
      }));
      return;
    }
    case "friend_request":
    case "friend_declined":
    case "friend_removed":
      set((s) => ({ friendsVersion: s.friendsVersion + 1 }));
      return;
    case "friend_accepted":
      set((s) => ({ friendsVersion: s.friendsVersion + 1 }));
      // Accepting a request opens a chat between the two, made by the chat service when it
      // consumes the acceptance: it may not exist yet when this frame arrives.
      void waitForChatWith(String(f.requester_id === state.me?.userId ? f.accepter_id : f.requester_id));
      return;
    case "sync_required":
      if (state.messages[String(f.chat_id)]) void loadLatest(String(f.chat_id), true).catch(() => undefined);
      return;
  }
}


function setTyping(chatId: string, userId: string, on: boolean): void {
  const key = chatId + "/" + userId;
  const t = typingTimers.get(key);
  if (t !== undefined) clearTimeout(t);
  typingTimers.delete(key);
  if (on) typingTimers.set(key, setTimeout(() => setTyping(chatId, userId, false), TYPING_MS));
  const cur = state.typing[chatId] ?? [];
  if (cur.includes(userId) === on) return;
  const next = on ? [...cur, userId] : cur.filter((x) => x !== userId);
  set((s) => ({ typing: { ...s.typing, [chatId]: next } }));
}

export function sendTyping(chatId: string): void {
  realtime.send({ type: "typing", chat_id: chatId });
}

export function queryPresence(userIds: string[]): void {
  if (userIds.length) realtime.send({ type: "presence_query", ref: "q", user_ids: userIds.slice(0, 100) });
}

export function formatDateTime(t: Timestamp): string {
  return timestampDate(t).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function formatTime(t: Timestamp | undefined): string {
  if (!t) return "";
  return timestampDate(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
