/**
 * The NotificationResponse rewrite on its own: sender and channel bytes kept exactly, the payload
 * masked, a masker that fails turns the payload into a marker, and malformed frames never let a
 * payload through unmasked. End to end (pg driver, psql, real PostgreSQL): notify-masking.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { maskNotification, WITHHELD_PAYLOAD } from '../../../src/adapters/postgres/notify-masker.ts';
import { cstr, i32, msg } from './wire-bytes.ts';

const notification = (pid: number, channel: Buffer | string, payload: Buffer | string) =>
  msg('A', i32(pid), typeof channel === 'string' ? cstr(channel) : channel, typeof payload === 'string' ? cstr(payload) : payload);
const mask = (text: string) => text.replaceAll('secret', '[X]');

describe('NotificationResponse masking', () => {
  test('the payload is masked; process id and channel are kept', () => {
    const out = maskNotification(mask, notification(4242, 'jobs', 'a secret here'), 0, notification(4242, 'jobs', 'a secret here').length);
    assert.deepEqual(out, notification(4242, 'jobs', 'a [X] here'));
  });

  test('a payload masking leaves alone goes on as the same frame', () => {
    const frame = notification(1, 'jobs', 'nothing');
    assert.equal(maskNotification(mask, frame, 0, frame.length), undefined);
    assert.equal(maskNotification(null, frame, 0, frame.length), undefined, 'no profile can apply: nothing to do');
  });

  test('the channel keeps its exact bytes, even ones that are not UTF-8', () => {
    const channel = Buffer.concat([Buffer.from([0xff, 0xfe, 0x41]), Buffer.from([0])]);
    const frame = notification(7, channel, 'secret');
    const out = maskNotification(mask, frame, 0, frame.length)!;
    assert.deepEqual(out, notification(7, channel, '[X]'));
  });

  test('a masker that fails gives the marker, never the payload', () => {
    const frame = notification(1, 'jobs', 'secret and more');
    const out = maskNotification(() => { throw new Error('profile failed'); }, frame, 0, frame.length)!;
    assert.deepEqual(out, notification(1, 'jobs', WITHHELD_PAYLOAD));
  });

  test('malformed frames: a payload without its NUL is rewritten terminated; a missing payload is an empty one', () => {
    const open = msg('A', i32(1), cstr('jobs'), Buffer.from('secret'));
    assert.deepEqual(maskNotification(mask, open, 0, open.length), notification(1, 'jobs', '[X]'));
    const untouched = msg('A', i32(1), cstr('jobs'), Buffer.from('plain'));
    assert.deepEqual(maskNotification(mask, untouched, 0, untouched.length), notification(1, 'jobs', 'plain'));
    const bare = msg('A', i32(1), Buffer.from('jobs'));
    assert.deepEqual(maskNotification(mask, bare, 0, bare.length), notification(1, 'jobs', ''));
    const short = msg('A', Buffer.from([0, 1]));
    assert.equal(maskNotification(mask, short, 0, short.length), undefined, 'no room for a payload');
  });

  test('a frame inside a larger chunk is read between its own bounds', () => {
    const frame = notification(9, 'c', 'secret');
    const chunk = Buffer.concat([Buffer.from('xxxx'), frame, notification(9, 'd', 'secret')]);
    assert.deepEqual(maskNotification(mask, chunk, 4, 4 + frame.length), notification(9, 'c', '[X]'));
  });

  test('a NUL a masker writes cannot end the payload early', () => {
    const frame = notification(1, 'jobs', 'secret');
    const out = maskNotification(() => 'a\0b', frame, 0, frame.length)!;
    assert.deepEqual(out, notification(1, 'jobs', 'a\uFFFDb'));
  });
});
