/**
 * Where the gateway itself sends things (approval notifications, audit sinks): an absolute https
 * URL, plain http only to a loopback receiver, and no credentials in the URL. Messages never repeat
 * the value: a webhook address is often itself the credential.
 */
import { z } from 'zod';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const outboundUrl = z
  .string()
  .refine((value) => URL.canParse(value), 'expected an absolute URL')
  .refine((value) => {
    if (!URL.canParse(value)) return true;
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  }, 'use https:// (plain http is accepted only for a loopback address, e.g. a local test receiver)')
  .refine((value) => !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''), 'must not hold a user name or password');
