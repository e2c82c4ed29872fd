import { Code, ConnectError } from "@connectrpc/connect";

// The services name the field an InvalidArgument concerns at the start of each message part
// ("email: must look like name@example.com; password: at least 8 characters"), so the app can show
// each part next to its input. Anything not naming a field is a form-level error.

export interface FieldErrors {
  /** field name (as in the proto, snake_case) → message without the field prefix */
  fields: Record<string, string>;
  /** what belongs to no field */
  form: string | null;
}

const FIELD = /^([a-z][a-z0-9_]*)(?:\[\d+\])?(?:\.[a-z0-9_]+)*: (.+)$/s;

export function splitFieldErrors(message: string, known?: readonly string[]): FieldErrors {
  const out: FieldErrors = { fields: {}, form: null };
  const rest: string[] = [];
  for (const part of message.split("; ")) {
    const m = FIELD.exec(part.trim());
    if (m && (!known || known.includes(m[1]))) {
      const f = m[1];
      out.fields[f] = out.fields[f] ? `${out.fields[f]}; ${m[2]}` : m[2];
    } else if (part.trim()) {
      rest.push(part.trim());
    }
  }
  out.form = rest.length ? rest.join("; ") : null;
  return out;
}

/** The field errors of any error thrown by a call: Connect errors are split, anything else is a form
 * error. `refused` names the field a refusal (`unauthenticated`, which names no field: "the code is
 * not correct") concerns, so that it is shown next to it too. */
export function fieldErrors(err: unknown, known?: readonly string[], refused?: string): FieldErrors {
  if (err instanceof ConnectError) {
    if (refused && err.code === Code.Unauthenticated) return { fields: { [refused]: err.rawMessage }, form: null };
    return splitFieldErrors(err.rawMessage, known);
  }
  return { fields: {}, form: describe(err) };
}

export function describe(err: unknown): string {
  if (err instanceof ConnectError) {
    if (err.code === Code.Unavailable) return "The service is unavailable; try again shortly.";
    if (err.code === Code.ResourceExhausted) return err.rawMessage || "Too many requests; wait a moment.";
    return err.rawMessage || Code[err.code];
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
