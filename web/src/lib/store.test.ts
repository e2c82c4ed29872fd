import { create, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChatSchema, MessageSchema, type Chat, type Message } from "../gen/parley/chat/v1/chat_pb";
import { FileSchema } from "../gen/parley/media/v1/media_pb";
import { stubSessionStorage } from "./fakestorage";
import type { SocketLike } from "./realtime";

// The store with the API faked: what the screens see after calls and realtime frames.

const api = vi.hoisted(() => ({
  chats: [] as Chat[],
  getChat: vi.fn(),
  listMessages: vi.fn(async (): Promise<{ messages: Message[] }> => ({ messages: [] })),
  markRead: vi.fn(async (r: { upToSeq: bigint }) => ({ readSeq: r.upToSeq, unreadCount: 0n })),
  listChats: vi.fn(),
  getUnreadCount: vi.fn(async () => ({ unreadCount: 0n })),
  getProfile: vi.fn(),
  getFile: vi.fn(async () => ({})),
  sendMessage: vi.fn(),
  sessionListeners: [] as ((a: unknown) => void)[],
}));

vi.mock("./api", () => ({
  session: {
    token: async () => "t",
    renew: async () => ({ token: "t" }),
    subscribe: (fn: (a: unknown) => void) => (api.sessionListeners.push(fn), () => undefined),
    signOut: () => false,
    current: () => ({ userId: "me" }),
    hasSession: () => true,
  },
  wsUrl: () => "ws://test/ws",
  chat: {
    getChat: api.getChat,
    listMessages: api.listMessages,
    markRead: api.markRead,
    listChats: api.listChats,
    sendMessage: api.sendMessage,
  },
  notifications: { getUnreadCount: api.getUnreadCount },
  profiles: { getProfile: api.getProfile },
  media: { getFile: api.getFile },
}));

const store = await import("./store");

const ts = (s: number) => ({ seconds: BigInt(s), nanos: 0 });
const mkChat = (id: string, peer: string, at: number, lastSeq = 0) =>
  create(ChatSchema, { chatId: id, peer: { userId: peer, nickname: peer }, lastActivityAt: ts(at), lastSeq: BigInt(lastSeq), canSend: true });

function frame(f: object) {
  // Through the realtime client's frame path, as the socket would deliver it.
  (store.realtime as unknown as { d: { onFrame: (f: object) => void } }).d.onFrame(f);
}

type MessageInit = Exclude<MessageInitShape<typeof MessageSchema>, Message>;
const msg = (chatId: string, seq: number, sender: string, extra: MessageInit = {}) =>
  create(MessageSchema, { messageId: `${chatId}-${seq}`, chatId, seq: BigInt(seq), senderId: sender, text: `m${seq}`, sentAt: ts(300 + seq), ...extra });
const messageFrame = (m: Message) => ({ type: "message", chat_id: m.chatId, seq: Number(m.seq), message: toJson(MessageSchema, m, { useProtoFieldName: true }) });

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

beforeEach(async () => {
  vi.restoreAllMocks();
  api.chats = [mkChat("c1", "ann", 100, 3), mkChat("c2", "bo", 200, 5)];
  for (const f of [api.getChat, api.listMessages, api.listChats, api.getUnreadCount, api.getProfile, api.getFile]) f.mockClear();
  api.sendMessage.mockReset();
  api.getChat.mockReset();
  api.listChats.mockImplementation(async () => ({ chats: api.chats }));
  api.getProfile.mockImplementation(async () => ({ profile: { userId: "me", nickname: "me" } }));
  api.listMessages.mockImplementation(async () => ({ messages: [] }));
  store.stop();
  vi.spyOn(store.realtime, "start").mockImplementation(() => undefined);
  await store.start("me");
});

afterEach(() => store.stop());

describe("store", () => {
  it("orders chats by last activity, newest first", () => {
    expect(store.getState().chats.map((c) => c.chatId)).toEqual(["c2", "c1"]);
  });

  it("a live message moves its chat to the top and counts as unread", () => {
    const m = create(MessageSchema, { messageId: "m4", chatId: "c1", seq: 4n, senderId: "ann", text: "hi", sentAt: ts(300) });
    frame({ type: "message", chat_id: "c1", seq: 4, message: toJson(MessageSchema, m, { useProtoFieldName: true }) });
    const [top] = store.getState().chats;
    expect(top.chatId).toBe("c1");
    expect(top.unreadCount).toBe(1n);
    expect(top.lastMessage?.text).toBe("hi");
    expect(store.getState().announcements.at(-1)).toContain("hi");
  });

  it("a read frame from the peer is a receipt; from the user's other device it clears the badge", () => {
    frame({ type: "read", chat_id: "c2", reader_id: "bo", up_to_seq: 4 });
    expect(store.getState().chats.find((c) => c.chatId === "c2")?.peerReadSeq).toBe(4n);
    frame({ type: "read", chat_id: "c2", reader_id: "me", up_to_seq: 5 });
    expect(store.getState().chats.find((c) => c.chatId === "c2")?.unreadCount).toBe(0n);
  });

  it("opening a chat the list does not know yet fetches it first", async () => {
    api.getChat.mockResolvedValue({ chat: mkChat("c3", "cy", 300) });
    await store.openChat("c3");
    expect(api.getChat).toHaveBeenCalledTimes(1);
    expect(store.getState().chats[0].chatId).toBe("c3");
    expect(store.getState().activeChatId).toBe("c3");
  });

  it("opening a known chat does not ask for it again", async () => {
    await store.openChat("c1");
    expect(api.getChat).not.toHaveBeenCalled();
  });

  it("the typing indicator ends 5 s after the last typing frame, and at once with that person's message", () => {
    vi.useFakeTimers();
    try {
      frame({ type: "typing", chat_id: "c1", user_id: "ann" });
      expect(store.getState().typing.c1).toEqual(["ann"]);
      vi.advanceTimersByTime(4000);
      // Another frame (they come every 2 s while typing) keeps it.
      frame({ type: "typing", chat_id: "c1", user_id: "ann" });
      vi.advanceTimersByTime(4000);
      expect(store.getState().typing.c1).toEqual(["ann"]);
      vi.advanceTimersByTime(store.TYPING_MS - 4000);
      expect(store.getState().typing.c1).toEqual([]);
      frame({ type: "typing", chat_id: "c1", user_id: "ann" });
      frame(messageFrame(msg("c1", 4, "ann")));
      expect(store.getState().typing.c1).toEqual([]);
      // The cleared entry's timer is gone too: nothing fires later.
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("messages that arrive while an opened chat's history loads are kept, merged by seq", async () => {
    const page = deferred<{ messages: Message[] }>();
    api.listMessages.mockImplementation(() => page.promise);
    const opening = store.openChat("c1");
    await Promise.resolve();
    frame(messageFrame(msg("c1", 4, "ann", { text: "live while loading" })));
    // The page was read before message 4 was stored, and has 3 again (also seen live before).
    frame(messageFrame(msg("c1", 3, "ann")));
    page.resolve({ messages: [msg("c1", 1, "ann"), msg("c1", 2, "me"), msg("c1", 3, "ann")] });
    await opening;
    const held = store.getState().messages.c1;
    expect(held.list.map((m) => Number(m.seq))).toEqual([1, 2, 3, 4]);
    expect(held.list[3].text).toBe("live while loading");
    expect(held.contiguous).toBe(4);
  });

  it("a sign-out during start-up cancels it: no socket is opened and the signed-out state stays empty", async () => {
    store.stop();
    const profile = deferred<{ profile: object }>();
    let signal: AbortSignal | undefined;
    api.getProfile.mockImplementation((_req: unknown, opts?: { signal?: AbortSignal }) => {
      signal = opts?.signal;
      return profile.promise;
    });
    const started = vi.spyOn(store.realtime, "start");
    started.mockClear();
    const starting = store.start("me");
    store.stop();
    expect(signal?.aborted).toBe(true);
    profile.resolve({ profile: { userId: "me", nickname: "me" } });
    await starting;
    expect(started).not.toHaveBeenCalled();
    expect(store.getState().me).toBeNull();
    expect(store.getState().chats).toEqual([]);
  });

  it("a resync reloads the lists once, and only the lists", async () => {
    // The real Realtime on a fake socket: ready, sync, live, then the gateway's resync.
    vi.mocked(store.realtime.start).mockRestore();
    const sent: string[] = [];
    const ws: SocketLike = { readyState: 1, send: (d) => sent.push(d), close: () => undefined, onopen: null, onmessage: null, onclose: null, onerror: null };
    (store.realtime as unknown as { d: { openSocket: () => SocketLike } }).d.openSocket = () => ws;
    store.stop();
    await store.start("me");
    await new Promise((r) => setTimeout(r, 0));
    const push = (f: object) => ws.onmessage?.({ data: JSON.stringify(f) });
    push({ type: "ready" });
    push({ type: "sync_complete" });
    expect(store.getState().conn).toBe("live");
    api.listChats.mockClear();
    api.getUnreadCount.mockClear();
    const versions = () => [store.getState().friendsVersion, store.getState().notificationsVersion];
    const before = versions();
    push({ type: "resync" });
    push({ type: "sync_complete" });
    await new Promise((r) => setTimeout(r, 0));
    expect(api.listChats).toHaveBeenCalledTimes(1);
    expect(api.getUnreadCount).toHaveBeenCalledTimes(1);
    expect(versions()).toEqual(before.map((v) => v + 1));
    expect(sent.filter((d) => d.includes('"type":"sync"'))).toHaveLength(2);
    store.stop();
  });

  it("attachment URLs are fetched for the chat on screen only", async () => {
    const att = { attachments: [{ fileId: "f1", name: "a.png" }] };
    frame(messageFrame(msg("c2", 6, "bo", att)));
    expect(api.getFile).not.toHaveBeenCalled();
    await store.openChat("c1");
    frame(messageFrame(msg("c1", 4, "ann", att)));
    expect(api.getFile).toHaveBeenCalledTimes(1);
  });

  it("a brand-new account's profile, not made yet, is asked for again", async () => {
    store.stop();
    api.getProfile.mockClear();
    api.getProfile
      .mockImplementationOnce(async () => {
        throw new ConnectError("your profile does not exist yet", Code.NotFound);
      })
      .mockImplementationOnce(async () => ({ profile: { userId: "me", nickname: "new" } }));
    await store.start("me");
    expect(api.getProfile).toHaveBeenCalledTimes(2);
    expect(store.getState().me?.nickname).toBe("new");
  });

  describe("composer", () => {

    const file = (id: string) => create(FileSchema, { fileId: id, name: `${id}.png` });
    const typed = (chatId: string) => store.composingIn(store.getState(), chatId);
    const flush = () => new Promise((ok) => setTimeout(ok, 0));
    /** The realtime connection's state, as the socket would report it. */
    const connState = (st: string) => (store.realtime as unknown as { d: { onState: (s: string) => void } }).d.onState(st);
    /** Sends what chatId's composer holds, now successfully, and returns every request sent so far. */
    async function sendComposed(chatId: string) {
      api.sendMessage.mockImplementation(async () => ({}));
      store.submitComposing(chatId);
      await store.outboxFor(chatId).settled();
      return api.sendMessage.mock.calls.map((c) => c[0] as { clientMsgId: string; text: string; attachmentFileIds: string[] });
    }
    /** Sends what came back in chatId's composer, now successfully, and checks that it went under
     * the key of the one failed send before it. */
    async function sentAgainUnderItsKey(chatId: string) {
      const keys = (await sendComposed(chatId)).map((r) => r.clientMsgId);
      expect(keys).toHaveLength(2);
      expect(keys[1]).toBe(keys[0]);
    }

    it("what is written in each chat is kept apart, while another chat is open, and sent from its own", async () => {
      api.sendMessage.mockImplementation(async () => ({}));
      store.setComposingText("c1", "for ann");
      store.addComposingFile("c1", file("f1"));
      await store.openChat("c2");
      store.setComposingText("c2", "for bo");
      expect(typed("c1")).toEqual({ text: "for ann", files: [file("f1")] });
      expect(store.submitComposing("c1")).toBe(true);
      await store.outboxFor("c1").settled();
      expect(api.sendMessage).toHaveBeenCalledTimes(1);
      const [req] = api.sendMessage.mock.calls[0] as [{ to: { value: string }; text: string; attachmentFileIds: string[] }];
      expect(req).toMatchObject({ to: { value: "c1" }, text: "for ann", attachmentFileIds: ["f1"] });
      expect(typed("c1")).toEqual({ text: "", files: [] });
      expect(typed("c2").text).toBe("for bo");
    });

    it("nothing to send is not sent: blank text and no attachment", () => {
      store.setComposingText("c1", "  \n ");
      expect(store.submitComposing("c1")).toBe(false);
      expect(api.sendMessage).not.toHaveBeenCalled();
    });

    it("a refused send comes back into its chat's composer ahead of what was typed since, with the error, open or not", async () => {
      const down = new ConnectError("text: too long", Code.InvalidArgument);
      api.sendMessage.mockRejectedValue(down);
      store.addComposingFile("c1", file("f1"));
      store.setComposingText("c1", "first");
      store.submitComposing("c1");
      store.setComposingText("c1", "typed since");
      await store.openChat("c2");
      await store.outboxFor("c1").settled();
      expect(typed("c1")).toEqual({ text: "first\ntyped since", files: [file("f1")], error: down, resend: [{ clientMsgId: expect.any(String), text: "first", fileIds: ["f1"] }] });
      // Sent again unchanged, it keeps its idempotency key.
      store.setComposingText("c1", "first");
      await sentAgainUnderItsKey("c1");
      expect(typed("c1")).toEqual({ text: "", files: [] });
    });

    it("a failed message cleared from the composer takes its error along", async () => {
      api.sendMessage.mockRejectedValue(new ConnectError("text: too long", Code.InvalidArgument));
      store.addComposingFile("c1", file("f1"));
      store.setComposingText("c1", "first");
      store.submitComposing("c1");
      await store.outboxFor("c1").settled();
      store.setComposingText("c1", "");
      expect(typed("c1").error).toBeInstanceOf(ConnectError); // the attachment is still there
      store.removeComposingFile("c1", "f1");
      expect(typed("c1")).toEqual({ text: "", files: [] });
    });

    it("what is being written is kept for a reload of the tab, for its user only, and forgotten at sign-out or when another signs in", async () => {
      const kept = stubSessionStorage();
      try {
        store.setComposingText("c1", "kept");
        store.addComposingFile("c1", file("f1"));
        expect([...kept.keys()]).toEqual(["parley.drafts.me"]);
        store.stop(); // a reload
        await store.start("me");
        expect(typed("c1")).toEqual({ text: "kept", files: [file("f1")] });
        store.stop();
        await store.start("someone else");
        expect(typed("c1")).toEqual({ text: "", files: [] });
        store.setComposingText("c2", "theirs");
        // Another person signed in in this tab: the last one's drafts are gone.
        expect([...kept.keys()]).toEqual(["parley.drafts.someone else"]);
        // A sent message is no longer kept.
        api.sendMessage.mockImplementation(async () => ({}));
        store.submitComposing("c2");
        await store.outboxFor("c2").settled();
        expect(kept.size).toBe(0);
        store.setComposingText("c2", "theirs again");
        expect(kept.size).toBe(1);
        for (const fn of api.sessionListeners) fn(null); // signed out
        expect(kept.size).toBe(0);
        store.setComposingText("c1", "given back before stop() ran"); // as a failing send would
        expect(kept.size).toBe(0);
        store.stop();
        await store.start("me");
        expect(typed("c1")).toEqual({ text: "", files: [] });
      } finally {
        vi.unstubAllGlobals();
      }
    });

    it("a message that came back keeps its idempotency key across a reload", async () => {
      stubSessionStorage();
      try {
        api.sendMessage.mockRejectedValueOnce(new ConnectError("refused", Code.PermissionDenied));
        store.setComposingText("c1", "once only");
        store.submitComposing("c1");
        await store.outboxFor("c1").settled();
        store.stop(); // a reload
        await store.start("me");
        await sentAgainUnderItsKey("c1");
      } finally {
        vi.unstubAllGlobals();
      }
    });

    it("a send failing for now is shown waiting, and goes under its key once the connection is back", async () => {
      api.sendMessage.mockRejectedValueOnce(new ConnectError("Failed to fetch", Code.Unknown));
      api.sendMessage.mockImplementation(async () => ({}));
      store.setComposingText("c1", "on its way");
      store.submitComposing("c1");
      await flush();
      expect(store.getState().sending.c1).toEqual({ messages: [expect.objectContaining({ text: "on its way" })], waiting: true });
      expect(typed("c1")).toEqual({ text: "", files: [] }); // not given back
      connState("live");
      await store.outboxFor("c1").settled();
      const keys = api.sendMessage.mock.calls.map((c) => (c[0] as { clientMsgId: string }).clientMsgId);
      expect(keys).toHaveLength(2);
      expect(keys[1]).toBe(keys[0]);
      expect(store.getState().sending.c1).toBeUndefined();
    });

    it("a waiting send cancelled comes back into the composer with why it waits, and keeps its key", async () => {
      const down = new ConnectError("service down", Code.Unavailable);
      api.sendMessage.mockRejectedValueOnce(down);
      store.setComposingText("c1", "take it back");
      store.submitComposing("c1");
      await flush();
      expect(store.getState().sending.c1?.waiting).toBe(true);
      expect(store.cancelSending("c1")).toBe(true);
      expect(store.getState().sending.c1).toBeUndefined();
      expect(typed("c1")).toMatchObject({ text: "take it back", error: down });
      expect(store.cancelSending("c1")).toBe(false); // nothing waits any more
      await sentAgainUnderItsKey("c1");
    });

    it("messages cancelled together and sent again unchanged go as they were written, each under its key", async () => {
      // The first try timed out and may have been stored: sent again inside a new joined message,
      // it would be there twice.
      api.sendMessage.mockRejectedValueOnce(new ConnectError("the send timed out", Code.DeadlineExceeded));
      store.setComposingText("c1", "first");
      store.submitComposing("c1");
      store.addComposingFile("c1", file("f2"));
      store.submitComposing("c1");
      store.setComposingText("c1", "third");
      store.submitComposing("c1");
      await flush();
      expect(store.cancelSending("c1")).toBe(true);
      expect(typed("c1")).toMatchObject({ text: "first\nthird", files: [file("f2")] });
      const sent = await sendComposed("c1");
      expect(sent.map((r) => [r.text, r.attachmentFileIds])).toEqual([["first", []], ["first", []], ["", ["f2"]], ["third", []]]);
      expect(sent[1].clientMsgId).toBe(sent[0].clientMsgId);
      expect(new Set(sent.map((r) => r.clientMsgId)).size).toBe(3);

      // Changed before it is sent, what came back is one new message.
      api.sendMessage.mockReset();
      api.sendMessage.mockRejectedValueOnce(new ConnectError("service down", Code.Unavailable));
      store.setComposingText("c1", "fourth");
      store.submitComposing("c1");
      store.setComposingText("c1", "fifth");
      store.submitComposing("c1");
      await flush();
      store.cancelSending("c1");
      store.setComposingText("c1", "fourth and fifth");
      const edited = await sendComposed("c1");
      expect(edited.map((r) => r.text)).toEqual(["fourth", "fourth and fifth"]);
      expect(edited[1].clientMsgId).not.toBe(edited[0].clientMsgId);
    });

    it("what fails in a way that may last gets a few tries under its key, then comes back; without a network, tries go on", async () => {
      vi.useFakeTimers();
      try {
        const keys = () => new Set(api.sendMessage.mock.calls.map((c) => (c[0] as { clientMsgId: string }).clientMsgId));
        for (const [why, err] of [
          ["an internal error", new ConnectError("abandoned", Code.Internal)],
          ["an answer that is not Connect's", new ConnectError("HTTP 500", Code.Unknown)],
        ] as const) {
          api.sendMessage.mockReset();
          api.sendMessage.mockRejectedValue(err);
          store.setComposingText("c1", why);
          store.submitComposing("c1");
          await vi.advanceTimersByTimeAsync(120_000);
          expect(api.sendMessage, why).toHaveBeenCalledTimes(5);
          expect(keys().size, why).toBe(1);
          expect(typed("c1"), why).toMatchObject({ text: why, error: err });
          expect(store.getState().sending.c1, why).toBeUndefined();
          store.setComposingText("c1", "");
        }
        api.sendMessage.mockReset();
        api.sendMessage.mockRejectedValue(new ConnectError("Failed to fetch", Code.Unknown, undefined, undefined, new TypeError("Failed to fetch")));
        store.setComposingText("c1", "offline");
        store.submitComposing("c1");
        await vi.advanceTimersByTimeAsync(10 * 60_000);
        expect(api.sendMessage.mock.calls.length).toBeGreaterThan(10); // every 30 s at the end
        expect(keys().size).toBe(1);
        expect(store.getState().sending.c1).toMatchObject({ waiting: true });
        expect(typed("c1")).toEqual({ text: "", files: [] });
      } finally {
        store.stop(); // ends the waiting outbox before the real timers are back
        vi.useRealTimers();
      }
    });

    it("what is on its way when the tab is reloaded goes after the reload, under the same keys, in order", async () => {
      const kept = stubSessionStorage();
      try {
        api.sendMessage.mockRejectedValue(new ConnectError("Failed to fetch", Code.Unknown));
        for (const text of ["first", "second"]) {
          store.setComposingText("c1", text);
          store.submitComposing("c1");
        }
        await flush();
        const stored = JSON.parse(kept.get("parley.drafts.me") ?? "{}").c1.sending as { clientMsgId: string; text: string }[];
        expect(stored.map((d) => d.text)).toEqual(["first", "second"]);
        const triedFirst = (api.sendMessage.mock.calls[0][0] as { clientMsgId: string }).clientMsgId;
        store.stop(); // a reload
        api.sendMessage.mockReset();
        api.sendMessage.mockImplementation(async () => ({}));
        await store.start("me");
        await store.outboxFor("c1").settled();
        const calls = api.sendMessage.mock.calls.map((c) => c[0] as { clientMsgId: string; text: string });
        expect(calls.map((c) => c.text)).toEqual(["first", "second"]);
        expect(calls.map((c) => c.clientMsgId)).toEqual([triedFirst, stored[1].clientMsgId]);
        expect(stored[0].clientMsgId).toBe(triedFirst);
        expect(kept.size).toBe(0); // nothing left to keep
      } finally {
        vi.unstubAllGlobals();
      }
    });

    it("signing out forgets what was being written", () => {
      store.setComposingText("c1", "private");
      store.addComposingFile("c2", file("f2"));
      store.stop();
      expect(typed("c1")).toEqual({ text: "", files: [] });
      expect(typed("c2")).toEqual({ text: "", files: [] });
    });
  });
});
