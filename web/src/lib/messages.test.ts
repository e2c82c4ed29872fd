import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { MessageSchema, type Message } from "../gen/parley/chat/v1/chat_pb";
import { empty, patch, upsert, withLatest } from "./messages";

const msg = (seq: number, text = `m${seq}`, extra: Partial<Omit<Message, "$typeName">> = {}): Message =>
  create(MessageSchema, { messageId: `id${seq}`, chatId: "c", seq: BigInt(seq), text, ...extra });

describe("chat messages", () => {
  it("orders by seq and keeps each seq once whatever the arrival order", () => {
    let s = upsert(empty, [msg(3), msg(1)]);
    s = upsert(s, [msg(2), msg(3), msg(1)]);
    expect(s.list.map((m) => Number(m.seq))).toEqual([1, 2, 3]);
    expect(s.contiguous).toBe(3);
  });

  it("contiguous stops at the first gap, and a replay fills it", () => {
    let s = upsert(empty, [msg(1), msg(2), msg(5)]);
    expect(s.contiguous).toBe(2);
    s = upsert(s, [msg(3), msg(4)]);
    expect(s.contiguous).toBe(5);
  });

  it("a loaded window that starts later is not a gap", () => {
    const s = upsert(empty, [msg(52), msg(51), msg(53)]);
    expect(s.base).toBe(51);
    expect(s.contiguous).toBe(53);
  });

  it("a replayed copy does not undo an edit or a deletion", () => {
    const edited = msg(1, "new", { editedAt: timestampFromMs(10_000) });
    let s = upsert(empty, [edited]);
    s = upsert(s, [msg(1, "old")]);
    expect(s.list[0].text).toBe("new");
    s = upsert(s, [msg(1, "", { deleted: true })]);
    s = upsert(s, [edited]);
    expect(s.list[0].deleted).toBe(true);
  });

  it("patches one message by id", () => {
    const s = patch(upsert(empty, [msg(1), msg(2)]), "id2", (m) => ({ ...m, text: "x" }));
    expect(s.list.map((m) => m.text)).toEqual(["m1", "x"]);
  });

  it("the newest page keeps what arrived live while it loaded", () => {
    // The chat was opened (held, empty), message 58 came over the socket, then the page answered
    // 9..57, read before 58 was sent.
    const live = upsert(empty, [msg(58)]);
    const page = Array.from({ length: 49 }, (_, i) => msg(57 - i));
    const s = withLatest(live, page, false);
    expect(s.list.map((m) => Number(m.seq))).toEqual(Array.from({ length: 50 }, (_, i) => 9 + i));
    expect(s.base).toBe(9);
    expect(s.contiguous).toBe(58);
    // The same page answered after 58 was stored holds it too: still once.
    expect(withLatest(live, [...page, msg(58)], false).list).toHaveLength(50);
  });

  it("after sync_required the page replaces the held window, but not what is newer than it", () => {
    const held = upsert(empty, [msg(1), msg(2), msg(3), msg(1300)]);
    const page = [msg(1250), msg(1251)];
    const s = withLatest(upsert(held, []), page, true);
    expect(s.list.map((m) => Number(m.seq))).toEqual([1250, 1251, 1300]);
    expect(s.base).toBe(1250);
    expect(s.contiguous).toBe(1251);
    // Without restart the old window stays and contiguous stops at its gap.
    expect(withLatest(held, page, false).contiguous).toBe(3);
  });
});
