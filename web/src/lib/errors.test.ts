import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { fieldErrors, splitFieldErrors } from "./errors";

describe("splitFieldErrors", () => {
  it("puts each `field:` part next to its field", () => {
    const e = splitFieldErrors("email: must look like name@example.com; password: must be at least 8 characters");
    expect(e.fields).toEqual({ email: "must look like name@example.com", password: "must be at least 8 characters" });
    expect(e.form).toBeNull();
  });

  it("keeps parts that name no field, or an unknown one, for the form", () => {
    const e = splitFieldErrors("email or password is incorrect");
    expect(e.fields).toEqual({});
    expect(e.form).toBe("email or password is incorrect");
    const k = splitFieldErrors("chat_id: no such chat of yours; text: too long", ["text"]);
    expect(k.fields).toEqual({ text: "too long" });
    expect(k.form).toBe("chat_id: no such chat of yours");
  });

  it("maps indexed and nested fields to the top-level field", () => {
    const e = splitFieldErrors("attachment_file_ids[2]: must be a UUID");
    expect(e.fields).toEqual({ attachment_file_ids: "must be a UUID" });
  });

  it("reads Connect errors without the code prefix", () => {
    const err = new ConnectError("nickname: already taken", Code.AlreadyExists);
    expect(err.message).toContain("already_exists");
    expect(fieldErrors(err).fields).toEqual({ nickname: "already taken" });
  });

  it("puts a refusal next to the field it concerns when the form says which", () => {
    const wrong = new ConnectError("the code is not correct", Code.Unauthenticated);
    expect(fieldErrors(wrong, ["code"], "code")).toEqual({ fields: { code: "the code is not correct" }, form: null });
    // Without the hint, and for other codes, the message is split as usual.
    expect(fieldErrors(wrong, ["code"]).form).toBe("the code is not correct");
    const missing = new ConnectError("recovery_code: must look like xxxx-xxxx-xxxx", Code.InvalidArgument);
    expect(fieldErrors(missing, ["code", "recovery_code"], "code").fields).toEqual({ recovery_code: "must look like xxxx-xxxx-xxxx" });
  });
});
