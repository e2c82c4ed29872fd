import { describe, expect, it, vi } from "vitest";
import { joinTexts, newKey, Outbox, resendOf, resendsFor, type Outgoing, type OutboxOptions } from "./outbox";

// The outbox with a send that answers when the test says: what is sent, when, and what comes back.

function fakeSend() {
  const calls: { d: Outgoing<string>; signal: AbortSignal; ok: () => void; fail: (e: unknown) => void }[] = [];
  const send = (d: Outgoing<string>, signal: AbortSignal) => new Promise<void>((ok, fail) => calls.push({ d, signal, ok, fail }));
  return { calls, send };
}
const tick = () => new Promise((ok) => setTimeout(ok, 0));
const texts = (ds: Outgoing<string>[]) => ds.map((d) => d.text);

describe("Outbox", () => {
  it("sends one draft at a time, in the order submitted, each with its own key", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    box.submit("1", []);
    box.submit("2", ["f"]);
    await tick();
    expect(texts(calls.map((c) => c.d))).toEqual(["1"]); // 2 waits for 1's answer
    calls[0].ok();
    await tick();
    expect(calls.map((c) => c.d.text)).toEqual(["1", "2"]);
    expect(calls[1].d.files).toEqual(["f"]);
    box.submit("3", []); // submitted while 2 is on its way
    calls[1].ok();
    await tick();
    calls[2].ok();
    await box.settled();
    expect(texts(calls.map((c) => c.d))).toEqual(["1", "2", "3"]);
    expect(new Set(calls.map((c) => c.d.clientMsgId)).size).toBe(3);
    expect(box.takeUnsent()).toBeNull();
  });

  it("gives back the failed draft and every one after it, oldest first, with the error", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    const seen: string[][] = []; // what was pending each time listeners were told
    box.subscribe(() => seen.push(texts(box.pending())));
    box.submit("1", []);
    box.submit("2", ["f2"]);
    box.submit("3", []);
    await tick();
    calls[0].ok();
    await tick();
    const boom = new Error("unavailable");
    calls[1].fail(boom);
    await box.settled();
    expect(calls).toHaveLength(2); // 3 is not sent after 2 failed
    expect(seen).toEqual([["1"], ["1", "2"], ["1", "2", "3"], ["2", "3"], []]);
    const back = box.takeUnsent();
    expect(back?.error).toBe(boom);
    expect(back?.drafts.map((d) => [d.text, d.files])).toEqual([["2", ["f2"]], ["3", []]]);
    expect(box.takeUnsent()).toBeNull(); // taken once

    // It goes on with what is submitted next.
    box.submit("4", []);
    await tick();
    calls[2].ok();
    await box.settled();
    expect(texts(calls.map((c) => c.d))).toEqual(["1", "2", "4"]);
  });

  it("keeps what failed until it is taken, adding later failures after it", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    box.submit("1", []);
    await tick();
    calls[0].fail(new Error("first"));
    await box.settled();
    box.submit("2", []);
    await tick();
    const second = new Error("second");
    calls[1].fail(second);
    await box.settled();
    const back = box.takeUnsent();
    expect(back?.error).toBe(second);
    expect(texts(back?.drafts ?? [])).toEqual(["1", "2"]);
  });

  it("a draft given back and sent again unchanged keeps its key; changed, it is a new message", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    const id = (f: string) => f;
    box.submit("hello", ["f"]);
    await tick();
    calls[0].fail(new Error("the answer was lost"));
    await box.settled();
    const resend = resendOf(box.takeUnsent()?.drafts ?? [], id);
    const [again] = resendsFor(resend, "hello", ["f"]) ?? [];
    box.submit(again.text, ["f"], again.clientMsgId);
    await tick();
    expect(calls[1].d.clientMsgId).toBe(calls[0].d.clientMsgId);
    calls[1].ok();
    await box.settled();
    for (const [text, files] of [["hello, edited", ["f"]], ["hello", []], ["hello", ["g"]], ["hello", ["f", "g"]]] as const) {
      expect(resendsFor(resend, text, [...files])).toBeUndefined();
    }
    expect(resendOf([], id)).toBeUndefined();
  });

  it("drafts given back together, sent again unchanged, are the same messages again, each under its key", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    const id = (f: string) => f;
    box.submit("a", ["f"]);
    box.submit("", ["g"]);
    box.submit("c", []);
    await tick();
    calls[0].fail(new Error("timed out, and maybe stored"));
    await box.settled();
    const back = box.takeUnsent()?.drafts ?? [];
    expect(back).toHaveLength(3);
    const resend = resendOf(back, id);
    // The composer shows them joined: texts one per line, attachments in order.
    const joined = joinTexts(back.map((d) => d.text));
    expect(joined).toBe("a\nc");
    expect(resendsFor(resend, joined, ["f", "g"])).toEqual(resend);
    expect(resend?.map((r) => r.clientMsgId)).toEqual(back.map((d) => d.clientMsgId));
    for (const [text, files] of [["a\nc, and more", ["f", "g"]], ["a\nc", ["g", "f"]], ["a\nc", ["f"]], ["a", ["f", "g"]]] as const) {
      expect(resendsFor(resend, text, [...files])).toBeUndefined();
    }
  });

  it("closed (signed out), it aborts the send under way, sends nothing queued and gives nothing back", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    let told = 0;
    box.subscribe(() => told++);
    box.submit("1", []);
    box.submit("2", []);
    await tick();
    told = 0;
    box.close();
    expect(box.pending()).toEqual([]);
    expect(calls[0].signal.aborted).toBe(true);
    calls[0].fail(new Error("aborted"));
    await box.settled();
    box.submit("3", []);
    await box.settled();
    expect(texts(calls.map((c) => c.d))).toEqual(["1"]);
    expect(told).toBe(0);
    expect(box.takeUnsent()).toBeNull();
  });

  it("a send that throws before it is under way, or a listener that throws, stops nothing", async () => {
    let first = true;
    const sent: string[] = [];
    const box = new Outbox<string>((d) => {
      if (first) {
        first = false;
        throw new Error("at once");
      }
      sent.push(d.text);
      return Promise.resolve();
    });
    box.subscribe(() => {
      throw new Error("a broken listener");
    });
    const quiet = console.error;
    console.error = () => undefined;
    try {
      box.submit("1", []);
      box.submit("2", []);
      await box.settled();
      // 1 failed at once, its drain ended, and 2 started a new one.
      expect(texts(box.takeUnsent()?.drafts ?? [])).toEqual(["1"]);
      box.submit("3", []);
      await box.settled();
    } finally {
      console.error = quiet;
    }
    expect(sent).toEqual(["2", "3"]);
  });

  describe("with retries", () => {
    const retryable = (err: unknown) => err instanceof Error && err.message === "offline";

    it("a send failing for now is tried again after a wait, under the same key, before anything after it", async () => {
      vi.useFakeTimers();
      try {
        const { calls, send } = fakeSend();
        const box = new Outbox(send, { retryable, retryDelaysMs: [1000, 5000] });
        box.submit("1", []);
        box.submit("2", []);
        await vi.advanceTimersByTimeAsync(0);
        calls[0].fail(new Error("offline"));
        await vi.advanceTimersByTimeAsync(0);
        expect(box.waiting).toBe(true);
        expect(texts(box.pending())).toEqual(["1", "2"]);
        await vi.advanceTimersByTimeAsync(999);
        expect(calls).toHaveLength(1);
        await vi.advanceTimersByTimeAsync(1);
        expect(calls).toHaveLength(2);
        expect(box.waiting).toBe(false);
        calls[1].fail(new Error("offline"));
        await vi.advanceTimersByTimeAsync(4999); // the second wait is longer
        expect(calls).toHaveLength(2);
        await vi.advanceTimersByTimeAsync(1);
        calls[2].fail(new Error("offline"));
        await vi.advanceTimersByTimeAsync(5000); // and the last one repeats
        calls[3].ok();
        await vi.advanceTimersByTimeAsync(0);
        calls[4].ok();
        await box.settled();
        expect(texts(calls.map((c) => c.d))).toEqual(["1", "1", "1", "1", "2"]);
        expect(new Set(calls.slice(0, 4).map((c) => c.d.clientMsgId)).size).toBe(1);
        expect(box.takeUnsent()).toBeNull();
      } finally {
        vi.useRealTimers();
      }
    });

    /** An outbox whose one draft failed for now with error and waits a minute to be tried again. */
    async function waitingOutbox(opts: { retryable?: OutboxOptions["retryable"]; error?: unknown } = {}) {
      const { calls, send } = fakeSend();
      const box = new Outbox(send, { retryable: opts.retryable ?? retryable, retryDelaysMs: [60_000] });
      box.submit("1", []);
      await tick();
      calls[0].fail("error" in opts ? opts.error : new Error("offline"));
      await tick();
      expect(box.waiting).toBe(true);
      return { calls, box };
    }

    it("retryNow ends the wait; a failure that is not for now gives back as before", async () => {
      const { calls, box } = await waitingOutbox();
      box.retryNow();
      await tick();
      expect(calls).toHaveLength(2);
      const refused = new Error("text: too long");
      calls[1].fail(refused);
      await box.settled();
      expect(box.takeUnsent()).toEqual({ drafts: [calls[0].d], error: refused });
    });

    it("cancel while a draft waits gives it back with those after it, under its key, and the failure", async () => {
      const tried: number[] = [];
      const { calls, box } = await waitingOutbox({ retryable: (err, tries) => (tried.push(tries), retryable(err)) });
      box.submit("2", []);
      expect(box.cancel()).toBe(true);
      expect(box.pending()).toEqual([]);
      expect(box.waiting).toBe(false);
      const u = box.takeUnsent();
      expect(u?.error).toEqual(new Error("offline"));
      expect(texts(u?.drafts ?? [])).toEqual(["1", "2"]);
      expect(u?.drafts[0].clientMsgId).toBe(calls[0].d.clientMsgId);
      // What is submitted next goes at once (the wait ended with the cancel), with its own tries.
      box.submit("3", []);
      await tick();
      expect(calls).toHaveLength(2);
      calls[1].fail(new Error("offline"));
      await tick();
      expect(tried).toEqual([1, 1]);
      box.retryNow();
      await tick();
      calls[2].ok();
      await box.settled();
      expect(texts(calls.map((c) => c.d))).toEqual(["1", "3", "3"]);
    });

    it("cancel changes nothing while a draft is being sent, or when nothing waits", async () => {
      const { calls, send } = fakeSend();
      const box = new Outbox(send, { retryable, retryDelaysMs: [60_000] });
      expect(box.cancel()).toBe(false);
      box.submit("1", []);
      await tick();
      expect(box.cancel()).toBe(false); // under way: it may be stored, it is not called back
      expect(texts(box.pending())).toEqual(["1"]);
      calls[0].ok();
      await box.settled();
      expect(box.takeUnsent()).toBeNull();
      expect(calls).toHaveLength(1);
    });

    it("a listener may cancel as soon as a draft waits; the outbox then waits for nothing", async () => {
      const { calls, send } = fakeSend();
      const box = new Outbox(send, { retryable, retryDelaysMs: [60_000] });
      box.subscribe(() => {
        if (box.waiting) box.cancel();
      });
      box.submit("1", []);
      await tick();
      calls[0].fail(new Error("offline"));
      await box.settled(); // no minute's wait
      expect(texts(box.takeUnsent()?.drafts ?? [])).toEqual(["1"]);
      expect(calls).toHaveLength(1);
    });

    it("a send that fails with null (a thrown non-error) waits like any other", async () => {
      const { calls, box } = await waitingOutbox({ retryable: () => true, error: null });
      await tick();
      expect(calls).toHaveLength(1); // not tried again at once
      expect(box.cancel()).toBe(true);
      expect(box.takeUnsent()).toEqual({ drafts: [calls[0].d], error: null });
    });

    it("closed while waiting, it stops at once and tries nothing more", async () => {
      const { calls, box } = await waitingOutbox();
      box.close();
      await box.settled();
      expect(calls).toHaveLength(1);
      expect(box.pending()).toEqual([]);
      expect(box.waiting).toBe(false);
    });
  });

  it("keys are random UUIDs, also where crypto.randomUUID is not offered (plain http)", () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const real = globalThis.crypto;
    vi.stubGlobal("crypto", { getRandomValues: <T extends ArrayBufferView>(a: T) => real.getRandomValues(a as never) as T });
    try {
      const keys = new Set(Array.from({ length: 100 }, () => newKey()));
      expect(keys.size).toBe(100);
      for (const k of keys) expect(k).toMatch(uuid);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(newKey()).toMatch(uuid);
  });
});
