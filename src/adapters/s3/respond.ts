/**
 * The upstream's answer on its way to the client: headers filtered (and, under a profile, masked
 * like the HTTP adapter's), text bodies streamed through the profile's text masker in pieces;
 * a body a profile applies to but that is not text is withheld before anything is sent.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { MaskingError } from '../../errors.ts';
import type { Admission } from '../../pipeline.ts';
import type { Connection } from '../../connections/registry.ts';
import { clientResponseHeaders } from '../http/upstream.ts';
import { textBodyProblem } from './wire.ts';

/** Answers read whole: their XML names what the gateway must remember (an upload id, the ETag). */
const CAPTURED = new Set(['CreateMultipartUpload', 'CompleteMultipartUpload']);
const MAX_CAPTURED = 1024 * 1024;

export interface Responded {
  readonly transcript: string;
  readonly bytesOut: number;
  /** The (unmasked) body of a captured answer. */
  readonly body: string | null;
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export async function pipeResponse(res: ServerResponse, upstream: Dispatcher.ResponseData, admission: Admission, connection: Connection, operation: string): Promise<Responded> {
  const masked = admission.masked;
  const status = upstream.statusCode;
  const contentType = String(upstream.headers['content-type'] ?? '');
  const hasBody = (upstream.headers['content-length'] ?? '0') !== '0' || upstream.headers['transfer-encoding'] !== undefined;
  const headers = clientResponseHeaders(upstream.headers, !masked, connection, masked ? admission.maskText : null);
  // Checksums and lengths describe the stored bytes, not the masked ones the client receives.
  if (masked) {
    for (const name of Object.keys(headers)) if (name.startsWith('x-amz-checksum-') || name === 'content-md5') delete headers[name];
  }
  const what = `${operation} ${status}`;
  if (CAPTURED.has(operation)) {
    const raw = await upstream.body.text();
    if (Buffer.byteLength(raw) > MAX_CAPTURED) throw new MaskingError('the upstream answer is too large');
    const out = masked ? admission.maskText(raw) : raw;
    headers['content-length'] = Buffer.byteLength(out);
    res.writeHead(status, headers);
    res.end(out);
    return { transcript: `[${what}]`, bytesOut: Buffer.byteLength(out), body: raw };
  }
  if (!masked || !hasBody || res.req.method === 'HEAD') {
    if (masked && res.req.method !== 'HEAD') delete headers['content-length'];
    res.writeHead(status, headers);
    let bytes = 0;
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (!res.write(chunk)) await waitDrain(res);
    }
    res.end();
    return { transcript: `[${what}, ${bytes} bytes]`, bytesOut: bytes, body: null };
  }
  const problem = textBodyProblem(contentType, String(upstream.headers['content-encoding'] ?? ''));
  if (problem !== null) throw new MaskingError(`a masking profile applies, but the object cannot be scanned: ${problem}; it was withheld`);
  const masker = admission.textStream()!;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  delete headers['content-length'];
  res.writeHead(status, headers);
  let bytes = 0;
  const send = async (text: string) => {
    if (text === '') return;
    const buf = Buffer.from(text, 'utf8');
    bytes += buf.length;
    if (!res.write(buf)) await waitDrain(res);
  };
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) await send(masker.push(decoder.decode(chunk, { stream: true })));
    await send(masker.push(decoder.decode()) + masker.end());
  } catch (err) {
    // Under way: the response is cut, never finished with unmasked bytes.
    res.destroy();
    throw err instanceof TypeError ? new MaskingError('the object is not valid UTF-8 text; the download was cut') : err;
  }
  res.end();
  return { transcript: `[${what}, ${bytes} bytes, masked: ${masker.findings.length} finding(s)]`, bytesOut: bytes, body: null };
}
