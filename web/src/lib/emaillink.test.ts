import { describe, expect, it } from "vitest";
import { emailLinkOf, takeEmailLink } from "./emaillink";

describe("emailLinkOf", () => {
  it("reads the token of both links, URL-decoded as the emails encode it", () => {
    expect(emailLinkOf("/reset-password", "#token=abc%2B%2Fdef")).toEqual({ kind: "reset-password", token: "abc+/def" });
    expect(emailLinkOf("/verify-email/", "#token=xyz")).toEqual({ kind: "verify-email", token: "xyz" });
  });

  it("gives an empty token for a link without one, and nothing for other pages", () => {
    expect(emailLinkOf("/reset-password", "")).toEqual({ kind: "reset-password", token: "" });
    expect(emailLinkOf("/", "#token=abc")).toBeNull();
    expect(emailLinkOf("/chats/x", "")).toBeNull();
    expect(emailLinkOf("/reset-password/more", "#token=abc")).toBeNull();
  });
});

describe("takeEmailLink", () => {
  it("takes the token out of the address with replaceState", () => {
    const calls: unknown[][] = [];
    const link = takeEmailLink({ pathname: "/verify-email", hash: "#token=t1" }, { replaceState: (...a: unknown[]) => void calls.push(a) });
    expect(link).toEqual({ kind: "verify-email", token: "t1" });
    expect(calls).toEqual([[null, "", "/"]]);
  });

  it("leaves any other address alone", () => {
    const calls: unknown[][] = [];
    expect(takeEmailLink({ pathname: "/chats", hash: "#token=t1" }, { replaceState: (...a: unknown[]) => void calls.push(a) })).toBeNull();
    expect(calls).toEqual([]);
  });
});
