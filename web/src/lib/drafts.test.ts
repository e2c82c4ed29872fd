import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileSchema } from "../gen/parley/media/v1/media_pb";
import { forgetDrafts, keepDrafts, keptDrafts } from "./drafts";
import { stubSessionStorage } from "./fakestorage";

// What a tab keeps for a reload, on a sessionStorage of the test's own.

let kept: Map<string, string>;
beforeEach(() => {
  kept = stubSessionStorage();
});
afterEach(() => vi.unstubAllGlobals());

const file = create(FileSchema, { fileId: "f1", name: "a.png", contentType: "image/png", sizeBytes: 5n });
// As the media service gives it: with signed URLs, which are not kept.
const served = create(FileSchema, { ...file, url: "https://media.test/f1?sig=secret", thumbnail64Url: "https://media.test/t?sig=secret" });

describe("drafts", () => {
  it("keeps composers and messages on their way per user, and gives them back as they were", () => {
    const resend = [{ clientMsgId: "k0", text: "again", fileIds: [] }, { clientMsgId: "k2", text: "", fileIds: ["f1"] }];
    keepDrafts("u1", {
      composing: { c1: { text: "hello", files: [served], error: new Error("not kept"), resend }, c2: { text: "", files: [] } },
      sending: { c3: [{ clientMsgId: "k1", text: "on its way", files: [served] }], c4: [] },
    });
    expect([...kept.keys()]).toEqual(["parley.drafts.u1"]);
    expect(kept.get("parley.drafts.u1")).not.toContain("secret");
    expect(keptDrafts("u1")).toEqual({
      composing: { c1: { text: "hello", files: [file], resend } },
      sending: { c3: [{ clientMsgId: "k1", text: "on its way", files: [file] }] },
    });
    expect(keptDrafts("u2")).toEqual({ composing: {}, sending: {} });
    keepDrafts("u1", { composing: {}, sending: {} });
    expect(kept.size).toBe(0); // nothing to keep: nothing kept
  });

  it("what cannot be read is dropped, not thrown", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    kept.set("parley.drafts.u1", "{not json");
    expect(keptDrafts("u1")).toEqual({ composing: {}, sending: {} });
    expect(warn).toHaveBeenCalled();
    // A malformed resend is left out; the draft stays.
    kept.set("parley.drafts.u1", JSON.stringify({ c1: { text: "hi", files: [], resend: [{ clientMsgId: "k", text: "hi", fileIds: "f1" }] } }));
    expect(keptDrafts("u1").composing).toEqual({ c1: { text: "hi", files: [] } });
    // One kept by an older version of the app, not in a list, is read as one.
    kept.set("parley.drafts.u1", JSON.stringify({ c1: { text: "hi", files: [], resend: { clientMsgId: "k", text: "hi", fileIds: [] } } }));
    expect(keptDrafts("u1").composing).toEqual({ c1: { text: "hi", files: [], resend: [{ clientMsgId: "k", text: "hi", fileIds: [] }] } });
  });

  it("a save the storage refuses leaves nothing stale behind", () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    keepDrafts("u1", { composing: { c1: { text: "old", files: [] } }, sending: {} });
    const full = vi.spyOn(sessionStorage, "setItem").mockImplementation(() => {
      throw new DOMException("full", "QuotaExceededError");
    });
    keepDrafts("u1", { composing: { c1: { text: "newer", files: [] } }, sending: {} });
    expect(full).toHaveBeenCalled();
    expect(kept.size).toBe(0);
  });

  it("a sign-out forgets every user's drafts and nothing else; a sign-in, the others'", () => {
    kept.set("parley.drafts.u1", "{}");
    kept.set("parley.drafts.u2", "{}");
    kept.set("parley.oauth.state", "s");
    forgetDrafts("u2");
    expect([...kept.keys()]).toEqual(["parley.drafts.u2", "parley.oauth.state"]);
    forgetDrafts();
    expect([...kept.keys()]).toEqual(["parley.oauth.state"]);
  });
});
