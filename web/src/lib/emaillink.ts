// The pages the account emails link to (services/notification email.go): `/reset-password#token=…`
// and `/verify-email#token=…`. The token rides in the fragment so it never reaches a server's log;
// the app reads it once at start and takes it out of the address bar and the history at once.

export type EmailLink = { kind: "reset-password" | "verify-email"; token: string };

/** The email link an address names; the token is "" when the fragment has none (the "Reset it
 * again" link of the password-changed notice has no token: it leads to asking for one). */
export function emailLinkOf(pathname: string, hash: string): EmailLink | null {
  const m = /^\/(reset-password|verify-email)\/?$/.exec(pathname);
  if (!m) return null;
  const token = new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
  return { kind: m[1] as EmailLink["kind"], token: token.trim() };
}

/** Reads the current address's email link and, when there is one, replaces the address with the
 * app's root (replaceState: the token stays out of the history too). */
export function takeEmailLink(loc: Pick<Location, "pathname" | "hash"> = location, hist: Pick<History, "replaceState"> = history): EmailLink | null {
  const link = emailLinkOf(loc.pathname, loc.hash);
  if (link) hist.replaceState(null, "", "/");
  return link;
}
