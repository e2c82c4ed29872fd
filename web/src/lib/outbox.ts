// A conversation's outbox: what the composer submitted, sent one message at a time in the order it
// was submitted. The composer is emptied on submit, so the next message can be typed while the
// last one is on its way; had each send cleared the composer when it answered, it would clear what
// was typed since (a second message, lost before it was sent), and two sends in flight at once
// could be stored in either order.
//
// A send that fails for now (no network, the service unavailable: retryable) is tried again, with
// the same idempotency key, after a wait or at once when retryNow says the connection is back:
// a fault delays a message but loses nothing. A send refused for good gives its draft back, and so
// does cancel while a draft waits to be tried again.

/** A message as submitted: its text, its attachments, and the idempotency key chosen then. */
export interface Outgoing<F> {
  clientMsgId: string;
  text: string;
  files: F[];
}

/** What could not be sent: the draft that failed and every one submitted after it, oldest first,
 * with the error. */
export interface Unsent<F> {
  drafts: Outgoing<F>[];
  error: unknown;
}

/** What a draft given back was: sent again unchanged (same text, same attachments), it may be a
 * message already stored whose answer was lost, and its idempotency key makes the retry that same
 * message (chat.proto's client_msg_id). Plain data, so that it can be kept for a reload. */
export interface Resend {
  clientMsgId: string;
  text: string;
  fileIds: string[];
}

/** The Resends of what takeUnsent gave back, oldest first; undefined for none. */
export function resendOf<F>(drafts: Outgoing<F>[], idOf: (f: F) => string): Resend[] | undefined {
  if (!drafts.length) return undefined;
  return drafts.map((d) => ({ clientMsgId: d.clientMsgId, text: d.text, fileIds: d.files.map(idOf) }));
}

/** The drafts given back (rs) to submit again, each under its own key, when text and attachments
 * are what they were joined into in the composer (texts one per line, attachments in order);
 * otherwise undefined: something was changed or added, and it is one new message. */
export function resendsFor(rs: Resend[] | undefined, text: string, fileIds: string[]): Resend[] | undefined {
  if (!rs?.length || text !== joinTexts(rs.map((r) => r.text))) return undefined;
  const given = rs.flatMap((r) => r.fileIds);
  return given.length === fileIds.length && given.every((id, i) => id === fileIds[i]) ? rs : undefined;
}

/** How the composer joins texts given back (and what was typed since): one per line, none empty. */
export function joinTexts(texts: string[]): string {
  return texts.filter(Boolean).join("\n");
}

export interface OutboxOptions {
  /** Whether a send that failed with err, after tries tries of the same draft (1 for the first
   * failure), is to be tried again as it is; otherwise its draft, and those after it, are given
   * back. None: every failure gives back. */
  retryable?: (err: unknown, tries: number) => boolean;
  /** The waits before each further try, in milliseconds; the last one repeats. */
  retryDelaysMs?: readonly number[];
}

export class Outbox<F> {
  readonly #send: (d: Outgoing<F>, signal: AbortSignal) => Promise<void>;
  readonly #retryable: (err: unknown, tries: number) => boolean;
  readonly #delays: readonly number[];
  #queue: Outgoing<F>[] = [];
  #waiting: { error: unknown } | null = null; // the failure the oldest draft waits after
  #wake: (() => void) | null = null;
  #running = false;
  #drained: Promise<void> = Promise.resolve();
  #unsent: Unsent<F> | null = null;
  readonly #listeners = new Set<() => void>();
  readonly #closed = new AbortController();

  /** send delivers one draft; it is not called for the next until the last one settled. signal
   * aborts it when the outbox is closed. */
  constructor(send: (d: Outgoing<F>, signal: AbortSignal) => Promise<void>, opts: OutboxOptions = {}) {
    this.#send = send;
    this.#retryable = opts.retryable ?? (() => false);
    this.#delays = opts.retryDelaysMs?.length ? opts.retryDelaysMs : [1000];
  }

  /** What is on its way, oldest first: the draft being sent (or waiting to be tried again) and
   * those queued after it. */
  pending(): Outgoing<F>[] {
    return [...this.#queue];
  }

  /** Whether the oldest pending draft waits to be tried again (cancel may give it back). */
  get waiting(): boolean {
    return this.#waiting !== null;
  }

  /** Ends a wait before the next try: the connection is back. */
  retryNow(): void {
    this.#wake?.();
  }

  /** Gives back (takeUnsent) the draft that waits to be tried again and every one after it, with
   * the failure it waits after; false, changing nothing, unless a draft waits: one being sent
   * cannot be called back. A draft given back keeps its key (resendOf), because an earlier try may
   * have been stored after all (a send that timed out): sent again unchanged it is that same
   * message, and a stored one shows up in the chat anyway. */
  cancel(): boolean {
    const w = this.#waiting;
    if (!w) return false;
    this.#waiting = null;
    this.#wake?.();
    this.#giveBack(w.error);
    return true;
  }

  /** Queues a message under clientMsgId, its idempotency key: a new one unless it is a draft given
   * back and sent again unchanged (resendsFor). */
  submit(text: string, files: F[], clientMsgId: string = newKey()): void {
    if (this.#closed.signal.aborted) return;
    this.#queue.push({ clientMsgId, text, files });
    this.#tell();
    if (this.#running) return; // the running drain takes it
    this.#running = true;
    this.#drained = this.#drain();
  }

  /** Resolves once everything submitted so far was sent or is held as unsent. */
  async settled(): Promise<void> {
    while (this.#running) await this.#drained;
  }

  /** Takes back what could not be sent, to put in the composer again; null when nothing is held. */
  takeUnsent(): Unsent<F> | null {
    const u = this.#unsent;
    this.#unsent = null;
    return u;
  }

  /** fn runs when what is pending or waiting changes, and when a send fails for good (takeUnsent
   * then has it). */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Signing out: the send under way is aborted, nothing queued is sent, nothing is given back. */
  close(): void {
    this.#closed.abort();
    this.#wake?.();
    this.#queue = [];
    this.#unsent = null;
    this.#waiting = null;
  }

  async #drain(): Promise<void> {
    const closed = this.#closed.signal;
    let tries = 0;
    try {
      for (let d = this.#queue[0]; d && !closed.aborted; d = this.#queue[0]) {
        try {
          await this.#send(d, closed);
          if (closed.aborted) return;
          this.#queue.shift();
          tries = 0;
          this.#tell();
        } catch (error) {
          if (closed.aborted) return;
          if (this.#retryable(error, ++tries)) {
            // Only this drain sets #waiting: cleared meanwhile, it was cancelled (by a listener, or
            // while it waited) or closed, and the draft is gone.
            this.#waiting = { error };
            this.#tell();
            if (this.#waiting) await this.#pause(this.#delays[Math.min(tries - 1, this.#delays.length - 1)]);
            if (this.#waiting) {
              this.#waiting = null;
              this.#tell();
            } else {
              tries = 0;
            }
            continue;
          }
          tries = 0;
          // The rest would arrive before the failed one, or fail the same way: all go back.
          this.#giveBack(error);
        }
      }
    } finally {
      this.#running = false; // with no await after the last look at the queue: no submit is missed
    }
  }

  /** Moves every pending draft behind what is already held back, with error, for takeUnsent. */
  #giveBack(error: unknown): void {
    this.#unsent = { drafts: [...(this.#unsent?.drafts ?? []), ...this.#queue.splice(0)], error };
    this.#tell();
  }

  /** Resolves after ms, or sooner on retryNow or close. */
  #pause(ms: number): Promise<void> {
    return new Promise((done) => {
      const end = () => {
        clearTimeout(timer);
        if (this.#wake === end) this.#wake = null;
        done();
      };
      const timer = setTimeout(end, ms);
      this.#wake = end;
    });
  }

  #tell(): void {
    for (const fn of this.#listeners) {
      try {
        fn();
      } catch (err) {
        console.error("outbox listener:", err); // the drain goes on
      }
    }
  }
}

/** A new idempotency key, a random UUID: crypto.randomUUID where the page may use it (a secure
 * context: https or localhost), otherwise the same from crypto.getRandomValues, which every page
 * has — an app served over plain http on a local network must still send. */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
