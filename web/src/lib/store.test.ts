import { create, toJson } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ChatSchema, MessageSchema, type Chat } from "../gen/parley/chat/v1/chat_pb";

// The store with the API faked: what the screens see after calls and realtime frames.

const api = vi.hoisted(() => ({
  chats: [] as Chat[],
  getChat: vi.fn(),
  listMessages: vi.fn(async () => ({ messages: [] })),
  markRead: vi.fn(async (r: { upToSeq: bigint }) => ({ readSeq: r.upToSeq, unreadCount: 0n })),
}));

vi.mock("./api", () => ({
  session: { token: async () => "t", renew: async () => ({ token: "t" }), subscribe: () => () => undefined, signOut: () => null },
  wsUrl: () => "ws://test/ws",
  chat: {
    getChat: api.getChat,
    listMessages: api.listMessages,
    markRead: api.markRead,
    listChats: async () => ({ chats: api.chats }),
  },
  notifications: { getUnreadCount: async () => ({ unreadCount: 0n }) },
  profiles: { getProfile: async () => ({ profile: { userId: "me", nickname: "me" } }) },
  media: { getFile: async () => ({}) },
}));

const store = await import("./store");

const ts = (s: number) => ({ seconds: BigInt(s), nanos: 0 });
const mkChat = (id: string, peer: string, at: number, lastSeq = 0) =>
  create(ChatSchema, { chatId: id, peer: { userId: peer, nickname: peer }, lastActivityAt: ts(at), lastSeq: BigInt(lastSeq), canSend: true });

function frame(f: object) {
  // Through the realtime client's frame path, as the socket would deliver it.
  (store.realtime as unknown as { d: { onFrame: (f: object) => void } }).d.onFrame(f);
}

beforeEach(async () => {
  api.chats = [mkChat("c1", "ann", 100, 3), mkChat("c2", "bo", 200, 5)];
  api.getChat.mockReset();
  store.stop();
  vi.spyOn(store.realtime, "start").mockImplementation(() => undefined);
  await store.start("me");
});

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
});
