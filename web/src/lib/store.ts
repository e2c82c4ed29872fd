import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Chat, type Message, MessageSchema, PageDirection } from "../gen/parley/chat/v1/chat_pb";
import type { Profile } from "../gen/parley/profile/v1/profile_pb";
import { chat, media, notifications, profiles, session, wsUrl } from "./api";
import { empty, patch, upsert, type ChatMessages } from "./messages";
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
  typingUntil: Record<string, number>;
  presence: Record<string, Presence>;
  unreadNotifications: number;
  /** bumped when friend lists or notifications changed, so open screens reload */
  friendsVersion: number;
  notificationsVersion: number;
  /** the latest things to read out to screen readers (newest last) */
  announcements: string[];
  activeChatId: string | null;
}

const initial: State = {
  me: null,
  conn: "closed",
  chats: [],
  messages: {},
  typingUntil: {},
  presence: {},
  unreadNotifications: 0,
  friendsVersion: 0,
  notificationsVersion: 0,
  announcements: [],
  activeChatId: null,
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

export function sortChats(chats: Chat[]): Chat[] {
  const at = (c: Chat) => (c.lastActivityAt ? timestampMs(c.lastActivityAt) : 0);
  return [...chats].sort((a, b) => at(b) - at(a));
}

export const realtime = new Realtime({
  url: wsUrl(),
  openSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
  token: () => session.token(),
  renewToken: async () => (await session.renew()).token,
  cursors: () =>
    state.chats.map((c) => {
      const held = state.messages[c.chatId];
      return { chat_id: c.chatId, last_seq: held && held.list.length ? held.contiguous : Number(c.lastSeq) };
    }),
  onFrame: (f) => onFrame(f),
  onState: (conn) => {
    set({ conn });
    // After a reconnect, refresh what sync does not replay (docs/realtime.md step 4).
    if (conn === "syncing" && wasLive) void refreshLists();
    if (conn === "live") wasLive = true;
  },
  onRevoked: () => {
    session.signOut();
  },
});
let wasLive = false;

session.subscribe((a) => {
  if (a && realtime.connState !== "closed") realtime.renewed(a.token);
});

/** Everything the first screen needs, in one round of parallel calls. */
export async function start(userId: string): Promise<void> {
  state = initial;
  wasLive = false;
  const [me, chats, unread] = await Promise.all([
    profiles.getProfile({ userId }),
    chat.listChats({ pageSize: 100 }),
    notifications.getUnreadCount({}),
  ]);
  set({ me: me.profile ?? null, chats: sortChats(chats.chats), unreadNotifications: Number(unread.unreadCount) });
  realtime.start();
  globalThis.addEventListener?.("offline", onOffline);
  globalThis.addEventListener?.("online", onOnline);
}

const onOffline = () => realtime.offline();
const onOnline = () => realtime.online();

export function stop(): void {
  globalThis.removeEventListener?.("offline", onOffline);
  globalThis.removeEventListener?.("online", onOnline);
  realtime.stop();
  state = initial;
  for (const fn of listeners) fn();
}

export async function refreshLists(): Promise<void> {
  const [chats, unread] = await Promise.all([chat.listChats({ pageSize: 100 }), notifications.getUnreadCount({})]);
  set((s) => ({
    chats: sortChats(chats.chats),
    unreadNotifications: Number(unread.unreadCount),
    friendsVersion: s.friendsVersion + 1,
    notificationsVersion: s.notificationsVersion + 1,
  }));
}

async function waitForChatWith(userId: string): Promise<void> {
  for (const wait of [0, 300, 700, 1500, 3000, 6000]) {
    await new Promise((r) => setTimeout(r, wait));
    if (state.chats.some((c) => c.peer?.userId === userId)) return;
    await refreshLists().catch(() => undefined);
    if (state.chats.some((c) => c.peer?.userId === userId)) return;
  }
}

export function setMe(p: Profile): void {
  set({ me: p });
}

export async function openChat(chatId: string | null): Promise<void> {
  set({ activeChatId: chatId });
  if (!chatId) return;
  if (!state.chats.some((c) => c.chatId === chatId)) {
    // Opened from People or a notification before the list knew it (a new chat, or past page one).
    const r = await chat.getChat({ by: { case: "chatId", value: chatId } });
    if (r.chat) set((s) => ({ chats: sortChats([...s.chats.filter((c) => c.chatId !== chatId), r.chat!]) }));
  }
  await loadLatest(chatId);
  await markRead(chatId);
}

async function loadLatest(chatId: string): Promise<void> {
  const r = await chat.listMessages({ chatId, direction: PageDirection.OLDER, fromSeq: 0n, pageSize: 50 });
  set((s) => ({ messages: { ...s.messages, [chatId]: upsert({ ...empty }, r.messages) } }));
}

export async function loadOlder(chatId: string): Promise<boolean> {
  const held = state.messages[chatId];
  if (!held || held.list.length === 0 || held.list[0].seq <= 1n) return false;
  const r = await chat.listMessages({ chatId, direction: PageDirection.OLDER, fromSeq: held.list[0].seq, pageSize: 50 });
  set((s) => ({ messages: { ...s.messages, [chatId]: upsert(s.messages[chatId] ?? empty, r.messages) } }));
  return r.messages.length > 0;
}

let readTimer: ReturnType<typeof setTimeout> | null = null;
export async function markRead(chatId: string): Promise<void> {
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
  if (m.attachments.some((a) => !a.url)) void fillAttachmentUrls(m);
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
  if (!known) void refreshLists().catch(() => undefined);
  if (!mine) {
    const c = state.chats.find((x) => x.chatId === chatId);
    set((s) => ({ typingUntil: { ...s.typingUntil, [chatId]: 0 } }));
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
      const at = new Date(String(f.type === "message_edited" ? f.edited_at : f.deleted_at));
      const ts = { seconds: BigInt(Math.floor(at.getTime() / 1000)), nanos: (at.getTime() % 1000) * 1e6 };
      const apply = (m: Message): Message =>
        f.type === "message_edited"
          ? { ...m, text: String(f.text ?? ""), editedAt: { $typeName: "google.protobuf.Timestamp", ...ts } }
          : { ...m, text: "", attachments: [], deleted: true, deletedAt: { $typeName: "google.protobuf.Timestamp", ...ts } };
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
    case "typing": {
      const chatId = String(f.chat_id);
      set((s) => ({ typingUntil: { ...s.typingUntil, [chatId]: Date.now() + 5000 } }));
      setTimeout(() => set({}), 5100);
      return;
    }
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
      if (state.messages[String(f.chat_id)]) void loadLatest(String(f.chat_id)).catch(() => undefined);
      return;
    case "resync":
      void refreshLists().catch(() => undefined);
      return;
  }
}

export function sendTyping(chatId: string): void {
  realtime.send({ type: "typing", chat_id: chatId });
}

export function queryPresence(userIds: string[]): void {
  if (userIds.length) realtime.send({ type: "presence_query", ref: "q", user_ids: userIds.slice(0, 100) });
}

export function formatTime(t: { seconds: bigint; nanos: number } | undefined): string {
  if (!t) return "";
  return timestampDate(t as Parameters<typeof timestampDate>[0]).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
