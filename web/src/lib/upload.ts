import { ConnectError } from "@connectrpc/connect";
import { FilePurpose, UploadRejectionSchema, type File as MediaFile } from "../gen/parley/media/v1/media_pb";
import { media } from "./api";

// Files go straight from the browser to S3 with the presigned POST form CreateUpload returns
// (docs/media.md), never through the gateway; CompleteUpload then checks what arrived.

export const AVATAR_TYPES = ["image/jpeg", "image/png", "image/webp"];
const MAX_AVATAR_BYTES = 5 * 1024 * 1024;
const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

/** What can be said about a file before asking the server (it checks again, and the bytes too). */
export function precheck(file: File, purpose: FilePurpose): string | null {
  if (file.size === 0) return "The file is empty.";
  if (purpose === FilePurpose.AVATAR) {
    if (!AVATAR_TYPES.includes(file.type)) return "An avatar must be a JPEG, PNG or WebP image.";
    if (file.size > MAX_AVATAR_BYTES) return `The image is ${mib(file.size)}; an avatar can be at most 5 MiB.`;
  } else if (file.size > MAX_ATTACHMENT_BYTES) {
    return `The file is ${mib(file.size)}; an attachment can be at most 25 MiB.`;
  }
  return null;
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export async function upload(
  file: File,
  purpose: FilePurpose,
  chatId: string,
  onProgress: (fraction: number) => void,
): Promise<MediaFile> {
  const u = await media.createUpload({
    purpose,
    fileName: file.name,
    contentType: file.type || "application/octet-stream",
    sizeBytes: BigInt(file.size),
    chatId,
  });
  const form = new FormData();
  for (const [k, v] of Object.entries(u.formFields)) form.append(k, v);
  form.append("file", file);
  await post(u.uploadUrl, form, onProgress);
  try {
    const done = await media.completeUpload({ fileId: u.fileId });
    if (!done.file) throw new Error("the upload was not confirmed");
    return done.file;
  } catch (err) {
    if (err instanceof ConnectError) {
      const rej = err.findDetails(UploadRejectionSchema)[0];
      if (rej) throw new Error(rej.message);
    }
    throw err;
  }
}

function post(url: string, body: FormData, onProgress: (f: number) => void): Promise<void> {
  // fetch() reports no upload progress; XMLHttpRequest does.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        const m = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText);
        reject(new Error(`The storage refused the upload (${xhr.status}${m ? ": " + m[1] : ""}).`));
      }
    };
    xhr.onerror = () => reject(new Error("The upload failed: the storage could not be reached."));
    xhr.send(body);
  });
}
