// A conversation's outbox: what the composer submitted, sent one message at a time in the order it
// was submitted. The composer is emptied on submit, so the next message can be typed while the
// last one is on its way; had each send cleared the composer when it answered, it would clear what
// was typed since (a second message, lost before it was sent), and two sends in flight at once
// could be stored in either order.

/** A message as submitted: its text, its attachments, and the idempotency key chosen then. */
export interface Draft<F> {
  clientMsgId: string;
  text: string;
  files: F[];
}

/** What could not be sent: the draft that failed and every one submitted after it, oldest first,
 * with the error. */
export interface Unsent<F> {
  drafts: Draft<F>[];
  error: unknown;
}

export class Outbox<F> {
  readonly #send: (d: Draft<F>) => Promise<void>;
  #queue: Draft<F>[] = [];
  #running = false;
  #drained: Promise<void> = Promise.resolve();
  #unsent: Unsent<F> | null = null;
  readonly #listeners = new Set<() => void>();

  /** send delivers one draft; it is not called for the next until the last one settled. */
  constructor(send: (d: Draft<F>) => Promise<void>) {
    this.#send = send;
  }

  submit(d: Draft<F>): void {
    this.#queue.push(d);
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

  /** fn runs when a send fails (takeUnsent then has it). */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async #drain(): Promise<void> {
    try {
      for (let d = this.#queue[0]; d; d = this.#queue[0]) {
        try {
          await this.#send(d);
          this.#queue.shift();
        } catch (error) {
          // The rest would arrive before the failed one, or fail the same way: all go back.
          const drafts = [...(this.#unsent?.drafts ?? []), ...this.#queue.splice(0)];
          this.#unsent = { drafts, error };
          for (const fn of this.#listeners) fn();
        }
      }
    } finally {
      this.#running = false; // with no await after the last look at the queue: no submit is missed
    }
  }
}
