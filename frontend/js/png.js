// Reading tEXt (and uncompressed iTXt) chunks of a PNG, for workflows saved into images.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** {keyword: text} of a PNG's text chunks; throws when the bytes are not a PNG. */
export function pngTextChunks(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error("not a PNG file");
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  const out = {};
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, Math.min(at + 8 + length, bytes.length));
    if (type === "tEXt") {
      const zero = data.indexOf(0);
      if (zero > 0) out[latin1.decode(data.subarray(0, zero))] = utf8.decode(data.subarray(zero + 1));
    } else if (type === "iTXt") {
      const zero = data.indexOf(0);
      if (zero > 0 && data[zero + 1] === 0) { // not compressed
        let p = zero + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        if (p > 0) out[latin1.decode(data.subarray(0, zero))] = utf8.decode(data.subarray(p));
      }
    } else if (type === "IEND") break;
    at += 12 + length;
  }
  return out;
}
