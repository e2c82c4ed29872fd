import { describe, expect, it } from "vitest";
import { toJsonString, create } from "@bufbuild/protobuf";
import { NotificationKind, PushPayloadSchema } from "../gen/parley/notification/v1/notification_pb";
import { pushNotification, sameOrigin } from "./pushnotify";
import { routeOf } from "./route";

const origin = "https://parley.example";
const chatId = "0b7e5a4e-2f7c-4d0e-9a55-1f0f3c1d2e3f";

// The payload as the server writes it: the generated schema's proto3 JSON, so a renamed field
// breaks this test rather than the notifications people see.
function payload(init: Parameters<typeof create<typeof PushPayloadSchema>>[1]): string {
  return toJsonString(PushPayloadSchema, create(PushPayloadSchema, init));
}

describe("pushNotification", () => {
  it("shows a message push with its body, the chat's tag and its page", () => {
    const text = payload({
      kind: NotificationKind.MESSAGE,
      title: "3 new messages from alice",
      body: "see you at 8",
      actorNickname: "alice",
      chatId,
      subjectId: chatId,
      count: 3,
      url: `${origin}/chats/${chatId}`,
      tag: `chat:${chatId}`,
    });
    expect(pushNotification(text, origin)).toEqual({
      title: "3 new messages from alice",
      options: { body: "see you at 8", tag: `chat:${chatId}`, data: { url: `${origin}/chats/${chatId}` } },
    });
  });

  it("leaves the body out without previews (proto3 JSON omits the empty field)", () => {
    const text = payload({ kind: NotificationKind.FRIEND_REQUEST, title: "alice sent you a friend request", url: `${origin}/friends/requests`, tag: "NOTIFICATION_KIND_FRIEND_REQUEST:r1", count: 1 });
    expect(text).not.toContain("body");
    const n = pushNotification(text, origin);
    expect(n.options).toEqual({ tag: "NOTIFICATION_KIND_FRIEND_REQUEST:r1", data: { url: `${origin}/friends/requests` } });
    expect("body" in n.options).toBe(false);
  });

  it("shows something for a push that is not our JSON, opening the app", () => {
    for (const text of [undefined, null, "", "not json", "[1,2]", '{"title": 7}']) {
      expect(pushNotification(text, origin)).toEqual({ title: "Parley", options: { data: { url: `${origin}/` } } });
    }
  });

  it("never opens another site", () => {
    const text = payload({ title: "x", url: "https://evil.example/chats/1" });
    expect(pushNotification(text, origin).options.data.url).toBe(`${origin}/`);
    expect(sameOrigin("javascript:alert(1)", origin)).toBe(`${origin}/`);
    expect(sameOrigin("/notifications", origin)).toBe(`${origin}/notifications`);
  });
});

describe("routeOf", () => {
  it("maps the pages a push names to screens", () => {
    expect(routeOf(`/chats/${chatId.toUpperCase()}`)).toEqual({ view: "chats", chatId });
    expect(routeOf("/friends/requests")).toEqual({ view: "people" });
    expect(routeOf("/friends")).toEqual({ view: "people" });
    expect(routeOf("/notifications")).toEqual({ view: "notifications" });
    expect(routeOf("/settings/notifications")).toEqual({ view: "notifications" });
    expect(routeOf("/settings/sessions")).toEqual({ view: "account" });
    expect(routeOf("/chats/not-a-uuid")).toBeNull();
    expect(routeOf("/")).toBeNull();
    expect(routeOf("/friendsx")).toBeNull();
  });
});
