/**
 * Reading an S3 request off the wire: the connection name and raw path, headers with duplicates
 * refused (Node keeps only the first Authorization or Host, other readers may keep the last), and
 * what the client said of its body.
 */
import type { IncomingMessage } from 'node:http';
import { BadRequest } from '../../errors.ts';
import { bodyKindOf, isUtf8Charset, parseEncodings, parseMediaType } from '../../masking/content-type.ts';

export const S3_PREFIX = '/s3/';

/** Headers any duplicate of which is refused: they decide who signed what and how the body reads. */
const SINGLE = /^(authorization|host|content-length|content-type|content-encoding|content-md5|range|x-amz-.*)$/;

export function singleHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name in out) {
      if (SINGLE.test(name)) throw new BadRequest(`the header ${name} is sent twice`);
      out[name] += `, ${value}`;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** `/s3/<connection>/<rest>?<query>` → its parts, still encoded. */
export function splitS3Url(url: string): { name: string; rawPath: string; rest: string; rawQuery: string } {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const after = rawPath.slice(S3_PREFIX.length);
  const slash = after.indexOf('/');
  const rawName = slash === -1 ? after : after.slice(0, slash);
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    throw new BadRequest('the connection name in the path is not valid percent-encoding');
  }
  return { name, rawPath, rest: slash === -1 ? '/' : after.slice(slash), rawQuery };
}

/** Whether a body of this type can be masked as text, and why not when it cannot. */
export function textBodyProblem(contentType: string, contentEncoding: string): string | null {
  const media = parseMediaType(contentType);
  const kind = bodyKindOf(media.essence);
  const codings = parseEncodings(contentEncoding).filter((c) => c !== 'aws-chunked');
  if (codings.length > 0) return `it is encoded with "${codings.join(', ')}", which the gateway does not decode for objects`;
  if (media.essence === 'text/csv' || kind === 'text' || kind === 'json' || kind === 'ndjson') {
    return isUtf8Charset(media.charset) ? null : `its charset "${media.charset}" is not UTF-8`;
  }
  return `its type "${media.essence || 'none'}" is not text (JSON, JSON lines, CSV or text/*)`;
}

export function declaredSize(headers: Readonly<Record<string, string>>): number | null {
  const text = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  if (text === undefined) return null;
  if (!/^\d{1,15}$/.test(text)) throw new BadRequest('the content length is not a number');
  return Number(text);
}
